//! The reconciler: one leader at a time (a PostgreSQL advisory lock) publishes
//! the jobs Pub/Sub does not know about — never published, delayed and now due,
//! or leased by a worker that vanished. The worker is idempotent, so a message
//! published twice costs an ack, never a second run. The leader also enqueues
//! the jobs of periodic schedules (`scheduler.rs`), waking for each
//! schedule's next occurrence as well as on its interval.

use crate::scheduler::Scheduler;
use crate::settings::{ReconcilerSettings, RetentionSettings};
use jobs_domain::{JobStore, ScheduleStore, StoreError};
use jobs_job_types::JobTypeCatalog;
use jobs_runtime::{JobPublisher, Metrics};
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The advisory lock key of the reconciler's leadership ("jobsrcnl").
const LEADER_LOCK_KEY: i64 = 0x6a6f_6273_7263_6e6c;

/// How long after a schedule's next occurrence (by the database's clock) the
/// leader wakes for it, so the occurrence has surely come when it looks.
const SCHEDULE_WAKE_SLACK: Duration = Duration::from_millis(10);

/// Publishes what Pub/Sub should have but does not, enqueues the jobs of due
/// schedule occurrences, and deletes finished jobs past their retention.
#[derive(Debug)]
pub struct Reconciler {
    store: JobStore,
    publisher: JobPublisher,
    settings: ReconcilerSettings,
    retention: RetentionSettings,
    metrics: Metrics,
    scheduler: Scheduler,
}

impl Reconciler {
    /// A reconciler over `store`, publishing with `publisher`; deletions are
    /// counted in `metrics`; `job_types` gives scheduled jobs their concurrency key.
    pub fn new(
        store: JobStore,
        publisher: JobPublisher,
        settings: ReconcilerSettings,
        retention: RetentionSettings,
        metrics: Metrics,
        job_types: JobTypeCatalog,
    ) -> Self {
        let scheduler = Scheduler::new(
            ScheduleStore::new(store.pool().clone()),
            publisher.clone(),
            job_types,
        );
        Reconciler {
            store,
            publisher,
            settings,
            retention,
            metrics,
            scheduler,
        }
    }

    /// One scheduler pass: enqueues the due occurrences' jobs; returns when
    /// to wake for the next one (`None`: no active schedule, or the pass failed).
    pub async fn schedule_once(&self) -> Option<Instant> {
        match self.scheduler.enqueue_due().await {
            Ok(next) => next.map(|wait| Instant::now() + wait + SCHEDULE_WAKE_SLACK),
            Err(err) => {
                tracing::warn!(error = %err, "scheduler pass failed; retrying next tick");
                None
            }
        }
    }

    /// One retention pass: deletes a bounded batch of expired jobs (returns
    /// how many) and of rate-limit slots whose window ended.
    pub async fn clean_once(&self) -> Result<u64, StoreError> {
        let deleted = self
            .store
            .delete_expired(self.retention.defaults(), self.retention.delete_batch_size)
            .await?;
        if deleted > 0 {
            self.metrics.jobs_deleted(deleted);
            tracing::info!(deleted, "deleted finished jobs past their retention");
        }
        // Rate-limit slots whose window ended count for nothing any more.
        self.store
            .delete_expired_slots(self.retention.delete_batch_size)
            .await?;
        Ok(deleted)
    }

    /// One pass: publishes every job due for it and records them; returns how many.
    pub async fn reconcile_once(&self) -> Result<usize, StoreError> {
        let due = self
            .store
            .due_for_publish(
                self.settings.publish_grace,
                self.settings.stale_after,
                self.settings.batch_size,
            )
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let messages: Vec<_> = due.iter().map(|job| job.message.clone()).collect();
        let published = self.publisher.publish_all(&messages).await;
        let versions: Vec<_> = due
            .iter()
            .filter(|job| published.contains(&job.message.job_id))
            .map(|job| (job.message.job_id, job.version))
            .collect();
        self.store.mark_published(&versions).await?;
        tracing::info!(
            due = due.len(),
            published = published.len(),
            "reconciler published jobs"
        );
        Ok(published.len())
    }

    /// Runs passes while this process holds leadership, trying to take it when
    /// it does not, until `shutdown` resolves. Between ticks, the leader also
    /// wakes when a schedule's next occurrence comes, for a scheduler pass
    /// only, so an every-second schedule misses no second whatever the interval.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // The first pass waits one interval, so a process serves before it
        // competes for leadership.
        let first = tokio::time::Instant::now() + self.settings.interval;
        let mut ticker = tokio::time::interval_at(first, self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leader: Option<PgConnection> = None;
        let mut schedule_wake: Option<Instant> = None;
        loop {
            let tick = tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => true,
                () = sleep_until(schedule_wake) => false,
            };
            leader = match leader {
                Some(mut conn) => match conn.ping().await {
                    Ok(()) => Some(conn),
                    Err(err) => {
                        tracing::warn!(error = %err, "lost the reconciler lock's connection; leadership released");
                        None
                    }
                },
                None => self.try_lead().await,
            };
            schedule_wake = None;
            if leader.is_some() {
                schedule_wake = self.schedule_once().await;
                if !tick {
                    continue;
                }
                if let Err(err) = self.reconcile_once().await {
                    tracing::warn!(error = %err, "reconciler pass failed; retrying next tick");
                }
                if let Err(err) = self.clean_once().await {
                    tracing::warn!(error = %err, "retention pass failed; retrying next tick");
                }
            }
        }
        if let Some(conn) = leader {
            let _ = conn.close().await;
        }
    }

    /// Takes the leadership lock on a connection of its own, which holds it
    /// until the connection closes (so a crashed leader frees it at once).
    async fn try_lead(&self) -> Option<PgConnection> {
        let mut conn = match self.store.pool().acquire().await {
            Ok(conn) => conn.detach(),
            Err(err) => {
                tracing::warn!(error = %err, "reconciler cannot reach the database");
                return None;
            }
        };
        let locked: Result<bool, _> = sqlx::query_scalar("select pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await;
        match locked {
            Ok(true) => {
                tracing::info!("this process now leads the reconciler");
                Some(conn)
            }
            Ok(false) => None,
            Err(err) => {
                tracing::warn!(error = %err, "reconciler lock query failed");
                None
            }
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
