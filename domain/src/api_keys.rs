//! Tenants and their API keys. Keys are 256-bit random secrets, so a plain
//! SHA-256 is enough to store them safely and lets a lookup be one index probe.

use crate::job::TenantId;
use crate::store_error::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The prefix every key starts with, so leaked keys are easy to recognise.
pub const KEY_PREFIX: &str = "jk_";

/// A freshly created key: the only time the secret exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// The secret to hand to the client.
    pub key: String,
}

/// The SHA-256 of a key, as stored.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Creates the tenant `tenant_name` if it does not exist, and a new key for it.
pub async fn create_key(pool: &PgPool, tenant_name: &str) -> Result<CreatedKey, StoreError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let mut tx = pool.begin().await?;
    // The no-op update makes `returning` yield the existing tenant too.
    let tenant: Uuid = sqlx::query_scalar(
        "insert into tenants (id, name) values ($1, $2)
         on conflict (name) do update set name = excluded.name
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_name)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("insert into api_keys (id, tenant_id, key_hash, prefix) values ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(&hash_key(&key)[..])
        .bind(&key[..KEY_PREFIX.len() + 4])
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        tenant: TenantId(tenant),
        key,
    })
}

/// The tenant of a live (unrevoked) key, if any.
pub async fn find_tenant(pool: &PgPool, key: &str) -> Result<Option<TenantId>, StoreError> {
    let tenant = sqlx::query_scalar::<_, Uuid>(
        "select tenant_id from api_keys where key_hash = $1 and revoked_at is null",
    )
    .bind(&hash_key(key)[..])
    .fetch_optional(pool)
    .await?;
    Ok(tenant.map(TenantId))
}
