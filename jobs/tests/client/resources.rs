//! Job types, schedules and the callback secret through the command line.

use crate::jobs;
use crate::test_api::TestApi;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_type_is_defined_shown_listed_rotated_and_deleted(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let definition = json!({
        "handler": {"target": {"url": "https://billing.example.com/jobs/render", "auth": {"kind": "hmac"}}},
        "payload_schema": {"type": "object", "required": ["invoice_id"]},
        "max_attempts": 8
    })
    .to_string();

    let put_args = [
        "types",
        "put",
        "invoice.render",
        "--definition",
        &definition,
    ];
    let put = jobs(&api, &put_args).await.ok();
    assert!(
        put.stdout.starts_with("defined job type invoice.render\n"),
        "{put:?}"
    );
    assert!(put.stdout.contains("whsec_"), "the secret, once: {put:?}");
    assert!(
        put.stdout
            .contains("POST https://billing.example.com/jobs/render (hmac)"),
        "{put:?}"
    );

    let replaced = jobs(&api, &[&put_args[..], &["--json"]].concat())
        .await
        .ok()
        .json();
    assert_eq!(replaced["name"], "invoice.render");
    assert_eq!(
        replaced.get("secret"),
        None,
        "a replaced type keeps its secret"
    );

    let shown = jobs(&api, &["types", "get", "invoice.render", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["max_attempts"], 8);
    let listed = jobs(&api, &["types", "list"]).await.ok();
    for name in ["noop", "http", "invoice.render"] {
        assert!(listed.stdout.contains(name), "{name}: {listed:?}");
    }
    let rotated = jobs(
        &api,
        &["types", "rotate-secret", "invoice.render", "--json"],
    )
    .await
    .ok()
    .json();
    assert!(
        rotated["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );

    let deleted = jobs(&api, &["types", "delete", "invoice.render", "--json"])
        .await
        .ok();
    assert_eq!(
        deleted.json(),
        json!({"name": "invoice.render", "deleted": true})
    );
    let gone = jobs(&api, &["types", "get", "invoice.render"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");

    let unreadable = jobs(&api, &["types", "put", "x", "--definition", "{}"]).await;
    assert_eq!(unreadable.code, Some(2), "{unreadable:?}");
    assert!(
        unreadable
            .stderr
            .contains("--definition: missing field `handler`"),
        "{unreadable:?}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_schedule_is_created_paused_resumed_and_deleted(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let put = jobs(
        &api,
        &[
            "schedules",
            "put",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Berlin",
            "--type",
            "noop",
            "--payload",
            r#"{"report": "daily"}"#,
        ],
    )
    .await
    .ok();
    assert!(
        put.stdout.starts_with("created schedule nightly\n"),
        "{put:?}"
    );
    assert!(put.stdout.contains("Europe/Berlin"), "{put:?}");

    let paused = jobs(&api, &["schedules", "pause", "nightly", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["next_run_at"], json!(null));
    let resumed = jobs(&api, &["schedules", "resume", "nightly", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(resumed["paused"], false);
    let listed = jobs(&api, &["schedules", "list"]).await.ok();
    assert!(
        listed.stdout.contains("nightly") && listed.stdout.contains("active"),
        "{listed:?}"
    );
    let shown = jobs(&api, &["schedules", "get", "nightly", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown, resumed);

    let refused = jobs(
        &api,
        &[
            "schedules",
            "put",
            "hourly",
            "--cron",
            "61 * * * *",
            "--type",
            "noop",
        ],
    )
    .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("cron: "), "{refused:?}");

    jobs(&api, &["schedules", "delete", "nightly"]).await.ok();
    let gone = jobs(&api, &["schedules", "list", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(gone, json!({"schedules": []}));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_callback_secret_is_created_then_rotated(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let created = jobs(&api, &["callback-secret", "create"]).await.ok();
    assert!(
        created.stdout.starts_with("created the callback secret"),
        "{created:?}"
    );
    let rotated = jobs(&api, &["callback-secret", "create", "--json"])
        .await
        .ok()
        .json();
    assert!(
        rotated["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
}
