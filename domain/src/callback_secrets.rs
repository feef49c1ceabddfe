//! Each tenant's callback signing secret, sealed, over PostgreSQL. The API
//! creates and rotates it; the worker opens it to sign callbacks.

use crate::job::TenantId;
use crate::store_error::StoreError;
use sqlx::PgPool;

/// Reads and writes tenants' sealed callback secrets.
#[derive(Debug, Clone)]
pub struct CallbackSecrets {
    pool: PgPool,
}

impl CallbackSecrets {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        CallbackSecrets { pool }
    }

    /// Stores the tenant's sealed secret, replacing any; `true` when it is the first.
    pub async fn put(&self, tenant: TenantId, sealed: &[u8]) -> Result<bool, StoreError> {
        let created: bool = sqlx::query_scalar(
            "insert into callback_secrets (tenant_id, sealed_secret) values ($1, $2)
             on conflict (tenant_id) do update set
                 sealed_secret = excluded.sealed_secret, updated_at = now()
             returning (xmax = 0)",
        )
        .bind(tenant)
        .bind(sealed)
        .fetch_one(&self.pool)
        .await?;
        Ok(created)
    }

    /// The tenant's sealed secret, if it has one.
    pub async fn get(&self, tenant: TenantId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("select sealed_secret from callback_secrets where tenant_id = $1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
