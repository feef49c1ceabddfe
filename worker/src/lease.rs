//! Heartbeat leases. A claim leases its job for [`HEARTBEATS_AHEAD`]
//! heartbeats, and while the handler runs (and its outcome is written) the
//! worker extends the lease every `LEASE_HEARTBEAT_SECONDS` to that far
//! ahead ([`keep`]), so a lease no longer has to outlive the job's whole
//! timeout: a job whose worker died is claimed again within about three
//! heartbeats plus a reconciler pass. The handler's own timeout still bounds
//! the run.
//!
//! Each heartbeat is one statement guarded by the claim
//! (`JobStore::extend_lease`), which also says whether a client asked to
//! cancel the job: the fallback for a cancel notice the worker missed
//! (`crate::running`). A heartbeat that finds the lease gone (taken over,
//! dead-lettered, cancelled) stops the handler, whose outcome could no
//! longer be written anyway.

use crate::running::{Stop, Why};
use jobs_domain::StoreError;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How many heartbeats ahead a lease reaches: two heartbeats may fail (a
/// slow statement, a dropped connection) before the lease runs out.
pub const HEARTBEATS_AHEAD: u32 = 3;

/// How a running job's lease is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// The time between heartbeats.
    pub every: Duration,
}

impl LeasePolicy {
    /// The shortest heartbeat allowed: shorter ones would mostly load the database.
    pub const SHORTEST: Duration = Duration::from_millis(50);
    /// The longest heartbeat allowed: a push's ack deadline is at most 600 s.
    pub const LONGEST: Duration = Duration::from_secs(600);

    /// How long a claim, and each heartbeat, leases the job from now.
    pub fn lease(&self) -> Duration {
        self.every.saturating_mul(HEARTBEATS_AHEAD)
    }
}

/// What one heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// The lease is extended.
    Held,
    /// The lease is extended, and a client asked to cancel the job.
    CancelRequested,
    /// The attempt no longer holds the job.
    Lost,
}

impl Beat {
    /// The beat `JobStore::extend_lease` reported.
    pub fn of(extended: Option<bool>) -> Beat {
        match extended {
            Some(false) => Beat::Held,
            Some(true) => Beat::CancelRequested,
            None => Beat::Lost,
        }
    }
}

/// Beats every `every` (the first one `every` after the start) until `done`
/// fires or a beat finds the lease lost, which stops the run
/// ([`Why::LeaseLost`]). A beat that finds a cancel requested stops it
/// ([`Why::Cancelled`]) and goes on beating: the outcome is yet to be
/// written under the lease. A beat that fails (the database is away) is
/// logged and the next one tries again; a slow beat delays the next rather
/// than bunching them.
pub async fn keep<F, Fut>(every: Duration, mut beat: F, stop: Stop, done: CancellationToken)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Beat, StoreError>>,
{
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = done.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match beat().await {
            Ok(Beat::Held) => {}
            Ok(Beat::CancelRequested) => {
                if stop.why().is_none() {
                    tracing::info!(
                        "a heartbeat found the job's cancel requested; stopping the handler"
                    );
                }
                stop.stop(Why::Cancelled);
            }
            // The outcome was written while this beat ran: nothing was lost.
            Ok(Beat::Lost) if done.is_cancelled() => return,
            Ok(Beat::Lost) => {
                tracing::warn!(
                    "a heartbeat found the lease gone (taken over, dead-lettered or cancelled); stopping the handler"
                );
                stop.stop(Why::LeaseLost);
                return;
            }
            Err(StoreError::Unavailable(err)) => {
                tracing::debug!(error = %err, "heartbeat failed; the next one tries again");
            }
            Err(err) => tracing::warn!(error = %err, "heartbeat failed; the next one tries again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const EVERY: Duration = Duration::from_secs(10);

    type BeatFuture = std::pin::Pin<Box<dyn Future<Output = Result<Beat, StoreError>> + Send>>;
    type Times = Arc<Mutex<Vec<Duration>>>;

    /// Beats answering `answers` in turn (then `Held`), each taking `delay`,
    /// recording when each began.
    fn scripted(
        answers: Vec<Result<Beat, StoreError>>,
        delay: Duration,
    ) -> (impl FnMut() -> BeatFuture, Times) {
        let start = Instant::now();
        let times = Times::default();
        let seen = times.clone();
        let mut answers = answers.into_iter();
        let beat = move || {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(start.elapsed());
            let answer = answers.next().unwrap_or(Ok(Beat::Held));
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                answer
            }) as BeatFuture
        };
        (beat, times)
    }

    fn times(recorded: &Times) -> Vec<u64> {
        recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(Duration::as_secs)
            .collect()
    }

    #[test]
    fn the_lease_reaches_three_heartbeats_ahead() {
        let policy = LeasePolicy {
            every: Duration::from_millis(200),
        };
        assert_eq!(policy.lease(), Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn beats_come_every_interval_from_one_interval_after_the_start_until_done() {
        let (beat, recorded) = scripted(Vec::new(), Duration::ZERO);
        let stop = Stop::default();
        let done = CancellationToken::new();
        let keeper = tokio::spawn(keep(EVERY, beat, stop.clone(), done.clone()));
        tokio::time::sleep(Duration::from_secs(35)).await;
        done.cancel();
        keeper.await.expect("the loop ends");
        assert_eq!(times(&recorded), [10, 20, 30]);
        assert_eq!(stop.why(), None, "nothing stopped the run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_stops_the_run_and_the_beats() {
        let (beat, recorded) = scripted(vec![Ok(Beat::Held), Ok(Beat::Lost)], Duration::ZERO);
        let stop = Stop::default();
        let done = CancellationToken::new();
        let keeper = tokio::spawn(keep(EVERY, beat, stop.clone(), done));
        tokio::time::timeout(Duration::from_secs(60), keeper)
            .await
            .expect("the loop ends by itself")
            .expect("no panic");
        assert_eq!(times(&recorded), [10, 20]);
        assert_eq!(stop.why(), Some(Why::LeaseLost));
        assert!(stop.is_stopped());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_request_stops_the_run_and_the_lease_is_still_kept() {
        let (beat, recorded) = scripted(vec![Ok(Beat::CancelRequested)], Duration::ZERO);
        let stop = Stop::default();
        let done = CancellationToken::new();
        let keeper = tokio::spawn(keep(EVERY, beat, stop.clone(), done.clone()));
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(stop.why(), Some(Why::Cancelled));
        tokio::time::sleep(Duration::from_secs(10)).await;
        done.cancel();
        keeper.await.expect("the loop ends");
        assert_eq!(
            times(&recorded),
            [10, 20],
            "beats go on until the outcome is written"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_beats_do_not_stop_the_run_and_a_slow_one_delays_the_next() {
        let unavailable = || Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        let (beat, recorded) =
            scripted(vec![unavailable(), unavailable()], Duration::from_secs(15));
        let stop = Stop::default();
        let done = CancellationToken::new();
        let keeper = tokio::spawn(keep(EVERY, beat, stop.clone(), done.clone()));
        tokio::time::sleep(Duration::from_secs(56)).await;
        done.cancel();
        keeper.await.expect("the loop ends");
        // Each beat takes 15 s: the next starts as soon as one ends, not in a burst.
        assert_eq!(times(&recorded), [10, 25, 40, 55]);
        assert_eq!(stop.why(), None);
    }
}
