//! Per-tenant request rate limiting, so one tenant cannot starve the others:
//! a tenant over its quota gets 429 with `Retry-After`. GCRA from `governor`,
//! in memory, so the limit holds per API instance.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jobs_domain::TenantId;
use std::sync::Arc;

/// The quota every tenant gets, or none.
#[derive(Clone, Debug)]
pub struct TenantRateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<TenantId>>>,
}

impl TenantRateLimit {
    /// Every tenant gets `quota`; `None` leaves requests unlimited.
    pub fn new(quota: Option<Quota>) -> Self {
        TenantRateLimit {
            limiter: quota.map(|quota| Arc::new(RateLimiter::keyed(quota))),
        }
    }

    /// Takes one request from `tenant`'s quota, or says how long to wait.
    pub fn check(&self, tenant: TenantId) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Whole seconds, rounded up, at least one: a client that honours
            // Retry-After must find the quota refilled.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::RateLimited {
                retry_after_seconds: seconds.max(1),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use uuid::Uuid;

    fn tenant() -> TenantId {
        TenantId(Uuid::new_v4())
    }

    #[test]
    fn a_tenant_over_its_burst_is_told_to_wait_and_others_are_not() {
        let two = NonZeroU32::new(2).expect("non-zero");
        let limit = TenantRateLimit::new(Some(Quota::per_hour(two)));
        let (busy, quiet) = (tenant(), tenant());
        assert!(limit.check(busy).is_ok());
        assert!(limit.check(busy).is_ok());
        match limit.check(busy) {
            Err(ApiError::RateLimited {
                retry_after_seconds,
            }) => assert!(
                (1..=1800).contains(&retry_after_seconds),
                "{retry_after_seconds}"
            ),
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(limit.check(quiet).is_ok());
    }

    #[test]
    fn no_quota_means_no_limit() {
        let limit = TenantRateLimit::new(None);
        let busy = tenant();
        assert!((0..10_000).all(|_| limit.check(busy).is_ok()));
    }
}
