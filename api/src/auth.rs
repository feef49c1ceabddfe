//! API-key authentication: `Authorization: Bearer <key>` to a tenant, with a
//! short-lived cache so the submit path does not pay a database round trip
//! per request, and a listener that evicts a key from the cache the moment
//! it is revoked, so revocation does not wait for the cache's time to live.

use crate::error::ApiError;
use jobs_domain::TenantId;
use jobs_domain::api_keys::{REVOKED_CHANNEL, find_tenant, hash_key, revoked_hash};
use jobs_runtime::server::Stopping;
use moka::sync::Cache;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long the revocation listener waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Checks API keys against the database, remembering good ones for a while.
#[derive(Clone)]
pub struct ApiKeys {
    pool: PgPool,
    // Keyed by the key's hash, so the cache never holds a secret.
    verified: Cache<[u8; 32], TenantId>,
    // Bumped before every eviction, so a lookup that raced a revocation does not stay cached.
    evictions: Arc<AtomicU64>,
}

impl ApiKeys {
    /// A verifier that trusts a looked-up key for `ttl`, or until
    /// [`ApiKeys::follow_revocations`] hears it was revoked.
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        ApiKeys {
            pool,
            verified: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            evictions: Arc::new(AtomicU64::new(0)),
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
        let evictions = self.evictions.load(Ordering::Acquire);
        let tenant = find_tenant(&self.pool, key)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        self.verified.insert(hash, tenant);
        // A revocation heard since the lookup began may be of this key (and
        // its eviction may have come before the insert): look it up next time.
        if self.evictions.load(Ordering::Acquire) != evictions {
            self.verified.invalidate(&hash);
        }
        Ok(tenant)
    }

    /// Listens on [`REVOKED_CHANNEL`] on a connection of its own until
    /// `stopping`, evicting each revoked key. Whenever it (re)connects it
    /// forgets every key, since a revocation may have gone unheard meanwhile;
    /// while it cannot connect, the cache's time to live still bounds the delay.
    pub async fn follow_revocations(self, mut stopping: Stopping) {
        // The listener holds one pooled connection for good; a pool of one would have none left.
        if self.pool.options().get_max_connections() < 2 {
            tracing::warn!(
                "DATABASE_MAX_CONNECTIONS is 1, too few to listen for API key revocations: \
                 a revoked key passes for up to API_KEY_CACHE_SECONDS"
            );
            return;
        }
        tokio::select! {
            () = self.listen() => {}
            () = &mut stopping => {}
        }
    }

    async fn listen(&self) {
        loop {
            match self.listen_once().await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "not hearing API key revocations; retrying");
                    self.forget_all();
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        }
    }

    /// Listens until the connection fails (an error) or the pool is closed.
    async fn listen_once(&self) -> Result<(), sqlx::Error> {
        if self.pool.is_closed() {
            return Ok(());
        }
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(REVOKED_CHANNEL).await?;
        // Listening from here on; a revocation before it is caught by forgetting all.
        self.forget_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => match revoked_hash(notice.payload()) {
                    Some(hash) => self.forget(&hash),
                    None => {
                        tracing::warn!(
                            payload = notice.payload(),
                            "not a key hash; forgetting every key"
                        );
                        self.forget_all();
                    }
                },
                // Lost and listening again already: what was said meanwhile is lost.
                Ok(None) => self.forget_all(),
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
    }

    fn forget(&self, hash: &[u8; 32]) {
        self.evictions.fetch_add(1, Ordering::AcqRel);
        self.verified.invalidate(hash);
    }

    fn forget_all(&self) {
        self.evictions.fetch_add(1, Ordering::AcqRel);
        self.verified.invalidate_all();
    }
}
