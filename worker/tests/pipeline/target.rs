//! An HTTP server that `http` jobs call, with a behaviour per path and a hit count per path.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Hits per path, shared with the test.
#[derive(Clone, Default)]
pub struct Target {
    hits: Arc<Mutex<HashMap<String, u32>>>,
    pub url: String,
}

impl Target {
    /// Serves on a random port:
    /// - `/ok/{key}` answers 200;
    /// - `/flaky/{n}/{key}` answers 500 for the first `n` hits, then 200;
    /// - `/fail/{key}` always answers 500;
    /// - `/missing/{key}` always answers 404;
    /// - `/gate/{key}` answers 404 until `open(key)`, then 200.
    pub async fn start() -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let target = Target {
            hits: Arc::default(),
            url,
        };
        let app = Router::new()
            .route("/{kind}/{key}", any(hit))
            .route("/flaky/{n}/{key}", any(flaky))
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

    /// Lets `/gate/{key}` succeed from now on.
    pub fn open(&self, key: &str) {
        self.hits
            .lock()
            .expect("hits lock")
            .insert(format!("open:{key}"), 1);
    }

    /// An `http` job payload calling `path` on this target.
    pub fn job(&self, path: &str) -> serde_json::Value {
        serde_json::json!({"type": "http", "payload": {"url": format!("{}{path}", self.url), "method": "POST"}})
    }
}

async fn hit(
    State(target): State<Target>,
    Path((kind, key)): Path<(String, String)>,
) -> StatusCode {
    target.count(format!("/{kind}/{key}"));
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
