terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.30, < 8.0"
    }
  }
}
