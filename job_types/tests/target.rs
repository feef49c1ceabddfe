//! HTTP targets against a local axum server: the request a target receives,
//! how its answers end the attempt, its credentials, and the SSRF guard.

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use jobs_domain::{Job, JobId, JobStatus, TenantId};
use jobs_job_types::signature::{SignatureError, verify};
use jobs_job_types::{
    HandlerError, HandlerSettings, IdTokenError, IdTokenSource, TargetAuth, TargetCaller,
    TargetSpec,
};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

const SERVICE_ACCOUNT: &str = "jobs-worker@test-project.iam.gserviceaccount.com";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const LIMIT: Duration = Duration::from_secs(10);

/// One request as the target saw it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A local target on 127.0.0.1 whose answer depends on the path.
struct Target {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Target {
    async fn start() -> Target {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = Router::new().route(
            "/{*path}",
            any(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    let path = uri.path().to_owned();
                    log.lock().expect("log").push(Received {
                        method,
                        path: path.clone(),
                        headers,
                        body,
                    });
                    answer(&path).await
                },
            ),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Target { port, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    fn only_request(&self) -> Received {
        let received = self.received();
        assert_eq!(received.len(), 1, "{received:?}");
        received.into_iter().next().expect("one request")
    }
}

/// What the target answers on each path.
async fn answer(path: &str) -> Response {
    let json = [("content-type", "application/json")];
    match path {
        "/json" => (json, r#"{"welcomed": true}"#).into_response(),
        "/html" => ([("content-type", "text/html")], "<p>welcome</p>").into_response(),
        "/big" => (json, format!("[{}0]", "0,".repeat(40_000))).into_response(),
        "/unavailable" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "7")],
            "later",
        )
            .into_response(),
        "/busy" => StatusCode::TOO_MANY_REQUESTS.into_response(),
        "/missing" => StatusCode::NOT_FOUND.into_response(),
        "/moved" => (StatusCode::FOUND, [("location", "/json")]).into_response(),
        "/silent" => std::future::pending::<Response>().await,
        _ => (json, "{}").into_response(),
    }
}

fn settings(allow_private: bool) -> HandlerSettings {
    HandlerSettings {
        smtp_url: None,
        email_from: "jobs@localhost".parse().expect("mailbox"),
        http_allow_private_networks: allow_private,
    }
}

fn caller_with(tokens: Arc<dyn IdTokenSource>, allow_private: bool) -> TargetCaller {
    TargetCaller::new(&settings(allow_private), tokens).expect("caller")
}

fn caller() -> TargetCaller {
    caller_with(Arc::new(StaticKeyIdTokens), true)
}

fn job() -> Job {
    let now = Utc::now();
    Job {
        id: JobId::new(),
        tenant: TenantId(Default::default()),
        job_type: "welcome".to_owned(),
        status: JobStatus::Processing,
        payload: json!({"user": 42, "plan": "pro"}),
        result: None,
        error: None,
        failure_reason: None,
        attempts: 2,
        max_attempts: 5,
        timeout_seconds: 30,
        run_at: now,
        created_at: now,
        updated_at: now,
        started_at: Some(now),
        finished_at: None,
        idempotency_key: None,
        callback_url: None,
        schedule: None,
        cancel_requested_at: None,
    }
}

fn spec(url: String, auth: TargetAuth) -> TargetSpec {
    TargetSpec {
        url: url.parse().expect("url"),
        method: "POST".to_owned(),
        headers: BTreeMap::new(),
        auth,
    }
}

// ---- the signing key and the token source that uses it ----

struct Keys {
    signing: EncodingKey,
    verifying: DecodingKey,
}

/// RSA key generation is slow in debug builds, so the test binary makes its key once.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("rsa key");
        let der = AsDer::as_der(&pair).expect("pkcs8");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let signing = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key");
        let jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).expect("jwk");
        let verifying = DecodingKey::from_jwk(&jwk).expect("decoding key");
        Keys { signing, verifying }
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// ID tokens as Google mints them for a service account, signed with the test key.
struct StaticKeyIdTokens;

