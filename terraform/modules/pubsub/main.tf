# The Pub/Sub contract of the job service (docs: /work/shared/DESIGN.md):
# topic jobs -> push subscription jobs-worker -> POST <worker>/pubsub/push, and
# after max_delivery_attempts -> topic jobs-dead-letter -> push subscription
# jobs-dead-letter-worker -> POST <worker>/pubsub/dead-letter.
# With pull_subscription, the pull subscription jobs-worker-pull (read by the
# worker pool in WORKER_MODE=pull) replaces jobs-worker: one subscription
# feeds the workers, or every job would be delivered twice.

locals {
  # Pub/Sub's own service agent forwards dead letters and mints push tokens.
  pubsub_service_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # The subscription on jobs that feeds the workers, push or pull.
  jobs_subscription = var.pull_subscription ? google_pubsub_subscription.worker_pull[0].name : google_pubsub_subscription.worker[0].name
}

resource "google_pubsub_topic" "jobs" {
  project = var.project_id
  name    = "jobs"
  labels  = var.labels
  # Undelivered messages are kept up to the subscription's retention (7 days).
  message_retention_duration = "604800s"
}

resource "google_pubsub_topic" "dead_letter" {
  project                    = var.project_id
  name                       = "jobs-dead-letter"
  labels                     = var.labels
  message_retention_duration = "604800s"
}

resource "google_pubsub_subscription" "worker" {
  count = var.pull_subscription ? 0 : 1

  project = var.project_id
  name    = "jobs-worker"
  topic   = google_pubsub_topic.jobs.id
  labels  = var.labels

  # A delivery stays leased while the worker runs the job (<= 540 s).
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = "604800s"
  # Never expire, however long the topic is idle.
  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = "${var.worker_url}/pubsub/push"
    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.worker_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

moved {
  from = google_pubsub_subscription.worker
  to   = google_pubsub_subscription.worker[0]
}

resource "google_pubsub_subscription" "worker_pull" {
  count = var.pull_subscription ? 1 : 0

  project = var.project_id
  name    = "jobs-worker-pull"
  topic   = google_pubsub_topic.jobs.id
  labels  = var.labels

  # For unary pulls only: the streaming subscriber sets its own deadline
  # (PULL_ACK_DEADLINE_SECONDS) and extends it while the job runs.
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }

  # The same redelivery and dead-lettering as the push subscription: a nack
  # means what a non-2xx push means.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# The pull workers' identities pull (and ack) the pull subscription.
resource "google_pubsub_subscription_iam_member" "pull_subscribers" {
  for_each = var.pull_subscription ? var.pull_subscriber_members : {}

  project      = var.project_id
  subscription = google_pubsub_subscription.worker_pull[0].name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

resource "google_pubsub_subscription" "dead_letter_worker" {
  project = var.project_id
  name    = "jobs-dead-letter-worker"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = var.labels

  # Marking a job failed is one UPDATE; a minute is plenty.
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = "${var.worker_url}/pubsub/dead-letter"
    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.worker_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Dead-lettering: Pub/Sub's service agent must publish to the dead-letter
# topic and subscribe (ack the forwarded message) on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_subscriber" {
  project      = var.project_id
  subscription = local.jobs_subscription
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Authenticated push: the service agent mints OIDC tokens as the push account.
# Projects created after 2021-04-08 have this implicitly; granting it on this
# one account only is harmless there and needed on older projects.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = "projects/${var.project_id}/serviceAccounts/${var.push_service_account_email}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "jobs_publishers" {
  for_each = var.publisher_members

  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = each.value
}
