//! A round-robin HTTP balancer in front of several worker processes, as
//! Cloud Run spreads a subscription's pushes over a service's instances.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone)]
struct Backends {
    urls: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    client: reqwest::Client,
}

/// Serves on `port` and passes each request to the next of `backends`
/// (base URLs) in turn, with its method, path, headers and body, and its
/// answer back; a backend that cannot be reached answers 502, which Pub/Sub
/// takes as a nack.
pub async fn start(port: u16, backends: Vec<String>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the balancer");
    let state = Backends {
        urls: Arc::new(backends),
        next: Arc::default(),
        client: reqwest::Client::new(),
    };
    let app = Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
}

async fn forward(
    State(backends): State<Backends>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let turn = backends.next.fetch_add(1, Ordering::Relaxed) % backends.urls.len();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = backends
        .client
        .request(method, format!("{}{path}", backends.urls[turn]))
        .body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = (status, body).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}
