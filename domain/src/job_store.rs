//! The job store: every read and every state change of a job, over PostgreSQL.
//!
//! Each state change is one decision of the pure state machine
//! ([`Transition::decide`]) and one statement that writes it together with its
//! `job_events` entry, guarded by the state the decision was made on: the
//! history and the job never disagree, no transition happens that the domain
//! refuses, and a decision made on a state that has since changed writes
//! nothing. No state change runs inside an explicit transaction; two writes
//! that must count others' first do: the submit of a rate-limited job
//! ([`JobStore::insert_rate_limited`]) and the claim of a job whose type
//! limits how many of its jobs per key run at once ([`JobStore::claim`]).

use crate::callback::{CALLBACK_JOB_TYPE, CALLBACK_MAX_ATTEMPTS, CALLBACK_TIMEOUT_SECONDS};
use crate::failure_reason::FailureReason;
use crate::group_commit::{Batcher, GroupCommit};
use crate::job::{Idempotency, Job, JobId, NewJob, TenantId};
use crate::job_history::JobHistoryEntry;
use crate::job_message::JobMessage;
use crate::job_status::JobStatus;
use crate::rate_limit::{Admission, RateLimit};
use crate::retention::Retention;
use crate::state_machine::{
    Cause, DeadLetter, Deferral, DeferralPolicy, ErrorUpdate, Outcome, RequeuePolicy, Transition,
};
use crate::store_error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use std::sync::Arc;
use std::time::Duration;

/// The columns of [`Job`], in one place so every query returns the same shape.
macro_rules! job_columns {
    () => {
        "id, tenant_id, type, status, payload, result, error, failure_reason, attempts, max_attempts, \
         timeout_seconds, run_at, created_at, updated_at, started_at, finished_at, idempotency_key, \
         callback_url, schedule, cancel_requested_at"
    };
}
pub(crate) use job_columns;

/// The columns a decision reads besides the job's, in every statement that
/// reads a job for one (the row is `jobs` or a CTE over it).
macro_rules! decision_columns {
    () => {
        "dead_letters, dead_letter_message_id, concurrency_key, deferrals, \
         extract(epoch from now() - deferred_event_at)::float8 as since_deferred_event"
    };
}

/// A claim's first CTE: the jobs (`$1` their ids, `$2` each one's lease in
/// seconds), locked in id order (so concurrent batches cannot deadlock on
/// each other), with their time checks made by the database clock.
///
/// Every statement that joins an array of ids to `jobs` reads the array as
/// `(… limit cardinality($1))`. The limit changes nothing, but it makes the
/// planner expect one row instead of its default ten, so even a plan cached
/// while the table was nearly empty (a fresh database, before its first
/// analyze) looks each job up by its key; without it that plan hash-joins
/// over a scan of the whole table on every claim and outcome (measured: a
/// push end-to-end run spent most of PostgreSQL's time in those scans).
macro_rules! claim_found {
    () => {
        "with found as (
            select jobs.*, input.lease, run_at <= now() as due,
                   coalesce(lease_expires_at <= now(), false) as lease_expired
            from jobs
            join (select * from unnest($1::uuid[], $2::float8[]) as input (id, lease)
                  limit cardinality($1)) as input on jobs.id = input.id
            order by jobs.id
            for update of jobs
        ), "
    };
}

/// The state machine's claim rule over `found`: a pending job that is due,
/// or a processing one whose lease expired, with an attempt left and no
/// cancel requested.
macro_rules! claim_rule {
    () => {
        "found.cancel_requested_at is null
         and found.attempts < found.max_attempts
         and ((found.status = 'pending' and found.due)
              or (found.status = 'processing' and found.lease_expired))"
    };
}

/// What a claim writes.
macro_rules! claim_set {
    () => {
        "update jobs set
            status = 'processing',
            attempts = jobs.attempts + 1,
            lease_expires_at = now() + make_interval(secs => found.lease),
            started_at = coalesce(jobs.started_at, now()),
            published_at = coalesce(jobs.published_at, now()),
            dead_letters = 0,
            deferrals = 0,
            updated_at = now()"
    };
}

/// A claim's event and its answer: the claimed job, or the job as found
/// with `$limit` (the limit it was held back by, when it has one).
macro_rules! claim_answer {
    ($limit:literal) => {
        concat!(
            "recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt, detail)
                select id, from_status, status,
                       case from_status when 'pending' then 'claimed' else 'lease_expired' end,
                       attempts,
                       case from_status when 'pending' then null
                            else 'lease expired without an outcome' end
                from claimed
            )
            select true as won, false as due, false as lease_expired, null::int4 as limit_reached, ",
            decision_columns!(),
            ", ",
            job_columns!(),
            " from claimed
            union all
            select false, due, lease_expired, ",
            $limit,
            ", ",
            decision_columns!(),
            ", ",
            job_columns!(),
            " from found where not exists (select from claimed where claimed.id = found.id)"
        )
    };
}

/// The statement that stores a job and its `submitted` event, binding
/// `$1`–`$11` ([`bind_new_job`]); `$extra` adds CTEs over `inserted`.
macro_rules! insert_job {
    ($extra:literal) => {
        concat!(
            "with inserted as (
                insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                                  timeout_seconds, run_at, idempotency_key, request_hash, callback_url,
                                  concurrency_key)
                values ($1, $2, $3, 'pending', $4, 0, $5, $6, coalesce($7, now()), $8, $9, $10, $11)
                on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
                returning *
            ), recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt)
                select id, null, status, 'submitted', attempts from inserted
            )",
            $extra,
            " select ",
            job_columns!(),
            " from inserted"
        )
    };
}

type JobQuery<'q> = sqlx::query::QueryAs<'q, Postgres, Job, sqlx::postgres::PgArguments>;

/// Binds `$1`–`$11` of [`insert_job`].
fn bind_new_job<'q>(
    query: JobQuery<'q>,
    id: JobId,
    tenant: TenantId,
    new: &'q NewJob,
) -> JobQuery<'q> {
    let (key, hash) = match &new.idempotency {
        Some(idem) => (Some(idem.key.as_str()), Some(idem.request_hash.as_slice())),
        None => (None, None),
    };
    query
        .bind(id)
        .bind(tenant)
        .bind(&new.job_type)
        .bind(&new.payload)
        .bind(new.max_attempts)
        .bind(new.timeout_seconds)
        .bind(new.run_at)
        .bind(key)
        .bind(hash)
        .bind(new.callback_url.as_deref())
        .bind(new.concurrency_key.as_deref())
}

