//! The push token signing keys by `kid`. The JWKS is fetched when a token
//! names a key the cache lacks, and in the background once the keys are
//! older than the JWKS' `max-age`.
//!
//! - A lookup of a cached key takes a read lock and nothing else: it never
//!   waits for a fetch, however slow the JWKS.
//! - One fetch at a time: the `flight` mutex is held by the fetch alone.
//!   Lookups of an unknown kid queue on it, then use the fetch that ran while
//!   they queued instead of starting their own.
//! - At most one fetch per [`MIN_FETCH_INTERVAL`], whether it worked or not,
//!   so forged kids cannot turn pushes into JWKS requests.
//! - A fetch runs in its own task: a caller that gives up (its client hung
//!   up) does not abort it, so the next caller cannot start another.
//! - A failed fetch keeps the cached keys: a JWKS outage only affects tokens
//!   signed with a key the cache has never seen.

use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Least time between the end of one JWKS fetch and the start of the next.
pub(super) const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long fetched keys stay fresh when the JWKS sends no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Longest fetched keys stay fresh whatever the `max-age`, so that a key
/// withdrawn from the JWKS stops verifying within a day.
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The keys one fetch returned.
#[derive(Debug)]
pub(super) struct FetchedKeys {
    /// The keys by `kid`.
    pub(super) keys: HashMap<String, Arc<DecodingKey>>,
    /// How long the JWKS says they stay fresh, if it says.
    pub(super) max_age: Option<Duration>,
}

/// Where the keys come from: the JWKS over HTTP, or a fake in tests.
pub(super) trait KeySource: Send + Sync + 'static {
    /// Why a fetch failed, in words for the log and the 503.
    type Error: fmt::Display;

    /// Fetches the current key set.
    fn fetch(&self) -> impl Future<Output = Result<FetchedKeys, Self::Error>> + Send;
}

/// Why no key could be had for a `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub(super) enum KeyError {
    /// The key set, fetched fine last time, does not list the kid: refuse the token.
    #[error("the token's signing key (`kid`) is not in the JWKS")]
    Unknown,
    /// The last fetch failed and the kid is not cached: the token cannot be judged yet; retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// The signing keys, looked up concurrently without waiting on each other.
pub(super) struct KeyCache<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    source: S,
    state: RwLock<State>,
    // Held by the one task that fetches, and only by it.
    flight: Arc<Mutex<()>>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// Until when the keys need no refresh; `None` once stale.
    fresh_until: Option<Instant>,
    /// When the last fetch ended, well or not: the throttle counts from here.
    last_fetch: Option<Instant>,
    /// Why the last fetch failed, if the last one did.
    last_error: Option<String>,
    /// Fetches ended so far: a lookup that sees it move knows one ran while it queued.
    fetches: u64,
}

impl State {
    fn may_fetch(&self, now: Instant) -> bool {
        self.last_fetch
            .is_none_or(|last| now.duration_since(last) >= MIN_FETCH_INTERVAL)
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.fresh_until.is_none_or(|until| now >= until)
    }
}

impl<S: KeySource> KeyCache<S> {
    /// An empty cache over `source`; the first lookup fetches.
    pub(super) fn new(source: S) -> Self {
        KeyCache {
            inner: Arc::new(Inner {
                source,
                state: RwLock::new(State::default()),
                flight: Arc::new(Mutex::new(())),
            }),
        }
    }

    /// The key named `kid`, fetching the JWKS first if it is not cached and
    /// the throttle allows.
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        let seen = {
            let state = self.inner.read();
            if let Some(key) = state.keys.get(kid) {
                let key = Arc::clone(key);
                let now = Instant::now();
                let due = state.is_stale(now) && state.may_fetch(now);
                drop(state);
                if due {
                    self.refresh_in_background();
                }
                return Ok(key);
            }
            state.fetches
        };
        let flight = Arc::clone(&self.inner.flight).lock_owned().await;
        let due = {
            let state = self.inner.read();
            state.fetches == seen && state.may_fetch(Instant::now())
        };
        if due {
            let fetch = spawn_fetch(Arc::clone(&self.inner), flight);
            if let Err(err) = fetch.await {
                tracing::error!(error = %err, "the JWKS fetch task failed");
            }
        } else {
            drop(flight);
        }
        let state = self.inner.read();
        match (state.keys.get(kid), &state.last_error) {
            (Some(key), _) => Ok(Arc::clone(key)),
            (None, Some(err)) => Err(KeyError::Unavailable(err.clone())),
            (None, None) => Err(KeyError::Unknown),
        }
    }

    /// Starts a fetch unless one is in flight; the caller goes on with the cached key.
    fn refresh_in_background(&self) {
        let Ok(flight) = Arc::clone(&self.inner.flight).try_lock_owned() else {
            return;
        };
        // Another fetch may have ended between the caller's look and the lock.
        let due = {
            let state = self.inner.read();
            let now = Instant::now();
            state.is_stale(now) && state.may_fetch(now)
        };
        if due {
            // Detached: its result lands in the cache.
            drop(spawn_fetch(Arc::clone(&self.inner), flight));
        }
    }

    /// Fetches ended so far.
    #[cfg(test)]
    fn fetches_ended(&self) -> u64 {
        self.inner.read().fetches
    }
}

