output "api_url" {
  description = "Public URL of jobs-api."
  value       = module.api.uri
}

output "worker_url" {
  description = "URL of jobs-worker (invokable by the push service account only); also the OIDC audience."
  value       = local.worker_url
}

output "image_repository" {
  description = "Where Cloud Build pushes images: REGION-docker.pkg.dev/PROJECT/REPOSITORY/jobs."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.jobs.repository_id}/jobs"
}

output "cloudsql_connection_name" {
  description = "PROJECT:REGION:INSTANCE, for the Cloud SQL Auth Proxy."
  value       = google_sql_database_instance.jobs.connection_name
}

output "cloudbuild_service_account" {
  description = "Run builds as this account (gcloud builds submit --service-account, or the trigger's)."
  value       = google_service_account.cloudbuild.id
}

output "build_source_bucket" {
  description = "Staging bucket for gcloud builds submit --gcs-source-staging-dir."
  value       = google_storage_bucket.build_source.name
}

output "github_workload_identity_provider" {
  description = "For deploy.yml's GCP_WORKLOAD_IDENTITY_PROVIDER variable."
  value       = var.github_repository == "" ? null : google_iam_workload_identity_pool_provider.github[0].name
}

output "github_deploy_service_account" {
  description = "For deploy.yml's GCP_DEPLOY_SERVICE_ACCOUNT variable."
  value       = var.github_repository == "" ? null : google_service_account.github_deploy[0].email
}

output "pull_worker_pool" {
  description = "Name of the pull worker pool (jobs-worker-pool), or null without pull_worker_enabled."
  value       = var.pull_worker_enabled ? google_cloud_run_v2_worker_pool.pull[0].name : null
}
