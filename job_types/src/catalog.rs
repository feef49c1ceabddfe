//! The tenants' job types as the API and the worker read them: from the
//! store, compiled, and cached for [`CACHE_TTL`], so a submit of a known type
//! costs no extra database round trip and a change is seen within the TTL on
//! every instance.

use crate::defined::{DefinedType, JobTypeDefinition};
use jobs_domain::{JobTypeStore, StoreError, SubmissionLimits, TenantId};
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// How long a looked-up type (or its absence) is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Tenants' job types by tenant and name, cached.
#[derive(Debug, Clone)]
pub struct JobTypeCatalog {
    store: JobTypeStore,
    limits: SubmissionLimits,
    cached: Cache<(TenantId, String), Option<Arc<DefinedType>>>,
}

impl JobTypeCatalog {
    /// A catalog over `store`, compiling definitions against `limits`.
    pub fn new(store: JobTypeStore, limits: SubmissionLimits) -> Self {
        JobTypeCatalog {
            store,
            limits,
            cached: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// The store behind the catalog.
    pub fn store(&self) -> &JobTypeStore {
        &self.store
    }

    /// The tenant's type `name`, or `None` when the tenant has none by that name.
    pub async fn get(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<Arc<DefinedType>>, StoreError> {
        let key = (tenant, name.to_owned());
        if let Some(found) = self.cached.get(&key) {
            return Ok(found);
        }
        let defined = match self.store.get(tenant, name).await? {
            None => None,
            Some(stored) => self.compile(name, stored.definition, stored.sealed_secret),
        };
        self.cached.insert(key, defined.clone());
        Ok(defined)
    }

    /// Forgets what is cached of `name`, so this instance sees a change at once.
    pub fn forget(&self, tenant: TenantId, name: &str) {
        self.cached.invalidate(&(tenant, name.to_owned()));
    }

    fn compile(
        &self,
        name: &str,
        definition: serde_json::Value,
        sealed_secret: Option<Vec<u8>>,
    ) -> Option<Arc<DefinedType>> {
        let parsed = serde_json::from_value::<JobTypeDefinition>(definition)
            .map_err(|err| err.to_string())
            .and_then(|definition| {
                // Stored types were checked when put; the secret, if any, is there.
                DefinedType::new(name, definition, &self.limits, true).map_err(|errors| {
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            });
        match parsed {
            Ok(defined) => Some(Arc::new(defined.with_sealed_secret(sealed_secret))),
            Err(err) => {
                // Stored by an older version, or under other limits: treated as absent.
                tracing::error!(job_type = name, error = %err, "a stored job type no longer validates");
                None
            }
        }
    }
}
