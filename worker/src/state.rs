//! The state every route shares, built once from the settings.

use crate::lease::LeasePolicy;
use crate::push_auth::PushVerifier;
use crate::running::Running;
use jobs_domain::{CallbackSecrets, DeferralPolicy, JobStore, RequeuePolicy};
use jobs_job_types::{JobTypeCatalog, Registry, SecretBox, TargetCaller};
use jobs_runtime::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// The state the routes and deliveries share: one pointer, since it is
/// cloned for every extractor and middleware of every request (as the API's
/// is, where cloning the fields one by one was 4 % of its CPU under load).
pub type AppState = Arc<Shared>;

/// What the routes and deliveries share.
#[derive(Debug)]
pub struct Shared {
    /// The job store.
    pub jobs: JobStore,
    /// The tenants' sealed callback secrets, which sign their callbacks.
    pub callback_secrets: CallbackSecrets,
    /// The runnable job types by name.
    pub registry: Arc<Registry>,
    /// The tenants' own job types, cached.
    pub job_types: JobTypeCatalog,
    /// Calls tenants' HTTP targets.
    pub targets: Arc<TargetCaller>,
    /// Opens tenants' HMAC secrets; `None` without JOB_TYPE_SECRETS_KEY.
    pub secret_box: Option<SecretBox>,
    /// Push token verification; `None` accepts unauthenticated pushes (local runs).
    pub push_auth: Option<Arc<PushVerifier>>,
    /// How running jobs' leases are kept (the heartbeat).
    pub lease: LeasePolicy,
    /// The jobs this process runs, each with its stop signal.
    pub running: Running,
    /// How dead-lettered jobs are requeued.
    pub requeue: RequeuePolicy,
    /// How a job whose key is at its type's concurrency limit waits.
    pub deferral: DeferralPolicy,
    /// The cap on any handler run, whatever the job's timeout.
    pub job_max_timeout: Duration,
    /// Largest push body, in bytes.
    pub max_body_bytes: u32,
    /// The process's metrics, rendered by `GET /metrics`.
    pub metrics: Metrics,
}
