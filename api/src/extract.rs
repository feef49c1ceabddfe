//! Extractors whose rejections are [`ApiError`]s, so every bad request gets problem+json.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use jobs_domain::{FieldError, JobId, TenantId};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The tenant behind the request's API key, within its request rate.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let tenant = state.api_keys.authenticate(authorization).await?;
        state.rate_limit.check(tenant)?;
        Ok(Tenant(tenant))
    }
}

/// The `{id}` of a job route. An id that is not a UUID can name no job, so it
/// is a 404 like any unknown id.
#[derive(Debug, Clone, Copy)]
pub struct JobIdPath(pub JobId);

impl<S: Send + Sync> FromRequestParts<S> for JobIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(|id| JobIdPath(JobId(id)))
            .map_err(|_| ApiError::NotFound)
    }
}

/// A JSON body: 415 unless `application/json`, 413 over the limit, 400 when
/// not JSON, 422 naming the field when JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// The field a serde error is about; a missing field is reported at the parent, so name it.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => String::new(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(state.max_body_bytes)
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::Malformed(format!("the body is not valid JSON: {err}")))?;
        let parsed = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            ApiError::Invalid(vec![FieldError::new(field_of(&path, &message), message)])
        })?;
        Ok(JsonBody(parsed))
    }
}
