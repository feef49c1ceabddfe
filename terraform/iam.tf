# Identities and least-privilege grants. Each runtime gets its own account;
# resource-level grants wherever the resource exists in this module.

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "jobs-api"
  display_name = "jobs-api (Cloud Run service)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "jobs-worker"
  display_name = "jobs-worker (Cloud Run service)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "jobs-push"
  display_name = "Pub/Sub push invoker of jobs-worker (no other rights)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "migrate" {
  project      = var.project_id
  account_id   = "jobs-migrate"
  display_name = "jobs-migrate and jobs-create-key (Cloud Run jobs)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "cloudbuild" {
  project      = var.project_id
  account_id   = "jobs-cloudbuild"
  display_name = "Cloud Build: test, build, migrate, deploy"
  depends_on   = [google_project_service.enabled]
}

locals {
  # Accounts whose code talks to Cloud SQL and writes logs, metrics and traces.
  database_users = {
    api     = google_service_account.api.member
    worker  = google_service_account.worker.member
    migrate = google_service_account.migrate.member
  }

  runtime_project_roles = {
    for pair in setproduct(keys(local.database_users), [
      "roles/cloudsql.client",         # connect through the Cloud SQL connector (instance-level grants do not exist)
      "roles/logging.logWriter",       # JSON logs to Cloud Logging
      "roles/monitoring.metricWriter", # metrics
      "roles/cloudtrace.agent",        # traces, when OTEL_EXPORTER_OTLP_ENDPOINT names the Telemetry API
    ]) : "${pair[0]} ${pair[1]}" => { member = local.database_users[pair[0]], role = pair[1] }
  }
}

resource "google_project_iam_member" "runtime" {
  for_each = local.runtime_project_roles

  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

# DATABASE_URL: readable by the three database users, on this secret only.
resource "google_secret_manager_secret_iam_member" "database_url_accessor" {
  for_each = local.database_users

  project   = var.project_id
  secret_id = google_secret_manager_secret.database_url.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

# JOB_TYPE_SECRETS_KEY: readable by the api and the worker, on this secret only.
resource "google_secret_manager_secret_iam_member" "job_type_secrets_key_accessor" {
  for_each = {
    api    = google_service_account.api.member
    worker = google_service_account.worker.member
  }

  project   = var.project_id
  secret_id = google_secret_manager_secret.job_type_secrets_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret_iam_member" "smtp_url_accessor" {
  count = var.smtp_url_secret_id == "" ? 0 : 1

  project   = var.project_id
  secret_id = var.smtp_url_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

# OIDC-authenticated targets of tenant-defined job types: the worker mints
# Google-signed ID tokens for them as itself, and for no other account.
resource "google_service_account_iam_member" "worker_token_creator" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.worker.member
}

# jobs-api is public: its API keys, not IAM, authenticate clients.
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  project  = var.project_id
  location = var.region
  name     = module.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# jobs-worker is NOT public: only Pub/Sub's pushes, signed as jobs-push, get in.
resource "google_cloud_run_v2_service_iam_member" "worker_push_invoker" {
  project  = var.project_id
  location = var.region
  name     = module.worker.name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# --- Cloud Build ------------------------------------------------------------

# Deploy revisions and update/execute jobs. Project-level because gcloud also
# polls project-level operations; the service and job resources are all ours.
resource "google_project_iam_member" "cloudbuild" {
  for_each = toset([
    "roles/run.developer",
    "roles/logging.logWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.cloudbuild.member
}

resource "google_artifact_registry_repository_iam_member" "cloudbuild_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.jobs.location
  repository = google_artifact_registry_repository.jobs.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.cloudbuild.member
}

# Deploying a revision that runs as an account requires acting as it.
resource "google_service_account_iam_member" "cloudbuild_act_as" {
  for_each = {
    api     = google_service_account.api.name
    worker  = google_service_account.worker.name
    migrate = google_service_account.migrate.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.cloudbuild.member
}

# Source uploads of `gcloud builds submit` (deploy.yml), kept a week.
resource "google_storage_bucket" "build_source" {
  project                     = var.project_id
  name                        = "${var.project_id}-jobs-build-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  # Access to the bucket's own requests is in Cloud Audit Logs; a second
  # bucket of usage logs for throwaway sources is not worth having.
}

resource "google_storage_bucket_iam_member" "cloudbuild_source_reader" {
  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.cloudbuild.member
}

# --- GitHub Actions deploys through Workload Identity Federation (no keys) ---

resource "google_iam_workload_identity_pool" "github" {
  count = var.github_repository == "" ? 0 : 1

  project                   = var.project_id
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"
  depends_on                = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count = var.github_repository == "" ? 0 : 1

  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Only workflows of this repository running on main (push or dispatch)
  # can get tokens at all; the subject claim pins both.
  attribute_condition = "assertion.sub == \"repo:${var.github_repository}:ref:refs/heads/main\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "github_deploy" {
  count = var.github_repository == "" ? 0 : 1

  project      = var.project_id
  account_id   = "jobs-github-deploy"
  display_name = "GitHub Actions: submits Cloud Build"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account_iam_member" "github_workload_identity_user" {
  count = var.github_repository == "" ? 0 : 1

  service_account_id = google_service_account.github_deploy[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "github_deploy" {
  for_each = var.github_repository == "" ? toset([]) : toset([
    "roles/cloudbuild.builds.editor",          # submit and watch builds
    "roles/serviceusage.serviceUsageConsumer", # gcloud builds submit checks the staging bucket's project
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.github_deploy[0].member
}

# Builds run as jobs-cloudbuild, which the deployer must be able to act as.
resource "google_service_account_iam_member" "github_act_as_cloudbuild" {
  count = var.github_repository == "" ? 0 : 1

  service_account_id = google_service_account.cloudbuild.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.github_deploy[0].member
}

resource "google_storage_bucket_iam_member" "github_source_writer" {
  count = var.github_repository == "" ? 0 : 1

  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.admin" # this bucket only: upload, and the bucket lookup gcloud does
  member = google_service_account.github_deploy[0].member
}
