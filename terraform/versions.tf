terraform {
  # 1.6+: the gcs backend options and `terraform test` used by this module.
  required_version = ">= 1.6"

  required_providers {
    # Same major for every module; .terraform.lock.hcl (made by the first
    # `terraform init`, committed then) pins the exact build.
    google = {
      source  = "hashicorp/google"
      version = ">= 7.30, < 8.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7, < 4.0"
    }
  }

  # State in a versioned GCS bucket made during bootstrap (docs/DEPLOY.md):
  #   terraform init -backend-config="bucket=PROJECT-tfstate"
  # It holds the database password and the job-type secrets key, so only
  # deployers may read it.
  backend "gcs" {
    prefix = "jobs"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
