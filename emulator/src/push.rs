//! One push delivery: POST the envelope and read the answer as an ack or a nack.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A push request ready to send.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The lease the answer settles.
    pub ack_id: String,
    /// For logs.
    pub message_id: String,
    /// The subscription's push endpoint.
    pub endpoint: Uri,
    /// The envelope JSON.
    pub body: Bytes,
    /// The (scaled) ack deadline: no answer by then is a nack.
    pub timeout: Duration,
}

/// How a push request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The endpoint answered with a status Pub/Sub takes as an ack.
    Acked(StatusCode),
    /// The endpoint answered with any other status.
    Rejected(StatusCode),
    /// The request could not be sent or the answer could not be read.
    Failed(String),
    /// No answer before the ack deadline.
    TimedOut,
}

impl PushOutcome {
    /// Whether the delivery is acknowledged.
    pub fn is_ack(&self) -> bool {
        matches!(self, Self::Acked(_))
    }
}

/// Sends push requests over plain HTTP/1.1, reusing connections.
#[derive(Debug, Clone)]
pub struct PushClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for PushClient {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl PushClient {
    /// POSTs the envelope and waits for the answer until the ack deadline.
    pub async fn deliver(&self, push: &PushRequest) -> PushOutcome {
        let request = Request::builder()
            .method(Method::POST)
            .uri(push.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            )
            .body(Full::new(push.body.clone()));
        let request = match request {
            Ok(request) => request,
            Err(error) => return PushOutcome::Failed(error.to_string()),
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            // Drain the body so the connection can be reused.
            response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(push.timeout, exchange).await {
            Err(_) => PushOutcome::TimedOut,
            Ok(Err(error)) => PushOutcome::Failed(error),
            Ok(Ok(status)) if is_ack_status(status) => PushOutcome::Acked(status),
            Ok(Ok(status)) => PushOutcome::Rejected(status),
        }
    }
}

/// The statuses Pub/Sub takes as an ack: 102, 200, 201, 202 and 204.
fn is_ack_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 102 | 200 | 201 | 202 | 204)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pubsubs_success_codes_ack() {
        for code in [102, 200, 201, 202, 204] {
            assert!(
                is_ack_status(StatusCode::from_u16(code).expect("code")),
                "{code}"
            );
        }
        for code in [203, 206, 301, 400, 404, 429, 500, 503] {
            assert!(
                !is_ack_status(StatusCode::from_u16(code).expect("code")),
                "{code}"
            );
        }
    }
}