#[async_trait]
impl IdTokenSource for StaticKeyIdTokens {
    async fn id_token(&self, audience: &str) -> Result<String, IdTokenError> {
        let now = now();
        let claims = json!({
            "aud": audience,
            "iss": GOOGLE_ISSUER,
            "sub": "112233445566778899000",
            "azp": "112233445566778899000",
            "email": SERVICE_ACCOUNT,
            "email_verified": true,
            "iat": now,
            "exp": now + 3600,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-key".to_owned());
        Ok(jsonwebtoken::encode(&header, &claims, &keys().signing).expect("token"))
    }
}

/// A source with no credentials.
struct NoCredentials;

#[async_trait]
impl IdTokenSource for NoCredentials {
    async fn id_token(&self, _audience: &str) -> Result<String, IdTokenError> {
        Err(IdTokenError::Unavailable(
            "no service account on this machine".to_owned(),
        ))
    }
}

/// The claims of a bearer token, checked as a Cloud Run-style target would.
fn verified_claims(authorization: Option<&str>, audience: &str) -> Map<String, Value> {
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .expect("a bearer token");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[GOOGLE_ISSUER]);
    validation.set_required_spec_claims(&["aud", "iss", "exp"]);
    jsonwebtoken::decode::<Map<String, Value>>(token, &keys().verifying, &validation)
        .expect("a token that verifies")
        .claims
}

// ---- the request ----

#[tokio::test]
async fn the_target_receives_the_documented_body_and_headers() {
    let target = Target::start().await;
    let job = job();
    let mut spec = spec(target.url("/hooks/welcome"), TargetAuth::None);
    spec.headers
        .insert("x-team".to_owned(), "growth".to_owned());
    let result = caller().call(&spec, None, &job, LIMIT).await;
    assert_eq!(result, Ok(json!({})));

    let received = target.only_request();
    assert_eq!(received.method, Method::POST);
    assert_eq!(received.path, "/hooks/welcome");
    assert_eq!(received.header("content-type"), Some("application/json"));
    let id = job.id.to_string();
    assert_eq!(received.header("jobs-job-id"), Some(id.as_str()));
    assert_eq!(received.header("idempotency-key"), Some(id.as_str()));
    assert_eq!(received.header("jobs-attempt"), Some("2"));
    assert_eq!(received.header("x-team"), Some("growth"));
    assert_eq!(received.header("authorization"), None);
    assert_eq!(received.header("jobs-signature"), None);
    assert_eq!(
        received.json(),
        json!({"job": {
            "id": id,
            "type": "welcome",
            "payload": {"user": 42, "plan": "pro"},
            "attempt": 2,
            "max_attempts": 5,
            "created_at": serde_json::to_value(job.created_at).expect("timestamp"),
        }})
    );
}

#[tokio::test]
async fn the_configured_method_is_used() {
    let target = Target::start().await;
    let mut spec = spec(target.url("/put"), TargetAuth::None);
    spec.method = "PUT".to_owned();
    assert!(caller().call(&spec, None, &job(), LIMIT).await.is_ok());
    assert_eq!(target.only_request().method, Method::PUT);
}

#[tokio::test]
async fn configured_headers_cannot_override_the_reserved_ones() {
    let target = Target::start().await;
    for (name, auth) in [
        ("Content-Type", TargetAuth::None),
        ("Jobs-Job-Id", TargetAuth::None),
        ("jobs-attempt", TargetAuth::None),
        ("Idempotency-Key", TargetAuth::None),
        ("Jobs-Signature", TargetAuth::Hmac),
        ("Authorization", TargetAuth::Oidc { audience: None }),
    ] {
        let mut spec = spec(target.url("/json"), auth);
        spec.headers.insert(name.to_owned(), "forged".to_owned());
        let result = caller().call(&spec, Some("whsec_x"), &job(), LIMIT).await;
        assert!(
            matches!(&result, Err(HandlerError::Permanent(error)) if error.contains(name)),
            "{name}: {result:?}"
        );
    }
    assert!(target.received().is_empty());
}

// ---- the answer ----

#[tokio::test]
async fn a_json_answer_is_the_result() {
    let target = Target::start().await;
    let spec = spec(target.url("/json"), TargetAuth::None);
    let result = caller().call(&spec, None, &job(), LIMIT).await;
    assert_eq!(result, Ok(json!({"welcomed": true})));
}

#[tokio::test]
async fn an_html_or_oversized_answer_is_kept_as_a_note() {
    let target = Target::start().await;
    let html = caller()
        .call(
            &spec(target.url("/html"), TargetAuth::None),
            None,
            &job(),
            LIMIT,
        )
        .await;
    assert_eq!(
        html,
        Ok(json!({"status": 200, "note": "the response was not JSON (text/html, 14 bytes)"}))
    );
    let big = caller()
        .call(
            &spec(target.url("/big"), TargetAuth::None),
            None,
            &job(),
            LIMIT,
        )
        .await;
    assert_eq!(
        big,
        Ok(
            json!({"status": 200, "note": "the response was over 64 KiB (application/json, 80003 bytes)"})
        )
    );
}

#[tokio::test]
async fn unavailable_and_busy_targets_are_retryable_and_retry_after_is_reported() {
    let target = Target::start().await;
    let unavailable = caller()
        .call(
            &spec(target.url("/unavailable"), TargetAuth::None),
            None,
            &job(),
            LIMIT,
        )
        .await;
    match unavailable {
        Err(HandlerError::RetryableAfter { error, after }) => {
            assert_eq!(after, Duration::from_secs(7));
            assert!(error.contains("503"), "{error}");
        }
        other => panic!("expected RetryableAfter, got {other:?}"),
    }
    let busy = caller()
        .call(
            &spec(target.url("/busy"), TargetAuth::None),
            None,
            &job(),
            LIMIT,
        )
        .await;
    assert!(
        matches!(&busy, Err(HandlerError::Retryable(error)) if error.contains("429")),
        "{busy:?}"
    );
}

#[tokio::test]
async fn a_missing_or_redirecting_target_is_a_permanent_failure() {
    let target = Target::start().await;
    for path in ["/missing", "/moved"] {
        let result = caller()
            .call(
                &spec(target.url(path), TargetAuth::None),
                None,
                &job(),
                LIMIT,
            )
            .await;
        assert!(
            matches!(result, Err(HandlerError::Permanent(_))),
            "{path}: {result:?}"
        );
    }
    // The redirect was not followed.
    assert_eq!(target.received().len(), 2);
}

#[tokio::test]
async fn a_target_that_does_not_answer_in_time_is_retryable() {
    let target = Target::start().await;
    let spec = spec(target.url("/silent"), TargetAuth::None);
    let result = caller()
        .call(&spec, None, &job(), Duration::from_millis(200))
        .await;
    assert!(
        matches!(result, Err(HandlerError::Retryable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_target_that_refuses_the_connection_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let spec = spec(format!("http://127.0.0.1:{port}/"), TargetAuth::None);
    let result = caller().call(&spec, None, &job(), LIMIT).await;
    assert!(
        matches!(result, Err(HandlerError::Retryable(_))),
        "{result:?}"
    );
}

// ---- HMAC ----

#[tokio::test]
async fn the_hmac_signature_verifies_with_the_secret_only_and_not_once_stale() {
    let target = Target::start().await;
    let secret = "whsec_the-types-own-secret";
    let spec = spec(target.url("/json"), TargetAuth::Hmac);
    assert!(
        caller()
            .call(&spec, Some(secret), &job(), LIMIT)
            .await
            .is_ok()
    );

    let received = target.only_request();
    let header = received.header("jobs-signature").expect("a signature");
    let sent_at: i64 = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .and_then(|t| t.parse().ok())
        .expect("t=<unix seconds>");
    let tolerance = Duration::from_secs(300);
    assert_eq!(
        verify(secret, header, &received.body, sent_at, tolerance),
        Ok(())
    );
    assert_eq!(
        verify("whsec_another", header, &received.body, sent_at, tolerance),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(secret, header, b"{\"job\":{}}", sent_at, tolerance),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(secret, header, &received.body, sent_at + 301, tolerance),
        Err(SignatureError::Stale)
    );
    assert_eq!(received.header("authorization"), None);
}

#[tokio::test]
async fn hmac_without_a_secret_fails_permanently_and_sends_nothing() {
    let target = Target::start().await;
    let spec = spec(target.url("/json"), TargetAuth::Hmac);
    let result = caller().call(&spec, None, &job(), LIMIT).await;
    assert!(
        matches!(result, Err(HandlerError::Permanent(_))),
        "{result:?}"
    );
    assert!(target.received().is_empty());
}

// ---- OIDC ----

#[tokio::test]
async fn an_oidc_target_receives_a_google_signed_token_for_the_configured_audience() {
    let target = Target::start().await;
    let audience = "https://hooks.example.com";
    let spec = spec(
        target.url("/json"),
        TargetAuth::Oidc {
            audience: Some(audience.to_owned()),
        },
    );
    assert!(caller().call(&spec, None, &job(), LIMIT).await.is_ok());

    let received = target.only_request();
    let claims = verified_claims(received.header("authorization"), audience);
    assert_eq!(claims.get("email"), Some(&json!(SERVICE_ACCOUNT)));
    assert_eq!(claims.get("email_verified"), Some(&json!(true)));
    let expiry = claims.get("exp").and_then(Value::as_u64).expect("exp");
    assert!(expiry > now(), "the token is unexpired");
}

#[tokio::test]
async fn without_an_audience_the_token_is_for_the_url() {
    let target = Target::start().await;
    let url = target.url("/json?team=growth");
    let spec = spec(url.clone(), TargetAuth::Oidc { audience: None });
    assert!(caller().call(&spec, None, &job(), LIMIT).await.is_ok());
    let received = target.only_request();
    let claims = verified_claims(received.header("authorization"), &url);
    assert_eq!(claims.get("aud"), Some(&json!(url)));
}

#[tokio::test]
async fn no_id_token_is_a_retryable_failure_and_sends_nothing() {
    let target = Target::start().await;
    let spec = spec(target.url("/json"), TargetAuth::Oidc { audience: None });
    let result = caller_with(Arc::new(NoCredentials), true)
        .call(&spec, None, &job(), LIMIT)
        .await;
    assert!(
        matches!(&result, Err(HandlerError::Retryable(error)) if error.contains("ID token")),
        "{result:?}"
    );
    assert!(target.received().is_empty());
}

// ---- the guard ----

#[tokio::test]
async fn private_targets_are_refused_without_a_request_unless_private_networks_are_allowed() {
    let target = Target::start().await;
    let guarded = caller_with(Arc::new(StaticKeyIdTokens), false);
    for url in [
        target.url("/json"),
        format!("http://localhost:{}/json", target.port),
    ] {
        let result = guarded
            .call(&spec(url.clone(), TargetAuth::None), None, &job(), LIMIT)
            .await;
        assert!(
            matches!(&result, Err(HandlerError::Permanent(error)) if error.contains("loopback")),
            "{url}: {result:?}"
        );
    }
    assert!(target.received().is_empty());
}

#[tokio::test]
async fn a_signed_callback_to_a_private_address_is_refused_unless_private_networks_are_allowed() {
    let target = Target::start().await;
    let url: url::Url = target.url("/json").parse().expect("url");
    let guarded = caller_with(Arc::new(StaticKeyIdTokens), false);
    let refused = guarded
        .post_signed(&url, "whsec_test", b"{}".to_vec(), &job(), LIMIT)
        .await;
    assert!(
        matches!(&refused, Err(HandlerError::Permanent(error)) if error.contains("loopback")),
        "{refused:?}"
    );
    assert!(target.received().is_empty());
    let sent = caller()
        .post_signed(&url, "whsec_test", b"{}".to_vec(), &job(), LIMIT)
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    let received = target.received();
    assert_eq!(received.len(), 1);
}
