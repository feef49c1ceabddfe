output "jobs_topic" {
  description = "Name of the topic jobs are published to."
  value       = google_pubsub_topic.jobs.name
}

output "dead_letter_topic" {
  description = "Name of the dead-letter topic."
  value       = google_pubsub_topic.dead_letter.name
}

output "worker_subscription" {
  description = "Name of the subscription on jobs that feeds the workers: jobs-worker (push), or jobs-worker-pull with pull_subscription."
  value       = local.jobs_subscription
}

output "dead_letter_subscription" {
  description = "Name of the push subscription that reports dead letters to the worker."
  value       = google_pubsub_subscription.dead_letter_worker.name
}
