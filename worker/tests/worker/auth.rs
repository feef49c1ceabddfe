//! Push authentication with RSA keys and ID tokens the tests make themselves,
//! the public half served as a JWKS by a local server.

use crate::helpers::{
    TestWorker, WorkerOptions, assert_ack, assert_problem, envelope, spawn_worker_with,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jobs_domain::JobStatus;
use jobs_worker::push_auth::PushAuthSettings;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Response;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const KID: &str = "test-key-1";
const AUDIENCE: &str = "https://jobs-worker.example.run.app/pubsub/push";
const SERVICE_ACCOUNT: &str = "pubsub-push@test-project.iam.gserviceaccount.com";

/// The signing key the JWKS lists, and another one it does not.
struct Keys {
    signing: EncodingKey,
    impostor: EncodingKey,
    jwks: Value,
}

/// RSA key generation is slow in debug builds, so the test binary makes its keys once.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing = rsa_key();
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).expect("jwk");
        jwk.common.key_id = Some(KID.to_owned());
        let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks json");
        Keys {
            signing,
            impostor: rsa_key(),
            jwks,
        }
    })
}

fn rsa_key() -> EncodingKey {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("rsa key");
    let der = AsDer::as_der(&pair).expect("pkcs8");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der.as_ref())
    );
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Claims as Google mints them for a push subscription.
fn claims() -> Value {
    let now = now();
    json!({
        "aud": AUDIENCE,
        "iss": "https://accounts.google.com",
        "sub": "112233445566778899000",
        "azp": "112233445566778899000",
        "email": SERVICE_ACCOUNT,
        "email_verified": true,
        "iat": now,
        "exp": now + 3600,
    })
}

/// A header naming the listed key, signed with `alg`.
fn header(alg: Algorithm) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some(KID.to_owned());
    header
}

fn sign(claims: &Value, key: &EncodingKey) -> String {
    encode(&header(Algorithm::RS256), claims, key).expect("token")
}

/// A token signed with the listed key under `header`.
fn token_with_header(header: &Header, claims: &Value) -> String {
    encode(header, claims, &keys().signing).expect("token")
}

fn token(claims: &Value) -> String {
    sign(claims, &keys().signing)
}

/// A token with the right claims, signed with a key the JWKS does not list under `kid`.
fn forged(kid: &str) -> String {
    let mut header = header(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(&header, &claims(), &keys().impostor).expect("token")
}

/// How the test JWKS endpoint answers.
#[derive(Debug, Clone, Copy)]
enum Jwks {
    /// The keys, after a delay.
    After(Duration),
    /// The keys at once the first time; later fetches hang until released.
    HangingAfterTheFirst,
    /// 500, every time.
    Failing,
}

/// Serves the JWKS on a free port as `mode` says, counting fetches; later
/// fetches of [`Jwks::HangingAfterTheFirst`] wait for a permit of the semaphore.
async fn jwks_server(mode: Jwks) -> (String, Arc<AtomicUsize>, Arc<Semaphore>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let state = (fetches.clone(), release.clone());
    let app = Router::new()
        .route(
            "/oauth2/v3/certs",
            get(
                move |State((fetches, release)): State<(Arc<AtomicUsize>, Arc<Semaphore>)>| async move {
                    let earlier = fetches.fetch_add(1, Ordering::SeqCst);
                    match mode {
                        Jwks::After(delay) => tokio::time::sleep(delay).await,
                        Jwks::HangingAfterTheFirst if earlier > 0 => {
                            let _permit = release.acquire().await;
                        }
                        Jwks::HangingAfterTheFirst => {}
                        Jwks::Failing => return Err(StatusCode::INTERNAL_SERVER_ERROR),
                    }
                    Ok(axum::Json(keys().jwks.clone()))
                },
            ),
        )
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        format!("http://127.0.0.1:{port}/oauth2/v3/certs"),
        fetches,
        release,
    )
}

/// A worker that requires push tokens, and the JWKS fetch counter.
async fn guarded_worker(pool: PgPool) -> (TestWorker, Arc<AtomicUsize>) {
    guarded_worker_with_keys_after(pool, Duration::ZERO).await
}

/// As [`guarded_worker`], with a JWKS endpoint that answers after `delay`.
async fn guarded_worker_with_keys_after(
    pool: PgPool,
    delay: Duration,
) -> (TestWorker, Arc<AtomicUsize>) {
    let (worker, fetches, _) = guarded_worker_with(pool, Jwks::After(delay)).await;
    (worker, fetches)
}

