# The optional pull worker pool (pull_worker_enabled): jobs-worker-pool runs
# the worker in WORKER_MODE=pull on a fixed number of always-on instances,
# streaming the jobs from jobs-worker-pull, for throughput over scale-to-zero.
# jobs-worker (the push service) stays: dead letters are still pushed to it,
# and a pool has no URL to push to.

resource "google_cloud_run_v2_worker_pool" "pull" {
  count = var.pull_worker_enabled ? 1 : 0

  project             = var.project_id
  location            = var.region
  name                = "jobs-worker-pool"
  labels              = var.labels
  deletion_protection = false

  scaling {
    scaling_mode          = "MANUAL"
    manual_instance_count = var.pull_worker_instances
  }

  template {
    service_account = google_service_account.worker.email
    labels          = var.labels

    volumes {
      name = "cloudsql"
      cloud_sql_instance {
        instances = [google_sql_database_instance.jobs.connection_name]
      }
    }

    containers {
      image   = var.image
      command = ["worker"]

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
      }

      dynamic "env" {
        for_each = merge(
          local.common_env,
          {
            WORKER_MODE              = "pull"
            PUBSUB_PULL_SUBSCRIPTION = module.pubsub.worker_subscription
            PULL_CONCURRENCY         = tostring(var.pull_concurrency)
          },
          var.email_from == "" ? {} : { EMAIL_FROM = var.email_from },
        )
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = merge(
          {
            DATABASE_URL         = local.database_url_secret
            JOB_TYPE_SECRETS_KEY = local.job_type_secrets_key_secret
          },
          var.smtp_url_secret_id == "" ? {} : { SMTP_URL = var.smtp_url_secret_id },
        )
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      volume_mounts {
        name       = "cloudsql"
        mount_path = "/cloudsql"
      }
    }
  }

  lifecycle {
    # Cloud Build deploys each commit's image, as for the services.
    ignore_changes = [
      template[0].containers[0].image,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.database_url_accessor,
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_iam_member.job_type_secrets_key_accessor,
    google_secret_manager_secret_version.job_type_secrets_key,
  ]
}
