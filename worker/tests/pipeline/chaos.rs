//! Chaos, grown from the soak: two thousand mixed jobs through the real
//! processes while, one after another, the worker is SIGKILLed and
//! restarted, PostgreSQL terminates every connection of the database, the
//! database server is stopped and started, and the Pub/Sub emulator is
//! stopped (losing every message it held) and started. Submits go on during
//! each outage; one answered 503 is sent again under its idempotency key, as
//! the README tells clients to.
//!
//! Afterwards no job is lost, none completed twice, no target was called
//! again after its success outside the documented at-least-once window (an
//! attempt whose outcome was never committed), no outage failed a job that
//! had attempts left, and the history agrees with every row.
//!
//! The test runs its own throwaway PostgreSQL cluster, so the shared server
//! is never stopped; the cluster is stopped and removed when the test ends,
//! also when it fails.

use crate::harness::{Stack, free_port};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const JOBS: usize = 2_000;
/// The outages, in the order they strike.
const OUTAGES: [Outage; 4] = [
    Outage::WorkerKilled,
    Outage::ConnectionsTerminated,
    Outage::DatabaseRestarted,
    Outage::PubSubRestarted,
];
/// Jobs are submitted in one chunk per outage, which strikes a quarter into
/// its chunk, and a last chunk after the last outage.
const CHUNK: usize = JOBS / (OUTAGES.len() + 1);
const SUBMITTERS: usize = 8;
/// How long the worker stays down: long enough, at the emulator's time
/// scale, for Pub/Sub to spend a message's 5 deliveries on it (about 1.5 s
/// of backoff, minutes in production), so messages are dead-lettered as in
/// a real outage of that length.
const WORKER_DOWN: Duration = Duration::from_secs(2);
/// How long the database stays down: longer than the API's wait for a
/// connection (5 s), so submits meanwhile are answered 503 and sent again.
const DATABASE_DOWN: Duration = Duration::from_secs(6);
/// How long Pub/Sub stays down; what it held is lost however short this is.
const PUBSUB_DOWN: Duration = Duration::from_secs(1);
/// The worker's wait for a pooled connection, in whole seconds: during a
/// database outage a delivery is nacked after this, not held.
const WORKER_ACQUIRE_TIMEOUT_SECONDS: &str = "1";
/// Upper bound on the whole test on a busy two-core machine; reaching it is a failure.
const BUDGET: Duration = Duration::from_secs(300);
/// Attempts of the jobs that must complete: room for the attempts outages cost.
const MAX_ATTEMPTS: i32 = 10;
/// The worker republishes a pending job whose message was lost (the emulator
/// restarted) after this long without a change.
const STALE_AFTER_SECONDS: &str = "3";
/// The test's database in its cluster.
const DATABASE: &str = "chaos";

/// The jobs, as in the soak: (kind, how it must end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Noop,
    Sleep,
    Ok,
    FlakyOnce,
    Missing,
    AlwaysFails,
}

impl Kind {
    fn of(i: usize) -> Kind {
        [
            Kind::Noop,
            Kind::Sleep,
            Kind::Ok,
            Kind::FlakyOnce,
            Kind::Missing,
            Kind::AlwaysFails,
        ][i % 6]
    }

    /// The submit body; a short timeout, so a killed worker's lease expires soon.
    fn body(self, target: &str, i: usize) -> Value {
        let http = |path: String| json!({"url": format!("{target}{path}")});
        let (job_type, payload, max_attempts) = match self {
            Kind::Noop => ("noop", json!({"i": i}), MAX_ATTEMPTS),
            Kind::Sleep => ("sleep", json!({"ms": 100}), MAX_ATTEMPTS),
            Kind::Ok | Kind::FlakyOnce | Kind::Missing => {
                let path = self.path(i).unwrap_or_default();
                ("http", http(path), MAX_ATTEMPTS)
            }
            Kind::AlwaysFails => ("http", http(format!("/fail/{i}")), 2),
        };
        json!({"type": job_type, "payload": payload, "max_attempts": max_attempts, "timeout_seconds": 2})
    }

    /// The target path an `http` job calls.
    fn path(self, i: usize) -> Option<String> {
        match self {
            Kind::Noop | Kind::Sleep => None,
            Kind::Ok => Some(format!("/ok/{i}")),
            Kind::FlakyOnce => Some(format!("/flaky/1/{i}")),
            Kind::Missing => Some(format!("/missing/{i}")),
            Kind::AlwaysFails => Some(format!("/fail/{i}")),
        }
    }

    /// True for the jobs that succeed given attempts; the others fail on their own.
    fn must_complete(self) -> bool {
        !matches!(self, Kind::Missing | Kind::AlwaysFails)
    }

