variable "project_id" {
  description = "Project of the service."
  type        = string
}

variable "region" {
  description = "Region of the service."
  type        = string
}

variable "name" {
  description = "Service name (jobs-api, jobs-worker)."
  type        = string
}

variable "image" {
  description = "Initial image; Cloud Build rolls out later ones (Terraform ignores the image afterwards)."
  type        = string
}

variable "command" {
  description = "Binary in the image to run (api, worker)."
  type        = list(string)
}

variable "args" {
  description = "Arguments to the binary."
  type        = list(string)
  default     = []
}

variable "service_account_email" {
  description = "Identity the service runs as."
  type        = string
}

variable "env" {
  description = "Plain environment variables."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variables read from Secret Manager: NAME => secret id (latest version)."
  type        = map(string)
  default     = {}
}

variable "cloudsql_instances" {
  description = "Cloud SQL connection names mounted as Unix sockets under /cloudsql."
  type        = list(string)
  default     = []
}

variable "ingress" {
  description = "Who can reach the service over the network; IAM still decides who may invoke it."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"
}

variable "min_instances" {
  description = "Instances kept warm."
  type        = number
}

variable "max_instances" {
  description = "Upper bound on instances (bounds database connections too)."
  type        = number
}

variable "concurrency" {
  description = "Requests one instance serves at once."
  type        = number
}

variable "cpu" {
  description = "vCPUs per instance."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory per instance."
  type        = string
  default     = "512Mi"
}

variable "cpu_always_allocated" {
  description = "Keep CPU allocated outside requests (needed by background work such as the reconciler)."
  type        = bool
  default     = false
}

variable "timeout_seconds" {
  description = "Longest a request may take."
  type        = number
  default     = 60
}

variable "startup_probe_path" {
  description = "HTTP path that must answer 2xx before a revision takes traffic."
  type        = string
  default     = "/readyz"
}

variable "liveness_probe_path" {
  description = "HTTP path whose failures restart an instance."
  type        = string
  default     = "/healthz"
}

variable "labels" {
  description = "Labels for the service."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Refuse to destroy the service from Terraform."
  type        = bool
  default     = true
}
