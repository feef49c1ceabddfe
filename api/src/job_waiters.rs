//! Requests waiting for a job to finish (`GET /v1/jobs/{id}?wait_seconds=N`).
//!
//! A trigger (the migration `…_job_finished_notices.sql`) sends
//! `pg_notify('jobs_finished', <job id>)` when a job becomes completed,
//! failed or cancelled. Each API process listens on one connection
//! ([`JobWaiters::follow_finishes`]) and wakes, in memory, the requests
//! waiting for that id. A waiting request holds no database connection: it
//! holds a [`Waiter`], an entry in a map of job id → `watch` channel, which
//! its drop removes, so a request whose client left costs nothing after.
//!
//! A waiter registers before it reads the job, so a notice sent between its
//! read and its wait still wakes it. Every waiter is woken to read again
//! whenever the listener (re)connects, since notices may have been missed
//! while it was away, and for good when the server stops, so waits never hold
//! up a graceful shutdown.

use jobs_domain::JobId;
use jobs_runtime::Metrics;
use jobs_runtime::server::Stopping;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// The channel the trigger notifies, with a job's id as the payload.
pub const FINISHED_CHANNEL: &str = "jobs_finished";

/// How long the listener waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Fewest pooled connections with which a listener is started: it keeps one
/// for good, the API-key listener another, and requests need at least one.
const MIN_POOL_TO_LISTEN: u32 = 3;

/// What a wait leaves of the request timeout to read the job and answer.
const WAIT_MARGIN: Duration = Duration::from_secs(1);

/// The longest wait that still answers within `request_timeout`
/// (HTTP_REQUEST_TIMEOUT_SECONDS): a second less, or half of it when it is
/// that short.
pub fn max_wait(request_timeout: Duration) -> Duration {
    request_timeout
        .saturating_sub(WAIT_MARGIN)
        .max(request_timeout / 2)
}

/// The waiters of one process, by job id; clones share them.
#[derive(Clone)]
pub struct JobWaiters {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Mutex<HashMap<JobId, Slot>>,
    /// Its version is bumped to wake every waiter; its value turns true when the server stops.
    everyone: watch::Sender<bool>,
    metrics: Metrics,
}

/// The waiters of one job: the channel that wakes them, and how many hold it.
struct Slot {
    finished: watch::Sender<()>,
    waiters: usize,
}

/// Why a [`Waiter::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A notice said the job is final: read it.
    Finished,
    /// Notices may have been missed (the listener reconnected): read the job again.
    Missed,
    /// The server is stopping: answer with the job as it is.
    Stopping,
}

