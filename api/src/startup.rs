//! Building the API from its settings: the state and the routes, bound and
//! ready to serve, with the API-key revocation and finished-job listeners
//! running alongside and the publisher flushed at shutdown.

use crate::auth::ApiKeys;
use crate::job_waiters::{JobWaiters, max_wait};
use crate::rate_limit::TenantRateLimit;
use crate::routes::app;
use crate::settings::ApiSettings;
use crate::state::Shared;
use jobs_domain::{CallbackSecrets, JobStore, JobTypeStore, ScheduleStore, db};
use jobs_job_types::JobTypeCatalog;
use jobs_runtime::settings::SettingError;
use jobs_runtime::{JobPublisher, Metrics, Server, StartupError};
use sqlx::PgPool;
use std::sync::Arc;

/// Checks the settings, builds the state and binds the listener: what `api` runs.
pub async fn build(settings: &ApiSettings) -> Result<Server, StartupError> {
    build_on(settings, settings.server.database.pool()).await
}

/// As [`build`], over an existing `pool` (tests pass their own database's).
pub async fn build_on(settings: &ApiSettings, pool: PgPool) -> Result<Server, StartupError> {
    let limits = settings.server.job_limits.submission_limits()?;
    let quota = settings.tenant_rate.quota()?;
    let secret_box = settings
        .secrets
        .secret_box()
        .map_err(|message| SettingError {
            setting: "JOB_TYPE_SECRETS_KEY",
            message,
        })?;
    if settings.migrate_on_start {
        db::migrate(&pool).await?;
    }
    let base = JobStore::new(pool.clone());
    let schedules = ScheduleStore::new(pool.clone());
    let job_types = JobTypeCatalog::new(JobTypeStore::new(pool.clone()), limits);
    let metrics = Metrics::new();
    let publisher =
        JobPublisher::new(&settings.server.pubsub, base.clone(), metrics.clone()).await?;
    // Jobs a change creates (callbacks) are published as soon as they are committed.
    let jobs = base.on_created({
        let publisher = publisher.clone();
        Arc::new(move |message, version| publisher.hand_off_message(message, version))
    });
    let jobs = match settings.server.group_commit.group_commit() {
        Some(grouping) => jobs.group_commit(grouping),
        None => jobs,
    };
    let callback_secrets = CallbackSecrets::new(pool.clone());
    let api_keys = ApiKeys::new(pool.clone(), settings.requests.api_key_cache);
    let waiters = JobWaiters::new(metrics.clone());
    let state = Arc::new(Shared {
        callback_secrets,
        jobs,
        schedules,
        job_types,
        secret_box,
        publisher: publisher.clone(),
        api_keys: api_keys.clone(),
        rate_limit: TenantRateLimit::new(quota),
        limits,
        max_body_bytes: settings.requests.max_body_bytes,
        metrics,
        waiters: waiters.clone(),
        max_wait: max_wait(settings.server.listen.request_timeout),
    });
    // Submits handed their publish off; a stopping API still sends them.
    Ok(Server::bind(&settings.server.listen, app(state))
        .await?
        .with_task(move |stopping| api_keys.follow_revocations(stopping))
        .with_task(move |stopping| waiters.follow_finishes(pool, stopping))
        .on_stop(async move { publisher.shutdown().await }))
}
