//! API keys from the command line (`api keys create|list|revoke`, run as the
//! real binary against the test's database), and a revocation reaching a
//! running API at once instead of after its key cache's time to live.

use crate::helpers::{assert_problem, spawn_app_with};
use jobs_domain::api_keys::{create_key, find_tenant, hash_key};
use reqwest::Response;
use sqlx::PgPool;
use std::process::Output;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Longest wait for a revocation to reach the API; far below the cache's hour.
const GUARD: Duration = Duration::from_secs(10);

/// Characters of a new key that `keys list` shows and `keys revoke` takes.
const PREFIX_LEN: usize = 15;

/// `DATABASE_URL` with the database of the test's pool in its path.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set for these tests");
    let database = pool
        .connect_options()
        .get_database()
        .expect("the test pool names its database")
        .to_owned();
    let (scheme, rest) = base.split_once("://").expect("DATABASE_URL is a URL");
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    format!(
        "{scheme}://{authority}/{database}{}",
        query.unwrap_or_default()
    )
}

/// Runs the `api` binary with `args` against the test's database.
async fn api(pool: &PgPool, args: &[&str]) -> Output {
    let url = database_url(pool);
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_api"))
            .args(&args)
            .env("DATABASE_URL", url)
            // Logs go to stdout; only a slow statement's warning could land there.
            .env("RUST_LOG", "error")
            .output()
    })
    .await
    .expect("the command's thread")
    .expect("the api binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command failed with exactly one line on stderr, and returns it.
fn refused(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "must fail; stdout: {}",
        stdout(output)
    );
    let message = stderr(output);
    assert_eq!(
        message.trim_end().lines().count(),
        1,
        "one line: {message:?}"
    );
    message
}

async fn revoked_at(pool: &PgPool, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar("select revoked_at from api_keys where key_hash = $1")
        .bind(&hash_key(key)[..])
        .fetch_one(pool)
        .await
        .expect("the key's row")
}