/// The job stored under a tenant's idempotency key, with its request's fingerprint.
async fn find_by_key<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    tenant: TenantId,
    key: &str,
) -> Result<Option<(Job, Vec<u8>)>, StoreError> {
    use sqlx::{FromRow, Row};
    let row = sqlx::query(concat!(
        "select ",
        job_columns!(),
        ", request_hash from jobs where tenant_id = $1 and idempotency_key = $2"
    ))
    .bind(tenant)
    .bind(key)
    .fetch_optional(executor)
    .await?;
    match row {
        Some(row) => Ok(Some((Job::from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

/// The jobs stored under any of a tenant's idempotency keys, by key, with
/// their requests' fingerprints.
async fn find_by_keys(
    pool: &PgPool,
    tenant: TenantId,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, (Job, Vec<u8>)>, StoreError> {
    use sqlx::{FromRow, Row};
    let rows = sqlx::query(concat!(
        "select ",
        job_columns!(),
        ", request_hash from jobs where tenant_id = $1 and idempotency_key = any($2)"
    ))
    .bind(tenant)
    .bind(keys)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let job = Job::from_row(row)?;
            let key = job.idempotency_key.clone().unwrap_or_default();
            Ok((key, (job, row.try_get("request_hash")?)))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// A replay when the stored request is the same as this one, else a conflict.
fn replay_or_conflict(job: Job, hash: &[u8], idem: &Idempotency) -> Result<Submitted, StoreError> {
    if hash == idem.request_hash.as_slice() {
        Ok(Submitted {
            job,
            created: false,
        })
    } else {
        Err(StoreError::IdempotencyConflict(idem.key.clone()))
    }
}

/// Told of every job a state change creates as its side effect (a
/// completion callback), with its `updated_at`, once it is committed; the
/// owner publishes it. Without one, the reconciler does after its grace.
pub type OnCreated = Arc<dyn Fn(&JobMessage, DateTime<Utc>) + Send + Sync>;

/// Reads and changes jobs in PostgreSQL.
#[derive(Clone)]
pub struct JobStore {
    pool: PgPool,
    on_created: Option<OnCreated>,
    grouped: Option<Grouped>,
}

/// The batchers of a store with group commit: submits, claims and the
/// writes of outcomes, each coalesced into one statement per batch.
#[derive(Clone)]
struct Grouped {
    inserts: Batcher<(TenantId, NewJob), Result<Submitted, StoreError>>,
    claims: Batcher<(JobId, Duration), Result<Option<Found>, StoreError>>,
    writes: Batcher<Change, Result<Option<Job>, StoreError>>,
}

/// What a claim statement found of one job: whether the claim won, and the
/// job as read.
type Found = (bool, Read);

/// One decided transition to write: the job's id, the tenant it must belong
/// to (`None`: any), the `updated_at` it must still have (`None`: any), and
/// for a dead-letter the Pub/Sub message id it counts (the job must not
/// have counted it already).
#[derive(Clone)]
struct Change {
    id: JobId,
    tenant: Option<TenantId>,
    transition: Transition,
    version: Option<DateTime<Utc>>,
    dead_letter_message: Option<String>,
}

/// The answers of a batch whose statement could not reach the database:
/// each call fails as unavailable at once (written alone, each would only
/// wait for the database again, holding its batch's slot meanwhile).
fn unavailable_for_all<T>(calls: usize, err: &sqlx::Error) -> Vec<Result<T, StoreError>> {
    let message = err.to_string();
    (0..calls)
        .map(|_| {
            Err(StoreError::Unavailable(sqlx::Error::Io(
                std::io::Error::other(message.clone()),
            )))
        })
        .collect()
}

/// Answers a batch of calls on jobs, in order, each as if made alone: one
/// `statement` for the first call on each job, then each repeat by a
/// statement of its own (after the first, so its guard sees that write).
/// When the batch's statement fails for a row, every call runs alone, so
/// only the bad one fails; when the database is unreachable, all fail at once.
async fn by_job<C, V, F, Fut>(
    calls: Vec<C>,
    job: impl Fn(&C) -> JobId,
    statement: F,
) -> Vec<Result<Option<V>, StoreError>>
where
    C: Clone,
    F: Fn(Vec<C>) -> Fut,
    Fut: Future<Output = Result<std::collections::HashMap<JobId, V>, StoreError>>,
{
    let mut first = std::collections::HashSet::with_capacity(calls.len());
    let unique: Vec<C> = calls
        .iter()
        .filter(|call| first.insert(job(call)))
        .cloned()
        .collect();
    let mut batch = match statement(unique).await {
        Ok(rows) => Some(rows),
        Err(StoreError::Unavailable(err)) => return unavailable_for_all(calls.len(), &err),
        Err(_) => None,
    };
    let mut answered = std::collections::HashSet::with_capacity(calls.len());
    let mut answers = Vec::with_capacity(calls.len());
    for call in calls {
        let id = job(&call);
        let answer = match &mut batch {
            Some(rows) if answered.insert(id) => Ok(rows.remove(&id)),
            _ => statement(vec![call]).await.map(|mut rows| rows.remove(&id)),
        };
        answers.push(answer);
    }
    answers
}

/// The answer of a grouped call whose batching task is gone: the runtime is
/// shutting down, so the store is as unavailable as a closed pool.
fn batcher_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

impl std::fmt::Debug for JobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobStore")
            .field("pool", &self.pool)
            .field("on_created", &self.on_created.is_some())
            .field("group_commit", &self.grouped.is_some())
            .finish()
    }
}

/// The answer to a submit.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The stored job: the new one, or the original under a replayed idempotency key.
    pub job: Job,
    /// False when an earlier submit with the same key and request already stored it.
    pub created: bool,
}

/// Which jobs a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this type.
    pub job_type: Option<String>,
    /// Only failed jobs that failed for this reason.
    pub failure_reason: Option<FailureReason>,
    /// Only jobs that finished at or after this time.
    pub finished_after: Option<DateTime<Utc>>,
    /// Only jobs that finished before this time.
    pub finished_before: Option<DateTime<Utc>>,
    /// Only jobs this schedule enqueued.
    pub schedule: Option<String>,
    /// Only the job submitted with this idempotency key (at most one per tenant).
    pub idempotency_key: Option<String>,
}

impl JobFilter {
    /// Adds this filter's conditions to a query over `jobs`.
    fn push_conditions(&self, query: &mut QueryBuilder<'_, Postgres>) {
        if let Some(status) = self.status {
            query.push(" and status = ").push_bind(status);
        }
        if let Some(job_type) = &self.job_type {
            query.push(" and type = ").push_bind(job_type.clone());
        }
        if let Some(reason) = self.failure_reason {
            query.push(" and failure_reason = ").push_bind(reason);
        }
        if let Some(after) = self.finished_after {
            query.push(" and finished_at >= ").push_bind(after);
        }
        if let Some(before) = self.finished_before {
            query.push(" and finished_at < ").push_bind(before);
        }
        if let Some(schedule) = &self.schedule {
            query.push(" and schedule = ").push_bind(schedule.clone());
        }
        if let Some(key) = &self.idempotency_key {
            query.push(" and idempotency_key = ").push_bind(key.clone());
        }
    }
}

/// One page of a newest-first listing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<Job>,
    /// Where the next page starts, when there is one.
    pub next_after: Option<JobId>,
}

/// What a delivery's claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The delivery now holds the lease: run the handler.
    Claimed(Job),
    /// The job is already terminal: the delivery is a duplicate, ack it.
    Finished(Job),
    /// The lease expired on the last attempt, so the job is now failed: ack.
    Exhausted(Job),
    /// Another delivery holds a live lease: nack, so Pub/Sub tries later.
    Busy(Job),
    /// The job is pending but its `run_at` has not come: ack; it is published again when due.
    NotDue(Job),
    /// The job's type limits how many of its jobs with the job's key value
    /// run at once, and that many run: the job did not run and is pending
    /// again, published after a short delay, with no attempt spent. Ack: a
    /// nack would spend one of Pub/Sub's deliveries on a job that never failed.
    Deferred(Job),
    /// A client asked to cancel the job while it ran, and no live delivery
    /// runs it any more (its worker died, or its attempt failed and it went
    /// back to pending): the claim cancelled it instead of running it. Ack.
    Cancelled(Job),
    /// No such job: ack, redelivering cannot help.
    NotFound,
}

/// A job whose message the reconciler must publish, with its `updated_at`
/// when read, which [`JobStore::mark_published`] checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Unpublished {
    /// The message to publish.
    pub message: JobMessage,
    /// The job's `updated_at` when it was read.
    pub version: DateTime<Utc>,
}

/// What recording an outcome did, with the job as it now is.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The handler succeeded: the job is completed.
    Completed(Box<Job>),
    /// A retryable error with attempts left: the job is pending again.
    Retrying(Box<Job>),
    /// A permanent error, or the last attempt's: the job is failed.
    Failed(Box<Job>),
    /// A client asked to cancel the job while it ran: the worker stopped the
    /// handler (or its attempt failed and would have run again): the job is
    /// cancelled.
    Cancelled(Box<Job>),
    /// The delivery no longer holds the job (its lease was taken over, or the
    /// job was dead-lettered), so its outcome was dropped.
    Stale,
}

/// A job as read for a decision, with the time checks made by the database clock.
struct Read {
    job: Job,
    due: bool,
    lease_expired: bool,
    /// Dead-letters since an attempt last ran.
    dead_letters: i32,
    /// The Pub/Sub message id of the last dead-letter counted.
    dead_letter_message_id: Option<String>,
    /// The key value the job counts against, when its type had a concurrency limit at submit.
    concurrency_key: Option<String>,
    /// Deliveries that found the key at its limit since the job last ran.
    deferrals: i32,
    /// Seconds since the last `deferred` event was recorded, by the database clock.
    since_deferred_event: Option<f64>,
    /// The limit, when the job was claimable but its key was at it (a claim
    /// under the key's lock says so; every other read, `None`).
    limit_reached: Option<i32>,
}

