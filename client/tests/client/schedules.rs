//! Schedules and the probes through the client.

use crate::client_of;
use crate::test_api::TestApi;
use jobs_client::{Error, JobTemplate, ScheduleDefinition};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_schedule_is_created_paused_resumed_and_deleted(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let definition = ScheduleDefinition {
        cron: "0 3 * * *".to_owned(),
        timezone: Some("Europe/Berlin".to_owned()),
        job: JobTemplate {
            job_type: "noop".to_owned(),
            payload: json!({"report": "daily"}),
            max_attempts: Some(2),
            ..JobTemplate::default()
        },
        paused: false,
    };
    let saved = client
        .put_schedule("nightly", &definition)
        .await
        .expect("created");
    assert!(saved.created);
    let schedule = saved.value;
    assert_eq!(schedule.timezone, "Europe/Berlin");
    assert_eq!(schedule.job.max_attempts, 2);
    assert!(schedule.next_run_at.is_some());

    let paused = client.pause_schedule("nightly").await.expect("paused");
    assert!(paused.paused);
    assert_eq!(paused.next_run_at, None);
    let resumed = client.resume_schedule("nightly").await.expect("resumed");
    assert!(!resumed.paused);
    assert_eq!(
        client.list_schedules().await.expect("listed"),
        vec![resumed.clone()]
    );
    assert_eq!(client.get_schedule("nightly").await.expect("read"), resumed);

    client.delete_schedule("nightly").await.expect("deleted");
    let err = client.get_schedule("nightly").await.expect_err("gone");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_bad_pattern_names_its_field(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let definition = ScheduleDefinition {
        cron: "61 * * * *".to_owned(),
        job: JobTemplate {
            job_type: "noop".to_owned(),
            payload: json!({}),
            ..JobTemplate::default()
        },
        ..ScheduleDefinition::default()
    };
    let err = client_of(&api)
        .put_schedule("hourly", &definition)
        .await
        .expect_err("refused");
    let problem = err.problem().expect("a problem");
    assert!(
        problem.errors.iter().any(|e| e.field == "cron"),
        "{problem:?}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_probes_and_metrics_answer(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    client.health().await.expect("up");
    client.ready().await.expect("ready");
    let metrics = client.metrics().await.expect("metrics");
    assert!(metrics.contains("# EOF"), "{metrics}");
}