impl JobWaiters {
    /// No waiters yet; those that have begun to wait are the
    /// `jobs_waiting_requests` gauge of `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        JobWaiters {
            inner: Arc::new(Inner {
                jobs: Mutex::new(HashMap::new()),
                everyone: watch::Sender::new(false),
                metrics,
            }),
        }
    }

    /// Registers a wait for job `id`; register before reading the job, so
    /// no notice between the read and the wait is lost. Dropping the
    /// [`Waiter`] unregisters it.
    pub fn register(&self, id: JobId) -> Waiter {
        let finished = {
            let mut jobs = self.inner.lock();
            let slot = jobs.entry(id).or_insert_with(|| Slot {
                finished: watch::Sender::new(()),
                waiters: 0,
            });
            slot.waiters += 1;
            slot.finished.subscribe()
        };
        Waiter {
            inner: self.inner.clone(),
            id,
            finished: Some(finished),
            everyone: self.inner.everyone.subscribe(),
            counted: false,
        }
    }

    /// Wakes the waiters of job `id`, which a notice said is final.
    pub fn finished(&self, id: JobId) {
        if let Some(slot) = self.inner.lock().get(&id) {
            slot.finished.send_replace(());
        }
    }

    /// Wakes every waiter to read its job again.
    pub fn wake_all(&self) {
        self.inner.everyone.send_modify(|_| {});
    }

    /// Wakes every waiter for good: waits end at once from now on.
    pub fn stop(&self) {
        self.inner.everyone.send_replace(true);
    }

    /// How many job ids have waiters.
    pub fn jobs_waited_on(&self) -> usize {
        self.inner.lock().len()
    }

    /// Listens on [`FINISHED_CHANNEL`] on a connection of its own until
    /// `stopping`, waking the waiters of each finished job; then wakes every
    /// waiter for good. Whenever it (re)connects it wakes every waiter, since
    /// a notice may have gone unheard meanwhile; while it cannot connect,
    /// waits still end at their deadline.
    pub async fn follow_finishes(self, pool: PgPool, mut stopping: Stopping) {
        if pool.options().get_max_connections() < MIN_POOL_TO_LISTEN {
            tracing::warn!(
                "DATABASE_MAX_CONNECTIONS is below {MIN_POOL_TO_LISTEN}, too few to listen for \
                 finished jobs: a wait_seconds request answers at the end of its wait"
            );
            stopping.await;
        } else {
            tokio::select! {
                // The pool closed: waits still end when the server stops.
                () = self.listen(&pool) => stopping.await,
                () = &mut stopping => {}
            }
        }
        self.stop();
    }

    async fn listen(&self, pool: &PgPool) {
        loop {
            match self.listen_once(pool).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "not hearing finished jobs; retrying");
                    self.wake_all();
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        }
    }

    /// Listens until the connection fails (an error) or the pool is closed.
    async fn listen_once(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        if pool.is_closed() {
            return Ok(());
        }
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(FINISHED_CHANNEL).await?;
        // Listening from here on; a job that finished before is seen by reading again.
        self.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => match Uuid::parse_str(notice.payload()) {
                    Ok(id) => self.finished(JobId(id)),
                    Err(_) => {
                        tracing::warn!(
                            payload = notice.payload(),
                            "not a job id; waking every waiter"
                        );
                        self.wake_all();
                    }
                },
                // Lost and listening again already: what was said meanwhile is lost.
                Ok(None) => self.wake_all(),
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Slot>> {
        // The map stays consistent through a panic: every change is one step.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request's wait for one job; dropping it (the request answered, or its
/// client gone) removes it.
pub struct Waiter {
    inner: Arc<Inner>,
    id: JobId,
    // Taken in `drop`, under the map's lock.
    finished: Option<watch::Receiver<()>>,
    everyone: watch::Receiver<bool>,
    // In the gauge since its first wait, i.e. once its request read the job.
    counted: bool,
}

impl Waiter {
    /// True once the server is stopping: answer without waiting.
    pub fn stopping(&self) -> bool {
        *self.everyone.borrow()
    }

    /// Waits for the next reason to read the job again: a notice that it
    /// finished, notices possibly missed, or the server stopping (at once
    /// when it already is). Cancel-safe: a wake is not lost when the
    /// future is dropped, e.g. by a timeout.
    pub async fn wait(&mut self) -> Wake {
        if !self.counted {
            self.counted = true;
            self.inner.metrics.wait_began();
        }
        // Only looked at: an unseen wake must still end the `changed` below.
        if *self.everyone.borrow() {
            return Wake::Stopping;
        }
        let Some(finished) = self.finished.as_mut() else {
            return Wake::Stopping;
        };
        tokio::select! {
            // Its sender lives as long as this waiter's slot, so it cannot close.
            _ = finished.changed() => Wake::Finished,
            _ = self.everyone.changed() => {
                if *self.everyone.borrow_and_update() {
                    Wake::Stopping
                } else {
                    Wake::Missed
                }
            }
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        {
            let mut jobs = self.inner.lock();
            // The receiver goes under the lock, so a registration cannot reuse a slot being removed.
            self.finished = None;
            if let Some(slot) = jobs.get_mut(&self.id) {
                slot.waiters -= 1;
                if slot.waiters == 0 {
                    jobs.remove(&self.id);
                }
            }
        }
        if self.counted {
            self.inner.metrics.wait_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn waiters() -> JobWaiters {
        JobWaiters::new(Metrics::new())
    }

    fn id() -> JobId {
        JobId(Uuid::new_v4())
    }

    /// Whether `future` is still pending after one poll (its wake already came otherwise).
    fn pending<F: Future>(future: F) -> bool {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        future.as_mut().poll(&mut context).is_pending()
    }

    fn gauge(waiters: &JobWaiters) -> Option<String> {
        waiters
            .inner
            .metrics
            .render()
            .lines()
            .find(|line| line.starts_with("jobs_waiting_requests "))
            .map(str::to_owned)
    }

    #[test]
    fn a_wait_leaves_time_to_answer_within_the_request_timeout() {
        let secs = Duration::from_secs;
        assert_eq!(max_wait(secs(600)), secs(599));
        assert_eq!(max_wait(secs(30)), secs(29));
        assert_eq!(max_wait(secs(1)), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_notice_wakes_every_waiter_of_its_job_and_no_other() {
        let waiters = waiters();
        let (job, other) = (id(), id());
        let mut first = waiters.register(job);
        let mut second = waiters.register(job);
        let mut unrelated = waiters.register(other);
        waiters.finished(job);
        assert_eq!(first.wait().await, Wake::Finished);
        assert_eq!(second.wait().await, Wake::Finished);
        assert!(pending(unrelated.wait()));
        // A notice for a job nobody waits for is dropped.
        waiters.finished(id());
        assert_eq!(waiters.jobs_waited_on(), 2);
    }

    #[tokio::test]
    async fn a_notice_between_registration_and_wait_is_not_lost() {
        let waiters = waiters();
        let job = id();
        let mut waiter = waiters.register(job);
        // The request reads the job here (still pending), then the notice comes.
        waiters.finished(job);
        assert_eq!(waiter.wait().await, Wake::Finished);
        // Heard once: the next wait waits for the next reason.
        assert!(pending(waiter.wait()));
    }

    #[tokio::test]
    async fn a_reconnect_wakes_every_waiter_to_read_again() {
        let waiters = waiters();
        let mut a = waiters.register(id());
        let mut b = waiters.register(id());
        waiters.wake_all();
        assert_eq!(a.wait().await, Wake::Missed);
        assert_eq!(b.wait().await, Wake::Missed);
        assert!(!a.stopping());
    }

    #[tokio::test]
    async fn stopping_ends_every_wait_for_good_including_later_ones() {
        let waiters = waiters();
        let mut before = waiters.register(id());
        waiters.stop();
        assert_eq!(before.wait().await, Wake::Stopping);
        assert_eq!(before.wait().await, Wake::Stopping);
        let mut after = waiters.register(id());
        assert!(after.stopping());
        assert_eq!(after.wait().await, Wake::Stopping);
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_no_registration_behind() {
        let waiters = waiters();
        let job = id();
        let first = waiters.register(job);
        let mut second = waiters.register(job);
        assert_eq!(waiters.jobs_waited_on(), 1);
        assert!(pending(second.wait()));
        assert_eq!(gauge(&waiters).as_deref(), Some("jobs_waiting_requests 1"));
        drop(first);
        assert_eq!(waiters.jobs_waited_on(), 1, "the other waiter still waits");
        // A client that leaves mid-wait: its request's future, and the wait in it, is dropped.
        let request = tokio::spawn(async move { second.wait().await });
        tokio::task::yield_now().await;
        assert!(!request.is_finished(), "nothing woke it");
        request.abort();
        assert!(request.await.is_err_and(|err| err.is_cancelled()));
        assert_eq!(waiters.jobs_waited_on(), 0);
        assert_eq!(gauge(&waiters).as_deref(), Some("jobs_waiting_requests 0"));
        // A later waiter of the same job gets a fresh slot that still hears notices.
        let mut again = waiters.register(job);
        waiters.finished(job);
        assert_eq!(again.wait().await, Wake::Finished);
    }
}