/// Sends `GET /v1/jobs` with `key` until it is refused, for at most [`GUARD`].
async fn first_refusal(app: &crate::helpers::TestApp, key: &str) -> Response {
    let started = Instant::now();
    loop {
        let response = app
            .client
            .get(app.url("/v1/jobs"))
            .bearer_auth(key)
            .send()
            .await
            .expect("get");
        if response.status() != 200 || started.elapsed() > GUARD {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_created_key_is_alone_on_stdout_and_its_prefix_is_on_stderr(pool: PgPool) {
    for spelling in [
        &["keys", "create", "--tenant", "acme"][..],
        &["create-key", "--tenant", "acme"],
    ] {
        let output = api(&pool, spelling).await;
        assert!(output.status.success(), "{spelling:?}: {}", stderr(&output));
        let printed = stdout(&output);
        let key = printed.strip_suffix('\n').expect("one line");
        assert!(key.starts_with("jk_") && key.len() == 46, "{printed:?}");
        let told = stderr(&output);
        assert!(told.contains(&key[..PREFIX_LEN]), "{told:?}");
        assert!(!told.contains(&key[..PREFIX_LEN + 1]), "{told:?}");
        let tenant = find_tenant(&pool, key).await.expect("lookup");
        assert!(tenant.is_some(), "the key works");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn each_new_key_is_named_by_a_prefix_no_other_key_shares(pool: PgPool) {
    let mut prefixes = Vec::new();
    for _ in 0..20 {
        let created = create_key(&pool, "acme").await.expect("key");
        prefixes.push(created.key[..PREFIX_LEN].to_owned());
    }
    let stored: Vec<String> = sqlx::query_scalar("select prefix from api_keys order by prefix")
        .fetch_all(&pool)
        .await
        .expect("prefixes");
    prefixes.sort();
    assert_eq!(stored, prefixes);
    // A second key with the same prefix is refused by the schema.
    let tenant: Uuid = sqlx::query_scalar("select id from tenants")
        .fetch_one(&pool)
        .await
        .expect("tenant");
    let duplicate = sqlx::query(
        "insert into api_keys (id, tenant_id, key_hash, prefix) values ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(&hash_key("jk_another")[..])
    .bind(&prefixes[0])
    .execute(&pool)
    .await;
    assert!(duplicate.is_err(), "prefixes are unique");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn keys_list_shows_prefixes_tenants_and_dates_but_never_a_secret(pool: PgPool) {
    let acme = create_key(&pool, "acme").await.expect("key").key;
    let globex = create_key(&pool, "globex").await.expect("key").key;
    let output = api(&pool, &["keys", "list"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = stdout(&output);
    for (key, tenant) in [(&acme, "acme"), (&globex, "globex")] {
        let line = listed
            .lines()
            .find(|line| line.starts_with(&key[..PREFIX_LEN]))
            .unwrap_or_else(|| panic!("{tenant}'s key is listed: {listed}"));
        assert!(line.contains(tenant), "{line}");
        assert!(line.contains(&chrono::Utc::now().format("%Y-%m-%d").to_string()));
        assert!(
            !line.contains(&key[..PREFIX_LEN + 1]),
            "no more of the secret"
        );
        let hash: String = hash_key(key).iter().map(|b| format!("{b:02x}")).collect();
        assert!(!listed.contains(&hash[..16]), "no hash");
    }
    let output = api(&pool, &["keys", "list", "--tenant", "globex"]).await;
    let listed = stdout(&output);
    assert!(listed.contains(&globex[..PREFIX_LEN]), "{listed}");
    assert!(!listed.contains(&acme[..PREFIX_LEN]), "{listed}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn revoking_by_prefix_revokes_that_key_alone_and_again_changes_nothing(pool: PgPool) {
    let kept = create_key(&pool, "acme").await.expect("key").key;
    let revoked = create_key(&pool, "acme").await.expect("key").key;
    let output = api(&pool, &["keys", "revoke", &revoked[..PREFIX_LEN]]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&revoked[..PREFIX_LEN]));
    assert_eq!(find_tenant(&pool, &revoked).await.expect("lookup"), None);
    assert!(find_tenant(&pool, &kept).await.expect("lookup").is_some());
    let first = revoked_at(&pool, &revoked).await.expect("revoked");

    let again = api(&pool, &["keys", "revoke", &revoked[..PREFIX_LEN]]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already revoked"),
        "{}",
        stdout(&again)
    );
    assert_eq!(revoked_at(&pool, &revoked).await, Some(first), "unchanged");

    let listed = stdout(&api(&pool, &["keys", "list"]).await);
    let line = |key: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(&key[..PREFIX_LEN]))
            .map(str::to_owned)
            .expect("listed")
    };
    assert!(
        line(&revoked)
            .matches(&first.format("%Y-%m-%d").to_string())
            .count()
            == 2
    );
    assert!(line(&kept).trim_end().ends_with('-'), "{}", line(&kept));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_unknown_or_ambiguous_prefix_is_refused_in_one_line_and_revokes_nothing(pool: PgPool) {
    let tenant = create_key(&pool, "acme").await.expect("key").tenant;
    // Keys made before prefixes grew store 7 characters, which two keys may share.
    let old = [
        "jk_AbCdOneOneOneOneOneOneOneOneOneOneOneOneOne",
        "jk_AbCdTwo",
    ];
    for key in old {
        sqlx::query(
            "insert into api_keys (id, tenant_id, key_hash, prefix) values ($1, $2, $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(tenant.0)
        .bind(&hash_key(key)[..])
        .bind(&key[..7])
        .execute(&pool)
        .await
        .expect("an old key");
    }
    for prefix in ["jk_AbCd", "jk_AbCdOne", "jk_zzzzzzzzzzzz", "jk_", "AbCdOne"] {
        let message = refused(&api(&pool, &["keys", "revoke", prefix]).await);
        assert!(message.contains(prefix), "{message}");
    }
    let ambiguous = refused(&api(&pool, &["keys", "revoke", "jk_AbCd"]).await);
    assert!(ambiguous.contains("2 keys"), "{ambiguous}");
    let revoked: i64 =
        sqlx::query_scalar("select count(*) from api_keys where revoked_at is not null")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(revoked, 0);

    // The whole key names an old key even when another shares its 7 characters.
    let output = api(&pool, &["keys", "revoke", old[0]]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(revoked_at(&pool, old[0]).await.is_some());
    assert!(revoked_at(&pool, old[1]).await.is_none());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_cached_key_is_refused_as_soon_as_it_is_revoked(pool: PgPool) {
    // An hour of cache: only the revocation notice can make the API forget the key.
    let app = spawn_app_with(pool.clone(), &["--api-key-cache=3600"]).await;
    assert_eq!(app.get("/v1/jobs").await.status(), 200, "served and cached");
    let output = api(&pool, &["keys", "revoke", &app.api_key[..PREFIX_LEN]]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let response = first_refusal(&app, &app.api_key).await;
    assert_problem(response, 401, "unauthorized").await;
}

/// The process id of the API's listening connection, once it listens.
async fn listener_pid(pool: &PgPool, not: Option<i32>) -> i32 {
    let started = Instant::now();
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "select pid from pg_stat_activity
             where datname = current_database() and query ilike 'listen%' and pid <> $1",
        )
        .bind(not.unwrap_or(0))
        .fetch_optional(pool)
        .await
        .expect("pg_stat_activity");
        if let Some(pid) = pid {
            return pid;
        }
        assert!(started.elapsed() < GUARD, "the API never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_key_revoked_in_sql_after_the_listening_connection_was_cut_is_refused_too(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &["--api-key-cache=3600"]).await;
    assert_eq!(app.get("/v1/jobs").await.status(), 200, "served and cached");
    let cut = listener_pid(&pool, None).await;
    sqlx::query("select pg_terminate_backend($1)")
        .bind(cut)
        .execute(&pool)
        .await
        .expect("terminate");
    listener_pid(&pool, Some(cut)).await;
    sqlx::query("update api_keys set revoked_at = now() where key_hash = $1")
        .bind(&hash_key(&app.api_key)[..])
        .execute(&pool)
        .await
        .expect("revoke in SQL");
    let response = first_refusal(&app, &app.api_key).await;
    assert_problem(response, 401, "unauthorized").await;
}
