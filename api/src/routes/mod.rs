//! The HTTP surface: each resource's router, merged here with the OpenAPI document.

mod callback_secret;
mod health;
mod job_types;
mod jobs;
mod jobs_bulk;
mod metrics;
mod schedules;
mod stats;
mod ui;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Json, Router};
use jobs_domain::SubmissionLimits;
use jobs_domain::schedule::schedule_schemas;
use jobs_domain::submission::submission_schemas;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Jobs API", description = "Submit background jobs and follow them to completion."),
    modifiers(&BearerKeys)
)]
struct ApiDoc;

/// Declares the `api_key` bearer scheme the job routes require.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Documents every error response as `Problem::into_response_with` serves
/// it: `application/problem+json`, with `WWW-Authenticate` on a 401 and
/// `Retry-After` on a 429 or a 503. The handlers' annotations say which
/// statuses an operation answers; this says once how each is rendered.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = || Ref::from_schema_name("Problem");
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in &mut operation.responses.responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let is_problem = response.content.get("application/json").is_some_and(
                        |content| matches!(&content.schema, Some(RefOr::Ref(r)) if *r == problem()),
                    );
                    if !is_problem {
                        continue;
                    }
                    response.content.shift_remove("application/json");
                    response.content.insert(
                        "application/problem+json".to_owned(),
                        Content::new(Some(problem())),
                    );
                    let header = match status.as_str() {
                        "401" => Some((
                            "WWW-Authenticate",
                            ObjectBuilder::new().schema_type(Type::String),
                            "`Bearer`: how to authenticate",
                        )),
                        "429" | "503" => Some((
                            "Retry-After",
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0)),
                            "Seconds to wait before trying again",
                        )),
                        _ => None,
                    };
                    if let Some((name, schema, description)) = header {
                        let header = HeaderBuilder::new()
                            .schema(schema)
                            .description(Some(description))
                            .build();
                        response.headers.insert(name.to_owned(), header);
                    }
                }
            }
        }
    }
}

/// Documents the submission limits this server was configured with, which
/// the schemas' `minimum`/`maximum` state, instead of the defaults.
struct ConfiguredLimits(SubmissionLimits);

impl Modify for ConfiguredLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let payloads: Vec<_> = jobs_job_types::BUILTIN
            .iter()
            .map(|builtin| builtin.payload_schema())
            .collect();
        components
            .schemas
            .extend(submission_schemas(&self.0, &payloads));
        components
            .schemas
            .extend(schedule_schemas(&self.0, &payloads));
        components.schemas.insert(
            "JobTypeDefinition".to_owned(),
            jobs_job_types::definition_schema(&self.0),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(jobs::router())
        .merge(jobs_bulk::router())
        .merge(callback_secret::router())
        .merge(job_types::router())
        .merge(schedules::router())
        .merge(stats::router())
        .merge(health::router())
        .merge(metrics::router())
        .split_for_parts();
    ProblemResponses.modify(&mut openapi);
    (router, openapi)
}

/// The whole application, ready to serve.
pub fn app(state: AppState) -> Router {
    let (router, mut openapi) = split();
    ConfiguredLimits(state.limits).modify(&mut openapi);
    router
        .route("/openapi.json", get(move || async move { Json(openapi) }))
        .merge(ui::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.max_body_bytes as usize))
        .layer(from_fn(jobs_problem::log_errors))
        .layer(jobs_runtime::trace_context::http_layer())
        .with_state(state)
}
