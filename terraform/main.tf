# The job service on Google Cloud: Cloud Run (jobs-api, jobs-worker, the
# jobs-migrate job), Cloud SQL for PostgreSQL, Pub/Sub, Secret Manager and
# Artifact Registry. IAM lives in iam.tf, the database in database.tf, the
# job types' secrets key in job_types.tf, the optional pull worker pool in
# worker_pool.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  project_number = data.google_project.this.number

  # Cloud Run's deterministic URL (https://SERVICE-PROJECT_NUMBER.REGION.run.app)
  # is known before the service exists. That breaks the cycle worker URL ->
  # PUSH_AUDIENCE -> worker, and gives Pub/Sub one stable audience.
  worker_url = "https://jobs-worker-${local.project_number}.${var.region}.run.app"

  database_url_secret         = google_secret_manager_secret.database_url.secret_id
  job_type_secrets_key_secret = google_secret_manager_secret.job_type_secrets_key.secret_id

  # Settings both services share; the rest is per service below.
  common_env = {
    LOG_FORMAT               = "json"
    RUST_LOG                 = "info"
    GOOGLE_CLOUD_PROJECT     = var.project_id
    JOBS_TOPIC               = module.pubsub.jobs_topic
    DATABASE_MAX_CONNECTIONS = tostring(var.pool_size)
    # The longest job must end before the subscription's 600 s ack deadline.
    JOB_MAX_TIMEOUT_SECONDS = "540"
  }
}

resource "google_project_service" "enabled" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudtrace.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "sts.googleapis.com",
    "telemetry.googleapis.com",
  ])

  project = var.project_id
  service = each.value
  # Other things in the project may use these APIs too.
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "jobs" {
  project       = var.project_id
  location      = var.region
  repository_id = var.repository_id
  format        = "DOCKER"
  description   = "Images of the job service (one per commit)."
  labels        = var.labels

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days; the 20 most recent are kept anyway
    }
  }

  depends_on = [google_project_service.enabled]
}

module "pubsub" {
  source = "./modules/pubsub"

  project_id                 = var.project_id
  project_number             = local.project_number
  worker_url                 = local.worker_url
  push_service_account_email = google_service_account.push.email
  publisher_members = {
    api    = google_service_account.api.member
    worker = google_service_account.worker.member
  }
  pull_subscription = var.pull_worker_enabled
  pull_subscriber_members = {
    worker = google_service_account.worker.member
  }
  labels = var.labels

  depends_on = [google_project_service.enabled]
}

module "api" {
  source = "./modules/cloud_run_service"

  project_id            = var.project_id
  region                = var.region
  name                  = "jobs-api"
  image                 = var.image
  command               = ["api"]
  args                  = ["serve"]
  service_account_email = google_service_account.api.email
  env = merge(
    local.common_env,
    { TENANT_RATE_LIMIT = tostring(var.tenant_rate_limit) },
    # Traces (docs/DEPLOY.md, "Traces"); unset exports none.
    var.otel_exporter_otlp_endpoint == "" ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_exporter_otlp_endpoint },
  )
  cloudsql_instances = [google_sql_database_instance.jobs.connection_name]
  min_instances      = var.api_min_instances
  max_instances      = var.api_max_instances
  concurrency        = 80
  timeout_seconds    = 60
  labels             = var.labels
  secret_env = {
    DATABASE_URL         = local.database_url_secret
    JOB_TYPE_SECRETS_KEY = local.job_type_secrets_key_secret
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.database_url_accessor,
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_iam_member.job_type_secrets_key_accessor,
    google_secret_manager_secret_version.job_type_secrets_key,
  ]
}

module "worker" {
  source = "./modules/cloud_run_service"

  project_id            = var.project_id
  region                = var.region
  name                  = "jobs-worker"
  image                 = var.image
  command               = ["worker"]
  service_account_email = google_service_account.worker.email
  env = merge(
    local.common_env,
    {
      # The worker checks each push's OIDC token: this audience, this signer.
      PUSH_AUDIENCE        = local.worker_url
      PUSH_SERVICE_ACCOUNT = google_service_account.push.email
    },
    var.email_from == "" ? {} : { EMAIL_FROM = var.email_from },
    var.otel_exporter_otlp_endpoint == "" ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_exporter_otlp_endpoint },
  )
  secret_env = merge(
    {
      DATABASE_URL         = local.database_url_secret
      JOB_TYPE_SECRETS_KEY = local.job_type_secrets_key_secret
    },
    var.smtp_url_secret_id == "" ? {} : { SMTP_URL = var.smtp_url_secret_id },
  )
  cloudsql_instances = [google_sql_database_instance.jobs.connection_name]
  # Reachable from the internet (Pub/Sub push comes from Google's front end),
  # but only the push service account may invoke it (iam.tf).
  ingress       = "INGRESS_TRAFFIC_ALL"
  min_instances = var.worker_min_instances
  max_instances = var.worker_max_instances
  concurrency   = var.worker_concurrency
  # The reconciler runs between requests, so CPU stays allocated.
  cpu_always_allocated = true
  # A push request lasts as long as its job: up to the 600 s ack deadline.
  timeout_seconds = 600
  memory          = "1Gi"
  labels          = var.labels

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.database_url_accessor,
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_iam_member.job_type_secrets_key_accessor,
    google_secret_manager_secret_version.job_type_secrets_key,
  ]
}

# One-shot jobs on the same image. Cloud Build runs jobs-migrate before every
# rollout; jobs-create-key makes API keys (docs/DEPLOY.md).
resource "google_cloud_run_v2_job" "admin" {
  for_each = {
    "jobs-migrate" = { command = ["migrate"], args = [] }
    # Executions pass the real arguments (--args=create-key,--tenant=NAME);
    # run bare, it only prints the usage.
    "jobs-create-key" = { command = ["api"], args = ["create-key", "--help"] }
  }

  project             = var.project_id
  location            = var.region
  name                = each.key
  labels              = var.labels
  deletion_protection = true

  template {
    task_count = 1
    labels     = var.labels

    template {
      service_account = google_service_account.migrate.email
      timeout         = "600s"
      # A failed migration needs a person, not a blind retry.
      max_retries = 0

      volumes {
        name = "cloudsql"
        cloud_sql_instance {
          instances = [google_sql_database_instance.jobs.connection_name]
        }
      }

      containers {
        image   = var.image
        command = each.value.command
        args    = each.value.args

        env {
          name  = "LOG_FORMAT"
          value = "json"
        }
        env {
          name = "DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = local.database_url_secret
              version = "latest"
            }
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        volume_mounts {
          name       = "cloudsql"
          mount_path = "/cloudsql"
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [
      template[0].template[0].containers[0].image,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.database_url_accessor,
    google_secret_manager_secret_version.database_url,
  ]
}
