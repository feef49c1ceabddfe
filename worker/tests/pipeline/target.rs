//! An HTTP server that `http` jobs call, with a behaviour per path and a hit count per path.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hits per path, shared with the test.
#[derive(Clone, Default)]
pub struct Target {
    hits: Arc<Mutex<HashMap<String, u32>>>,
    /// `/overlap` calls per account.
    runs: Arc<Mutex<HashMap<String, Runs>>>,
    /// The `traceparent` header of the last request to each path that had one.
    traceparents: Arc<Mutex<HashMap<String, String>>>,
    pub url: String,
}

/// What `/overlap` saw of one account's jobs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Runs {
    /// Calls running now.
    pub running: u32,
    /// The most calls that ran at once.
    pub most_at_once: u32,
    /// Calls so far.
    pub calls: u32,
}

impl Target {
    /// Serves on a random port:
    /// - `/ok/{key}` answers 200;
    /// - `/flaky/{n}/{key}` answers 500 for the first `n` hits, then 200;
    /// - `/fail/{key}` always answers 500;
    /// - `/missing/{key}` always answers 404;
    /// - `/gate/{key}` answers 404 until `open(key)`, then 200;
    /// - `/overlap`, a tenant type's target: takes the job's
    ///   `payload.account_id`, counts how many calls of that account overlap,
    ///   and answers 200 after `payload.ms` milliseconds (default 75), or,
    ///   with `payload.hold`, once `open(hold)` was called.
    pub async fn start() -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let target = Target {
            hits: Arc::default(),
            runs: Arc::default(),
            traceparents: Arc::default(),
            url,
        };
        let app = Router::new()
            .route("/{kind}/{key}", any(hit))
            .route("/flaky/{n}/{key}", any(flaky))
            .route("/overlap", post(overlap))
            .with_state(target.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        target
    }

    fn count(&self, path: String) -> u32 {
        let mut hits = self.hits.lock().expect("hits lock");
        let count = hits.entry(path).or_default();
        *count += 1;
        *count
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> u32 {
        self.hits
            .lock()
            .expect("hits lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// The `traceparent` of the last request to `path` that sent one.
    pub fn traceparent(&self, path: &str) -> Option<String> {
        self.traceparents
            .lock()
            .expect("traceparents lock")
            .get(path)
            .cloned()
    }

    /// Lets `/gate/{key}` succeed from now on.
    pub fn open(&self, key: &str) {
        self.hits
            .lock()
            .expect("hits lock")
            .insert(format!("open:{key}"), 1);
    }

    /// What `/overlap` saw of `account`'s jobs.
    pub fn runs(&self, account: &str) -> Runs {
        self.runs
            .lock()
            .expect("runs lock")
            .get(account)
            .copied()
            .unwrap_or_default()
    }

    fn run_changes(&self, account: &str, change: impl FnOnce(&mut Runs)) {
        let mut runs = self.runs.lock().expect("runs lock");
        change(runs.entry(account.to_owned()).or_default());
    }

    /// An `http` job payload calling `path` on this target.
    pub fn job(&self, path: &str) -> serde_json::Value {
        serde_json::json!({"type": "http", "payload": {"url": format!("{}{path}", self.url), "method": "POST"}})
    }
}

async fn hit(
    State(target): State<Target>,
    Path((kind, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> StatusCode {
    let path = format!("/{kind}/{key}");
    if let Some(traceparent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        target
            .traceparents
            .lock()
            .expect("traceparents lock")
            .insert(path.clone(), traceparent.to_owned());
    }
    target.count(path);
    match kind.as_str() {
        "ok" => StatusCode::OK,
        "fail" => StatusCode::INTERNAL_SERVER_ERROR,
        "gate" if target.hits(&format!("open:{key}")) > 0 => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

async fn flaky(State(target): State<Target>, Path((n, key)): Path<(u32, String)>) -> StatusCode {
    if target.count(format!("/flaky/{n}/{key}")) <= n {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A target call of a job whose payload names its `account_id`.
async fn overlap(State(target): State<Target>, Json(body): Json<Value>) -> StatusCode {
    let payload = &body["job"]["payload"];
    let Some(account) = payload["account_id"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    target.run_changes(account, |runs| {
        runs.running += 1;
        runs.calls += 1;
        runs.most_at_once = runs.most_at_once.max(runs.running);
    });
    match payload["hold"].as_str() {
        Some(gate) => {
            while target.hits(&format!("open:{gate}")) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        None => {
            let ms = payload["ms"].as_u64().unwrap_or(75);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    target.run_changes(account, |runs| runs.running -= 1);
    StatusCode::OK
}