/// Fetches in a task of its own, holding `flight` until the result is stored.
fn spawn_fetch<S: KeySource>(inner: Arc<Inner<S>>, flight: OwnedMutexGuard<()>) -> JoinHandle<()> {
    tokio::spawn(async move {
        inner.fetch().await;
        drop(flight);
    })
}

impl<S: KeySource> Inner<S> {
    async fn fetch(&self) {
        let fetched = self.source.fetch().await;
        let now = Instant::now();
        let mut state = self.write();
        state.fetches += 1;
        state.last_fetch = Some(now);
        match fetched {
            Ok(fetched) => {
                tracing::info!(
                    keys = fetched.keys.len(),
                    "fetched the push token signing keys"
                );
                let fresh_for = fetched.max_age.unwrap_or(DEFAULT_MAX_AGE).min(MAX_MAX_AGE);
                state.keys = fetched.keys;
                state.fresh_until = now.checked_add(fresh_for);
                state.last_error = None;
            }
            Err(err) => {
                let err = err.to_string();
                tracing::warn!(
                    error = %err,
                    cached_keys = state.keys.len(),
                    "the push token signing keys cannot be fetched; keeping the cached ones"
                );
                state.last_error = Some(err);
            }
        }
    }
}

impl<S> Inner<S> {
    // The state stays consistent through a panic (each write is a plain
    // assignment), so a poisoned lock is used as is.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: fmt::Debug> fmt::Debug for KeyCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.read();
        f.debug_struct("KeyCache")
            .field("source", &self.inner.source)
            .field("kids", &state.keys.keys().collect::<Vec<_>>())
            .field("last_error", &state.last_error)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::pin::pin;
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::Poll;
    use tokio::sync::Semaphore;

    /// A JWKS that serves the kids it is told to (or fails), counts the
    /// fetches it starts and, while closed, holds them until opened.
    struct FakeJwks {
        kids: StdMutex<Option<Vec<&'static str>>>,
        max_age: StdMutex<Option<Duration>>,
        started: AtomicUsize,
        closed: AtomicBool,
        gate: Semaphore,
    }

    impl FakeJwks {
        fn serving(kids: &[&'static str]) -> Arc<Self> {
            let jwks = Arc::new(FakeJwks {
                kids: StdMutex::new(None),
                max_age: StdMutex::new(None),
                started: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                gate: Semaphore::new(0),
            });
            jwks.serve(kids);
            jwks
        }

        fn serve(&self, kids: &[&'static str]) {
            *self.kids.lock().expect("kids") = Some(kids.to_vec());
        }

        fn fail(&self) {
            *self.kids.lock().expect("kids") = None;
        }

        fn close(&self) {
            self.closed.store(true, Ordering::SeqCst);
        }

        fn open(&self) {
            self.closed.store(false, Ordering::SeqCst);
            self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }

        fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }
    }

    impl KeySource for Arc<FakeJwks> {
        type Error = String;

        async fn fetch(&self) -> Result<FetchedKeys, String> {
            self.started.fetch_add(1, Ordering::SeqCst);
            if self.closed.load(Ordering::SeqCst) {
                let _permit = self.gate.acquire().await;
            }
            let kids = self.kids.lock().expect("kids").clone();
            let kids = kids.ok_or_else(|| "the fake JWKS is down".to_owned())?;
            let keys = kids
                .into_iter()
                .map(|kid| (kid.to_owned(), Arc::new(DecodingKey::from_secret(b"k"))))
                .collect();
            let max_age = *self.max_age.lock().expect("max age");
            Ok(FetchedKeys { keys, max_age })
        }
    }

    fn cache_over(jwks: &Arc<FakeJwks>) -> KeyCache<Arc<FakeJwks>> {
        KeyCache::new(Arc::clone(jwks))
    }

