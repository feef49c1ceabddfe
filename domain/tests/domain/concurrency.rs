//! Per-key concurrency limits in the job store, against a real PostgreSQL:
//! the claim of a job whose type limits how many of its jobs per key value
//! run at once, and the deferral of the ones that would exceed it.

use jobs_domain::api_keys::create_key;
use jobs_domain::{
    Claim, Job, JobEvent, JobId, JobState, JobStatus, JobStore, JobTypeStore, NewJob, Outcome,
    TenantId,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GRACE: Duration = Duration::from_secs(30);

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    create_key(pool, name).await.expect("create tenant").tenant
}

/// Defines `name` for `tenant` with `concurrency` (`None`: no limit).
async fn define(pool: &PgPool, tenant: TenantId, name: &str, concurrency: Option<Value>) {
    let mut definition = json!({"handler": {"builtin": "noop"}});
    if let Some(concurrency) = concurrency {
        definition["concurrency"] = concurrency;
    }
    JobTypeStore::new(pool.clone())
        .put(tenant, name, &definition, None)
        .await
        .expect("define type");
}

/// Defines `name` with at most `limit` running jobs per `/account_id`.
async fn limited(pool: &PgPool, tenant: TenantId, name: &str, limit: u32) {
    let limit = json!({"key": "/account_id", "limit": limit});
    define(pool, tenant, name, Some(limit)).await;
}

/// Stores a job of `job_type` for `account`, counted against `key` as the API
/// stores it for a type with a limit (`None`: a type without one).
async fn submit(
    store: &JobStore,
    tenant: TenantId,
    job_type: &str,
    account: &str,
    key: Option<&str>,
) -> JobId {
    let new = NewJob {
        job_type: job_type.into(),
        payload: json!({"account_id": account}),
        max_attempts: 3,
        timeout_seconds: 30,
        run_at: None,
        idempotency: None,
        callback_url: None,
        concurrency_key: key.map(str::to_owned),
    };
    store.insert(tenant, new).await.expect("insert").job.id
}

/// A job of the limited type `sync` for `account`.
async fn sync_job(store: &JobStore, tenant: TenantId, account: &str) -> JobId {
    submit(store, tenant, "sync", account, Some(account)).await
}

async fn claimed(store: &JobStore, id: JobId) -> Job {
    match store.claim(id, GRACE).await.expect("claim") {
        Claim::Claimed(job) => job,
        other => panic!("expected a claim, got {other:?}"),
    }
}

async fn deferred(store: &JobStore, id: JobId) -> Job {
    match store.claim(id, GRACE).await.expect("claim") {
        Claim::Deferred(job) => job,
        other => panic!("expected a deferral, got {other:?}"),
    }
}

/// Makes a deferred job due now, as if its delay had passed.
async fn make_due(pool: &PgPool, id: JobId) {
    sqlx::query("update jobs set run_at = now() where id = $1")
        .bind(id)
        .execute(pool)
        .await
        .expect("make due");
}

/// Lets a processing job's lease expire, as if its worker had died.
async fn expire_lease(pool: &PgPool, id: JobId) {
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 minute' where id = $1")
        .bind(id)
        .execute(pool)
        .await
        .expect("expire lease");
}

async fn events(pool: &PgPool, id: JobId) -> Vec<String> {
    sqlx::query_scalar("select event from job_events where job_id = $1 order by id")
        .bind(id)
        .fetch_all(pool)
        .await
        .expect("events")
}

