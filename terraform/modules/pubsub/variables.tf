variable "project_id" {
  description = "Project that holds the topics and subscriptions."
  type        = string
}

variable "project_number" {
  description = "Project number; names Pub/Sub's service agent."
  type        = string
}

variable "worker_url" {
  description = "Base URL of the jobs-worker service; push endpoints and the OIDC audience derive from it."
  type        = string
}

variable "push_service_account_email" {
  description = "Service account whose OIDC token Pub/Sub attaches to every push."
  type        = string
}

variable "publisher_members" {
  description = "Members allowed to publish to the jobs topic (the api and the worker's reconciler)."
  type        = map(string)
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before it goes to the dead-letter topic."
  type        = number
  default     = 5
}

variable "ack_deadline_seconds" {
  description = "Ack deadline of jobs-worker; must exceed the longest job timeout (540 s)."
  type        = number
  default     = 600
}

variable "pull_subscription" {
  description = "Feed the workers through the pull subscription jobs-worker-pull (WORKER_MODE=pull) instead of the push subscription jobs-worker."
  type        = bool
  default     = false
}

variable "pull_subscriber_members" {
  description = "Members allowed to pull from jobs-worker-pull (the worker pool's identity); unused without pull_subscription."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels for every resource."
  type        = map(string)
  default     = {}
}
