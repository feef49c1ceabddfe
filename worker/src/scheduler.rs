//! The scheduler: the reconciler's leader enqueues the jobs of periodic
//! schedules whose occurrence has come, and says when the next one comes.
//!
//! Exactly once per occurrence, across leader failover: an occurrence's job
//! is stored in the same statement that moves the schedule on
//! (`ScheduleStore::enqueue`), so a leader killed mid-pass has written both
//! or neither, and a second leader (while the first one's statement still
//! runs) waits on the schedule's row, then finds it moved on. The job's
//! idempotency key is its slot (`schedule:<name>:<slot>`) besides, so
//! whatever sets a schedule back onto a slot already enqueued (a replace or
//! a resume computed on a clock behind the database's) finds that job
//! instead of storing a second. Of the occurrences missed while no leader
//! ran, only the latest is enqueued
//! (`CronSchedule::due` says why).

use jobs_domain::{CronSchedule, DueSchedule, Enqueued, ScheduleStore, StoreError};
use jobs_job_types::JobTypeCatalog;
use jobs_runtime::JobPublisher;
use std::time::Duration;

/// Most schedules enqueued per pass; a full batch makes the next pass follow at once.
const BATCH_SIZE: u32 = 100;

/// Enqueues due occurrences and hands their jobs to Pub/Sub.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: ScheduleStore,
    publisher: JobPublisher,
    job_types: JobTypeCatalog,
}

impl Scheduler {
    /// A scheduler over `store`, publishing new jobs with `publisher`;
    /// `job_types` gives the concurrency key of a tenant's type's jobs.
    pub fn new(store: ScheduleStore, publisher: JobPublisher, job_types: JobTypeCatalog) -> Self {
        Scheduler {
            store,
            publisher,
            job_types,
        }
    }

    /// One pass: enqueues the job of every due occurrence (a batch at most)
    /// and publishes the new ones at once, without waiting for the
    /// reconciler's publish grace. Returns how long until the next schedule
    /// comes due (zero when a full batch leaves more due), `None` when no
    /// schedule is active.
    pub async fn enqueue_due(&self) -> Result<Option<Duration>, StoreError> {
        let due = self.store.due(BATCH_SIZE).await?;
        for schedule in &due {
            match self.enqueue(schedule).await {
                Ok(()) => {}
                Err(err @ (StoreError::Unavailable(_) | StoreError::Contended)) => return Err(err),
                // One schedule's failure must not hold up the others.
                Err(err) => {
                    tracing::error!(tenant = %schedule.tenant, schedule = %schedule.name, error = %err,
                        "cannot enqueue the schedule's occurrence; retrying next pass");
                }
            }
        }
        if due.len() == BATCH_SIZE as usize {
            return Ok(Some(Duration::ZERO));
        }
        self.store.next_due_in().await
    }

    /// Enqueues one schedule's due occurrence.
    async fn enqueue(&self, due: &DueSchedule) -> Result<(), StoreError> {
        let cron = match CronSchedule::parse(&due.cron, &due.timezone, due.now) {
            Ok(cron) => cron,
            Err(errors) => {
                let reasons: Vec<String> = errors.into_iter().map(|error| error.message).collect();
                tracing::error!(tenant = %due.tenant, schedule = %due.name, reasons = %reasons.join("; "),
                    "a stored schedule's pattern no longer parses; it enqueues nothing until replaced");
                return Ok(());
            }
        };
        let Some(occurrence) = cron.due(due.next_run_at, due.now) else {
            return Ok(());
        };
        let slot = occurrence.slot;
        // The key value its job counts against, as a submit would store it
        // (the template was checked as a submit when the schedule was put).
        let mut due = due.clone();
        if jobs_job_types::check_name(&due.job_type).is_ok()
            && let Some(defined) = self.job_types.get(due.tenant, &due.job_type).await?
        {
            due.concurrency_key = defined.concurrency_key(&due.payload).map(|(_, key)| key);
        }
        let due = &due;
        match self.store.enqueue(due, occurrence).await? {
            Enqueued::Created(job) => {
                tracing::info!(tenant = %due.tenant, schedule = %due.name, %slot, job_id = %job.id,
                    "schedule enqueued its job");
                self.publisher.hand_off(&job);
            }
            Enqueued::AlreadyEnqueued => {
                tracing::info!(tenant = %due.tenant, schedule = %due.name, %slot,
                    "the occurrence's job was enqueued before; the schedule moved on");
            }
            Enqueued::Changed => {
                tracing::debug!(tenant = %due.tenant, schedule = %due.name,
                    "the schedule changed since it was read; nothing enqueued");
            }
        }
        Ok(())
    }
}
