//! Group commit: concurrent calls of one store operation coalesced into
//! batches, each written by one statement (so one commit and one WAL flush
//! for the batch instead of one per call).
//!
//! A batch forms while earlier batches are being written: a call that finds
//! a free writing slot goes at once (with whatever queued meanwhile, up to
//! [`GroupCommit::max_batch`], or what arrives within
//! [`GroupCommit::window`]); under load, calls queue behind the
//! [`GroupCommit::in_flight`] batches being written and leave together. So a
//! lone call waits for nothing, and a busy store writes few large statements.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// How a store groups concurrent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// The most calls one statement carries.
    pub max_batch: usize,
    /// How long a batch waits for more calls after its first; zero takes
    /// only what already queued.
    pub window: Duration,
    /// Batches of one operation written at once; more calls queue and leave
    /// in the next batch. At least 1.
    pub in_flight: usize,
}

impl GroupCommit {
    /// Batches of up to 128, no window, 2 in flight: what the benchmarks in
    /// `bench/` were measured with.
    pub const DEFAULT: GroupCommit = GroupCommit {
        max_batch: 128,
        window: Duration::ZERO,
        in_flight: 2,
    };
}

/// A call waiting for its batch, with where its answer goes.
type Call<T, R> = (T, oneshot::Sender<R>);

/// Coalesces calls into batches written by one function; each call gets its
/// own answer. Cheap to clone; the batching task ends with the last clone.
pub(crate) struct Batcher<T, R> {
    queue: mpsc::UnboundedSender<Call<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the batching task on the current Tokio runtime. `write` gets a
    /// batch in arrival order and answers each call, in the same order.
    pub(crate) fn start<F, Fut>(config: GroupCommit, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (queue, calls) = mpsc::unbounded_channel();
        tokio::spawn(batch_calls(config, calls, write));
        Batcher { queue }
    }

    /// Queues `item` and waits for its batch's answer; `None` when the
    /// batching task is gone (the runtime is shutting down).
    pub(crate) async fn call(&self, item: T) -> Option<R> {
        let (answer, answered) = oneshot::channel();
        self.queue.send((item, answer)).ok()?;
        answered.await.ok()
    }
}

/// The batching task: takes a writing slot, then a batch, and writes it in a
/// task of its own, until every [`Batcher`] is dropped.
async fn batch_calls<T, R, F, Fut>(
    config: GroupCommit,
    mut calls: mpsc::UnboundedReceiver<Call<T, R>>,
    write: F,
) where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(config.in_flight.max(1)));
    let max_batch = config.max_batch.max(1);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = calls.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        if !config.window.is_zero() {
            let deadline = tokio::time::Instant::now() + config.window;
            while batch.len() < max_batch {
                match tokio::time::timeout_at(deadline, calls.recv()).await {
                    Ok(Some(call)) => batch.push(call),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        while batch.len() < max_batch {
            match calls.try_recv() {
                Ok(call) => batch.push(call),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
        let written = write(items);
        tokio::spawn(async move {
            let results = written.await;
            // A caller that went away no longer wants its answer.
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn config(max_batch: usize, window: Duration, in_flight: usize) -> GroupCommit {
        GroupCommit {
            max_batch,
            window,
            in_flight,
        }
    }

    /// The batches a test batcher wrote, in order.
    type Written = Arc<Mutex<Vec<Vec<u32>>>>;

    /// A batcher that doubles each item and records the batches it wrote,
    /// holding each write until `release` has a permit.
    fn doubling(config: GroupCommit, release: Arc<Semaphore>) -> (Batcher<u32, u32>, Written) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let batcher = Batcher::start(config, move |items: Vec<u32>| {
            let seen = seen.clone();
            let release = release.clone();
            async move {
                if let Ok(permit) = release.acquire().await {
                    permit.forget();
                }
                seen.lock().expect("not poisoned").push(items.clone());
                items.into_iter().map(|item| item * 2).collect()
            }
        });
        (batcher, batches)
    }

    #[tokio::test]
    async fn a_lone_call_is_written_at_once_and_answered() {
        let (batcher, batches) =
            doubling(config(8, Duration::ZERO, 1), Arc::new(Semaphore::new(100)));
        assert_eq!(batcher.call(21).await, Some(42));
        assert_eq!(*batches.lock().expect("not poisoned"), vec![vec![21]]);
    }

    #[tokio::test]
    async fn calls_queued_behind_a_write_leave_together_each_with_its_own_answer() {
        let release = Arc::new(Semaphore::new(0));
        let (batcher, batches) = doubling(config(8, Duration::ZERO, 1), release.clone());
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(1).await }
        });
        // The first batch is being written (held); these queue behind it.
        tokio::task::yield_now().await;
        let rest: Vec<_> = (2..=5)
            .map(|item| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(item).await })
            })
            .collect();
        tokio::task::yield_now().await;
        release.add_permits(2);
        assert_eq!(first.await.expect("joined"), Some(2));
        for (item, call) in (2..=5).zip(rest) {
            assert_eq!(call.await.expect("joined"), Some(item * 2));
        }
        assert_eq!(
            *batches.lock().expect("not poisoned"),
            vec![vec![1], vec![2, 3, 4, 5]]
        );
    }

    #[tokio::test]
    async fn a_batch_never_carries_more_than_max_batch_calls() {
        let release = Arc::new(Semaphore::new(0));
        let (batcher, batches) = doubling(config(3, Duration::ZERO, 1), release.clone());
        let calls: Vec<_> = (1..=7)
            .map(|item| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(item).await })
            })
            .collect();
        tokio::task::yield_now().await;
        release.add_permits(10);
        for (item, call) in (1..=7).zip(calls) {
            assert_eq!(call.await.expect("joined"), Some(item * 2));
        }
        let batches = batches.lock().expect("not poisoned");
        assert!(batches.iter().all(|batch| batch.len() <= 3), "{batches:?}");
        assert_eq!(batches.concat(), (1..=7).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_gathers_the_calls_arriving_within_it_into_one_batch() {
        let (batcher, batches) = doubling(
            config(8, Duration::from_millis(5), 1),
            Arc::new(Semaphore::new(100)),
        );
        let early = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(1).await }
        });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let within = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(2).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let after = batcher.call(3).await;
        assert_eq!(early.await.expect("joined"), Some(2));
        assert_eq!(within.await.expect("joined"), Some(4));
        assert_eq!(after, Some(6));
        assert_eq!(
            *batches.lock().expect("not poisoned"),
            vec![vec![1, 2], vec![3]]
        );
    }
}