    /// Lets the other tasks run until `done` holds (spawned fetches included).
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the condition never held");
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_of_an_uncached_kid_all_wait_for_one_fetch() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        jwks.close();
        let lookups = futures::future::join_all((0..8).map(|_| cache.key("a")));
        let release = async {
            until(|| jwks.started() == 1).await;
            jwks.open();
        };
        let (found, ()) = tokio::join!(lookups, release);
        assert!(found.iter().all(Result::is_ok), "{found:?}");
        assert_eq!(jwks.started(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_makes_at_most_one_fetch_per_interval() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        cache.key("a").await.expect("fetched");
        for _ in 0..5 {
            assert_eq!(cache.key("forged").await.err(), Some(KeyError::Unknown));
        }
        assert_eq!(jwks.started(), 1);
        tokio::time::advance(MIN_FETCH_INTERVAL - Duration::from_secs(1)).await;
        assert_eq!(cache.key("forged").await.err(), Some(KeyError::Unknown));
        assert_eq!(jwks.started(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..5 {
            assert_eq!(cache.key("forged").await.err(), Some(KeyError::Unknown));
        }
        assert_eq!(jwks.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_published_later_is_found_on_the_next_allowed_fetch() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        cache.key("a").await.expect("fetched");
        jwks.serve(&["a", "b"]);
        assert_eq!(cache.key("b").await.err(), Some(KeyError::Unknown));
        tokio::time::advance(MIN_FETCH_INTERVAL).await;
        assert!(cache.key("b").await.is_ok());
        assert_eq!(jwks.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_key_is_served_while_a_fetch_hangs() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        cache.key("a").await.expect("fetched");
        tokio::time::advance(MIN_FETCH_INTERVAL).await;
        jwks.close();
        let mut forged = pin!(cache.key("forged"));
        assert!(futures::poll!(forged.as_mut()).is_pending());
        until(|| jwks.started() == 2).await;
        // Ready at the first poll: no waiting on the fetch in flight.
        let cached = cache.key("a").now_or_never();
        assert!(matches!(cached, Some(Ok(_))), "{cached:?}");
        assert!(futures::poll!(forged.as_mut()).is_pending());
        jwks.open();
        assert_eq!(forged.await.err(), Some(KeyError::Unknown));
        assert_eq!(jwks.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_that_gives_up_does_not_abort_its_fetch() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        jwks.close();
        {
            let mut lookup = pin!(cache.key("a"));
            assert_eq!(futures::poll!(lookup.as_mut()).map(|_| ()), Poll::Pending);
            until(|| jwks.started() == 1).await;
        }
        jwks.open();
        until(|| cache.fetches_ended() == 1).await;
        assert!(matches!(cache.key("a").now_or_never(), Some(Ok(_))));
        assert_eq!(jwks.started(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_any_keys_a_failing_jwks_is_unavailable_and_retried_once_per_interval() {
        let jwks = FakeJwks::serving(&["a"]);
        jwks.fail();
        let cache = cache_over(&jwks);
        for _ in 0..3 {
            let err = cache.key("a").await.err();
            assert!(
                matches!(&err, Some(KeyError::Unavailable(why)) if why.contains("down")),
                "{err:?}"
            );
        }
        assert_eq!(jwks.started(), 1);
        tokio::time::advance(MIN_FETCH_INTERVAL).await;
        jwks.serve(&["a"]);
        assert!(cache.key("a").await.is_ok());
        assert_eq!(jwks.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_keeps_the_cached_keys_and_leaves_unknown_kids_unavailable() {
        let jwks = FakeJwks::serving(&["a"]);
        let cache = cache_over(&jwks);
        cache.key("a").await.expect("fetched");
        tokio::time::advance(MIN_FETCH_INTERVAL).await;
        jwks.fail();
        let err = cache.key("rotated-in").await.err();
        assert!(matches!(err, Some(KeyError::Unavailable(_))), "{err:?}");
        assert!(cache.key("a").await.is_ok());
        assert_eq!(jwks.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_keys_are_served_while_refreshed_in_the_background() {
        let jwks = FakeJwks::serving(&["a", "withdrawn"]);
        *jwks.max_age.lock().expect("max age") = Some(Duration::from_secs(60));
        let cache = cache_over(&jwks);
        cache.key("withdrawn").await.expect("fetched");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(cache.key("withdrawn").await.is_ok());
        assert_eq!(jwks.started(), 1, "fresh keys are not refetched");
        tokio::time::advance(Duration::from_secs(1)).await;
        jwks.serve(&["a"]);
        jwks.close();
        // Stale but cached: answered at once, the refresh runs on its own.
        assert!(matches!(cache.key("withdrawn").now_or_never(), Some(Ok(_))));
        assert!(matches!(cache.key("withdrawn").now_or_never(), Some(Ok(_))));
        until(|| jwks.started() == 2).await;
        jwks.open();
        until(|| cache.fetches_ended() == 2).await;
        assert_eq!(cache.key("withdrawn").await.err(), Some(KeyError::Unknown));
        assert!(cache.key("a").await.is_ok());
        assert_eq!(jwks.started(), 2);
    }
}