    /// Attempts the job takes when nothing goes wrong.
    fn fewest_attempts(self) -> i64 {
        match self {
            Kind::FlakyOnce | Kind::AlwaysFails => 2,
            _ => 1,
        }
    }

    /// Hits of its target up to and including the one that succeeded.
    fn hits_to_succeed(self) -> Option<u32> {
        match self {
            Kind::Ok => Some(1),
            Kind::FlakyOnce => Some(2),
            _ => None,
        }
    }
}

/// Something that goes wrong, and is then put right.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// SIGKILL: no shutdown, no outcome written for the deliveries it ran.
    WorkerKilled,
    /// `pg_terminate_backend` on every connection, as a failover does (57P01).
    ConnectionsTerminated,
    /// `pg_ctl stop -m fast`, down for a while, started again.
    DatabaseRestarted,
    /// The emulator stopped with its messages, and a new, empty one started.
    PubSubRestarted,
}

impl Outage {
    /// Inflicts the outage and ends it; says what it did.
    async fn inflict(self, stack: &mut Stack, cluster: &Cluster) -> String {
        match self {
            Outage::WorkerKilled => {
                stack.restart_worker(WORKER_DOWN).await;
                "worker SIGKILLed, restarted".to_owned()
            }
            Outage::ConnectionsTerminated => {
                let rounds = 10;
                let terminated = cluster.terminate_connections(DATABASE, rounds).await;
                format!("{terminated} connections terminated in {rounds} rounds")
            }
            Outage::DatabaseRestarted => {
                cluster.stop().await;
                tokio::time::sleep(DATABASE_DOWN).await;
                cluster.start().await;
                "PostgreSQL stopped, started".to_owned()
            }
            Outage::PubSubRestarted => {
                stack.stop_emulator().await;
                tokio::time::sleep(PUBSUB_DOWN).await;
                stack.start_emulator().await;
                "Pub/Sub stopped (messages lost), started".to_owned()
            }
        }
    }
}

/// A throwaway PostgreSQL cluster in a temporary directory, on a free port;
/// stopped and removed when dropped, even when the test fails.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// As root the server binaries run as `postgres`: initdb refuses root.
    as_postgres: bool,
}

impl Cluster {
    /// initdb and start; panics (after cleaning up) when that cannot be done.
    async fn create() -> Cluster {
        let bin = server_binaries().unwrap_or_else(|| {
            panic!(
                "the chaos test runs its own PostgreSQL and needs the server binaries \
                 (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: apt-get install postgresql"
            )
        });
        let as_postgres = std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0);
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("jobs-chaos-pg.{}.{unique}", std::process::id()));
        std::fs::create_dir(&dir).expect("create the cluster's directory");
        // The guard exists from here on: whatever fails below, Drop removes the directory.
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let chown = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(&cluster.dir)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown the cluster's directory to postgres");
        }
        let data = cluster.data();
        cluster
            .run(
                "initdb",
                &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
            )
            .await
            .unwrap_or_else(|err| panic!("initdb: {err}"));
        // Another process may take the free port first: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.try_start().await {
                Ok(()) => return cluster,
                Err(err) => last = err,
            }
        }
        panic!("the throwaway PostgreSQL did not start: {last}");
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The URL of `database` in this cluster.
    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `program` of the server binaries, as `postgres` when this is root.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut runuser = std::process::Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(path);
            runuser
        } else {
            std::process::Command::new(path)
        };
        command.stdin(std::process::Stdio::null());
        command
    }

    /// Runs `program` with `args`; its output when it fails.
    async fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let mut command = tokio::process::Command::from(self.command(program));
        command.args(args);
        let output = command
            .output()
            .await
            .map_err(|err| format!("{program} did not run: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    async fn try_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let log = self.log().display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        )
        .await
        .map_err(|err| format!("{err}\n{}", self.log_tail()))
    }

    /// Starts the stopped server again, on the same port.
    async fn start(&self) {
        self.try_start()
            .await
            .unwrap_or_else(|err| panic!("PostgreSQL did not start again: {err}"));
    }

    /// Stops the server as a maintenance or a failover does: every session ends (57P01).
    async fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"],
        )
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL did not stop: {err}"));
    }

    /// Creates `database`, migrated, and a small pool on it for the test's own queries.
    async fn database(&self, database: &str) -> PgPool {
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the throwaway cluster");
        admin
            .execute(format!("create database {database}").as_str())
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.url(database))
            .await
            .expect("connect to the test database");
        jobs_domain::db::MIGRATOR
            .run(&pool)
            .await
            .expect("migrate the test database");
        pool
    }

    /// Terminates every connection to `database`, `rounds` times 100 ms
    /// apart; returns how many were terminated.
    async fn terminate_connections(&self, database: &str, rounds: usize) -> i64 {
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the throwaway cluster");
        let mut terminated = 0;
        for _ in 0..rounds {
            let round: i64 = sqlx::query_scalar(
                "select count(*) from (
                     select pg_terminate_backend(pid) as done from pg_stat_activity
                     where datname = $1 and pid <> pg_backend_pid()
                 ) killed where done",
            )
            .bind(database)
            .fetch_one(&mut admin)
            .await
            .expect("terminate the test database's connections");
            terminated += round;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await.ok();
        terminated
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the throwaway PostgreSQL's log ends with:\n{}",
                self.log_tail()
            );
        }
        // Never started, or already stopped: pg_ctl says so and nothing is left.
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "could not remove the throwaway PostgreSQL at {}: {err}",
                self.dir.display()
            );
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: on PATH, or the newest in /usr/lib/postgresql.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()));
    if on_path.is_some() {
        return on_path;
    }
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    installed.sort();
    installed.pop().map(|(_, bin)| bin)
}

