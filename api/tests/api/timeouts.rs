//! Slow clients are cut: a request whose headers or body stall does not hold
//! its connection longer than the configured timeouts (1 s here).

use crate::helpers::spawn_app_with;
use sqlx::PgPool;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a stalled client may wait for the server to cut it before the
/// test fails: the timeouts are 1 s, so this only catches "never".
const GUARD: Duration = Duration::from_secs(8);

const TIMEOUTS: [&str; 2] = ["--http-header-timeout=1", "--http-body-timeout=1"];

/// Sends `sent` on a fresh connection to `address`, then stalls, and returns
/// what the server wrote until it closed the connection; `None` if it kept it
/// open past [`GUARD`].
async fn stall_after(address: &str, sent: &[u8]) -> Option<String> {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    stream.write_all(sent).await.expect("send");
    let mut received = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_body_shorter_than_its_content_length_is_cut_with_a_408(pool: PgPool) {
    let app = spawn_app_with(pool, &TIMEOUTS).await;
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"type\":1",
        app.api_key
    );
    let answer = stall_after(&app.address, head.as_bytes())
        .await
        .expect("the server closed the connection");
    // The connection is closed; when the answer made it out, it is a problem+json 408.
    if !answer.is_empty() {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains("urn:problem:request-timeout"), "{answer}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_client_that_never_finishes_its_headers_is_cut(pool: PgPool) {
    let app = spawn_app_with(pool, &TIMEOUTS).await;
    let answer = stall_after(&app.address, b"GET /v1/jobs HTTP/1.1\r\nhost: test\r\n").await;
    assert!(answer.is_some(), "the server kept the connection open");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_client_that_sends_nothing_is_cut(pool: PgPool) {
    let app = spawn_app_with(pool, &TIMEOUTS).await;
    let answer = stall_after(&app.address, b"").await;
    assert_eq!(answer.as_deref(), Some(""), "closed without an answer");
}
