//! The job store: every read and every state change of a job, over PostgreSQL.
//!
//! Each state change locks the row, asks the state machine, and writes the new
//! state and its `job_events` entry in one transaction, so the history and the
//! job can never disagree and no transition happens that the domain refuses.

use crate::job::{Job, JobId, NewJob, TenantId};
use crate::job_history::JobHistoryEntry;
use crate::job_message::JobMessage;
use crate::job_status::JobStatus;
use crate::state_machine::{JobEvent, JobState};
use crate::store_error::StoreError;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use std::time::Duration;

/// The columns of [`Job`], in one place so every query returns the same shape.
macro_rules! job_columns {
    () => {
        "id, type, status, payload, result, error, attempts, max_attempts, timeout_seconds, \
         run_at, created_at, updated_at, started_at, finished_at, idempotency_key"
    };
}

/// Reads and changes jobs in PostgreSQL.
#[derive(Debug, Clone)]
pub struct JobStore {
    pool: PgPool,
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
    /// No such job: ack, redelivering cannot help.
    NotFound,
}

/// What a handler run ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Success, with the handler's result.
    Succeeded(Value),
    /// A failure that may pass on another attempt.
    Retryable(String),
    /// A failure no retry can fix.
    Permanent(String),
}

/// What recording an outcome did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The outcome was written; the job as it is now.
    Saved(Box<Job>),
    /// The delivery no longer holds the job (its lease was taken over, or the
    /// job was dead-lettered), so its outcome was dropped.
    Stale,
}

/// One state change to save: the event and what comes with it.
struct Change {
    event: JobEvent,
    detail: Option<String>,
    result: Option<Value>,
    lease_grace: Duration,
}

impl Change {
    fn new(event: JobEvent) -> Self {
        Change {
            event,
            detail: None,
            result: None,
            lease_grace: Duration::ZERO,
        }
    }

    fn detail(self, detail: &str) -> Self {
        Change {
            detail: Some(detail.to_owned()),
            ..self
        }
    }

    fn result(self, result: Value) -> Self {
        Change {
            result: Some(result),
            ..self
        }
    }

    /// How long past the job's timeout a lease taken by this change lasts.
    fn lease(self, lease_grace: Duration) -> Self {
        Change {
            lease_grace,
            ..self
        }
    }
}

/// A job read under a row lock, with the time checks done by the database clock.
struct Locked {
    job: Job,
    due: bool,
    lease_expired: bool,
}

