variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Cloud SQL and Artifact Registry."
  type        = string
  default     = "europe-west1"
}

variable "image" {
  description = "Image the services and jobs start with, e.g. REGION-docker.pkg.dev/PROJECT/jobs/jobs:bootstrap. Cloud Build deploys later images; Terraform then leaves the image alone."
  type        = string
}

variable "repository_id" {
  description = "Artifact Registry repository for the image (cloudbuild.yaml's _REPOSITORY)."
  type        = string
  default     = "jobs"
}

variable "db_tier" {
  description = "Cloud SQL machine type."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_availability_type" {
  description = "REGIONAL (high availability, failover replica) or ZONAL."
  type        = string
  default     = "REGIONAL"
}

variable "db_max_connections" {
  description = "PostgreSQL max_connections; keep above (api_max_instances + worker_max_instances) * pool_size + a few for jobs and admins."
  type        = number
  default     = 200
}

variable "pool_size" {
  description = "DATABASE_MAX_CONNECTIONS of each api and worker instance."
  type        = number
  default     = 10
}

variable "api_min_instances" {
  description = "Warm API instances (0 allows scale to zero at the cost of cold starts)."
  type        = number
  default     = 0
}

variable "api_max_instances" {
  description = "Most API instances."
  type        = number
  default     = 10
}

variable "tenant_rate_limit" {
  description = "Requests per second each tenant may make to one API instance (429 above); 0 is unlimited."
  type        = number
  default     = 0

  validation {
    condition     = var.tenant_rate_limit >= 0 && floor(var.tenant_rate_limit) == var.tenant_rate_limit
    error_message = "tenant_rate_limit must be a whole number, 0 or more."
  }
}

variable "worker_min_instances" {
  description = "Warm worker instances; at least 1 so the reconciler always runs."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_min_instances >= 1
    error_message = "The worker hosts the reconciler: keep at least one instance."
  }
}

variable "worker_max_instances" {
  description = "Most worker instances."
  type        = number
  default     = 5
}

variable "worker_concurrency" {
  description = "Jobs one worker instance runs at once (each push is one request)."
  type        = number
  default     = 20
}

variable "pull_worker_enabled" {
  description = "Run a Cloud Run worker pool in WORKER_MODE=pull fed by the pull subscription jobs-worker-pull, instead of pushing jobs to jobs-worker (which keeps the dead letters); see README, Push or pull."
  type        = bool
  default     = false
}

variable "pull_worker_instances" {
  description = "Instances of the pull worker pool (manual scaling: it never scales to zero)."
  type        = number
  default     = 1

  validation {
    condition     = var.pull_worker_instances >= 1 && floor(var.pull_worker_instances) == var.pull_worker_instances
    error_message = "pull_worker_instances must be a whole number, 1 or more."
  }
}

variable "pull_concurrency" {
  description = "Jobs one pull worker instance runs at once (PULL_CONCURRENCY)."
  type        = number
  default     = 64

  validation {
    condition     = var.pull_concurrency >= 1 && var.pull_concurrency <= 1000 && floor(var.pull_concurrency) == var.pull_concurrency
    error_message = "pull_concurrency must be a whole number from 1 to 1000 (the worker's PULL_MAX_OUTSTANDING_MESSAGES default)."
  }
}

variable "email_from" {
  description = "Sender address of email jobs (EMAIL_FROM); empty leaves the worker's default."
  type        = string
  default     = ""
}

variable "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT of both services: https://telemetry.googleapis.com for Cloud Trace, or a collector's URL; empty exports no traces."
  type        = string
  default     = ""
}

variable "smtp_url_secret_id" {
  description = "Existing Secret Manager secret holding SMTP_URL (an smtp:// URL with credentials); empty keeps mail in the log."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "owner/name of the GitHub repository allowed to deploy through Workload Identity Federation; empty creates no federation."
  type        = string
  default     = ""
}

variable "labels" {
  description = "Labels on every resource that takes them."
  type        = map(string)
  default = {
    app = "jobs"
  }
}