/// As [`guarded_worker`], with a JWKS endpoint that answers as `mode` says.
async fn guarded_worker_with(
    pool: PgPool,
    mode: Jwks,
) -> (TestWorker, Arc<AtomicUsize>, Arc<Semaphore>) {
    let (jwks_url, fetches, release) = jwks_server(mode).await;
    let options = WorkerOptions {
        push_auth: Some(PushAuthSettings {
            audience: AUDIENCE.to_owned(),
            service_account: SERVICE_ACCOUNT.to_owned(),
            jwks_url: jwks_url.parse().expect("url"),
        }),
        ..WorkerOptions::default()
    };
    (spawn_worker_with(pool, options).await, fetches, release)
}

/// Pushes a pending noop job's message with `token`.
async fn push_with(worker: &TestWorker, token: Option<&str>) -> (Response, jobs_domain::Job) {
    let job = worker.insert_job("noop", json!({}), 3, 30).await;
    let body = envelope(job.id, "noop", 1).to_string();
    (worker.post("/pubsub/push", body, token).await, job)
}

async fn assert_refused(
    worker: &TestWorker,
    token: Option<&str>,
    status: u16,
    slug: &str,
) -> Value {
    let (response, job) = push_with(worker, token).await;
    let problem = assert_problem(response, status, slug).await;
    // A refused push never touches the job.
    assert_eq!(worker.job(job.id).await.status, JobStatus::Pending);
    problem
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_valid_token_is_accepted_and_the_keys_are_fetched_once(pool: PgPool) {
    let (worker, fetches) = guarded_worker(pool).await;
    for issuer in ["https://accounts.google.com", "accounts.google.com"] {
        let mut claims = claims();
        claims["iss"] = json!(issuer);
        let (response, _) = push_with(&worker, Some(&token(&claims))).await;
        assert_ack(response, "completed").await;
    }
    let body = envelope(jobs_domain::JobId::new(), "noop", 1).to_string();
    let dead_letter = worker
        .post("/pubsub/dead-letter", body, Some(&token(&claims())))
        .await;
    assert_ack(dead_letter, "not_found").await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_burst_of_pushes_waiting_for_the_first_key_fetch_is_all_accepted(pool: PgPool) {
    // The keys arrive slowly, so every push of the burst meets the fetch in flight.
    let (worker, fetches) = guarded_worker_with_keys_after(pool, Duration::from_millis(300)).await;
    let token = token(&claims());
    let pushes = (0..16).map(|_| push_with(&worker, Some(&token)));
    for (response, _) in futures::future::join_all(pushes).await {
        assert_ack(response, "completed").await;
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_missing_token_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let (response, _) = push_with(&worker, None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthorized").await;
    assert_refused(&worker, Some("not-a-jwt"), 401, "unauthorized").await;
    let body = envelope(jobs_domain::JobId::new(), "noop", 1).to_string();
    let dead_letter = worker.post("/pubsub/dead-letter", body, None).await;
    assert_problem(dead_letter, 401, "unauthorized").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_expired_token_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    let problem = assert_refused(&worker, Some(&token(&claims)), 401, "unauthorized").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("expired")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_for_another_audience_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["aud"] = json!("https://someone-else.example.com");
    let problem = assert_refused(&worker, Some(&token(&claims)), 401, "unauthorized").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("audience")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_from_another_issuer_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["iss"] = json!("https://evil.example.com");
    let problem = assert_refused(&worker, Some(&token(&claims)), 401, "unauthorized").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Google")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_with_a_bad_signature_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    // Same key id, wrong key: only the signature can tell.
    let forged = sign(&claims(), &keys().impostor);
    let problem = assert_refused(&worker, Some(&forged), 401, "unauthorized").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("signature")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_valid_token_for_another_account_is_403(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut other = claims();
    other["email"] = json!("someone-else@test-project.iam.gserviceaccount.com");
    assert_refused(&worker, Some(&token(&other)), 403, "forbidden").await;
    let mut unverified = claims();
    unverified["email_verified"] = json!(false);
    assert_refused(&worker, Some(&token(&unverified)), 403, "forbidden").await;
    let mut no_email = claims();
    if let Some(claims) = no_email.as_object_mut() {
        claims.remove("email");
    }
    assert_refused(&worker, Some(&token(&no_email)), 403, "forbidden").await;
}

/// Asserts a 401 whose detail mentions `words`.
async fn assert_unauthorized_because(worker: &TestWorker, token: &str, words: &str) {
    let problem = assert_refused(worker, Some(token), 401, "unauthorized").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(words)),
        "expected `{words}` in {problem}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_without_aud_iss_or_exp_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    for claim in ["aud", "iss", "exp"] {
        let mut claims = claims();
        if let Some(claims) = claims.as_object_mut() {
            claims.remove(claim);
        }
        assert_unauthorized_because(&worker, &token(&claims), claim).await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_signed_with_anything_but_rs256_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    // The listed RSA key itself, so only the algorithm is wrong.
    for alg in [Algorithm::RS512, Algorithm::PS256] {
        let token = token_with_header(&header(alg), &claims());
        assert_unauthorized_because(&worker, &token, "RS256").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_not_valid_yet_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["nbf"] = json!(now() + 600);
    assert_unauthorized_because(&worker, &token(&claims), "not valid yet").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_issued_in_the_future_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["iat"] = json!(now() + 600);
    assert_unauthorized_because(&worker, &token(&claims), "issued in the future").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_a_few_seconds_early_is_accepted_as_clock_skew(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut claims = claims();
    claims["iat"] = json!(now() + 3);
    claims["nbf"] = json!(now() + 3);
    let (response, _) = push_with(&worker, Some(&token(&claims))).await;
    assert_ack(response, "completed").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_with_a_critical_header_is_401(pool: PgPool) {
    let (worker, _) = guarded_worker(pool).await;
    let mut header = header(Algorithm::RS256);
    header.crit = Some(vec!["urn:example:must-understand".to_owned()]);
    header.extras.insert("urn:example:must-understand", true);
    let token = token_with_header(&header, &claims());
    assert_unauthorized_because(&worker, &token, "crit").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_token_for_a_key_the_jwks_does_not_list_is_401(pool: PgPool) {
    let (worker, fetches) = guarded_worker(pool).await;
    assert_unauthorized_because(&worker, &forged("unknown-key"), "signing key").await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn forged_pushes_with_unknown_keys_do_not_fetch_the_keys_each_time(pool: PgPool) {
    let (worker, fetches) = guarded_worker(pool).await;
    let (response, _) = push_with(&worker, Some(&token(&claims()))).await;
    assert_ack(response, "completed").await;
    let tokens: Vec<String> = (0..20).map(|n| forged(&format!("forged-{n}"))).collect();
    let pushes = tokens.iter().map(|token| push_with(&worker, Some(token)));
    for (response, _) in futures::future::join_all(pushes).await {
        assert_problem(response, 401, "unauthorized").await;
    }
    // One fetch for the valid push; a second only if this test stalled for
    // longer than the refresh throttle, never one per forged push.
    let fetched = fetches.load(Ordering::SeqCst);
    assert!(fetched <= 2, "{fetched} fetches");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_valid_push_is_not_held_up_by_forged_ones_while_the_keys_are_slow(pool: PgPool) {
    let (worker, fetches, release) = guarded_worker_with(pool, Jwks::HangingAfterTheFirst).await;
    let valid = token(&claims());
    let (response, _) = push_with(&worker, Some(&valid)).await;
    assert_ack(response, "completed").await;

    let tokens: Vec<String> = (0..4).map(|n| forged(&format!("forged-{n}"))).collect();
    let forged_pushes =
        futures::future::join_all(tokens.iter().map(|t| push_with(&worker, Some(t))));
    tokio::pin!(forged_pushes);
    // Go on once the forged pushes are answered, or one of them is stuck in a fetch.
    let early = tokio::select! {
        answers = &mut forged_pushes => Some(answers),
        () = async {
            while fetches.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } => None,
    };
    let (response, _) = push_with(&worker, Some(&valid)).await;
    assert_ack(response, "completed").await;

    release.add_permits(100);
    let answers = match early {
        Some(answers) => answers,
        None => forged_pushes.await,
    };
    for (response, _) in answers {
        assert_problem(response, 401, "unauthorized").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn while_the_keys_cannot_be_fetched_pushes_are_503_and_the_fetch_is_not_retried_each_time(
    pool: PgPool,
) {
    let (worker, fetches, _) = guarded_worker_with(pool, Jwks::Failing).await;
    let valid = token(&claims());
    for _ in 0..3 {
        let (response, _) = push_with(&worker, Some(&valid)).await;
        assert_problem(response, 503, "unavailable").await;
    }
    // As above: a second fetch only after a stall longer than the throttle.
    let fetched = fetches.load(Ordering::SeqCst);
    assert!(fetched <= 2, "{fetched} fetches");
}
