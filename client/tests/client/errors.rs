//! The API's refusals arrive as the typed error that says what to do.

use crate::client_of;
use crate::test_api::TestApi;
use jobs_client::{Client, Error, JobQuery, NewJob, Uuid};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_unknown_job_is_not_found(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let err = client_of(&api)
        .get_job(Uuid::from_u128(7))
        .await
        .expect_err("no such job");
    let Error::NotFound(problem) = &err else {
        panic!("expected NotFound, got {err:?}");
    };
    assert_eq!(problem.status, 404);
    assert_eq!(problem.problem_type, "urn:problem:not-found");
    assert_eq!(problem.detail, "no job with that id");
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_transient());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn invalid_fields_are_listed_with_the_error(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let job = NewJob {
        max_attempts: Some(0),
        ..NewJob::new("http", json!({}))
    };
    let err = client_of(&api).submit(&job).await.expect_err("refused");
    let Error::InvalidFields(problem) = &err else {
        panic!("expected InvalidFields, got {err:?}");
    };
    assert_eq!(problem.problem_type, "urn:problem:invalid-fields");
    let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"max_attempts"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("payload")),
        "{fields:?}"
    );
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("max_attempts: "), "{line}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wrong_key_is_unauthorized(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = Client::new(&api.url, "jk_not-a-key").expect("a client");
    let err = client
        .list_jobs(&JobQuery::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert_eq!(err.status(), Some(401));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn over_the_rate_the_error_says_when_to_come_back(pool: PgPool) {
    let api = TestApi::start(
        pool,
        &[
            "--tenant-rate-limit=1",
            "--tenant-rate-period=60",
            "--tenant-rate-burst=1",
        ],
    )
    .await;
    let client = client_of(&api);
    client
        .list_jobs(&JobQuery::default())
        .await
        .expect("the first is within the rate");
    let err = client
        .list_jobs(&JobQuery::default())
        .await
        .expect_err("the second is over it");
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert!(err.is_transient());
    let wait = err.retry_after().expect("Retry-After");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn no_answer_is_a_transport_error_not_a_problem() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("an address");
    drop(listener);
    let client = Client::new(&format!("http://{address}"), "jk_x").expect("a client");
    let err = client.health().await.expect_err("nothing listens");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(err.problem(), None);
    assert_eq!(err.status(), None);
}
