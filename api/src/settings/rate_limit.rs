//! Each tenant's request quota.

use clap::Args;
use governor::Quota;
use jobs_runtime::settings::{SettingError, parse_seconds};
use std::num::NonZeroU32;
use std::time::Duration;

/// Requests a tenant may make, across its keys and per API instance.
#[derive(Debug, Clone, Copy, Args)]
pub struct TenantRateSettings {
    /// Requests each tenant may make per TENANT_RATE_PERIOD_SECONDS; 0 leaves them unlimited.
    #[arg(
        long,
        env = "TENANT_RATE_LIMIT",
        value_name = "TENANT_RATE_LIMIT",
        default_value_t = 0
    )]
    pub tenant_rate_limit: u32,
    /// The period TENANT_RATE_LIMIT counts over, in seconds.
    #[arg(long, env = "TENANT_RATE_PERIOD_SECONDS", value_name = "TENANT_RATE_PERIOD_SECONDS",
          default_value = "1", value_parser = parse_seconds)]
    pub tenant_rate_period: Duration,
    /// Requests a tenant may make at once above its rate; 0 means as many as TENANT_RATE_LIMIT.
    #[arg(
        long,
        env = "TENANT_RATE_BURST",
        value_name = "TENANT_RATE_BURST",
        default_value_t = 0
    )]
    pub tenant_rate_burst: u32,
}

impl TenantRateSettings {
    /// Each tenant's request quota, or `None` when unlimited.
    pub fn quota(&self) -> Result<Option<Quota>, SettingError> {
        let Some(rate) = NonZeroU32::new(self.tenant_rate_limit) else {
            if self.tenant_rate_burst > 0 {
                return Err(SettingError {
                    setting: "TENANT_RATE_BURST",
                    message: "has no effect without TENANT_RATE_LIMIT; set both or neither"
                        .to_owned(),
                });
            }
            return Ok(None);
        };
        let burst = NonZeroU32::new(self.tenant_rate_burst).unwrap_or(rate);
        // One request comes back every period / rate.
        let replenish = self.tenant_rate_period / rate.get();
        let quota = Quota::with_period(replenish).ok_or_else(|| SettingError {
            setting: "TENANT_RATE_LIMIT",
            message: "is more than one request per nanosecond of TENANT_RATE_PERIOD_SECONDS"
                .to_owned(),
        })?;
        Ok(Some(quota.allow_burst(burst)))
    }
}
