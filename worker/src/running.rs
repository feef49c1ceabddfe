//! The jobs this process runs, each with the signal that stops it
//! ([`Stop`]), and the listener that fires it when a client cancels one.
//!
//! `POST /v1/jobs/{id}/cancel` on a running job sets `cancel_requested_at`,
//! and a trigger sends `pg_notify('job_cancel_requested', <job id>)` when that
//! commits. Each worker process holds one `LISTEN` connection
//! ([`follow_cancellations`]) and fans a notice out in memory to the runs of
//! that job it has ([`Running::cancel`]); runs of other workers are theirs.
//! A notice sent while the listener was away is lost, so on every
//! (re)connect it asks the database which of its runs had a cancel requested;
//! and each run's heartbeat reads `cancel_requested_at` too (`crate::lease`),
//! the fallback when even that fails.

use jobs_domain::{JobId, JobStore};
use jobs_runtime::server::Stopping;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The channel the cancel trigger notifies (migration `…_leases_and_cancellation.sql`).
pub const CANCEL_CHANNEL: &str = "job_cancel_requested";

/// How long the listener waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Why a run was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A client asked to cancel the job.
    Cancelled,
    /// The attempt lost the job's lease: its outcome can no longer be written.
    LeaseLost,
}

/// The signal that stops one run: fired once, with the first reason given.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    why: Arc<OnceLock<Why>>,
}

impl Stop {
    /// Tells the run to stop; the first reason given is kept.
    pub fn stop(&self, why: Why) {
        let _ = self.why.set(why);
        self.token.cancel();
    }

    /// Why the run was told to stop, if it was.
    pub fn why(&self) -> Option<Why> {
        self.why.get().copied()
    }

    /// True once the run was told to stop.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the run is told to stop.
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// A token for the handler, fired with this one; the handler cannot fire it back.
    pub fn handler_token(&self) -> CancellationToken {
        self.token.child_token()
    }
}

type Runs = HashMap<JobId, Vec<(u64, Stop)>>;

/// The runs of this process by job, shared by the deliveries and the listener.
#[derive(Debug, Clone, Default)]
pub struct Running {
    runs: Arc<Mutex<Runs>>,
    next: Arc<AtomicU64>,
}

/// One run's place in [`Running`], left when dropped.
#[derive(Debug)]
pub struct Registration {
    running: Running,
    job: JobId,
    key: u64,
    stop: Stop,
}

impl Registration {
    /// The run's stop signal.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut runs = self.running.lock();
        if let Some(entries) = runs.get_mut(&self.job) {
            entries.retain(|(key, _)| *key != self.key);
            if entries.is_empty() {
                runs.remove(&self.job);
            }
        }
    }
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, Runs> {
        // A panic while holding the lock leaves the map consistent: each change is one call.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a run of `job`; it stays registered until the registration is dropped.
    pub fn register(&self, job: JobId) -> Registration {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let stop = Stop::default();
        self.lock()
            .entry(job)
            .or_default()
            .push((key, stop.clone()));
        Registration {
            running: self.clone(),
            job,
            key,
            stop,
        }
    }

    /// Stops every run of `job` in this process as cancelled; returns how many.
    pub fn cancel(&self, job: JobId) -> usize {
        let runs = self.lock();
        let Some(entries) = runs.get(&job) else {
            return 0;
        };
        for (_, stop) in entries {
            stop.stop(Why::Cancelled);
        }
        entries.len()
    }

    /// The jobs this process runs now.
    pub fn jobs(&self) -> Vec<JobId> {
        self.lock().keys().copied().collect()
    }
}

/// Listens on [`CANCEL_CHANNEL`] on a connection of its own until
/// `stopping`, stopping the runs of each job named. On every (re)connect it
/// stops the runs whose cancel was requested while it was not listening.
/// While it cannot listen, heartbeats still find cancel requests.
pub async fn follow_cancellations(running: Running, jobs: JobStore, mut stopping: Stopping) {
    // The listener holds one pooled connection for good; a pool of one would have none left.
    if jobs.pool().options().get_max_connections() < 2 {
        tracing::warn!(
            "DATABASE_MAX_CONNECTIONS is 1, too few to listen for cancel requests: \
             a running job hears of its cancel at its next heartbeat"
        );
        return;
    }
    tokio::select! {
        () = listen(&running, &jobs) => {}
        () = &mut stopping => {}
    }
}

async fn listen(running: &Running, jobs: &JobStore) {
    loop {
        match listen_once(running, jobs).await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(error = %err, "not hearing cancel requests; retrying (heartbeats still find them)");
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
}

/// Listens until the connection fails (an error) or the pool is closed.
async fn listen_once(running: &Running, jobs: &JobStore) -> Result<(), sqlx::Error> {
    if jobs.pool().is_closed() {
        return Ok(());
    }
    let mut listener = PgListener::connect_with(jobs.pool()).await?;
    listener.listen(CANCEL_CHANNEL).await?;
    // Listening from here on; a request before it is found by asking.
    catch_up(running, jobs).await;
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => match notice.payload().parse::<uuid::Uuid>() {
                Ok(id) => {
                    let stopped = running.cancel(JobId(id));
                    if stopped > 0 {
                        tracing::info!(job_id = %id, "cancel requested; stopping the job's handler");
                    }
                }
                Err(_) => {
                    tracing::warn!(
                        payload = notice.payload(),
                        "a cancel notice names no job id; asking instead"
                    );
                    catch_up(running, jobs).await;
                }
            },
            // Lost and listening again already: what was said meanwhile is lost.
            Ok(None) => catch_up(running, jobs).await,
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// Stops the runs of this process whose cancel was requested; a failure is
/// left to the heartbeats.
async fn catch_up(running: &Running, jobs: &JobStore) {
    let mine = running.jobs();
    if mine.is_empty() {
        return;
    }
    match jobs.cancel_requested(&mine).await {
        Ok(requested) => {
            for id in requested {
                if running.cancel(id) > 0 {
                    tracing::info!(job_id = %id, "cancel requested while not listening; stopping the job's handler");
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot ask for cancel requests; heartbeats will find them");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_stops_every_run_of_its_job_and_only_those() {
        let running = Running::default();
        let job = JobId::new();
        let first = running.register(job);
        let second = running.register(job);
        let other = running.register(JobId::new());
        assert_eq!(running.cancel(job), 2);
        for run in [&first, &second] {
            assert_eq!(run.stop().why(), Some(Why::Cancelled));
        }
        assert!(!other.stop().is_stopped());
        assert_eq!(running.cancel(JobId::new()), 0);
    }

    #[test]
    fn a_dropped_registration_leaves_the_map() {
        let running = Running::default();
        let job = JobId::new();
        let first = running.register(job);
        let second = running.register(job);
        drop(first);
        assert_eq!(running.jobs(), [job]);
        drop(second);
        assert!(running.jobs().is_empty());
        assert_eq!(running.cancel(job), 0);
    }

    #[test]
    fn the_first_reason_stands_and_the_handler_cannot_stop_the_run() {
        let stop = Stop::default();
        let handler = stop.handler_token();
        handler.cancel();
        assert!(!stop.is_stopped(), "the handler's token is a child");
        let handler = stop.handler_token();
        stop.stop(Why::LeaseLost);
        stop.stop(Why::Cancelled);
        assert_eq!(stop.why(), Some(Why::LeaseLost));
        assert!(handler.is_cancelled());
    }
}