impl JobStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        JobStore { pool }
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores a pending job and its `submitted` event in one statement. Under
    /// a replayed idempotency key, returns the original job instead, or
    /// [`StoreError::IdempotencyConflict`] if the request differs.
    pub async fn insert(&self, tenant: TenantId, new: NewJob) -> Result<Submitted, StoreError> {
        let (key, hash) = match &new.idempotency {
            Some(idem) => (Some(idem.key.as_str()), Some(idem.request_hash.as_slice())),
            None => (None, None),
        };
        let inserted = sqlx::query_as::<_, Job>(concat!(
            "with inserted as (
                insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                                  timeout_seconds, run_at, idempotency_key, request_hash)
                values ($1, $2, $3, 'pending', $4, 0, $5, $6, coalesce($7, now()), $8, $9)
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
        .bind(JobId::new())
        .bind(tenant)
        .bind(&new.job_type)
        .bind(&new.payload)
        .bind(new.max_attempts)
        .bind(new.timeout_seconds)
        .bind(new.run_at)
        .bind(key)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;

        if let Some(job) = inserted {
            return Ok(Submitted { job, created: true });
        }
        // The key was taken: by the same request (a replay) or by another one (a conflict).
        let (Some(key), Some(hash)) = (key, hash) else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        let (job, original_hash) = self.find_by_key(tenant, key).await?;
        if original_hash == hash {
            Ok(Submitted {
                job,
                created: false,
            })
        } else {
            Err(StoreError::IdempotencyConflict(key.to_owned()))
        }
    }

    async fn find_by_key(&self, tenant: TenantId, key: &str) -> Result<(Job, Vec<u8>), StoreError> {
        use sqlx::{FromRow, Row};
        let row = sqlx::query(concat!(
            "select ",
            job_columns!(),
            ", request_hash from jobs where tenant_id = $1 and idempotency_key = $2"
        ))
        .bind(tenant)
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        Ok((Job::from_row(&row)?, row.try_get("request_hash")?))
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
        if let Some(status) = filter.status {
            query.push(" and status = ").push_bind(status);
        }
        if let Some(job_type) = &filter.job_type {
            query.push(" and type = ").push_bind(job_type.clone());
        }
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

    /// Cancels a pending job of the tenant's.
    pub async fn cancel(&self, tenant: TenantId, id: JobId) -> Result<Job, StoreError> {
        self.change(tenant, id, JobEvent::Cancelled).await
    }

    /// Sends a failed or cancelled job of the tenant's back to pending.
    pub async fn retry(&self, tenant: TenantId, id: JobId) -> Result<Job, StoreError> {
        self.change(tenant, id, JobEvent::Retried).await
    }

    /// Marks a job failed because Pub/Sub dead-lettered its message. A job
    /// that is already terminal is returned unchanged, and so is one whose
    /// lease is live: a delivery is still running it (the dead-letter came
    /// from "busy" nacks), and its outcome or its lease expiry decides.
    pub async fn dead_letter(&self, id: JobId, detail: &str) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked = lock(&mut tx, None, id).await?.ok_or(StoreError::NotFound)?;
        let live_lease = locked.job.status == JobStatus::Processing && !locked.lease_expired;
        let job = if locked.job.status.is_terminal() || live_lease {
            locked.job
        } else {
            let change = Change::new(JobEvent::DeadLettered).detail(detail);
            self.save(&mut tx, &locked.job, change).await?
        };
        tx.commit().await?;
        Ok(job)
    }

    /// Tries to take the lease of a job for one delivery; the lease lasts the
    /// job's timeout plus `lease_grace`.
    pub async fn claim(&self, id: JobId, lease_grace: Duration) -> Result<Claim, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(locked) = lock(&mut tx, None, id).await? else {
            return Ok(Claim::NotFound);
        };
        let job = locked.job;
        let claim = match job.status {
            JobStatus::Pending if !locked.due => Claim::NotDue(job),
            JobStatus::Pending => {
                let claimed = Change::new(JobEvent::Claimed).lease(lease_grace);
                Claim::Claimed(self.save(&mut tx, &job, claimed).await?)
            }
            JobStatus::Processing if !locked.lease_expired => Claim::Busy(job),
            JobStatus::Processing => {
                let expired = Change::new(JobEvent::LeaseExpired)
                    .detail("lease expired without an outcome")
                    .lease(lease_grace);
                let after = self.save(&mut tx, &job, expired).await?;
                if after.status == JobStatus::Processing {
                    Claim::Claimed(after)
                } else {
                    Claim::Exhausted(after)
                }
            }
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled => Claim::Finished(job),
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Writes a handler's outcome, if the delivery that ran attempt `attempt` still holds the job.
    pub async fn record(
        &self,
        id: JobId,
        attempt: i32,
        outcome: Outcome,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked = lock(&mut tx, None, id).await?.ok_or(StoreError::NotFound)?;
        if locked.job.status != JobStatus::Processing || locked.job.attempts != attempt {
            return Ok(Recorded::Stale);
        }
        let change = match outcome {
            Outcome::Succeeded(result) => Change::new(JobEvent::Succeeded).result(result),
            Outcome::Retryable(error) => Change::new(JobEvent::FailedRetryable).detail(&error),
            Outcome::Permanent(error) => Change::new(JobEvent::FailedPermanent).detail(&error),
        };
        let job = self.save(&mut tx, &locked.job, change).await?;
        tx.commit().await?;
        Ok(Recorded::Saved(Box::new(job)))
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
    ) -> Result<Vec<JobMessage>, StoreError> {
        let rows = sqlx::query_as::<_, (JobId, String)>(
            "select id, type from jobs
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
            .map(|(job_id, job_type)| JobMessage { job_id, job_type })
            .collect())
    }

    /// Records that these jobs' messages reached Pub/Sub.
    pub async fn mark_published(&self, ids: &[JobId]) -> Result<(), StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        sqlx::query("update jobs set published_at = now() where id = any($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Locks a job, applies `event` through the state machine, and saves it.
    async fn change(
        &self,
        tenant: TenantId,
        id: JobId,
        event: JobEvent,
    ) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked = lock(&mut tx, Some(tenant), id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let job = self.save(&mut tx, &locked.job, Change::new(event)).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Writes the state the machine gives for `event` and its history entry, in one statement.
    async fn save(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        job: &Job,
        change: Change,
    ) -> Result<Job, StoreError> {
        let Change {
            event,
            detail,
            result,
            lease_grace,
        } = change;
        let next: JobState = job.state().apply(event)?;
        let error = match event {
            JobEvent::FailedRetryable | JobEvent::FailedPermanent => detail.clone(),
            // Keep the handler's last error: it says why the deliveries failed.
            JobEvent::DeadLettered => match (&detail, &job.error) {
                (Some(detail), Some(last)) => Some(format!("{detail}; last error: {last}")),
                _ => detail.clone().or_else(|| job.error.clone()),
            },
            JobEvent::LeaseExpired if next.status == JobStatus::Failed => detail.clone(),
            _ => job.error.clone(),
        };
        let result = if event == JobEvent::Succeeded {
            result
        } else {
            job.result.clone()
        };
        let lease_seconds = f64::from(job.timeout_seconds) + lease_grace.as_secs_f64();
        let saved = sqlx::query_as::<_, Job>(concat!(
            "with updated as (
                update jobs set
                    status = $2, attempts = $3, max_attempts = $4, result = $5, error = $6,
                    lease_expires_at = case when $2 = 'processing'
                        then now() + make_interval(secs => $7) end,
                    started_at = case when $2 = 'processing'
                        then coalesce(started_at, now()) else started_at end,
                    finished_at = case when $2 in ('completed', 'failed', 'cancelled')
                        then now() end,
                    published_at = case when $8 then null
                        when $2 = 'processing' then coalesce(published_at, now())
                        else published_at end,
                    updated_at = now()
                where id = $1
                returning *
            ), recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt, detail)
                select id, $9, status, $10, attempts, $11 from updated
            )
            select ",
            job_columns!(),
            " from updated"
        ))
        .bind(job.id)
        .bind(next.status)
        .bind(next.attempts)
        .bind(next.max_attempts)
        .bind(result)
        .bind(error)
        .bind(lease_seconds)
        .bind(event == JobEvent::Retried)
        .bind(job.status)
        .bind(event.as_str())
        .bind(detail)
        .fetch_one(&mut **tx)
        .await?;
        Ok(saved)
    }
}

/// Reads a job under `for update`, with its time checks made by the database clock.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Option<TenantId>,
    id: JobId,
) -> Result<Option<Locked>, StoreError> {
    let row = sqlx::query(concat!(
        "select ",
        job_columns!(),
        ", run_at <= now() as due, coalesce(lease_expires_at <= now(), false) as lease_expired
         from jobs where id = $1 and ($2::uuid is null or tenant_id = $2) for update"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    use sqlx::{FromRow, Row};
    Ok(Some(Locked {
        job: Job::from_row(&row)?,
        due: row.try_get("due")?,
        lease_expired: row.try_get("lease_expired")?,
    }))
}