impl Read {
    /// The job's columns and the `due` and `lease_expired` checks of a row.
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::{FromRow, Row};
        Ok(Read {
            job: Job::from_row(row)?,
            due: row.try_get("due")?,
            lease_expired: row.try_get("lease_expired")?,
            dead_letters: row.try_get("dead_letters")?,
            dead_letter_message_id: row.try_get("dead_letter_message_id")?,
            concurrency_key: row.try_get("concurrency_key")?,
            deferrals: row.try_get("deferrals")?,
            since_deferred_event: row.try_get("since_deferred_event")?,
            limit_reached: row.try_get("limit_reached")?,
        })
    }

    /// Whether a cancel requested while the job ran can take effect now: it
    /// is pending, or processing with no live lease (nothing runs it).
    fn cancel_due(&self) -> bool {
        self.job.cancel_requested_at.is_some()
            && match self.job.status {
                JobStatus::Pending => true,
                JobStatus::Processing => self.lease_expired,
                _ => false,
            }
    }

    /// Whether the state machine's claim rule holds: pending and due, or
    /// processing with an expired lease, with an attempt left.
    fn claimable(&self) -> bool {
        self.job.state().has_attempts_left()
            && match self.job.status {
                JobStatus::Pending => self.due,
                JobStatus::Processing => self.lease_expired,
                _ => false,
            }
    }

    /// The deferral of a job found at its key's limit.
    fn deferral(&self, limit: i32, policy: DeferralPolicy) -> Cause {
        Cause::Deferred(Deferral {
            limit,
            deferrals: self.deferrals,
            since_event: self
                .since_deferred_event
                .map(|seconds| Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default()),
            policy,
        })
    }
}

/// How often a client's change is decided again when the job changed between
/// the read and the guarded write; a race lost this often means heavy contention.
const DECIDE_TRIES: usize = 5;

