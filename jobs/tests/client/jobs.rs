//! Jobs through the command line: submit, get, list, events, wait, cancel,
//! retry and batch.

use crate::test_api::TestApi;
use crate::{jobs, run_with};
use jobs_domain::Outcome;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// The id of a job a `--json` run printed.
fn id_of(job: &Value) -> Uuid {
    job["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {job}"))
}

/// Submits a `noop` job through the API's client and answers its id.
async fn submitted(api: &TestApi) -> Uuid {
    let run = jobs(api, &["submit", "noop", "--json"]).await.ok();
    id_of(&run.json())
}

/// The id of the job stored under `key`, once a submit has stored it.
async fn stored_under(api: &TestApi, key: &str) -> Uuid {
    for _ in 0..200 {
        let found: Option<Uuid> =
            sqlx::query_scalar("select id from jobs where idempotency_key = $1")
                .bind(key)
                .fetch_optional(&api.pool)
                .await
                .expect("the query runs");
        if let Some(id) = found {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no job was stored under {key}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submit_get_list_and_events_print_tables_and_json(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;

    let submit = jobs(
        &api,
        &[
            "submit",
            "noop",
            "--payload",
            r#"{"order": 42}"#,
            "--idempotency-key",
            "order-42",
            "--json",
        ],
    )
    .await
    .ok();
    let job = submit.json();
    assert_eq!(job["status"], "pending");
    assert_eq!(job["payload"], json!({"order": 42}));
    assert_eq!(job["idempotency_key"], "order-42");
    let id = id_of(&job).to_string();

    let get = jobs(&api, &["get", &id]).await.ok();
    for shown in [
        id.as_str(),
        "status",
        "pending",
        "\"order\": 42",
        "order-42",
    ] {
        assert!(get.stdout.contains(shown), "{shown}: {get:?}");
    }
    assert_eq!(jobs(&api, &["get", &id, "--json"]).await.ok().json(), job);

    let list = jobs(&api, &["list", "--status", "pending", "--type", "noop"])
        .await
        .ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one job: {list:?}");
    assert!(lines[0].starts_with("ID "), "{list:?}");
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("pending"),
        "{list:?}"
    );
    let listed = jobs(&api, &["--json", "list"]).await.ok().json();
    assert_eq!(listed["jobs"], json!([job]));
    let by_key = jobs(&api, &["--json", "list", "--idempotency-key", "order-42"])
        .await
        .ok()
        .json();
    assert_eq!(by_key["jobs"], json!([job]));
    let other_key = jobs(&api, &["--json", "list", "--idempotency-key", "order-43"])
        .await
        .ok()
        .json();
    assert_eq!(other_key["jobs"], json!([]));

    let events = jobs(&api, &["events", &id]).await.ok();
    assert!(events.stdout.contains("submitted"), "{events:?}");
    let events = jobs(&api, &["events", &id, "--json"]).await.ok().json();
    assert_eq!(events["events"][0]["event"], "submitted");
    assert_eq!(events["events"][0]["to_status"], "pending");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submit_wait_exits_0_when_the_job_completes(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let args = ["JOBS_API_URL", &api.url, "JOBS_API_KEY", &api.key].map(str::to_owned);
    let waiting = tokio::spawn(async move {
        let env = [(&*args[0], &*args[1]), (&*args[2], &*args[3])];
        let argv = [
            "submit",
            "noop",
            "--idempotency-key",
            "wait-for-me",
            "--wait",
            "--interval",
            "100ms",
        ];
        run_with(&env, &argv).await
    });
    let id = stored_under(&api, "wait-for-me").await;
    api.finish(id, Outcome::Succeeded(json!({"rendered": true})))
        .await;
    let run = waiting.await.expect("joins");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("completed"), "{run:?}");
    assert!(run.stdout.contains("\"rendered\": true"), "{run:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn wait_exits_1_when_a_job_failed_and_prints_a_line_per_job(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let done = submitted(&api).await;
    let failed = submitted(&api).await;
    api.finish(done, Outcome::Succeeded(json!(null))).await;
    api.finish(failed, Outcome::Permanent("the target said 400".to_owned()))
        .await;
    let (done, failed) = (done.to_string(), failed.to_string());

    let run = jobs(&api, &["wait", &done, &failed, "--interval", "100ms"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    let mut expected = vec![
        format!("{done} completed"),
        format!("{failed} failed (permanent_error): the target said 400"),
    ];
    expected.sort();
    assert_eq!(lines, expected, "{run:?}");

    let json = jobs(&api, &["wait", &failed, &done, "--json"]).await;
    assert_eq!(json.code, Some(1), "{json:?}");
    let ended = json.json();
    assert_eq!(ended["jobs"][0]["status"], "failed");
    assert_eq!(ended["jobs"][1]["status"], "completed");

    let completed = jobs(&api, &["wait", &done]).await;
    assert_eq!(completed.code, Some(0), "{completed:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancel_and_retry_one_job_and_retry_the_failed_ones(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let id = submitted(&api).await;
    let id_text = id.to_string();

    let cancelled = jobs(&api, &["cancel", &id_text, "--json"]).await.ok();
    assert_eq!(cancelled.json()["status"], "cancelled");
    let again = jobs(&api, &["cancel", &id_text]).await;
    assert_eq!(again.code, Some(1), "a job no longer pending: {again:?}");
    assert!(again.stderr.starts_with("error: "), "{again:?}");

    let retried = jobs(&api, &["retry", &id_text]).await.ok();
    assert!(retried.stdout.contains("pending"), "{retried:?}");

    api.finish(id, Outcome::Permanent("boom".to_owned())).await;
    let bulk = jobs(
        &api,
        &[
            "retry",
            "--failed",
            "--type",
            "noop",
            "--failure-reason",
            "permanent_error",
            "--json",
        ],
    )
    .await
    .ok();
    assert_eq!(bulk.json(), json!({"requeued": 1}));
    let none_left = jobs(&api, &["retry", "--failed"]).await.ok();
    assert_eq!(none_left.stdout, "0 failed jobs are pending again\n");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_batch_file_is_submitted_and_list_all_reads_every_page(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let file = std::env::temp_dir().join(format!("jobs-cli-batch-{}.jsonl", Uuid::new_v4()));
    let lines = (0..3)
        .map(|n| json!({"type": "noop", "payload": {"n": n}}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, lines).expect("writes the batch");
    let path = file.display().to_string();
    let batch = jobs(&api, &["batch", &path, "--json"]).await;
    let _ = std::fs::remove_file(&file);
    let stored = batch.ok().json();
    assert_eq!(stored["jobs"].as_array().map(Vec::len), Some(3));
    assert_eq!(stored["jobs"][2]["payload"], json!({"n": 2}));

    let first = jobs(&api, &["list", "--limit", "1"]).await.ok();
    assert!(first.stderr.contains("--page-token "), "{first:?}");
    let all = jobs(&api, &["list", "--limit", "1", "--all", "--json"])
        .await
        .ok()
        .json();
    let payloads: Vec<&Value> = all["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| &job["payload"]["n"])
        .collect();
    assert_eq!(payloads, [&json!(2), &json!(1), &json!(0)], "newest first");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn stats_print_counts_by_type_and_the_oldest_waiting_job(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let id = submitted(&api).await.to_string();

    let stats = jobs(&api, &["stats"]).await.ok();
    let lines: Vec<&str> = stats.stdout.lines().collect();
    assert!(lines[0].starts_with("TYPE "), "{stats:?}");
    let all: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(all, ["(all)", "1", "0", "0", "0", "0"], "{stats:?}");
    assert!(lines[2].starts_with("noop "), "{stats:?}");
    assert!(stats.stdout.contains(&id), "the oldest pending: {stats:?}");
    assert!(stats.stdout.contains("0 completed, 0 failed"), "{stats:?}");

    let json = jobs(&api, &["stats", "--json"]).await.ok().json();
    assert_eq!(json["by_status"]["pending"], 1);
    assert_eq!(json["by_type"][0]["type"], "noop");
    assert_eq!(json["per_minute"].as_array().map(Vec::len), Some(60));
    assert_eq!(json["oldest_pending"]["id"], id.as_str());
}
