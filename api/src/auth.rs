//! API-key authentication: `Authorization: Bearer <key>` to a tenant, with a
//! short-lived cache so the submit path does not pay a database round trip per request.

use crate::error::ApiError;
use jobs_domain::TenantId;
use jobs_domain::api_keys::{find_tenant, hash_key};
use moka::sync::Cache;
use sqlx::PgPool;
use std::time::Duration;

/// Checks API keys against the database, remembering good ones for a while.
#[derive(Clone)]
pub struct ApiKeys {
    pool: PgPool,
    // Keyed by the key's hash, so the cache never holds a secret.
    verified: Cache<[u8; 32], TenantId>,
}

impl ApiKeys {
    /// A verifier that trusts a looked-up key for `ttl`.
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        ApiKeys {
            pool,
            verified: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The tenant of an `Authorization` header's bearer key.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<TenantId, ApiError> {
        let key = authorization
            .and_then(|value| {
                let (scheme, key) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .filter(|key| !key.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let hash = hash_key(key);
        if let Some(tenant) = self.verified.get(&hash) {
            return Ok(tenant);
        }
        let tenant = find_tenant(&self.pool, key)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        self.verified.insert(hash, tenant);
        Ok(tenant)
    }
}
