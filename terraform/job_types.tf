# The key that seals the HMAC secrets of tenant-defined job types at rest
# (XChaCha20-Poly1305): JOB_TYPE_SECRETS_KEY, base64 of 32 random bytes, read
# by jobs-api (which seals a new secret) and jobs-worker (which signs with it).
# Replacing it makes every stored HMAC secret unreadable: such types then
# need `POST /v1/job-types/{name}/rotate-secret`. Like the database password,
# it is in the Terraform state too.

resource "random_bytes" "job_type_secrets_key" {
  length = 32
}

resource "google_secret_manager_secret" "job_type_secrets_key" {
  project   = var.project_id
  secret_id = "jobs-job-type-secrets-key"
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "job_type_secrets_key" {
  secret      = google_secret_manager_secret.job_type_secrets_key.id
  secret_data = random_bytes.job_type_secrets_key.base64
}
