//! Every operation the API serves in `/openapi.json` has a client method,
//! and each method sends the request of the operation it is listed under.

use crate::test_api::TestApi;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use jobs_client::{
    Client, Error, Handler, JobQuery, JobTemplate, JobTypeDefinition, NewJob, RetryFailed,
    ScheduleDefinition, Uuid,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A call of one client method, its answer dropped.
type Call = for<'a> fn(&'a Client) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// An operation of the API (its method and path template) and the client
/// method that performs it.
struct Operation {
    method: &'static str,
    path: &'static str,
    call: Call,
}

const fn op(method: &'static str, path: &'static str, call: Call) -> Operation {
    Operation { method, path, call }
}

const JOB: Uuid = Uuid::from_u128(0x0199_c3a4_0000_7000_8000_0000_0000_0001);

fn noop() -> NewJob {
    NewJob::new("noop", json!({}))
}

fn schedule() -> ScheduleDefinition {
    ScheduleDefinition {
        cron: "0 * * * *".to_owned(),
        job: JobTemplate {
            job_type: "noop".to_owned(),
            payload: json!({}),
            ..JobTemplate::default()
        },
        ..ScheduleDefinition::default()
    }
}

/// The table: one row per operation of the API. A route the API gains
/// fails `every_operation_of_the_served_document_has_a_client_method`
/// until a method and its row are added here.
fn operations() -> Vec<Operation> {
    vec![
        op("GET", "/healthz", |c| Box::pin(c.health())),
        op("GET", "/readyz", |c| Box::pin(c.ready())),
        op("GET", "/metrics", |c| {
            Box::pin(async { c.metrics().await.map(drop) })
        }),
        op("POST", "/v1/jobs", |c| {
            Box::pin(async { c.submit(&noop()).await.map(drop) })
        }),
        op("POST", "/v1/jobs/batch", |c| {
            Box::pin(async { c.submit_batch(&[noop()]).await.map(drop) })
        }),
        op("GET", "/v1/jobs", |c| {
            Box::pin(async { c.list_jobs(&JobQuery::default()).await.map(drop) })
        }),
        op("GET", "/v1/jobs/{id}", |c| {
            Box::pin(async { c.get_job(JOB).await.map(drop) })
        }),
        op("POST", "/v1/jobs/{id}/cancel", |c| {
            Box::pin(async { c.cancel_job(JOB).await.map(drop) })
        }),
        op("POST", "/v1/jobs/{id}/retry", |c| {
            Box::pin(async { c.retry_job(JOB).await.map(drop) })
        }),
        op("POST", "/v1/jobs/retry", |c| {
            Box::pin(async { c.retry_failed(&RetryFailed::default()).await.map(drop) })
        }),
        op("GET", "/v1/jobs/{id}/events", |c| {
            Box::pin(async { c.job_events(JOB).await.map(drop) })
        }),
        op("GET", "/v1/stats", |c| {
            Box::pin(async { c.stats().await.map(drop) })
        }),
        op("GET", "/v1/job-types", |c| {
            Box::pin(async { c.list_job_types().await.map(drop) })
        }),
        op("GET", "/v1/job-types/{name}", |c| {
            Box::pin(async { c.get_job_type("invoice.render").await.map(drop) })
        }),
        op("PUT", "/v1/job-types/{name}", |c| {
            Box::pin(async {
                let definition = JobTypeDefinition::new(Handler::Builtin("noop".to_owned()));
                c.put_job_type("invoice.render", &definition)
                    .await
                    .map(drop)
            })
        }),
        op("DELETE", "/v1/job-types/{name}", |c| {
            Box::pin(c.delete_job_type("invoice.render"))
        }),
        op("POST", "/v1/job-types/{name}/rotate-secret", |c| {
            Box::pin(async { c.rotate_job_type_secret("invoice.render").await.map(drop) })
        }),
        op("GET", "/v1/schedules", |c| {
            Box::pin(async { c.list_schedules().await.map(drop) })
        }),
        op("GET", "/v1/schedules/{name}", |c| {
            Box::pin(async { c.get_schedule("nightly").await.map(drop) })
        }),
        op("PUT", "/v1/schedules/{name}", |c| {
            Box::pin(async { c.put_schedule("nightly", &schedule()).await.map(drop) })
        }),
        op("DELETE", "/v1/schedules/{name}", |c| {
            Box::pin(c.delete_schedule("nightly"))
        }),
        op("POST", "/v1/schedules/{name}/pause", |c| {
            Box::pin(async { c.pause_schedule("nightly").await.map(drop) })
        }),
        op("POST", "/v1/schedules/{name}/resume", |c| {
            Box::pin(async { c.resume_schedule("nightly").await.map(drop) })
        }),
        op("POST", "/v1/callback-secret", |c| {
            Box::pin(async { c.create_callback_secret().await.map(drop) })
        }),
    ]
}

/// `(METHOD, path template)` of every operation in an OpenAPI document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn every_operation_of_the_served_document_has_a_client_method(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let document: Value = reqwest::get(format!("{}/openapi.json", api.url))
        .await
        .expect("the document is served")
        .json()
        .await
        .expect("the document is JSON");
    let covered: BTreeSet<(String, String)> = operations()
        .iter()
        .map(|op| (op.method.to_owned(), op.path.to_owned()))
        .collect();
    assert_eq!(
        operations().len(),
        covered.len(),
        "an operation is listed twice"
    );
    let documented = documented(&document);
    let missing: Vec<_> = documented.difference(&covered).collect();
    let gone: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "operations without a client method: {missing:?}; methods of operations the API no longer has: {gone:?}"
    );
}

/// Requests a recorder received: `(METHOD, path)`.
type Received = Arc<Mutex<Vec<(String, String)>>>;

async fn record(State(received): State<Received>, method: Method, uri: Uri) -> StatusCode {
    if let Ok(mut received) = received.lock() {
        received.push((method.to_string(), uri.path().to_owned()));
    }
    StatusCode::IM_A_TEAPOT
}

/// True when `path` is an instance of `template` (`{x}` stands for one segment).
fn matches(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template.iter().zip(&path).all(|(expected, segment)| {
            expected == segment || (expected.starts_with('{') && !segment.is_empty())
        })
}

#[tokio::test]
async fn each_method_sends_the_operation_its_row_names() {
    let received = Received::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(&format!("http://{address}"), "jk_test").expect("a client");
    for operation in operations() {
        // The recorder answers 418 to everything; only the request counts.
        let answer = (operation.call)(&client).await;
        let sent = received
            .lock()
            .map(|mut received| received.drain(..).collect::<Vec<_>>())
            .unwrap_or_default();
        let name = format!("{} {}", operation.method, operation.path);
        assert!(
            matches!(answer, Err(Error::UnexpectedResponse { status: 418, .. })),
            "{name}: {answer:?}"
        );
        assert_eq!(sent.len(), 1, "{name}: sent {sent:?}");
        let (method, path) = &sent[0];
        assert!(
            method == operation.method && matches(operation.path, path),
            "{name}: the method sent {method} {path}"
        );
    }
}