/// Submits jobs as a client does: a 503 is sent again under the same key.
struct Submitter {
    client: reqwest::Client,
    api: String,
    api_key: String,
    target: String,
    /// Submits answered 503 with `Retry-After`, each then sent again.
    unavailable: AtomicUsize,
    /// Retries that found their job already stored (200): the 503'd submit had committed.
    stored_before: AtomicUsize,
}

impl Submitter {
    /// Submits job `i` until it is accepted; returns its id.
    async fn submit(&self, i: usize) -> String {
        let body = Kind::of(i).body(&self.target, i);
        let key = format!("chaos-{i}");
        loop {
            let response = self
                .client
                .post(format!("{}/v1/jobs", self.api))
                .bearer_auth(&self.api_key)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await
                .expect("the API (in this process) answers");
            let status = response.status().as_u16();
            match status {
                200 | 202 => {
                    if status == 200 {
                        self.stored_before.fetch_add(1, Ordering::Relaxed);
                    }
                    let job: Value = response.json().await.expect("the job");
                    return job["id"].as_str().expect("its id").to_owned();
                }
                503 => {
                    assert!(
                        response.headers().contains_key("retry-after"),
                        "submit {i}: a 503 without Retry-After"
                    );
                    self.unavailable.fetch_add(1, Ordering::Relaxed);
                    // Retry-After says 5 s; the test waits at the emulator's time scale.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => panic!(
                    "submit {i} answered {status}, not 202 or 503: {}",
                    response.text().await.unwrap_or_default()
                ),
            }
        }
    }

    /// Submits jobs `range`, counting each accepted one in `done`.
    async fn submit_all(&self, range: Range<usize>, done: &AtomicUsize) -> Vec<(usize, String)> {
        futures::stream::iter(range)
            .map(|i| async move {
                let id = self.submit(i).await;
                done.fetch_add(1, Ordering::Relaxed);
                (i, id)
            })
            .buffer_unordered(SUBMITTERS)
            .collect()
            .await
    }
}

/// A count the test polls for; `None` while the database is unreachable.
async fn count(pool: &PgPool, sql: &str) -> Option<i64> {
    sqlx::query_scalar(sql).fetch_one(pool).await.ok()
}

/// The jobs not finished yet.
const OPEN: &str = "select count(*) from jobs where status in ('pending', 'processing')";

