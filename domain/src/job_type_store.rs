//! The job types tenants define, over PostgreSQL. The store keeps each
//! definition as the JSON the API validated; `jobs-job-types` gives it meaning.

use crate::job::TenantId;
use crate::store_error::StoreError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// A tenant's job type as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredJobType {
    /// The type's name, unique per tenant.
    pub name: String,
    /// The definition, as validated by the API.
    pub definition: Value,
    /// The HMAC secret, sealed; never shown to clients.
    pub sealed_secret: Option<Vec<u8>>,
    /// When it was first defined.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Reads and writes tenants' job types.
#[derive(Debug, Clone)]
pub struct JobTypeStore {
    pool: PgPool,
}

impl JobTypeStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        JobTypeStore { pool }
    }

    /// Creates or replaces a type in one statement; `true` when it is new.
    /// `sealed_secret` replaces the stored one when given, and is kept otherwise.
    pub async fn put(
        &self,
        tenant: TenantId,
        name: &str,
        definition: &Value,
        sealed_secret: Option<&[u8]>,
    ) -> Result<(StoredJobType, bool), StoreError> {
        use sqlx::{FromRow, Row};
        let row = sqlx::query(
            "insert into job_types (tenant_id, name, definition, sealed_secret)
             values ($1, $2, $3, $4)
             on conflict (tenant_id, name) do update set
                 definition = excluded.definition,
                 sealed_secret = coalesce(excluded.sealed_secret, job_types.sealed_secret),
                 updated_at = now()
             returning name, definition, sealed_secret, created_at, updated_at,
                       (xmax = 0) as created",
        )
        .bind(tenant)
        .bind(name)
        .bind(definition)
        .bind(sealed_secret)
        .fetch_one(&self.pool)
        .await?;
        Ok((StoredJobType::from_row(&row)?, row.try_get("created")?))
    }

    /// One of the tenant's types.
    pub async fn get(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<StoredJobType>, StoreError> {
        Ok(sqlx::query_as::<_, StoredJobType>(
            "select name, definition, sealed_secret, created_at, updated_at
             from job_types where tenant_id = $1 and name = $2",
        )
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The tenant's types, by name.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<StoredJobType>, StoreError> {
        Ok(sqlx::query_as::<_, StoredJobType>(
            "select name, definition, sealed_secret, created_at, updated_at
             from job_types where tenant_id = $1 order by name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes one of the tenant's types; `false` when there was none.
    pub async fn delete(&self, tenant: TenantId, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("delete from job_types where tenant_id = $1 and name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Replaces a type's sealed secret; `false` when there is no such type.
    pub async fn set_secret(
        &self,
        tenant: TenantId,
        name: &str,
        sealed_secret: &[u8],
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "update job_types set sealed_secret = $3, updated_at = now()
             where tenant_id = $1 and name = $2",
        )
        .bind(tenant)
        .bind(name)
        .bind(sealed_secret)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }
}
