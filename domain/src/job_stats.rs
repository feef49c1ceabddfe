//! A tenant's jobs in numbers, for the dashboard's overview: how many are in
//! each status (in all and per type), how many finished per minute over the
//! last hour, and how long the oldest due job has been waiting.
//!
//! The per-minute counts read only the last hour's finished jobs, through the
//! partial index `jobs_tenant_finished_at` (tenant, finished_at), so they
//! cost the same however many jobs the tenant keeps. The status counts read
//! every job the tenant keeps (retention bounds them).

use crate::job::{JobId, TenantId};
use crate::job_status::JobStatus;
use crate::job_store::JobStore;
use crate::store_error::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Minutes of per-minute throughput the stats cover, the current one included.
pub const THROUGHPUT_MINUTES: i32 = 60;

/// Jobs completed and failed per minute over the last `$2` minutes for
/// tenant `$1`, a row for every minute, oldest first. Public so that a test
/// can check its plan.
pub const THROUGHPUT_QUERY: &str = "\
    select m.minute, coalesce(f.completed, 0), coalesce(f.failed, 0)
    from generate_series(
             date_trunc('minute', now()) - make_interval(mins => $2 - 1),
             date_trunc('minute', now()),
             interval '1 minute'
         ) as m(minute)
    left join (
        select date_trunc('minute', finished_at) as minute,
               count(*) filter (where status = 'completed') as completed,
               count(*) filter (where status = 'failed') as failed
        from jobs
        where tenant_id = $1
          and finished_at >= date_trunc('minute', now()) - make_interval(mins => $2 - 1)
        group by 1
    ) as f using (minute)
    order by m.minute";

/// How many jobs are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusCounts {
    /// Jobs waiting to run (due or delayed).
    pub pending: i64,
    /// Jobs a worker is running.
    pub processing: i64,
    /// Jobs that succeeded.
    pub completed: i64,
    /// Jobs that failed for good (until retried).
    pub failed: i64,
    /// Jobs that were cancelled.
    pub cancelled: i64,
}

impl StatusCounts {
    fn add(&mut self, status: JobStatus, count: i64) {
        let slot = match status {
            JobStatus::Pending => &mut self.pending,
            JobStatus::Processing => &mut self.processing,
            JobStatus::Completed => &mut self.completed,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Cancelled => &mut self.cancelled,
        };
        *slot += count;
    }
}

/// The status counts of one job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TypeCounts {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its jobs in each status.
    pub counts: StatusCounts,
}

/// The jobs that finished in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MinuteCounts {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Jobs that completed in it.
    pub completed: i64,
    /// Jobs that failed in it (and are still failed).
    pub failed: i64,
}

/// The due job that has waited longest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OldestPending {
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    pub id: JobId,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// Whole seconds since it was submitted.
    pub age_seconds: i64,
}

/// The database's clock and the oldest due pending job, if any.
#[derive(sqlx::FromRow)]
struct OldestRow {
    as_of: DateTime<Utc>,
    id: Option<JobId>,
    created_at: Option<DateTime<Utc>>,
    age_seconds: Option<i64>,
}

/// A tenant's jobs in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobStats {
    /// When the numbers were read (the database's clock).
    pub as_of: DateTime<Utc>,
    /// Every job of the tenant, by status.
    pub by_status: StatusCounts,
    /// The same, per job type, by name.
    pub by_type: Vec<TypeCounts>,
    /// Jobs completed and failed in each of the last 60 minutes, oldest
    /// first; the last entry is the current, partial minute.
    pub per_minute: Vec<MinuteCounts>,
    /// The pending job whose run time has come that was submitted first;
    /// absent when none waits. Delayed jobs not yet due do not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_pending: Option<OldestPending>,
}

impl JobStore {
    /// The tenant's job stats: three reads, each consistent on its own.
    pub async fn stats(&self, tenant: TenantId) -> Result<JobStats, StoreError> {
        let pool = self.pool();
        let counts: Vec<(String, JobStatus, i64)> = sqlx::query_as(
            "select type, status, count(*) from jobs where tenant_id = $1 group by type, status",
        )
        .bind(tenant)
        .fetch_all(pool)
        .await?;
        let mut by_status = StatusCounts::default();
        let mut by_type = BTreeMap::<String, StatusCounts>::new();
        for (job_type, status, count) in counts {
            by_status.add(status, count);
            by_type.entry(job_type).or_default().add(status, count);
        }
        // Every minute of the hour gets a row, so a chart needs no gap filling.
        let per_minute: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(THROUGHPUT_QUERY)
            .bind(tenant)
            .bind(THROUGHPUT_MINUTES)
            .fetch_all(pool)
            .await?;
        let per_minute = per_minute
            .into_iter()
            .map(|(minute, completed, failed)| MinuteCounts {
                minute,
                completed,
                failed,
            })
            .collect();
        // Ids are UUIDv7: the first by id is the first submitted (index `jobs_tenant_status`).
        let oldest: OldestRow = sqlx::query_as(
            "select now() as as_of, o.id, o.created_at,
                    floor(extract(epoch from now() - o.created_at))::bigint as age_seconds
             from (select 1) as one
             left join lateral (
                 select id, created_at from jobs
                 where tenant_id = $1 and status = 'pending' and run_at <= now()
                 order by id limit 1
             ) o on true",
        )
        .bind(tenant)
        .fetch_one(pool)
        .await?;
        let oldest_pending = match (oldest.id, oldest.created_at, oldest.age_seconds) {
            (Some(id), Some(created_at), Some(age)) => Some(OldestPending {
                id,
                created_at,
                age_seconds: age.max(0),
            }),
            _ => None,
        };
        Ok(JobStats {
            as_of: oldest.as_of,
            by_status,
            by_type: by_type
                .into_iter()
                .map(|(job_type, counts)| TypeCounts { job_type, counts })
                .collect(),
            per_minute,
            oldest_pending,
        })
    }
}
