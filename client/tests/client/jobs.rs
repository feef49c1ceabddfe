//! Jobs through the client: submit, read, list, history, cancel, retry,
//! batches and bulk retries, against the real API.

use crate::client_of;
use crate::test_api::TestApi;
use jobs_client::{Client, FailureReason, Job, JobQuery, JobStatus, NewJob, RetryFailed};
use jobs_domain::Outcome;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

/// A `noop` job the API stored.
async fn submitted_noop(client: &Client) -> Job {
    client
        .submit(&NewJob::new("noop", json!({})))
        .await
        .expect("submitted")
        .value
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_submitted_job_is_read_listed_and_has_its_history(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let new = NewJob::new("noop", json!({"order": 42})).idempotency_key("order-42");

    let submitted = client.submit(&new).await.expect("submitted");
    assert!(submitted.created);
    let job = submitted.value;
    assert_eq!(job.job_type, "noop");
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.payload, json!({"order": 42}));
    assert_eq!(job.idempotency_key.as_deref(), Some("order-42"));

    let replay = client.submit(&new).await.expect("replayed");
    assert!(!replay.created, "the same key and body answer the original");
    assert_eq!(replay.value.id, job.id);

    assert_eq!(client.get_job(job.id).await.expect("read"), job);
    let page = client
        .list_jobs(&JobQuery {
            status: Some(JobStatus::Pending),
            job_type: Some("noop".to_owned()),
            ..JobQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(page.jobs, vec![job.clone()]);
    assert_eq!(page.next_page_token, None);
    let by_key = client
        .list_jobs(&JobQuery {
            idempotency_key: Some("order-42".to_owned()),
            ..JobQuery::default()
        })
        .await
        .expect("found by key");
    assert_eq!(by_key.jobs, vec![job.clone()]);

    let events = client.job_events(job.id).await.expect("history");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "submitted");
    assert_eq!(events[0].to_status, JobStatus::Pending);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn pages_follow_their_tokens_to_the_end(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let jobs: Vec<NewJob> = (0..3)
        .map(|n| NewJob::new("noop", json!({"n": n})))
        .collect();
    let batch = client.submit_batch(&jobs).await.expect("a batch");
    assert_eq!(batch.len(), 3);
    assert_eq!(batch[2].payload, json!({"n": 2}));

    let mut query = JobQuery {
        limit: Some(2),
        ..JobQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = client.list_jobs(&query).await.expect("a page");
        seen.extend(page.jobs.into_iter().map(|job| job.id));
        match page.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => break,
        }
    }
    let mut expected: Vec<_> = batch.iter().map(|job| job.id).collect();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each once");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancel_retry_and_bulk_retry_move_jobs_as_the_api_says(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let job = submitted_noop(&client).await;
    let cancelled = client.cancel_job(job.id).await.expect("cancelled");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let retried = client.retry_job(job.id).await.expect("retried");
    assert_eq!(retried.status, JobStatus::Pending);

    let failed = api
        .finish(job.id, Outcome::Permanent("the target said 400".to_owned()))
        .await;
    assert_eq!(failed.status.to_string(), "failed");
    let job = client.get_job(job.id).await.expect("read");
    assert_eq!(job.failure_reason, Some(FailureReason::PermanentError));
    assert_eq!(job.error.as_deref(), Some("the target said 400"));

    let requeued = client
        .retry_failed(&RetryFailed {
            failure_reason: Some(FailureReason::PermanentError),
            ..RetryFailed::default()
        })
        .await
        .expect("bulk retry");
    assert_eq!(requeued.requeued, 1);
    assert_eq!(requeued.next_page_token, None);
    let job = client.get_job(job.id).await.expect("read");
    assert_eq!(job.status, JobStatus::Pending);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn wait_for_job_answers_the_job_as_it_ended(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let job = submitted_noop(&client).await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for_job(job.id, Duration::from_millis(50)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a pending job is waited for");
    api.finish(job.id, Outcome::Succeeded(json!({"ok": true})))
        .await;
    let ended = waiting.await.expect("joins").expect("ended");
    assert_eq!(ended.status, JobStatus::Completed);
    assert_eq!(ended.result, Some(json!({"ok": true})));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn stats_read_into_the_clients_types(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let job = submitted_noop(&client).await;
    let stats = client.stats().await.expect("stats");
    assert_eq!(stats.by_status.pending, 1);
    assert_eq!(stats.by_type.len(), 1);
    assert_eq!(stats.by_type[0].job_type, "noop");
    assert_eq!(stats.per_minute.len(), 60);
    assert_eq!(stats.oldest_pending.map(|oldest| oldest.id), Some(job.id));
}
