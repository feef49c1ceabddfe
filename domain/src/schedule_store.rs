//! Tenants' periodic schedules over PostgreSQL, and the statement that
//! enqueues an occurrence's job. The rules (patterns, zones, which occurrence
//! is due) are in [`crate::schedule`]; every statement here is one round trip
//! outside any explicit transaction.

use crate::job::{Job, JobId, TenantId};
use crate::job_store::job_columns;
use crate::schedule::{Occurrence, Schedule, ScheduledJob, slot_key};
use crate::store_error::StoreError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;

/// The columns of [`Schedule`], in one place so every query returns the same shape.
macro_rules! schedule_columns {
    () => {
        "name, cron, timezone, job_type, payload, max_attempts, timeout_seconds, paused, \
         next_run_at, last_run_at, last_job_id, created_at, updated_at"
    };
}

/// Reads and writes tenants' schedules.
#[derive(Debug, Clone)]
pub struct ScheduleStore {
    pool: PgPool,
}

/// A schedule whose next occurrence has come, as the leader reads it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DueSchedule {
    /// The schedule's tenant.
    #[sqlx(rename = "tenant_id")]
    pub tenant: TenantId,
    /// The schedule's name.
    pub name: String,
    /// Its cron pattern.
    pub cron: String,
    /// The zone the pattern is read in.
    pub timezone: String,
    /// The occurrence that has come; the enqueue is guarded by it.
    pub next_run_at: DateTime<Utc>,
    /// The database's clock when it was read.
    pub now: DateTime<Utc>,
    /// The type of the schedule's job; the enqueue is guarded by it.
    pub job_type: String,
    /// The payload of the schedule's job; the enqueue is guarded by it.
    pub payload: Value,
    /// The key value the job counts against when its type has a concurrency
    /// limit (`DefinedType::concurrency_key` of `payload`), set by the
    /// scheduler before the enqueue; not read from the database.
    #[sqlx(default)]
    pub concurrency_key: Option<String>,
}

/// What enqueueing an occurrence did.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// A new job for the occurrence, stored with its `submitted` event; the
    /// schedule moved on to its next occurrence.
    Created(Box<Job>),
    /// A job for that occurrence existed already (an earlier leader stored it
    /// and stopped before moving the schedule on); the schedule moved on.
    AlreadyEnqueued,
    /// The schedule changed (replaced, paused, deleted) since it was read:
    /// nothing was written.
    Changed,
}

