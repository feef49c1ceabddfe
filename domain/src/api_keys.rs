//! Tenants and their API keys. Keys are 256-bit random secrets, so a plain
//! SHA-256 is enough to store them safely and lets a lookup be one index probe.
//! Each key also keeps its first characters (its prefix), which name it in
//! listings and revocations without revealing enough of it to be used.

use crate::job::TenantId;
use crate::store_error::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The prefix every key starts with, so leaked keys are easy to recognise.
pub const KEY_PREFIX: &str = "jk_";

/// Length of the prefix stored for a new key: `jk_` and 12 characters (72
/// bits) of the secret, so no two keys share one (the schema enforces it).
pub const PREFIX_LEN: usize = KEY_PREFIX.len() + 12;

/// Length of the prefix keys created before [`PREFIX_LEN`] stored, and the
/// fewest characters a revocation accepts.
pub const SHORT_PREFIX_LEN: usize = KEY_PREFIX.len() + 4;

/// The PostgreSQL channel on which a revoked or deleted key's hash (hex) is
/// announced, by a trigger, so API processes can forget the key at once.
pub const REVOKED_CHANNEL: &str = "api_keys_revoked";

/// A freshly created key: the only time the secret exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// The secret to hand to the client.
    pub key: String,
    /// The key's first [`PREFIX_LEN`] characters, which name it in `keys list` and `keys revoke`.
    pub prefix: String,
}

/// What may be shown of a key: never its secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyInfo {
    /// The key's first characters (see [`PREFIX_LEN`]).
    pub prefix: String,
    /// The name of the key's tenant.
    pub tenant: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What [`revoke_key`] did to the one key its prefix named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The key was live and is revoked now.
    Revoked(KeyInfo),
    /// The key had been revoked before; nothing changed.
    AlreadyRevoked(KeyInfo),
}

/// Why [`revoke_key`] revoked nothing. Each variant says what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// The argument cannot be a key's prefix: pass at least `jk_` and 4 more characters.
    #[error(
        "`{0}` is not a key prefix: give at least its first {SHORT_PREFIX_LEN} characters, starting with {KEY_PREFIX}"
    )]
    NotAPrefix(String),
    /// No key starts with the prefix: check it against `api keys list`.
    #[error("no API key starts with `{0}`; `api keys list` shows each key's prefix")]
    Unknown(String),
    /// Several keys start with the prefix and none was revoked: pass more of the key.
    #[error(
        "`{prefix}` names {matches} keys, so none was revoked; give more of the key (the whole key names a key created before prefixes had {PREFIX_LEN} characters)"
    )]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many keys it matches.
        matches: usize,
    },
    /// The database failed; nothing was revoked, and the command may be run again.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let prefix = key[..PREFIX_LEN].to_owned();
    sqlx::query("insert into api_keys (id, tenant_id, key_hash, prefix) values ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(&hash_key(&key)[..])
        .bind(&prefix)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        tenant: TenantId(tenant),
        key,
        prefix,
    })
}

/// Every key, or only `tenant`'s, by tenant and then oldest first.
pub async fn list_keys(pool: &PgPool, tenant: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
    let keys = sqlx::query_as::<_, KeyInfo>(
        "select k.prefix, t.name as tenant, k.created_at, k.revoked_at
         from api_keys k join tenants t on t.id = k.tenant_id
         where $1::text is null or t.name = $1
         order by t.name, k.created_at, k.prefix",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    Ok(keys)
}

/// A key a revocation's prefix matched.
#[derive(sqlx::FromRow)]
struct Match {
    id: Uuid,
    /// The argument was the whole key.
    exact: bool,
    #[sqlx(flatten)]
    info: KeyInfo,
}

/// Revokes the one key `prefix` names: a key whose stored prefix starts with
/// it, or (for older keys' shorter prefixes, or a whole key) that it starts
/// with; the whole key names its key alone. Revoking a revoked key changes
/// nothing. Refuses, revoking nothing, when no key or several match.
pub async fn revoke_key(pool: &PgPool, prefix: &str) -> Result<Revocation, RevokeError> {
    if prefix.len() < SHORT_PREFIX_LEN || !prefix.starts_with(KEY_PREFIX) {
        return Err(RevokeError::NotAPrefix(prefix.to_owned()));
    }
    let mut matches = sqlx::query_as::<_, Match>(
        "select k.id, k.key_hash = $2 as exact, k.prefix, t.name as tenant, k.created_at,
                k.revoked_at
         from api_keys k join tenants t on t.id = k.tenant_id
         where starts_with(k.prefix, $1) or starts_with($1, k.prefix)",
    )
    .bind(prefix)
    .bind(&hash_key(prefix)[..])
    .fetch_all(pool)
    .await
    .map_err(StoreError::from)?;
    if matches.iter().any(|m| m.exact) {
        matches.retain(|m| m.exact);
    }
    let (id, info) = match matches.pop() {
        None => return Err(RevokeError::Unknown(prefix.to_owned())),
        Some(only) if matches.is_empty() => (only.id, only.info),
        Some(_) => {
            return Err(RevokeError::Ambiguous {
                prefix: prefix.to_owned(),
                matches: matches.len() + 1,
            });
        }
    };
    if info.revoked_at.is_some() {
        return Ok(Revocation::AlreadyRevoked(info));
    }
    // Guarded on `revoked_at is null`: a concurrent revocation keeps its time.
    let revoked_at = sqlx::query_scalar::<_, DateTime<Utc>>(
        "update api_keys set revoked_at = now() where id = $1 and revoked_at is null
         returning revoked_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::from)?;
    Ok(match revoked_at {
        Some(revoked_at) => Revocation::Revoked(KeyInfo {
            revoked_at: Some(revoked_at),
            ..info
        }),
        None => Revocation::AlreadyRevoked(info),
    })
}

/// The key hash a [`REVOKED_CHANNEL`] notification carries, if it is one.
pub fn revoked_hash(payload: &str) -> Option<[u8; 32]> {
    let digits = payload.as_bytes();
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_payload_is_the_hex_of_a_key_hash() {
        let hash = hash_key("jk_example");
        let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(revoked_hash(&hex), Some(hash));
        assert_eq!(revoked_hash(&hex.to_uppercase()), Some(hash));
        for bad in [
            "",
            "00",
            &hex[..63],
            &format!("{}zz", &hex[..62]),
            "+0".repeat(32).as_str(),
        ] {
            assert_eq!(revoked_hash(bad), None, "{bad}");
        }
    }
}