impl JobStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        JobStore {
            pool,
            on_created: None,
            grouped: None,
        }
    }

    /// The same store, coalescing concurrent submits, concurrent deliveries'
    /// claims and concurrent outcomes into one statement per batch (see [`crate::group_commit`]). Starts the batching tasks on the
    /// current Tokio runtime; call it after [`JobStore::on_created`].
    pub fn group_commit(self, config: GroupCommit) -> Self {
        let alone = JobStore {
            grouped: None,
            ..self.clone()
        };
        let store = alone.clone();
        let inserts = Batcher::start(config, move |calls| {
            let store = store.clone();
            async move { store.insert_grouped(calls).await }
        });
        let store = alone.clone();
        let claims = Batcher::start(config, move |calls| {
            let store = store.clone();
            async move { store.claim_grouped(calls).await }
        });
        let writes = Batcher::start(config, move |changes| {
            let store = alone.clone();
            async move { store.write_grouped(changes).await }
        });
        JobStore {
            grouped: Some(Grouped {
                inserts,
                claims,
                writes,
            }),
            ..self
        }
    }

    /// The same store, telling `on_created` of the jobs its changes create.
    pub fn on_created(self, on_created: OnCreated) -> Self {
        JobStore {
            on_created: Some(on_created),
            ..self
        }
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores a pending job and its `submitted` event in one statement. Under
    /// a replayed idempotency key, returns the original job instead, or
    /// [`StoreError::IdempotencyConflict`] if the request differs.
    ///
    /// With group commit, concurrent submits are stored by one statement per
    /// batch, each answered once its row is committed.
    pub async fn insert(&self, tenant: TenantId, new: NewJob) -> Result<Submitted, StoreError> {
        match &self.grouped {
            Some(grouped) => grouped
                .inserts
                .call((tenant, new))
                .await
                .unwrap_or_else(|| Err(batcher_gone())),
            None => self.insert_one(tenant, &new).await,
        }
    }

    /// [`JobStore::insert`] by a statement of its own.
    async fn insert_one(&self, tenant: TenantId, new: &NewJob) -> Result<Submitted, StoreError> {
        let inserted = bind_new_job(sqlx::query_as(insert_job!("")), JobId::new(), tenant, new)
            .fetch_optional(&self.pool)
            .await?;
        match inserted {
            Some(job) => Ok(Submitted { job, created: true }),
            None => self.replayed(tenant, new).await,
        }
    }

    /// A batch of submits, of any tenants, by one multi-row insert; each is
    /// answered as if submitted alone, in the batch's order. A row skipped
    /// for its idempotency key (stored before, or by an earlier submit of the
    /// batch) is a replay or a conflict, read afterwards. When the statement
    /// fails, each submit is written alone, so a bad row fails only itself.
    async fn insert_grouped(
        &self,
        calls: Vec<(TenantId, NewJob)>,
    ) -> Vec<Result<Submitted, StoreError>> {
        let rows: Vec<(JobId, TenantId, &NewJob)> = calls
            .iter()
            .map(|(tenant, new)| (JobId::new(), *tenant, new))
            .collect();
        let mut answers = Vec::with_capacity(rows.len());
        match self.insert_rows(&rows).await {
            Ok(stored) => {
                let mut stored: std::collections::HashMap<JobId, Job> =
                    stored.into_iter().map(|job| (job.id, job)).collect();
                for (id, tenant, new) in &rows {
                    answers.push(match stored.remove(id) {
                        Some(job) => Ok(Submitted { job, created: true }),
                        None => self.replayed(*tenant, new).await,
                    });
                }
            }
            Err(StoreError::Unavailable(err)) => return unavailable_for_all(rows.len(), &err),
            Err(_) => {
                for (_, tenant, new) in &rows {
                    answers.push(self.insert_one(*tenant, new).await);
                }
            }
        }
        answers
    }

    /// Stores a job of a rate-limited type if `limit` admits it for `key`
    /// (its key value), with the slot it takes; otherwise stores nothing and
    /// answers [`StoreError::RateLimited`]. A replayed idempotency key
    /// returns the original job and takes no slot.
    ///
    /// Exact across processes: a transaction-scoped advisory lock per
    /// (tenant, type, key) orders the admissions of one key, and each reads
    /// the slots after the lock, in a statement of its own. Five round trips
    /// (begin, lock, read, insert, commit), six with an idempotency key.
    pub async fn insert_rate_limited(
        &self,
        tenant: TenantId,
        mut new: NewJob,
        limit: &RateLimit,
        key: &str,
    ) -> Result<Submitted, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "select pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2 || '/' || $3, 0))",
        )
        .bind(tenant)
        .bind(&new.job_type)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        if let Some(idem) = &new.idempotency
            && let Some((job, hash)) = find_by_key(&mut *tx, tenant, &idem.key).await?
        {
            return replay_or_conflict(job, &hash, idem);
        }
        let (now, latest) = sqlx::query_as::<_, (DateTime<Utc>, Option<DateTime<Utc>>)>(
            "select now(), (select slot_at from rate_limit_slots
                            where tenant_id = $1 and job_type = $2 and key = $3
                            order by slot_at desc offset $4 limit 1)",
        )
        .bind(tenant)
        .bind(&new.job_type)
        .bind(key)
        .bind(i64::from(limit.limit) - 1)
        .fetch_one(&mut *tx)
        .await?;
        let (slot_at, run_at) = match limit.admit(now, latest, new.run_at.unwrap_or(now)) {
            Admission::Admit { slot_at, run_at } => (slot_at, run_at),
            Admission::Reject { retry_after } => {
                return Err(StoreError::RateLimited { retry_after });
            }
        };
        new.run_at = Some(run_at);
        let inserted = bind_new_job(
            sqlx::query_as(insert_job!(
                ", slotted as (
                    insert into rate_limit_slots (tenant_id, job_type, key, slot_at, expires_at, job_id)
                    select tenant_id, type, $12, $13, $13 + make_interval(secs => $14), id from inserted
                )"
            )),
            JobId::new(),
            tenant,
            &new,
        )
        .bind(key)
        .bind(slot_at)
        .bind(limit.period().as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = inserted else {
            // The key was taken meanwhile by a submit counted against another key value.
            drop(tx);
            return self.replayed(tenant, &new).await;
        };
        tx.commit().await?;
        Ok(Submitted { job, created: true })
    }

    /// Stores many pending jobs, in order, with their `submitted` events: one
    /// insert statement for the batch, after one read of the idempotency keys
    /// it carries (none without keys). A key already stored, or repeated in
    /// the batch, with the same request is a replay of that job; with another
    /// request it is a conflict, and then nothing is stored
    /// ([`StoreError::BatchConflicts`] lists the items).
    pub async fn insert_many(
        &self,
        tenant: TenantId,
        jobs: &[NewJob],
    ) -> Result<Vec<Submitted>, StoreError> {
        use std::collections::HashMap;
        let keys: Vec<&str> = jobs
            .iter()
            .filter_map(|job| job.idempotency.as_ref().map(|idem| idem.key.as_str()))
            .collect();
        let mut known: HashMap<String, (Job, Vec<u8>)> = if keys.is_empty() {
            HashMap::new()
        } else {
            find_by_keys(&self.pool, tenant, &keys).await?
        };
        // Decide each item: a replay of a stored job, of an earlier item, or new.
        enum Item {
            Stored(usize),
            Replay(Box<Job>),
            SameAs(usize),
        }
        let mut items = Vec::with_capacity(jobs.len());
        let mut fresh: Vec<(JobId, TenantId, &NewJob)> = Vec::with_capacity(jobs.len());
        let mut first_with_key: HashMap<&str, (usize, &[u8])> = HashMap::new();
        let mut conflicts = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let Some(idem) = &job.idempotency else {
                items.push(Item::Stored(fresh.len()));
                fresh.push((JobId::new(), tenant, job));
                continue;
            };
            if let Some((stored, hash)) = known.get(&idem.key) {
                match hash == &idem.request_hash {
                    true => items.push(Item::Replay(Box::new(stored.clone()))),
                    false => conflicts.push((index, idem.key.clone())),
                }
                continue;
            }
            match first_with_key.get(idem.key.as_str()) {
                Some((earlier, hash)) if *hash == idem.request_hash.as_slice() => {
                    items.push(Item::SameAs(*earlier));
                }
                Some(_) => conflicts.push((index, idem.key.clone())),
                None => {
                    first_with_key.insert(&idem.key, (fresh.len(), &idem.request_hash));
                    items.push(Item::Stored(fresh.len()));
                    fresh.push((JobId::new(), tenant, job));
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(StoreError::BatchConflicts(conflicts));
        }
        let stored: HashMap<JobId, Job> = self
            .insert_rows(&fresh)
            .await?
            .into_iter()
            .map(|job| (job.id, job))
            .collect();
        // A key stored by a concurrent submit after the read: answer with that job.
        let raced: Vec<&str> = fresh
            .iter()
            .filter(|(id, _, _)| !stored.contains_key(id))
            .filter_map(|(_, _, job)| job.idempotency.as_ref().map(|idem| idem.key.as_str()))
            .collect();
        if !raced.is_empty() {
            known = find_by_keys(&self.pool, tenant, &raced).await?;
        }
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (index, first) = match item {
                Item::Replay(job) => {
                    answers.push(Submitted {
                        job: *job,
                        created: false,
                    });
                    continue;
                }
                Item::Stored(index) => (index, true),
                Item::SameAs(index) => (index, false),
            };
            let (id, _, new) = &fresh[index];
            let answer = match stored.get(id) {
                Some(job) => Submitted {
                    job: job.clone(),
                    created: first,
                },
                None => {
                    let idem = new
                        .idempotency
                        .as_ref()
                        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
                    let (job, hash) = known
                        .get(&idem.key)
                        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
                    replay_or_conflict(job.clone(), hash, idem)?
                }
            };
            answers.push(answer);
        }
        Ok(answers)
    }

    /// The multi-row insert of [`JobStore::insert_many`] and of grouped
    /// submits: the jobs that were stored (a row whose key is already taken,
    /// or taken by an earlier row, is skipped).
    async fn insert_rows(
        &self,
        rows: &[(JobId, TenantId, &NewJob)],
    ) -> Result<Vec<Job>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut tenants = Vec::with_capacity(rows.len());
        let mut types = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        let mut max_attempts = Vec::with_capacity(rows.len());
        let mut timeouts = Vec::with_capacity(rows.len());
        let mut run_ats = Vec::with_capacity(rows.len());
        let mut keys = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        let mut callbacks = Vec::with_capacity(rows.len());
        let mut concurrency_keys = Vec::with_capacity(rows.len());
        for (id, tenant, job) in rows {
            ids.push(id.0);
            tenants.push(tenant.0);
            types.push(job.job_type.as_str());
            payloads.push(&job.payload);
            max_attempts.push(job.max_attempts);
            timeouts.push(job.timeout_seconds);
            run_ats.push(job.run_at);
            keys.push(job.idempotency.as_ref().map(|idem| idem.key.as_str()));
            hashes.push(
                job.idempotency
                    .as_ref()
                    .map(|idem| idem.request_hash.as_slice()),
            );
            callbacks.push(job.callback_url.as_deref());
            concurrency_keys.push(job.concurrency_key.as_deref());
        }
        let jobs = sqlx::query_as::<_, Job>(concat!(
            "with inserted as (
                insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                                  timeout_seconds, run_at, idempotency_key, request_hash, callback_url,
                                  concurrency_key)
                select id, tenant_id, type, 'pending', payload, 0, max_attempts, timeout_seconds,
                       coalesce(run_at, now()), idempotency_key, request_hash, callback_url,
                       concurrency_key
                from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::int4[],
                            $6::int4[], $7::timestamptz[], $8::text[], $9::bytea[], $10::text[],
                            $11::text[])
                     with ordinality as input (tenant_id, id, type, payload, max_attempts,
                                               timeout_seconds, run_at, idempotency_key,
                                               request_hash, callback_url, concurrency_key, n)
                order by n
                on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
                returning *
            ), recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt)
                select id, null, status, 'submitted', attempts from inserted
            )
            select ",
            job_columns!(),
            " from inserted"
        ))
        .bind(&tenants)
        .bind(&ids)
        .bind(&types)
        .bind(&payloads)
        .bind(&max_attempts)
        .bind(&timeouts)
        .bind(&run_ats)
        .bind(&keys)
        .bind(&hashes)
        .bind(&callbacks)
        .bind(&concurrency_keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(jobs)
    }

    /// The answer to a submit whose idempotency key was already taken: the
    /// original job for the same request, a conflict for another one.
    async fn replayed(&self, tenant: TenantId, new: &NewJob) -> Result<Submitted, StoreError> {
        let Some(idem) = &new.idempotency else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        let (job, hash) = find_by_key(&self.pool, tenant, &idem.key)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
        replay_or_conflict(job, &hash, idem)
    }

    /// One of the tenant's jobs.
    pub async fn get(&self, tenant: TenantId, id: JobId) -> Result<Job, StoreError> {
        sqlx::query_as::<_, Job>(concat!(
            "select ",
            job_columns!(),
            " from jobs where id = $1 and tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The tenant's jobs, newest first, `limit` at a time, starting after `after`.
    pub async fn list(
        &self,
        tenant: TenantId,
        filter: &JobFilter,
        limit: u32,
        after: Option<JobId>,
    ) -> Result<JobPage, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "select ",
            job_columns!(),
            " from jobs where tenant_id = "
        ));
        query.push_bind(tenant);
        filter.push_conditions(&mut query);
        if let Some(after) = after {
            query.push(" and id < ").push_bind(after);
        }
        // One extra row tells whether another page follows.
        query
            .push(" order by id desc limit ")
            .push_bind(i64::from(limit) + 1);
        let mut jobs = query.build_query_as::<Job>().fetch_all(&self.pool).await?;
        let next_after = if jobs.len() > limit as usize {
            jobs.truncate(limit as usize);
            jobs.last().map(|job| job.id)
        } else {
            None
        };
        Ok(JobPage { jobs, next_after })
    }

    /// The tenant's job's transition history, oldest first.
    pub async fn history(
        &self,
        tenant: TenantId,
        id: JobId,
    ) -> Result<Vec<JobHistoryEntry>, StoreError> {
        let entries = sqlx::query_as::<_, JobHistoryEntry>(
            "select e.from_status, e.to_status, e.event, e.attempt, e.detail, e.created_at
             from job_events e join jobs j on j.id = e.job_id
             where j.id = $1 and j.tenant_id = $2
             order by e.id",
        )
        .bind(id)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        // Every stored job has its `submitted` entry, so none means no such job.
        if entries.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(entries)
    }

    /// Cancels a job of the tenant's: a pending job at once (it is returned
    /// `cancelled`); for a processing one, records the request
    /// (`cancel_requested_at`, event `cancel_requested`; a trigger notifies
    /// the workers), and the job is returned still `processing`: the worker
    /// running it stops it. A second request for a running job changes nothing.
    pub async fn cancel(&self, tenant: TenantId, id: JobId) -> Result<Job, StoreError> {
        self.change(Some(tenant), id, None, |read| match read.job.status {
            JobStatus::Processing if read.job.cancel_requested_at.is_some() => None,
            JobStatus::Processing => Some(Cause::CancelRequested),
            _ => Some(Cause::Cancelled),
        })
        .await
    }

    /// Extends the lease of the attempt that claimed `job` to `lease` from
    /// now, in one statement guarded by that claim (status `processing`, the
    /// same attempt), with no history entry: a worker's heartbeat. `None`:
    /// the attempt no longer holds the job (its lease was taken over, or it
    /// was dead-lettered or cancelled), so its handler should stop.
    /// `Some(true)`: it still does, and a client asked to cancel the job.
    pub async fn extend_lease(
        &self,
        job: &Job,
        lease: Duration,
    ) -> Result<Option<bool>, StoreError> {
        let extended = sqlx::query_scalar::<_, bool>(
            "update jobs set lease_expires_at = now() + make_interval(secs => $3)
             where id = $1 and status = 'processing' and attempts = $2
             returning cancel_requested_at is not null",
        )
        .bind(job.id)
        .bind(job.attempts)
        .bind(lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok(extended)
    }

    /// Of `ids`, the jobs still processing whose cancel was requested: what
    /// a worker running them asks after it may have missed notices.
    pub async fn cancel_requested(&self, ids: &[JobId]) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        let requested = sqlx::query_scalar::<_, JobId>(
            "select id from jobs
             where id = any($1) and status = 'processing' and cancel_requested_at is not null",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(requested)
    }

    /// Sends a failed or cancelled job of the tenant's back to pending.
    pub async fn retry(&self, tenant: TenantId, id: JobId) -> Result<Job, StoreError> {
        self.change(Some(tenant), id, None, |_| Some(Cause::Retried))
            .await
    }

    /// Sends up to `limit` of the tenant's failed jobs that match `filter`
    /// back to pending, oldest first, starting after `after`: one read, then
    /// one statement that writes every decided retry, each guarded by the
    /// state it was decided on (a job that changed meanwhile is skipped).
    /// Returns the requeued jobs, and where the next page starts when the
    /// read filled the page.
    pub async fn retry_failed(
        &self,
        tenant: TenantId,
        filter: &JobFilter,
        limit: u32,
        after: Option<JobId>,
    ) -> Result<(Vec<Job>, Option<JobId>), StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "select ",
            job_columns!(),
            " from jobs where status = 'failed' and tenant_id = "
        ));
        query.push_bind(tenant);
        filter.push_conditions(&mut query);
        if let Some(after) = after {
            query.push(" and id > ").push_bind(after);
        }
        query
            .push(" order by id limit ")
            .push_bind(i64::from(limit));
        let failed = query.build_query_as::<Job>().fetch_all(&self.pool).await?;
        let next = (failed.len() == limit as usize)
            .then(|| failed.last().map(|job| job.id))
            .flatten();
        let changes = failed
            .into_iter()
            .map(|job| {
                let transition = Transition::decide(&job, 0, Cause::Retried)?;
                Ok((job, transition))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let requeued = self.write_many(tenant, &changes).await?;
        Ok((requeued, next))
    }

    /// Records that Pub/Sub dead-lettered a job's message: a job with
    /// attempts left is requeued (pending, published afresh after the
    /// policy's delay), one dead-lettered `policy.limit` times without an
    /// attempt running, or with its attempts spent, fails. A job that is
    /// already terminal is returned unchanged, and so is one whose lease is
    /// live: a delivery is still running it (the dead-letter came from "busy"
    /// nacks), and its outcome or its lease expiry decides.
    ///
    /// `message_id` is the dead-letter's Pub/Sub message id: a redelivery of
    /// the dead-letter last counted (its answer was lost or came after the
    /// ack deadline) returns the job unchanged instead of counting twice.
    pub async fn dead_letter(
        &self,
        id: JobId,
        message_id: &str,
        detail: &str,
        policy: RequeuePolicy,
    ) -> Result<Job, StoreError> {
        // Guarded by the message id too: a requeue leaves the job pending
        // with its attempts, so a concurrent copy of this dead-letter would
        // pass the state guard alone.
        self.change(None, id, Some(message_id), |read| {
            let live_lease = read.job.status == JobStatus::Processing && !read.lease_expired;
            let counted = read.dead_letter_message_id.as_deref() == Some(message_id);
            (!read.job.status.is_terminal() && !live_lease && !counted).then(|| {
                Cause::DeadLettered(DeadLetter {
                    detail: detail.to_owned(),
                    without_progress: read.dead_letters,
                    policy,
                })
            })
        })
        .await
    }

    /// Tries to take the lease of a job for one delivery, in one statement;
    /// the lease lasts `lease` from now, and the worker extends it while the
    /// handler runs ([`JobStore::extend_lease`]). A job whose
    /// key is at its type's concurrency limit is deferred by
    /// [`DeferralPolicy::DEFAULT`] (see [`JobStore::claim_deferring`]).
    ///
    /// The statement's guard is the state machine's claim rule: a pending job
    /// that is due, or a processing job whose lease expired, with an attempt
    /// left (`JobState::apply` with `Claimed` or `LeaseExpired`). When nothing
    /// is claimed it returns the job as found, so the answer needs no second
    /// read; only a lease that expired on the last attempt takes a second
    /// (guarded) write, which fails the job.
    ///
    /// A job a client asked to cancel while it ran is never claimed: found
    /// pending, or processing with an expired lease, it is cancelled by a
    /// second (guarded) write instead ([`Claim::Cancelled`]).
    pub async fn claim(&self, id: JobId, lease: Duration) -> Result<Claim, StoreError> {
        self.claim_deferring(id, lease, DeferralPolicy::DEFAULT)
            .await
    }

    /// As [`JobStore::claim`], deferring by `deferral` a job whose key is at
    /// its concurrency limit.
    ///
    /// A job without a concurrency key (its type had no limit at submit) is
    /// claimed by the one statement. The statement does not claim a job with
    /// a key, which is claimed in a short transaction instead: the key's
    /// advisory lock, then the same claim guarded by "fewer processing jobs
    /// with a live lease for this tenant, type and key than the type's
    /// limit", then commit. The lock is what makes the count exact: every
    /// claim of the key counts after the previous one committed (in READ
    /// COMMITTED a lock taken inside a statement would not refresh that
    /// statement's snapshot). A job found at the limit is deferred
    /// ([`Cause::Deferred`]) by one guarded write after the commit.
    pub async fn claim_deferring(
        &self,
        id: JobId,
        lease: Duration,
        deferral: DeferralPolicy,
    ) -> Result<Claim, StoreError> {
        for _ in 0..DECIDE_TRIES {
            let Some((mut won, mut read)) = self.claim_once(id, lease).await? else {
                return Ok(Claim::NotFound);
            };
            if !won && read.cancel_due() {
                let transition =
                    Transition::decide(&read.job, read.dead_letters, Cause::Cancelled)?;
                match self.write(None, &read.job, &transition, None).await? {
                    Some(cancelled) => return Ok(Claim::Cancelled(cancelled)),
                    // Changed since the read: look again.
                    None => continue,
                }
            }
            if !won && read.concurrency_key.is_some() && read.claimable() {
                let Some(limited) = self.claim_limited(id, lease).await? else {
                    return Ok(Claim::NotFound);
                };
                (won, read) = limited;
            }
            if !won && let Some(limit) = read.limit_reached {
                let cause = read.deferral(limit, deferral);
                let transition = Transition::decide(&read.job, read.dead_letters, cause)?;
                // Guarded by the version too: of two deliveries deferring the
                // job at once, one writes, so its events stay spaced.
                let version = Some(read.job.updated_at);
                match self.write(None, &read.job, &transition, version).await? {
                    Some(deferred) => return Ok(Claim::Deferred(deferred)),
                    // Changed since the read: look again.
                    None => continue,
                }
            }
            let job = read.job;
            let claim = match job.status {
                _ if won => Claim::Claimed(job),
                JobStatus::Pending if !read.due => Claim::NotDue(job),
                JobStatus::Processing if !read.lease_expired => Claim::Busy(job),
                JobStatus::Processing => {
                    let transition =
                        Transition::decide(&job, read.dead_letters, Cause::LeaseExpired)?;
                    match self.write(None, &job, &transition, None).await? {
                        Some(failed) => Claim::Exhausted(failed),
                        // Changed since the read: look again.
                        None => continue,
                    }
                }
                JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled => {
                    Claim::Finished(job)
                }
                // Due but without attempts left: the schema forbids it, so
                // treat it as the duplicate it would have to be.
                JobStatus::Pending => Claim::Finished(job),
            };
            return Ok(claim);
        }
        Err(StoreError::Contended)
    }

    /// The claim statement for one delivery: whether it won, and the job as
    /// it now is. It claims only jobs without a concurrency key. With group
    /// commit, concurrent deliveries' claims share one statement.
    async fn claim_once(
        &self,
        id: JobId,
        lease: Duration,
    ) -> Result<Option<(bool, Read)>, StoreError> {
        match &self.grouped {
            Some(grouped) => grouped
                .claims
                .call((id, lease))
                .await
                .unwrap_or_else(|| Err(batcher_gone())),
            None => Ok(self.claim_rows(&[(id, lease)]).await?.remove(&id)),
        }
    }

    /// A batch of deliveries' claims, by one statement; each is answered as
    /// if it claimed alone (see [`by_job`]): a job named twice is claimed for
    /// the first and looked at again for the others, which then find its
    /// lease held.
    async fn claim_grouped(
        &self,
        calls: Vec<(JobId, Duration)>,
    ) -> Vec<Result<Option<(bool, Read)>, StoreError>> {
        by_job(
            calls,
            |(id, _)| *id,
            |batch| async move { self.claim_rows(&batch).await },
        )
        .await
    }

    /// The claim statement: for each job, whether this claim won, and the
    /// job as it now is; a job that does not exist is absent.
    async fn claim_rows(
        &self,
        calls: &[(JobId, Duration)],
    ) -> Result<std::collections::HashMap<JobId, (bool, Read)>, StoreError> {
        let ids: Vec<uuid::Uuid> = calls.iter().map(|(id, _)| id.0).collect();
        let leases: Vec<f64> = calls.iter().map(|(_, lease)| lease.as_secs_f64()).collect();
        let rows = sqlx::query(concat!(
            claim_found!(),
            "claimed as (
                ",
            claim_set!(),
            "
                from found
                where jobs.id = found.id
                  and found.concurrency_key is null
                  and ",
            claim_rule!(),
            "
                returning jobs.*, found.status as from_status
            ), ",
            claim_answer!("null")
        ))
        .bind(&ids)
        .bind(&leases)
        .fetch_all(&self.pool)
        .await?;
        use sqlx::Row;
        rows.iter()
            .map(|row| {
                let read = Read::from_row(row)?;
                Ok((read.job.id, (row.try_get("won")?, read)))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The claim of a job with a concurrency key: in one transaction, the
    /// key's advisory lock, then the claim statement guarded by the count of
    /// the key's live leases (the limit read from the job's type, none when
    /// the type no longer has one), then commit. Four round trips. When the
    /// job was claimable but the key is at its limit, the read says so
    /// (`limit_reached`).
    async fn claim_limited(
        &self,
        id: JobId,
        lease: Duration,
    ) -> Result<Option<(bool, Read)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The key never changes after submit, so the job's row names its lock.
        // Distinct keys sharing a hash only wait for each other.
        sqlx::query(
            "select pg_advisory_xact_lock(hashtextextended(
                 format('jobs.concurrency %s %s %s', tenant_id, type, concurrency_key), 0))
             from jobs where id = $1 and concurrency_key is not null",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // A statement after the lock: its snapshot sees every claim of the key
        // that committed before this transaction got the lock.
        let row = sqlx::query(concat!(
            claim_found!(),
            "slots as (
                select found.id,
                       (select (t.definition -> 'concurrency' ->> 'limit')::int4
                        from job_types t
                        where t.tenant_id = found.tenant_id and t.name = found.type) as max_running,
                       (select count(*) from jobs running
                        where running.tenant_id = found.tenant_id
                          and running.type = found.type
                          and running.concurrency_key = found.concurrency_key
                          and running.status = 'processing'
                          and running.lease_expires_at > now()
                          and running.id <> found.id) as running
                from found
                where found.concurrency_key is not null
                  and ",
            claim_rule!(),
            "
            ), claimed as (
                ",
            claim_set!(),
            "
                from found join slots on slots.id = found.id
                where jobs.id = found.id
                  and (slots.max_running is null or slots.running < slots.max_running)
                returning jobs.*, found.status as from_status
            ), ",
            claim_answer!("(select max_running from slots)")
        ))
        .bind([id.0])
        .bind([lease.as_secs_f64()])
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Ok(None);
        };
        use sqlx::Row;
        Ok(Some((row.try_get("won")?, Read::from_row(&row)?)))
    }

    /// Writes a handler's outcome for the delivery that claimed `job`, in one
    /// statement guarded by the claim (status `processing`, the same attempt):
    /// a delivery whose lease was taken over cannot overwrite its successor.
    pub async fn record(&self, job: &Job, outcome: Outcome) -> Result<Recorded, StoreError> {
        // A claimed job has made progress, so its dead-letter count is zero.
        let transition = Transition::decide(job, 0, Cause::Outcome(outcome))?;
        let Some(saved) = self.write_outcome(job, &transition).await? else {
            return Ok(Recorded::Stale);
        };
        // A cancel requested before the write, of an attempt that failed and
        // would run again: the job is cancelled instead (one more guarded
        // write; the history keeps both). Changed meanwhile: a claim or the
        // API found the request and cancelled it.
        if saved.status == JobStatus::Pending && saved.cancel_requested_at.is_some() {
            let cancel = Transition::decide(&saved, 0, Cause::Cancelled)?;
            if let Some(cancelled) = self.write(None, &saved, &cancel, None).await? {
                return Ok(Recorded::Cancelled(Box::new(cancelled)));
            }
        }
        // From processing, an outcome leads to completed, pending, failed or cancelled.
        let saved = Box::new(saved);
        Ok(match transition.to.status {
            JobStatus::Completed => Recorded::Completed(saved),
            JobStatus::Pending => Recorded::Retrying(saved),
            JobStatus::Cancelled => Recorded::Cancelled(saved),
            _ => Recorded::Failed(saved),
        })
    }

    /// Jobs whose message must be published (again), oldest `run_at` first:
    /// pending jobs never published (after `publish_grace`, which leaves the
    /// API's own publish time to land; at once for delayed jobs that came due),
    /// pending jobs whose message seems lost (nothing happened for
    /// `stale_after`), and processing jobs whose lease expired without a
    /// redelivery since.
    pub async fn due_for_publish(
        &self,
        publish_grace: Duration,
        stale_after: Duration,
        limit: u32,
    ) -> Result<Vec<Unpublished>, StoreError> {
        let rows = sqlx::query_as::<_, (JobId, String, DateTime<Utc>)>(
            "select id, type, updated_at from jobs
             where (status = 'pending' and run_at <= now() and (
                       (published_at is null
                        and (run_at > created_at or updated_at <= now() - make_interval(secs => $1)))
                    or (published_at <= now() - make_interval(secs => $2)
                        and updated_at <= now() - make_interval(secs => $2))))
                or (status = 'processing' and lease_expires_at <= now()
                    and (published_at is null or published_at < lease_expires_at))
             order by run_at
             limit $3",
        )
        .bind(publish_grace.as_secs_f64())
        .bind(stale_after.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, job_type, version)| Unpublished {
                message: JobMessage { job_id, job_type },
                version,
            })
            .collect())
    }

    /// Records that these jobs' messages reached Pub/Sub, each only if the
    /// job is still as it was when published (its `updated_at`): a delivery
    /// may already have run it and put it back to pending to be published
    /// afresh, and a late confirmation must not mark that new state.
    pub async fn mark_published(
        &self,
        published: &[(JobId, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let ids: Vec<uuid::Uuid> = published.iter().map(|(id, _)| id.0).collect();
        let versions: Vec<DateTime<Utc>> = published.iter().map(|(_, at)| *at).collect();
        sqlx::query(
            // Locked in id order first, as claims lock, so the two cannot deadlock.
            // The limit keeps the plan a lookup by key (see `claim_found!`);
            // `locked` carries the versions, so the update joins only it.
            "with published as (
                select * from unnest($1::uuid[], $2::timestamptz[]) as published (id, version)
                limit cardinality($1)
             ), locked as (
                select jobs.id, published.version from jobs join published on jobs.id = published.id
                order by jobs.id for update of jobs
             )
             update jobs set published_at = now()
             from locked
             where jobs.id = locked.id and jobs.updated_at = locked.version",
        )
        .bind(&ids)
        .bind(&versions)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes up to `limit` finished jobs past their retention (the job
    /// type's own, `defaults` otherwise), oldest first, with their events;
    /// returns how many. One statement over the `finished_at` index; rows
    /// another transaction holds are skipped, never waited for.
    ///
    /// The index is read only up to the shortest retention in force (the
    /// defaults' and every type's), so a pass that finds nothing expired
    /// reads nothing, however many finished jobs are kept.
    pub async fn delete_expired(&self, defaults: Retention, limit: u32) -> Result<u64, StoreError> {
        let deleted: i64 = sqlx::query_scalar(
            "with shortest as (
                select least($1, $2, $3, min(least(
                           (definition -> 'retention' ->> 'completed_seconds')::float8,
                           (definition -> 'retention' ->> 'failed_seconds')::float8,
                           (definition -> 'retention' ->> 'cancelled_seconds')::float8)))
                       as seconds
                from job_types
            ), expired as (
                select j.id from jobs j
                left join job_types t on t.tenant_id = j.tenant_id and t.name = j.type
                where j.finished_at is not null
                  and j.finished_at < now() - make_interval(secs => (select seconds from shortest))
                  and j.finished_at < now() - make_interval(secs => coalesce(
                      (t.definition -> 'retention' ->> (j.status || '_seconds'))::float8,
                      case j.status when 'completed' then $1 when 'failed' then $2 else $3 end))
                order by j.finished_at
                limit $4
                for update of j skip locked
            ), deleted as (
                delete from jobs where id in (select id from expired) returning id
            ), history as (
                delete from job_events where job_id in (select id from deleted)
            )
            select count(*) from deleted",
        )
        .bind(defaults.completed.as_secs_f64())
        .bind(defaults.failed.as_secs_f64())
        .bind(defaults.cancelled.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    /// Deletes up to `limit` rate-limit slots whose window has ended; returns
    /// how many. One statement over the `expires_at` index.
    pub async fn delete_expired_slots(&self, limit: u32) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "delete from rate_limit_slots where ctid = any(array(
                select ctid from rate_limit_slots where expires_at < now()
                order by expires_at limit $1
                for update skip locked))",
        )
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    /// Reads a job, lets `cause_of` say what happens to it (`None`: nothing,
    /// the job is returned as it is), and writes the decided transition. A
    /// write that finds the job changed since the read decides again.
    /// `dead_letter_message` is the message id a dead-letter counts: the
    /// write also requires that the job has not counted it yet.
    async fn change(
        &self,
        tenant: Option<TenantId>,
        id: JobId,
        dead_letter_message: Option<&str>,
        cause_of: impl Fn(&Read) -> Option<Cause>,
    ) -> Result<Job, StoreError> {
        for _ in 0..DECIDE_TRIES {
            let read = self.read(tenant, id).await?.ok_or(StoreError::NotFound)?;
            let Some(cause) = cause_of(&read) else {
                return Ok(read.job);
            };
            let change = Change {
                id,
                tenant,
                transition: Transition::decide(&read.job, read.dead_letters, cause)?,
                version: None,
                dead_letter_message: dead_letter_message.map(str::to_owned),
            };
            if let Some(job) = self.write_rows(&[change]).await?.remove(&id) {
                return Ok(job);
            }
        }
        Err(StoreError::Contended)
    }

    /// Writes a decided transition of `job` (and its history entry, unless
    /// the transition is not `recorded`), in one statement guarded by the
    /// state it was decided on, and by the job's `updated_at` when `version`
    /// is given. `None`: the job is no longer in that state, so nothing was
    /// written.
    async fn write(
        &self,
        tenant: Option<TenantId>,
        job: &Job,
        transition: &Transition,
        version: Option<DateTime<Utc>>,
    ) -> Result<Option<Job>, StoreError> {
        let change = Change {
            id: job.id,
            tenant,
            transition: transition.clone(),
            version,
            dead_letter_message: None,
        };
        Ok(self.write_rows(&[change]).await?.remove(&job.id))
    }

    /// [`JobStore::write`] of a handler's outcome, the hot write: with group
    /// commit, concurrent outcomes share one statement. (The rare changes, a
    /// dead-letter, a client's cancel or retry, are written alone: they gain
    /// nothing from waiting for a batch.)
    async fn write_outcome(
        &self,
        job: &Job,
        transition: &Transition,
    ) -> Result<Option<Job>, StoreError> {
        let Some(grouped) = &self.grouped else {
            return self.write(None, job, transition, None).await;
        };
        let change = Change {
            id: job.id,
            tenant: None,
            transition: transition.clone(),
            version: None,
            dead_letter_message: None,
        };
        grouped
            .writes
            .call(change)
            .await
            .unwrap_or_else(|| Err(batcher_gone()))
    }

    /// A batch of writes, by one statement; each is answered as if written
    /// alone (see [`by_job`]): a job named twice is written for the first and
    /// alone, after, for the others, whose guard then decides.
    async fn write_grouped(&self, changes: Vec<Change>) -> Vec<Result<Option<Job>, StoreError>> {
        by_job(
            changes,
            |change| change.id,
            |batch| async move { self.write_rows(&batch).await },
        )
        .await
    }

    /// Applies many decided transitions of one tenant's jobs, with their
    /// history entries, in one statement; each row is guarded by the state
    /// its transition was decided on, as in [`JobStore::write`]. Returns the
    /// jobs that changed, in id order.
    async fn write_many(
        &self,
        tenant: TenantId,
        changes: &[(Job, Transition)],
    ) -> Result<Vec<Job>, StoreError> {
        let changes: Vec<Change> = changes
            .iter()
            .map(|(job, transition)| Change {
                id: job.id,
                tenant: Some(tenant),
                transition: transition.clone(),
                version: None,
                dead_letter_message: None,
            })
            .collect();
        let mut saved: Vec<Job> = self.write_rows(&changes).await?.into_values().collect();
        saved.sort_by_key(|job| job.id.0);
        Ok(saved)
    }

    /// The write statement of every state change but a claim: each change's
    /// row updated under its guard, its history entry appended, and, for a
    /// job that ends with a `callback_url`, its callback job enqueued (told
    /// to `on_created` once committed). Returns the jobs that changed, by id.
    ///
    /// The rows are locked in id order first, as a claim locks them, so a
    /// batch of changes and a batch of claims sharing jobs wait for each
    /// other instead of deadlocking (which PostgreSQL would only break after
    /// `deadlock_timeout`, a second).
    async fn write_rows(
        &self,
        changes: &[Change],
    ) -> Result<std::collections::HashMap<JobId, Job>, StoreError> {
        use sqlx::{FromRow, Row};
        if changes.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let text = |f: &dyn Fn(&Transition) -> Option<&str>| -> Vec<Option<&str>> {
            changes.iter().map(|c| f(&c.transition)).collect()
        };
        let ints = |f: &dyn Fn(&Transition) -> i32| -> Vec<i32> {
            changes.iter().map(|c| f(&c.transition)).collect()
        };
        let flags = |f: &dyn Fn(&Transition) -> bool| -> Vec<bool> {
            changes.iter().map(|c| f(&c.transition)).collect()
        };
        let ids: Vec<uuid::Uuid> = changes.iter().map(|c| c.id.0).collect();
        let tenants: Vec<Option<uuid::Uuid>> =
            changes.iter().map(|c| c.tenant.map(|t| t.0)).collect();
        let versions: Vec<Option<DateTime<Utc>>> = changes.iter().map(|c| c.version).collect();
        // A job that ends with a callback_url enqueues its callback under this id.
        let callbacks: Vec<uuid::Uuid> = changes.iter().map(|_| JobId::new().0).collect();
        let results: Vec<Option<&serde_json::Value>> = changes
            .iter()
            .map(|c| c.transition.result.as_ref())
            .collect();
        let run_in: Vec<Option<f64>> = changes
            .iter()
            .map(|c| c.transition.run_in.map(|delay| delay.as_secs_f64()))
            .collect();
        let deferrals: Vec<Option<i32>> = changes.iter().map(|c| c.transition.deferrals).collect();
        let dead_letter_messages: Vec<Option<&str>> = changes
            .iter()
            .map(|c| c.dead_letter_message.as_deref())
            .collect();
        // The limit keeps the plan a lookup by key (see `claim_found!`).
        // `locked` carries the changes, so the update joins only it: joined
        // to `changes` as well, the two CTE scans made a nested loop
        // quadratic in the batch.
        let rows = sqlx::query(concat!(
            "with changes as (
                select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::int4[],
                                     $6::text[], $7::int4[], $8::int4[], $9::jsonb[], $10::text[],
                                     $11::bool[], $12::bool[], $13::bool[], $14::text[], $15::text[],
                                     $16::text[], $17::float8[], $18::int4[], $19::int4[],
                                     $20::bool[], $21::timestamptz[], $22::uuid[], $26::text[])
                    as c (id, tenant_id, from_status, from_attempts, from_max, to_status,
                          to_attempts, to_max, result, error, clear_error, finishes, republish,
                          event, detail, failure_reason, run_in, dead_letters, deferrals, recorded,
                          version, callback_id, dead_letter_message_id)
                limit cardinality($1)
            ), locked as (
                select changes.* from jobs join changes on jobs.id = changes.id
                order by jobs.id for update of jobs
            ), updated as (
                update jobs set
                    status = c.to_status, attempts = c.to_attempts, max_attempts = c.to_max,
                    result = coalesce(c.result, jobs.result),
                    error = case when c.clear_error then null else coalesce(c.error, jobs.error) end,
                    failure_reason = c.failure_reason,
                    run_at = coalesce(now() + make_interval(secs => c.run_in), jobs.run_at),
                    dead_letters = c.dead_letters,
                    dead_letter_message_id = coalesce(c.dead_letter_message_id,
                                                      jobs.dead_letter_message_id),
                    deferrals = coalesce(c.deferrals, jobs.deferrals),
                    deferred_event_at = case when c.recorded and c.event = 'deferred' then now()
                                             else jobs.deferred_event_at end,
                    lease_expires_at = case when c.to_status = 'processing'
                                            then jobs.lease_expires_at end,
                    cancel_requested_at = case c.event when 'cancel_requested' then now()
                                                       when 'retried' then null
                                                       else jobs.cancel_requested_at end,
                    finished_at = case when c.finishes then now() end,
                    published_at = case when c.republish then null else jobs.published_at end,
                    updated_at = now()
                from locked c
                where jobs.id = c.id and (c.tenant_id is null or jobs.tenant_id = c.tenant_id)
                  and jobs.status = c.from_status and jobs.attempts = c.from_attempts
                  and jobs.max_attempts = c.from_max
                  and (c.version is null or jobs.updated_at = c.version)
                  and (c.dead_letter_message_id is null
                       or jobs.dead_letter_message_id is distinct from c.dead_letter_message_id)
                returning jobs.*, c.from_status as change_from, c.event as change_event,
                          c.detail as change_detail, c.recorded as change_recorded,
                          case when c.finishes and jobs.callback_url is not null
                               then c.callback_id end as callback_id
            ), recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt, detail)
                select id, change_from, status, change_event, attempts, change_detail from updated
                where change_recorded
            ), callback as (
                insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                                  timeout_seconds, run_at)
                select callback_id, tenant_id, $23, 'pending',
                       jsonb_build_object('url', callback_url, 'job_id', id), 0, $24, $25, now()
                from updated where callback_id is not null
                returning id
            ), callback_recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt)
                select id, null, 'pending', 'submitted', 0 from callback
            )
            select ",
            job_columns!(),
            ", callback_id from updated"
        ))
        .bind(&ids)
        .bind(&tenants)
        .bind(text(&|t| Some(t.from.status.as_str())))
        .bind(ints(&|t| t.from.attempts))
        .bind(ints(&|t| t.from.max_attempts))
        .bind(text(&|t| Some(t.to.status.as_str())))
        .bind(ints(&|t| t.to.attempts))
        .bind(ints(&|t| t.to.max_attempts))
        .bind(&results)
        .bind(text(&|t| match &t.error {
            ErrorUpdate::Set(error) => Some(error.as_str()),
            ErrorUpdate::Keep | ErrorUpdate::Clear => None,
        }))
        .bind(flags(&|t| t.error == ErrorUpdate::Clear))
        .bind(flags(&Transition::finishes))
        .bind(flags(&|t| t.republish))
        .bind(text(&|t| Some(t.event.as_str())))
        .bind(text(&|t| t.detail.as_deref()))
        .bind(text(&|t| t.failure_reason.map(FailureReason::as_str)))
        .bind(&run_in)
        .bind(ints(&|t| t.dead_letters))
        .bind(&deferrals)
        .bind(flags(&|t| t.recorded))
        .bind(&versions)
        .bind(&callbacks)
        .bind(CALLBACK_JOB_TYPE)
        .bind(CALLBACK_MAX_ATTEMPTS)
        .bind(CALLBACK_TIMEOUT_SECONDS)
        .bind(&dead_letter_messages)
        .fetch_all(&self.pool)
        .await?;
        let mut saved = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let job = Job::from_row(row)?;
            let created: Option<JobId> = row.try_get("callback_id")?;
            if let (Some(job_id), Some(on_created)) = (created, &self.on_created) {
                let message = JobMessage {
                    job_id,
                    job_type: CALLBACK_JOB_TYPE.to_owned(),
                };
                // Created by the same statement, so at the same `now()`.
                on_created(&message, job.updated_at);
            }
            saved.insert(job.id, job);
        }
        Ok(saved)
    }

    /// Reads a job for a decision, with its time checks made by the database clock.
    async fn read(&self, tenant: Option<TenantId>, id: JobId) -> Result<Option<Read>, StoreError> {
        let row = sqlx::query(concat!(
            "select ",
            job_columns!(),
            ", run_at <= now() as due, coalesce(lease_expires_at <= now(), false) as lease_expired,
             null::int4 as limit_reached, ",
            decision_columns!(),
            " from jobs where id = $1 and ($2::uuid is null or tenant_id = $2)"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Read::from_row(&row)?))
    }
}
