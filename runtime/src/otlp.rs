//! The OTLP/HTTP span exporter: protobuf over the workspace's reqwest client,
//! with the service account's credentials when the endpoint is Google's
//! (`https://telemetry.googleapis.com`).
//!
//! The SDK exports from a thread of its own, outside any tokio runtime, so
//! each request is spawned onto the runtime that built the exporter.

use crate::settings::TraceSettings;
use async_trait::async_trait;
use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use reqwest::header::HeaderMap;
use std::fmt;
use std::time::Duration;
use thiserror::Error;
use tokio::runtime::Handle;

/// The most one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the exporter could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// Not built inside a tokio runtime, which the exporter's requests run on: a bug.
    #[error("the exporter needs a tokio runtime")]
    NoRuntime,
    /// The HTTP client or the exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Build(String),
    /// Google's endpoint needs credentials and there are none: give the
    /// service the Cloud Trace Agent role, or set up Application Default Credentials.
    #[error("no Google credentials for the Telemetry API: {0}")]
    Credentials(String),
}

/// The exporter to the settings' endpoint; `None` without one.
pub fn exporter(settings: &TraceSettings) -> Result<Option<SpanExporter>, ExporterError> {
    let Some(url) = settings.traces_url() else {
        return Ok(None);
    };
    let runtime = Handle::try_current().map_err(|_| ExporterError::NoRuntime)?;
    let credentials = if settings.is_google() {
        Some(
            credentials::Builder::default()
                .build()
                .map_err(|err| ExporterError::Credentials(err.to_string()))?,
        )
    } else {
        None
    };
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| ExporterError::Build(err.to_string()))?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(OtlpClient {
            client,
            runtime,
            credentials,
        })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| ExporterError::Build(err.to_string()))?;
    Ok(Some(exporter))
}

/// Sends the exporter's requests on the runtime, signed when there are credentials.
struct OtlpClient {
    client: reqwest::Client,
    runtime: Handle,
    credentials: Option<Credentials>,
}

impl fmt::Debug for OtlpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpClient")
            .field("google_credentials", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let credentials = self.credentials.clone();
        self.runtime
            .spawn(send(client, credentials, request))
            .await?
    }
}

/// One export request, with the credentials' headers added.
async fn send(
    client: reqwest::Client,
    credentials: Option<Credentials>,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    if let Some(credentials) = credentials {
        match credentials.headers(Default::default()).await? {
            CacheableResource::New { data, .. } => headers.extend::<HeaderMap>(data),
            // Only answered to a caller that sent an entity tag, which this one never does.
            CacheableResource::NotModified => {}
        }
    }
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
