//! Building the worker from its settings: the state, the routes, the
//! reconciler (and in pull mode the puller) as background tasks, bound and
//! ready to serve.

use crate::pull::Puller;
use crate::push_auth::PushVerifier;
use crate::reconciler::Reconciler;
use crate::routes::app;
use crate::running::{Running, follow_cancellations};
use crate::settings::WorkerSettings;
use crate::state::Shared;
use jobs_domain::{CallbackSecrets, JobStore, JobTypeStore};
use jobs_job_types::{GoogleIdTokens, JobTypeCatalog, Registry, TargetCaller};
use jobs_runtime::settings::SettingError;
use jobs_runtime::{JobPublisher, Metrics, Server, StartupError};
use sqlx::PgPool;
use std::sync::Arc;

/// Checks the settings, builds the state with the built-in job types, and
/// binds the listener: what `worker` runs.
pub async fn build(settings: &WorkerSettings) -> Result<Server, StartupError> {
    build_with(settings, settings.server.database.pool(), None).await
}

/// As [`build`], over an existing `pool`, running the job types of
/// `registry` (`None`: the built-ins). Tests pass their own database's pool.
pub async fn build_with(
    settings: &WorkerSettings,
    pool: PgPool,
    registry: Option<Registry>,
) -> Result<Server, StartupError> {
    let registry = match registry {
        Some(registry) => registry,
        None => Registry::builtin(&settings.handlers)
            .map_err(|err| StartupError::JobTypes(Box::new(err)))?,
    };
    let requeue = settings.delivery.requeue_policy()?;
    let deferral = settings.delivery.deferral_policy()?;
    let lease = settings.delivery.lease_policy()?;
    let pull = settings.pull.checked()?;
    let limits = settings.server.job_limits.submission_limits()?;
    let secret_box = settings
        .secrets
        .secret_box()
        .map_err(|message| SettingError {
            setting: "JOB_TYPE_SECRETS_KEY",
            message,
        })?;
    let targets = TargetCaller::new(&settings.handlers, Arc::new(GoogleIdTokens::new()))
        .map_err(|err| StartupError::JobTypes(Box::new(err)))?;
    let push_auth = match settings.push_auth.checked()? {
        Some(push_auth) => {
            tracing::info!(audience = %push_auth.audience, service_account = %push_auth.service_account, "push tokens are verified");
            Some(Arc::new(PushVerifier::new(push_auth)))
        }
        None => {
            tracing::warn!(
                "PUSH_AUDIENCE is unset: pushes are not authenticated; set it in production"
            );
            None
        }
    };
    let base = JobStore::new(pool.clone());
    let callback_secrets = CallbackSecrets::new(pool.clone());
    let job_types = JobTypeCatalog::new(JobTypeStore::new(pool), limits);
    let metrics = Metrics::new();
    let publisher =
        JobPublisher::new(&settings.server.pubsub, base.clone(), metrics.clone()).await?;
    // Jobs a change creates (callbacks) are published as soon as they are committed.
    let jobs = base.on_created({
        let publisher = publisher.clone();
        Arc::new(move |message, version| publisher.hand_off_message(message, version))
    });
    // Concurrent deliveries' claims and outcomes share statements (pushed
    // or pulled). A push held in a batch past its ack deadline is delivered
    // again; that copy finds the lease held and is nacked, and a dead-letter
    // redelivered is counted once (by its message id).
    let jobs = match settings.server.group_commit.group_commit() {
        Some(grouping) => jobs.group_commit(grouping),
        None => jobs,
    };
    let reconciler = Reconciler::new(
        jobs.clone(),
        publisher.clone(),
        settings.reconciler,
        settings.retention,
        metrics.clone(),
        job_types.clone(),
    );
    let running = Running::default();
    let listened = jobs.clone();
    let state = Arc::new(Shared {
        callback_secrets,
        jobs,
        registry: Arc::new(registry),
        job_types,
        targets: Arc::new(targets),
        secret_box,
        push_auth,
        lease,
        running: running.clone(),
        requeue,
        deferral,
        job_max_timeout: settings.server.job_limits.max_timeout(),
        max_body_bytes: settings.delivery.push_max_body_bytes,
        metrics,
    });
    let puller = match pull {
        Some(options) => {
            let subscriber = jobs_runtime::subscriber::subscriber(&settings.server.pubsub).await?;
            let subscription = settings
                .server
                .pubsub
                .subscription_path(&options.subscription);
            Some(Puller::new(
                state.clone(),
                subscriber,
                subscription,
                options,
            ))
        }
        None => None,
    };
    let server = Server::bind(&settings.server.listen, app(state))
        .await?
        .with_task(move |stopping| reconciler.run(stopping))
        .with_task(move |stopping| follow_cancellations(running, listened, stopping));
    Ok(match puller {
        Some(puller) => {
            let pulled = puller.finished();
            server
                .with_task(move |stopping| puller.run(stopping))
                // The jobs' outcomes may hand off callbacks: publish those too.
                .on_stop(async move {
                    pulled.await;
                    publisher.shutdown().await;
                })
        }
        None => server.on_stop(async move { publisher.shutdown().await }),
    })
}