impl ScheduleStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        ScheduleStore { pool }
    }

    /// Creates or replaces a schedule in one statement; `true` when it is new.
    /// A replaced schedule keeps its `last_run_at` and `last_job_id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        tenant: TenantId,
        name: &str,
        cron: &str,
        timezone: &str,
        job: &ScheduledJob,
        paused: bool,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<(Schedule, bool), StoreError> {
        use sqlx::{FromRow, Row};
        let row = sqlx::query(concat!(
            "insert into schedules (tenant_id, name, cron, timezone, job_type, payload,
                                    max_attempts, timeout_seconds, paused, next_run_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             on conflict (tenant_id, name) do update set
                 cron = excluded.cron,
                 timezone = excluded.timezone,
                 job_type = excluded.job_type,
                 payload = excluded.payload,
                 max_attempts = excluded.max_attempts,
                 timeout_seconds = excluded.timeout_seconds,
                 paused = excluded.paused,
                 next_run_at = excluded.next_run_at,
                 updated_at = now()
             returning ",
            schedule_columns!(),
            ", (xmax = 0) as created"
        ))
        .bind(tenant)
        .bind(name)
        .bind(cron)
        .bind(timezone)
        .bind(&job.job_type)
        .bind(&job.payload)
        .bind(job.max_attempts)
        .bind(job.timeout_seconds)
        .bind(paused)
        .bind(next_run_at)
        .fetch_one(&self.pool)
        .await?;
        Ok((Schedule::from_row(&row)?, row.try_get("created")?))
    }

    /// One of the tenant's schedules.
    pub async fn get(&self, tenant: TenantId, name: &str) -> Result<Option<Schedule>, StoreError> {
        Ok(sqlx::query_as::<_, Schedule>(concat!(
            "select ",
            schedule_columns!(),
            " from schedules where tenant_id = $1 and name = $2"
        ))
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The tenant's schedules, by name.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<Schedule>, StoreError> {
        Ok(sqlx::query_as::<_, Schedule>(concat!(
            "select ",
            schedule_columns!(),
            " from schedules where tenant_id = $1 order by name"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes one of the tenant's schedules; `false` when there was none.
    /// Its jobs stay.
    pub async fn delete(&self, tenant: TenantId, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("delete from schedules where tenant_id = $1 and name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Pauses a schedule (no next run); `None` when there is no such schedule.
    /// Pausing a paused schedule changes nothing.
    pub async fn pause(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<Schedule>, StoreError> {
        Ok(sqlx::query_as::<_, Schedule>(concat!(
            "update schedules set
                 paused = true,
                 next_run_at = null,
                 updated_at = case when paused then updated_at else now() end
             where tenant_id = $1 and name = $2
             returning ",
            schedule_columns!()
        ))
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Resumes a paused schedule with its next run at `next_run_at`, computed
    /// from its `cron` and `timezone`: the update holds only while the
    /// schedule is paused with that pattern and zone. `None` when it is not.
    pub async fn resume(
        &self,
        tenant: TenantId,
        name: &str,
        cron: &str,
        timezone: &str,
        next_run_at: DateTime<Utc>,
    ) -> Result<Option<Schedule>, StoreError> {
        Ok(sqlx::query_as::<_, Schedule>(concat!(
            "update schedules set paused = false, next_run_at = $5, updated_at = now()
             where tenant_id = $1 and name = $2 and paused and cron = $3 and timezone = $4
             returning ",
            schedule_columns!()
        ))
        .bind(tenant)
        .bind(name)
        .bind(cron)
        .bind(timezone)
        .bind(next_run_at)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Unpaused schedules whose next occurrence has come, the earliest first,
    /// through the partial index `schedules_due`.
    pub async fn due(&self, limit: u32) -> Result<Vec<DueSchedule>, StoreError> {
        Ok(sqlx::query_as::<_, DueSchedule>(
            "select tenant_id, name, cron, timezone, next_run_at, now() as now, job_type, payload
             from schedules
             where not paused and next_run_at <= now()
             order by next_run_at
             limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// How long until the earliest unpaused schedule comes due, by the
    /// database's clock (zero when one is due); `None` when none is active.
    pub async fn next_due_in(&self) -> Result<Option<Duration>, StoreError> {
        let seconds: Option<f64> = sqlx::query_scalar(
            "select extract(epoch from min(next_run_at) - now())::float8
             from schedules where not paused",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(seconds.map(|seconds| Duration::try_from_secs_f64(seconds).unwrap_or_default()))
    }

    /// Enqueues the job of `due`'s occurrence and moves the schedule on, in
    /// one statement guarded by the schedule as read (unpaused, the same
    /// `next_run_at`, job type and payload), whose row it locks. The job
    /// carries `due.concurrency_key`.
    ///
    /// The job's idempotency key is the occurrence's slot ([`slot_key`]), so
    /// a slot repeated by a new leader (the last one stored the job and
    /// stopped before moving the schedule on) finds the job stored then
    /// instead of storing a second. The schedule's `last_run_at` becomes the
    /// slot, `last_job_id` the slot's job, `next_run_at` the next occurrence
    /// (none left: the schedule is paused).
    pub async fn enqueue(
        &self,
        due: &DueSchedule,
        occurrence: Occurrence,
    ) -> Result<Enqueued, StoreError> {
        use sqlx::{FromRow, Row};
        let key = slot_key(&due.name, occurrence.slot);
        // Every enqueue of a slot is the same request, whoever makes it.
        let request_hash = Sha256::digest(key.as_bytes()).to_vec();
        let detail = format!(
            "enqueued by schedule `{}` for {}",
            due.name,
            occurrence
                .slot
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let row = sqlx::query(concat!(
            "with schedule as (
                select tenant_id, name, job_type, payload, max_attempts, timeout_seconds
                from schedules
                where tenant_id = $1 and name = $2 and next_run_at = $3 and not paused
                  and job_type = $11 and payload = $12
                for update
            ), inserted as (
                insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                                  timeout_seconds, run_at, idempotency_key, request_hash, schedule,
                                  concurrency_key)
                select $4, tenant_id, job_type, 'pending', payload, 0, max_attempts,
                       timeout_seconds, $5, $6, $7, name, $10
                from schedule
                on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
                returning *
            ), recorded as (
                insert into job_events (job_id, from_status, to_status, event, attempt, detail)
                select id, null, status, 'submitted', attempts, $9 from inserted
            ), advanced as (
                update schedules set
                    next_run_at = $8,
                    paused = ($8::timestamptz is null),
                    last_run_at = $5,
                    last_job_id = coalesce(
                        (select id from inserted),
                        (select id from jobs
                         where tenant_id = $1 and idempotency_key = $6 and schedule = $2),
                        schedules.last_job_id)
                from schedule
                where schedules.tenant_id = schedule.tenant_id and schedules.name = schedule.name
                returning schedules.name
            )
            select exists (select from advanced) as advanced, inserted.id is not null as created, ",
            job_columns!(),
            " from (select) as one left join inserted on true"
        ))
        .bind(due.tenant)
        .bind(&due.name)
        .bind(due.next_run_at)
        .bind(JobId::new())
        .bind(occurrence.slot)
        .bind(&key)
        .bind(&request_hash)
        .bind(occurrence.next)
        .bind(&detail)
        .bind(due.concurrency_key.as_deref())
        .bind(&due.job_type)
        .bind(&due.payload)
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<bool, _>("created")? {
            return Ok(Enqueued::Created(Box::new(Job::from_row(&row)?)));
        }
        Ok(if row.try_get::<bool, _>("advanced")? {
            Enqueued::AlreadyEnqueued
        } else {
            Enqueued::Changed
        })
    }
}