/// Waits until `done` holds for the count `sql` returns.
async fn wait_for(pool: &PgPool, sql: &str, done: impl Fn(i64) -> bool) {
    loop {
        if count(pool, sql).await.is_some_and(&done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One job as stored, with what its history says.
#[derive(sqlx::FromRow)]
struct Stored {
    id: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    succeeded: i64,
    /// Attempts that ended without an outcome: the job left `processing` by
    /// a `lease_expired` claim or a dead-letter, not by its handler's outcome.
    lost_attempts: i64,
    failed_permanent: i64,
    dead_lettered: i64,
}

/// Asserts that `violations` is empty, showing a few of them.
fn assert_none(what: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{what}: {} jobs, e.g. {:#?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_killed_worker_cut_connections_a_database_restart_and_a_pub_sub_restart() {
    let cluster = Cluster::create().await;
    let pool = cluster.database(DATABASE).await;
    let mut stack = Stack::without_emulator_at(pool.clone(), cluster.url(DATABASE)).await;
    stack.set_worker_env("RECONCILE_STALE_AFTER_SECONDS", STALE_AFTER_SECONDS);
    stack.set_worker_env(
        "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        WORKER_ACQUIRE_TIMEOUT_SECONDS,
    );
    stack.start_emulator().await;
    stack.start_worker().await;
    let submitter = Submitter {
        client: stack.client.clone(),
        api: stack.api.clone(),
        api_key: stack.api_key.clone(),
        target: stack.target.url.clone(),
        unavailable: AtomicUsize::new(0),
        stored_before: AtomicUsize::new(0),
    };

    let started = Instant::now();
    let finished = tokio::time::timeout(BUDGET, async {
        let mut ids = Vec::with_capacity(JOBS);
        let mut outages = Vec::new();
        for (k, outage) in OUTAGES.into_iter().enumerate() {
            let done = AtomicUsize::new(0);
            let refused_before = submitter.unavailable.load(Ordering::Relaxed);
            let (chunk, (what, struck, down)) = tokio::join!(
                submitter.submit_all(k * CHUNK..(k + 1) * CHUNK, &done),
                async {
                    while done.load(Ordering::Relaxed) < CHUNK / 4 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let open = count(&pool, OPEN).await.unwrap_or_default();
                    let struck = Instant::now();
                    let what = outage.inflict(&mut stack, &cluster).await;
                    (
                        format!("{what} with {open} jobs open"),
                        struck,
                        struck.elapsed(),
                    )
                }
            );
            ids.extend(chunk);
            // Recovered: every job so far finished, before the next outage strikes.
            wait_for(&pool, OPEN, |open| open == 0).await;
            let refused = submitter.unavailable.load(Ordering::Relaxed) - refused_before;
            outages.push(format!(
                "{what}: {:.1} s down, every job so far finished {:.1} s later; \
                 {refused} submits answered 503",
                down.as_secs_f64(),
                (struck.elapsed() - down).as_secs_f64()
            ));
        }
        let done = AtomicUsize::new(0);
        ids.extend(
            submitter
                .submit_all(OUTAGES.len() * CHUNK..JOBS, &done)
                .await,
        );
        wait_for(&pool, OPEN, |open| open == 0).await;
        (ids, outages)
    })
    .await;
    let Ok((ids, outages)) = finished else {
        let open: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) from jobs group by status order by status")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
        panic!("not every job finished within {BUDGET:?}: jobs by status {open:?}");
    };
    let took = started.elapsed();

    // An attempt without an outcome is one whose processing job left
    // `processing` by anything but its handler's outcome: a `lease_expired`
    // claim, or a dead-letter.
    let rows: Vec<Stored> = sqlx::query_as(
        "select j.id::text as id, j.status, j.attempts, j.max_attempts,
                count(*) filter (where e.event = 'succeeded') as succeeded,
                count(*) filter (where e.from_status = 'processing' and e.event not in
                                       ('succeeded', 'failed_retryable', 'failed_permanent'))
                    as lost_attempts,
                count(*) filter (where e.event = 'failed_permanent') as failed_permanent,
                count(*) filter (where e.event = 'dead_lettered') as dead_lettered
         from jobs j join job_events e on e.job_id = j.id
         group by j.id",
    )
    .fetch_all(&pool)
    .await
    .expect("the jobs and their histories");
    let stored: BTreeMap<String, Stored> =
        rows.into_iter().map(|job| (job.id.clone(), job)).collect();
    let events: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("select event, count(*) from job_events group by event")
            .fetch_all(&pool)
            .await
            .expect("events")
            .into_iter()
            .collect();

    // The figures, printed before any assertion can stop the test.
    let mut statuses = BTreeMap::<(Kind, &str), usize>::new();
    // Jobs dead-lettered, by the chunk they were submitted in (the outage it met).
    let mut dead_lettered = vec![0usize; OUTAGES.len() + 1];
    let (mut spent, mut fewest, mut extra_hits) = (0i64, 0i64, 0u32);
    for (i, id) in &ids {
        let kind = Kind::of(*i);
        fewest += kind.fewest_attempts();
        if let Some(job) = stored.get(id) {
            spent += i64::from(job.attempts);
            if job.dead_lettered > 0 {
                dead_lettered[(*i / CHUNK).min(OUTAGES.len())] += 1;
            }
            *statuses.entry((kind, job.status.as_str())).or_default() += 1;
            if let (Some(path), Some(needed)) = (kind.path(*i), kind.hits_to_succeed())
                && job.status == "completed"
            {
                extra_hits += stack.target.hits(&path).saturating_sub(needed);
            }
        }
    }
    eprintln!(
        "chaos: {JOBS} jobs, {} outages, {:.1} s",
        OUTAGES.len(),
        took.as_secs_f64()
    );
    for ((outage, report), dead) in OUTAGES.iter().zip(&outages).zip(&dead_lettered) {
        eprintln!("chaos:   {outage:?}: {report}; {dead} of its chunk's jobs dead-lettered");
    }
    eprintln!(
        "chaos: {spent} attempts spent ({fewest} without outages); {} submits answered 503 \
         and sent again, {} of them had been stored; {extra_hits} target calls after a success",
        submitter.unavailable.load(Ordering::Relaxed),
        submitter.stored_before.load(Ordering::Relaxed),
    );
    eprintln!("chaos: events {events:?}");
    eprintln!("chaos: (kind, status): jobs {statuses:?}");

    // No job lost: every accepted submit is stored, once.
    let lost: Vec<String> = ids
        .iter()
        .filter(|(_, id)| !stored.contains_key(id))
        .map(|(i, id)| format!("job {i} ({id})"))
        .collect();
    assert_none("accepted but not stored", &lost);
    assert_eq!(ids.len(), JOBS);
    assert_eq!(stored.len(), JOBS, "one job per idempotency key");

    // None completed twice.
    let twice: Vec<String> = stored
        .iter()
        .filter(|(_, job)| job.succeeded > 1)
        .map(|(id, job)| format!("{id}: {} successes", job.succeeded))
        .collect();
    assert_none("completed more than once", &twice);

    // Each attempt calls the target at most once; after the call that
    // succeeded, only an attempt whose outcome was never committed (the
    // at-least-once window) may have called it again.
    let mut overcalled = Vec::new();
    for (i, id) in &ids {
        let kind = Kind::of(*i);
        let (Some(path), Some(job)) = (kind.path(*i), stored.get(id)) else {
            continue;
        };
        let hits = stack.target.hits(&path);
        if i64::from(hits) > i64::from(job.attempts) {
            overcalled.push(format!(
                "job {i} ({kind:?}): {hits} calls in {} attempts",
                job.attempts
            ));
        }
        if let Some(needed) = kind.hits_to_succeed()
            && job.status == "completed"
            && i64::from(hits.saturating_sub(needed)) > job.lost_attempts
        {
            overcalled.push(format!(
                "job {i} ({kind:?}): {hits} calls for a success after {needed}, \
                 {} attempts without an outcome",
                job.lost_attempts
            ));
        }
    }
    assert_none("the target called too often", &overcalled);

    // The history agrees with every row.
    let disagreeing: i64 = sqlx::query_scalar(
        "select count(*) from jobs j
         where j.status <> (select e.to_status from job_events e where e.job_id = j.id
                            order by e.id desc limit 1)
            or j.attempts <> (select count(*) from job_events e where e.job_id = j.id
                              and e.event in ('claimed', 'lease_expired') and e.to_status = 'processing')
            or (select e.event from job_events e where e.job_id = j.id order by e.id limit 1) <> 'submitted'",
    )
    .fetch_one(&pool)
    .await
    .expect("history check");
    assert_eq!(disagreeing, 0, "job_events disagrees with jobs");

    // The jobs that fail on their own fail.
    let not_failed: Vec<String> = ids
        .iter()
        .filter(|(i, _)| !Kind::of(*i).must_complete())
        .filter_map(|(i, id)| Some((i, stored.get(id)?)))
        .filter(|(_, job)| job.status != "failed")
        .map(|(i, job)| format!("job {i} ({:?}): {}", Kind::of(*i), job.status))
        .collect();
    assert_none("a job that cannot succeed did not fail", &not_failed);

    // No outage failed a job: a failed job failed on its own (a permanent
    // error) or spent its attempts, and every job that can succeed did.
    let failed_by_outage: Vec<String> = stored
        .iter()
        .filter(|(_, job)| {
            job.status == "failed" && job.failed_permanent == 0 && job.attempts < job.max_attempts
        })
        .map(|(id, job)| {
            format!(
                "{id}: failed after {} of {} attempts",
                job.attempts, job.max_attempts
            )
        })
        .collect();
    assert_none(
        "failed with attempts left, not by its own error",
        &failed_by_outage,
    );
    let not_completed: Vec<String> = ids
        .iter()
        .filter(|(i, _)| Kind::of(*i).must_complete())
        .filter_map(|(i, id)| Some((i, stored.get(id)?)))
        .filter(|(_, job)| job.status != "completed")
        .map(|(i, job)| format!("job {i} ({:?}): {}", Kind::of(*i), job.status))
        .collect();
    assert_none("a job that can succeed did not complete", &not_completed);

    pool.close().await;
}