async fn deferrals(pool: &PgPool, id: JobId) -> i32 {
    sqlx::query_scalar("select deferrals from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("deferrals")
}

/// Seconds from now to the job's `run_at`, by the database clock.
async fn runs_in(pool: &PgPool, id: JobId) -> f64 {
    sqlx::query_scalar("select extract(epoch from run_at - now())::float8 from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("run_at")
}

/// Processing jobs with a live lease of `account`'s key.
async fn running(pool: &PgPool, account: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from jobs where concurrency_key = $1
           and status = 'processing' and lease_expires_at > now()",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .expect("count")
}

fn assert_deferred_without_attempt(job: &Job, attempts: i32) {
    assert_eq!(job.status, JobStatus::Pending, "{job:?}");
    assert_eq!(job.attempts, attempts, "a deferral spends no attempt");
    assert!(job.run_at > job.updated_at, "run_at moves ahead: {job:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn two_concurrent_claims_for_one_key_with_limit_1_let_exactly_one_win_and_defer_the_other(
    pool: PgPool,
) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    for round in 0..20 {
        let account = format!("acct-{round}");
        let first = sync_job(&store, t, &account).await;
        let second = sync_job(&store, t, &account).await;
        let (a, b) = tokio::join!(store.claim(first, GRACE), store.claim(second, GRACE));
        let claims = [a.expect("claim"), b.expect("claim")];
        let won: Vec<&Job> = claims
            .iter()
            .filter_map(|c| match c {
                Claim::Claimed(job) => Some(job),
                _ => None,
            })
            .collect();
        let lost: Vec<&Job> = claims
            .iter()
            .filter_map(|c| match c {
                Claim::Deferred(job) => Some(job),
                _ => None,
            })
            .collect();
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}: {claims:?}");
        assert_eq!(won[0].attempts, 1);
        assert_deferred_without_attempt(lost[0], 0);
        assert_eq!(events(&pool, lost[0].id).await, ["submitted", "deferred"]);
        assert_eq!(running(&pool, &account).await, 1, "round {round}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn many_concurrent_claims_for_one_key_let_exactly_the_limit_win(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 3).await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(sync_job(&store, t, "acct-1").await);
    }
    let claims = futures::future::join_all(ids.iter().map(|&id| {
        let store = store.clone();
        async move { store.claim(id, GRACE).await.expect("claim") }
    }))
    .await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Claim::Claimed(_)))
        .count();
    let deferred = claims
        .iter()
        .filter(|c| matches!(c, Claim::Deferred(job) if job.attempts == 0))
        .count();
    assert_eq!((won, deferred), (3, 13), "{claims:?}");
    assert_eq!(running(&pool, "acct-1").await, 3);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn duplicate_deliveries_of_a_limited_job_claim_it_once_and_defer_nothing(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let id = sync_job(&store, t, "acct-1").await;
    let claims = futures::future::join_all((0..16).map(|_| {
        let store = store.clone();
        async move { store.claim(id, GRACE).await.expect("claim") }
    }))
    .await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Claim::Claimed(_)))
        .count();
    let busy = claims
        .iter()
        .filter(|c| matches!(c, Claim::Busy(_)))
        .count();
    assert_eq!((won, busy), (1, 15), "{claims:?}");
    assert_eq!(events(&pool, id).await, ["submitted", "claimed"]);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_processing_job_whose_lease_expired_does_not_hold_a_slot(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let first = sync_job(&store, t, "acct-1").await;
    let second = sync_job(&store, t, "acct-1").await;
    claimed(&store, first).await;
    deferred(&store, second).await;

    expire_lease(&pool, first).await;
    make_due(&pool, second).await;
    let job = claimed(&store, second).await;
    assert_eq!(job.attempts, 1);

    // The first job's redelivery would take its lease over, but the slot is
    // the second's now: it waits, pending, its expired attempt spent.
    let job = deferred(&store, first).await;
    assert_deferred_without_attempt(&job, 1);
    assert_eq!(
        job.error.as_deref(),
        Some("lease expired without an outcome")
    );
    assert_eq!(
        events(&pool, first).await,
        ["submitted", "claimed", "deferred"]
    );
    assert_eq!(running(&pool, "acct-1").await, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_deferred_job_runs_once_a_slot_frees_and_its_deferrals_start_afresh(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let first = sync_job(&store, t, "acct-1").await;
    let second = sync_job(&store, t, "acct-1").await;
    let holder = claimed(&store, first).await;
    deferred(&store, second).await;
    make_due(&pool, second).await;
    deferred(&store, second).await;
    assert_eq!(deferrals(&pool, second).await, 2);

    store
        .record(&holder, Outcome::Succeeded(json!({})))
        .await
        .expect("record");
    make_due(&pool, second).await;
    let job = claimed(&store, second).await;
    assert_eq!(job.attempts, 1, "deferrals spent no attempt");
    assert_eq!(
        deferrals(&pool, second).await,
        0,
        "a claim resets the count"
    );
    // Not yet due: a delivery before the delay is acked as not due.
    let third = sync_job(&store, t, "acct-1").await;
    deferred(&store, third).await;
    assert!(matches!(
        store.claim(third, GRACE).await.expect("claim"),
        Claim::NotDue(_)
    ));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_deferral_event_is_written_at_most_once_every_few_seconds(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let holder = sync_job(&store, t, "acct-1").await;
    let waiting = sync_job(&store, t, "acct-1").await;
    claimed(&store, holder).await;

    let job = deferred(&store, waiting).await;
    let first_delay = runs_in(&pool, waiting).await;
    assert!((0.5..=1.0).contains(&first_delay), "{first_delay}");
    assert_deferred_without_attempt(&job, 0);
    // A storm of deliveries within a few seconds: one event.
    for n in 2..=6 {
        make_due(&pool, waiting).await;
        let job = deferred(&store, waiting).await;
        assert_deferred_without_attempt(&job, 0);
        assert_eq!(deferrals(&pool, waiting).await, n);
    }
    assert_eq!(events(&pool, waiting).await, ["submitted", "deferred"]);
    let capped = runs_in(&pool, waiting).await;
    assert!((9.0..=10.0).contains(&capped), "capped at 10 s: {capped}");

    // Once the last event is a few seconds old, the next deferral has one.
    sqlx::query(
        "update jobs set deferred_event_at = deferred_event_at - interval '6 seconds'
         where id = $1",
    )
    .bind(waiting)
    .execute(&pool)
    .await
    .expect("age the event");
    make_due(&pool, waiting).await;
    deferred(&store, waiting).await;
    assert_eq!(
        events(&pool, waiting).await,
        ["submitted", "deferred", "deferred"]
    );
    let history = store.history(t, waiting).await.expect("history");
    let last = history.last().expect("an entry");
    assert_eq!(last.event, JobEvent::Deferred.as_str());
    assert_eq!(
        (last.from_status, last.to_status, last.attempt),
        (Some(JobStatus::Pending), JobStatus::Pending, 0)
    );
    let detail = last.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("concurrency limit of 1 reached for the job's key; deferred 7 times"),
        "{detail}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn unlimited_types_other_keys_other_types_and_other_tenants_are_not_held_back(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    limited(&pool, acme, "sync", 1).await;
    limited(&pool, acme, "export", 1).await;
    limited(&pool, globex, "sync", 1).await;
    define(&pool, acme, "plain", None).await;

    // A type without a limit: every job of one "account" runs at once.
    let mut plain = Vec::new();
    for _ in 0..12 {
        plain.push(submit(&store, acme, "plain", "acct-1", None).await);
    }
    let claims = futures::future::join_all(plain.iter().map(|&id| {
        let store = store.clone();
        async move { store.claim(id, GRACE).await.expect("claim") }
    }))
    .await;
    assert!(
        claims.iter().all(|c| matches!(c, Claim::Claimed(_))),
        "{claims:?}"
    );

    // acct-1's slot of acme's `sync` is taken; nothing else shares it.
    let holder = sync_job(&store, acme, "acct-1").await;
    claimed(&store, holder).await;
    let other_key = sync_job(&store, acme, "acct-2").await;
    claimed(&store, other_key).await;
    let other_type = submit(&store, acme, "export", "acct-1", Some("acct-1")).await;
    claimed(&store, other_type).await;
    let other_tenant = submit(&store, globex, "sync", "acct-1", Some("acct-1")).await;
    claimed(&store, other_tenant).await;
    let same = sync_job(&store, acme, "acct-1").await;
    deferred(&store, same).await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_limit_is_the_types_at_claim_time(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let first = sync_job(&store, t, "acct-1").await;
    let second = sync_job(&store, t, "acct-1").await;
    let third = sync_job(&store, t, "acct-1").await;
    claimed(&store, first).await;
    deferred(&store, second).await;

    limited(&pool, t, "sync", 2).await;
    make_due(&pool, second).await;
    claimed(&store, second).await;
    deferred(&store, third).await;

    // The limit removed: jobs stored with a key run as if they had none.
    define(&pool, t, "sync", None).await;
    make_due(&pool, third).await;
    claimed(&store, third).await;
}

/// Puts a job straight into `state`, due or not, with a live or expired lease
/// when processing, bypassing the store as only a test may.
async fn force(pool: &PgPool, id: JobId, state: JobState, due: bool, lease_expired: bool) {
    sqlx::query(
        "update jobs set status = $2, attempts = $3, max_attempts = $4,
             run_at = now() + case when $5 then interval '-1 minute' else interval '1 hour' end,
             lease_expires_at = case when $2 = 'processing' then
                 now() + case when $6 then interval '-1 minute' else interval '1 hour' end end,
             finished_at = case when $2 in ('completed', 'failed', 'cancelled') then now() end,
             failure_reason = case when $2 = 'failed' then 'permanent_error' end
         where id = $1",
    )
    .bind(id)
    .bind(state.status)
    .bind(state.attempts)
    .bind(state.max_attempts)
    .bind(due)
    .bind(lease_expired)
    .execute(pool)
    .await
    .expect("force state");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn with_a_free_slot_the_limited_claim_claims_exactly_what_the_state_machine_allows(
    pool: PgPool,
) {
    let store = JobStore::new(pool.clone());
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let mut round = 0;
    for status in JobStatus::ALL {
        for attempts in [1, 3] {
            if status == JobStatus::Pending && attempts == 3 {
                continue;
            }
            for due in [true, false] {
                for lease_expired in [true, false] {
                    round += 1;
                    let state = JobState {
                        status,
                        attempts,
                        max_attempts: 3,
                    };
                    // A key of its own, so its slot is free.
                    let id = sync_job(&store, t, &format!("acct-{round}")).await;
                    force(&pool, id, state, due, lease_expired).await;
                    let allowed = match status {
                        JobStatus::Pending => due && state.apply(JobEvent::Claimed).is_ok(),
                        JobStatus::Processing => {
                            lease_expired
                                && state.apply(JobEvent::LeaseExpired).map(|s| s.status)
                                    == Ok(JobStatus::Processing)
                        }
                        _ => false,
                    };
                    let claim = store.claim(id, GRACE).await.expect("claim");
                    let case = format!("{status} {attempts}/3 due={due} expired={lease_expired}");
                    match claim {
                        Claim::Claimed(job) => {
                            assert!(allowed, "{case}: claimed but the state machine refuses");
                            assert_eq!(job.attempts, attempts + 1, "{case}");
                        }
                        Claim::Deferred(job) => {
                            panic!("{case}: deferred with a free slot: {job:?}")
                        }
                        other => assert!(!allowed, "{case}: allowed but got {other:?}"),
                    }
                }
            }
        }
    }
}

/// A TCP proxy in front of the test's PostgreSQL that counts the round trips
/// of the statements its one connection sends: each simple query, and each
/// Sync that ends an extended query (one with an Execute). A bare Sync is
/// sqlx's ping of a connection coming back to its pool, which is not a
/// statement and not counted. Counted before they are passed on, so a count
/// read after a call returns includes all of that call's.
async fn counting_pool(pool: &PgPool) -> (PgPool, Arc<AtomicUsize>) {
    let options: PgConnectOptions = (*pool.connect_options()).clone();
    let server = format!("{}:{}", options.get_host(), options.get_port());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&server).await.expect("connect server");
            let (mut server_read, server_write) = server.into_split();
            let (client_read, mut client_write) = client.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
            tokio::spawn(count_statements(client_read, server_write, counted.clone()));
        }
    });
    let proxied = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(
            options
                .host("127.0.0.1")
                .port(port)
                .ssl_mode(PgSslMode::Disable),
        )
        .await
        .expect("connect through the proxy");
    (proxied, count)
}

/// Passes the client's bytes on to the server, counting statements' round trips.
async fn count_statements(
    mut client: tokio::net::tcp::OwnedReadHalf,
    mut server: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicUsize>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    // The startup message has no type byte; every later one has.
    let mut started = false;
    let mut executed = false;
    loop {
        let read = match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        loop {
            let at = usize::from(started);
            if pending.len() < at + 4 {
                break;
            }
            let length = u32::from_be_bytes([
                pending[at],
                pending[at + 1],
                pending[at + 2],
                pending[at + 3],
            ]);
            let whole = at + length as usize;
            if pending.len() < whole {
                break;
            }
            if started {
                match pending[0] {
                    b'Q' => {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    b'E' => executed = true,
                    b'S' => {
                        if executed {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        executed = false;
                    }
                    _ => {}
                }
            }
            started = true;
            pending.drain(..whole);
        }
        if server.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_claim_takes_one_round_trip_without_a_limit_five_with_one_and_six_to_defer(pool: PgPool) {
    let t = tenant(&pool, "acme").await;
    limited(&pool, t, "sync", 1).await;
    let (proxied, round_trips) = counting_pool(&pool).await;
    let store = JobStore::new(proxied);
    // Every statement once, so the counts below are of prepared statements.
    let plain = submit(&store, t, "noop", "acct-0", None).await;
    claimed(&store, plain).await;
    let holder = sync_job(&store, t, "acct-0").await;
    claimed(&store, holder).await;
    let waiting = sync_job(&store, t, "acct-0").await;
    deferred(&store, waiting).await;

    let measure = async |id: JobId| {
        let before = round_trips.load(Ordering::SeqCst);
        let claim = store.claim(id, GRACE).await.expect("claim");
        (round_trips.load(Ordering::SeqCst) - before, claim)
    };
    let plain = submit(&store, t, "noop", "acct-1", None).await;
    let (trips, claim) = measure(plain).await;
    assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
    assert_eq!(trips, 1, "a job without a limit: the claim statement");

    let holder = sync_job(&store, t, "acct-1").await;
    let (trips, claim) = measure(holder).await;
    assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
    assert_eq!(
        trips, 5,
        "the claim statement, then begin, the key's lock, the limited claim, commit"
    );

    let waiting = sync_job(&store, t, "acct-1").await;
    let (trips, claim) = measure(waiting).await;
    assert!(matches!(claim, Claim::Deferred(_)), "{claim:?}");
    assert_eq!(trips, 6, "as a claim, and the deferral's write");
}
