//! The web dashboard (`/ui`) in headless Chromium against the whole stack:
//! what a person sees and does, with a screenshot of each view under
//! `target/ui-screenshots/`.

use crate::browser::{Browser, PHONE};
use crate::harness::Stack;
use jobs_domain::api_keys::create_key;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Opens the dashboard and signs in with the stack's key.
async fn signed_in(stack: &Stack) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui", stack.api)).await;
    browser.fill("#api-key", &stack.api_key).await;
    browser.click("#sign-in").await;
    browser.wait_text("h1", "Overview").await;
    browser
}

/// Submits a job as another tenant; answers its id.
async fn submit_as(stack: &Stack, key: &str, body: &Value) -> String {
    let response = stack
        .client
        .post(format!("{}/v1/jobs", stack.api))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("submit");
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("job");
    job["id"].as_str().expect("id").to_owned()
}

/// A `noop` job that waits an hour before it runs: it stays pending.
fn waiting(job_type: &str) -> Value {
    let payload = match job_type {
        "sleep" => json!({"ms": 1}),
        _ => json!({}),
    };
    json!({"type": job_type, "payload": payload, "delay_seconds": 3600})
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_new_user_signs_in_finds_a_failed_jobs_error_and_retries_it_to_completion(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui", stack.api)).await;
    browser.wait_text("h1", "Sign in").await;
    browser.screenshot("01-sign-in").await;

    browser.fill("#api-key", "jk_not_a_key").await;
    browser.click("#sign-in").await;
    browser
        .wait_text("#login-status", "The API refused this key")
        .await;
    browser.screenshot("02-sign-in-refused-key").await;

    browser.fill("#api-key", &stack.api_key).await;
    browser.click("#sign-in").await;
    browser.wait_text("h1", "Overview").await;
    let url = browser.client.current_url().await.expect("url");
    assert!(
        !url.as_str().contains(&stack.api_key),
        "the key is never in a URL"
    );

    // A job whose target answers 404 until the test opens its gate.
    let id = stack.submit(&stack.target.job("/gate/dashboard")).await;
    let failed = stack.finished(&id).await;
    assert_eq!(failed["status"], "failed");
    browser.wait_text("#count-failed", "1").await;
    browser
        .wait_text(
            "#overview",
            "0 completed and 1 failed in the last 60 minutes",
        )
        .await;
    browser.screenshot("03-overview").await;

    browser.click("a[href='#/failed']").await;
    browser
        .wait_text(&format!("tr[data-id='{id}']"), "404")
        .await;
    browser.screenshot("04-failed-jobs").await;

    browser.click(&format!("a[href='#/jobs/{id}']")).await;
    browser.wait_text("#job-error", "404").await;
    browser.wait_text("#timeline", "permanent").await;
    browser.screenshot("05-job-failed").await;

    stack.target.open("dashboard");
    browser.click("#retry").await;
    browser.wait_text("#confirm", "Retry this job?").await;
    browser.screenshot("06-retry-confirmation").await;
    browser.click("#confirm-yes").await;
    browser
        .wait_text("dd[data-field='Status']", "completed")
        .await;
    browser.wait_text("#timeline", "retried").await;
    browser.screenshot("07-job-completed-after-retry").await;
    let job = stack.job(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 2);
    browser.close().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_job_list_shows_new_jobs_filters_pages_finds_and_cancels_but_never_another_tenants(
    pool: PgPool,
) {
    let globex = create_key(&pool, "globex").await.expect("key").key;
    let stack = Stack::start(pool).await;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(submit_as(&stack, &globex, &waiting("noop")).await);
    }
    for _ in 0..21 {
        stack.submit(&waiting("noop")).await;
    }
    let mut keyed = waiting("sleep");
    keyed["idempotency_key"] = json!("order-7");
    let order = stack.submit(&keyed).await;
    let sleeper = stack.submit(&waiting("sleep")).await;

    let mut browser = signed_in(&stack).await;
    browser.wait_text("#count-pending", "23").await;
    browser.click("a[href='#/jobs']").await;
    browser.wait_count("tr.job-row", 20).await;
    assert_eq!(browser.job_rows().await[0], sleeper, "newest first");

    // A job submitted now shows up on the first page by itself.
    let fresh = stack.submit(&waiting("noop")).await;
    browser
        .wait_text(&format!("tr[data-id='{fresh}']"), "pending")
        .await;
    browser.screenshot("08-jobs").await;

    browser.click("#next-page").await;
    browser.wait_text("#page-number", "Page 2").await;
    let second = browser.wait_count("tr.job-row", 4).await;
    assert_eq!(second.len(), 4, "24 jobs: 20 and 4");
    browser.screenshot("09-jobs-page-2").await;
    browser.click("#prev-page").await;
    browser.wait_text("#page-number", "Page 1").await;
    browser.wait_count("tr.job-row", 20).await;

    browser.click("#filter-type option[value='sleep']").await;
    browser.wait_count("tr.job-row", 2).await;
    assert_eq!(browser.job_rows().await, [sleeper.clone(), order.clone()]);
    browser.screenshot("10-jobs-filtered-by-type").await;

    browser.click("a[href='#/jobs']").await;
    browser.wait_count("tr.job-row", 20).await;
    browser.fill("#search", "order-7").await;
    browser.click("#search-button").await;
    browser.wait_count("tr.job-row", 1).await;
    assert_eq!(browser.job_rows().await, std::slice::from_ref(&order));
    browser.fill("#search", &order).await;
    browser.click("#search-button").await;
    browser.wait_text("#job-id", &order).await;

    let page = browser.text().await;
    for id in &theirs {
        assert!(
            !page.contains(id.as_str()),
            "another tenant's job {id} shows"
        );
    }
    browser.click("#cancel").await;
    browser.wait_text("#confirm", "Cancel this job?").await;
    browser.click("#confirm-yes").await;
    browser
        .wait_text("dd[data-field='Status']", "cancelled")
        .await;
    browser.screenshot("11-job-cancelled").await;
    assert_eq!(stack.job(&order).await["status"], "cancelled");

    // Another tenant's job is not found, even by its id.
    browser
        .goto(&format!("{}/ui#/jobs/{}", stack.api, theirs[0]))
        .await;
    browser.wait_text("h1", "No such job").await;
    browser.goto(&format!("{}/ui#/jobs", stack.api)).await;
    browser.wait_count("tr.job-row", 20).await;
    for id in &theirs {
        assert!(!browser.job_rows().await.contains(id));
    }

    browser.resize(PHONE).await;
    browser.goto(&format!("{}/ui#/jobs", stack.api)).await;
    browser.wait_count("tr.job-row", 20).await;
    browser.screenshot("12-phone-jobs").await;
    browser
        .goto(&format!("{}/ui#/jobs/{order}", stack.api))
        .await;
    browser
        .wait_text("dd[data-field='Status']", "cancelled")
        .await;
    browser.screenshot("13-phone-job").await;
    browser.close().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_failed_view_retries_every_matching_failed_job_at_once(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let mut failed = Vec::new();
    for key in ["a", "b"] {
        let id = stack
            .submit(&stack.target.job(&format!("/gate/bulk-{key}")))
            .await;
        failed.push(id);
    }
    for id in &failed {
        assert_eq!(stack.finished(id).await["status"], "failed");
    }
    let browser = signed_in(&stack).await;
    browser.click("a[href='#/failed']").await;
    browser.wait_count("tr.job-row", 2).await;
    browser
        .click("#filter-reason option[value='permanent_error']")
        .await;
    browser.wait_count("tr.job-row", 2).await;
    stack.target.open("bulk-a");
    stack.target.open("bulk-b");
    browser.click("#retry-all").await;
    browser.wait_text("#confirm", "Retry failed jobs?").await;
    browser.click("#confirm-yes").await;
    browser
        .wait_text("#list-message", "2 jobs sent back to pending")
        .await;
    for id in &failed {
        assert_eq!(stack.finished(id).await["status"], "completed");
    }
    browser
        .wait_text("#list-message", "2 jobs sent back to pending")
        .await;
    browser.screenshot("14-failed-jobs-retried").await;
    browser.close().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn job_types_and_schedules_are_shown_and_a_schedule_pauses_and_resumes(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let schedule = json!({
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "job": {"type": "noop", "payload": {"report": "nightly"}},
    });
    let response = stack
        .client
        .put(format!("{}/v1/schedules/nightly-report", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&schedule)
        .send()
        .await
        .expect("put schedule");
    assert_eq!(response.status(), 201);

    let browser = signed_in(&stack).await;
    browser.click("a[href='#/types']").await;
    browser.wait_text("tr.type-row", "http").await;
    browser.screenshot("15-job-types").await;
    browser.click("a[href='#/types/http']").await;
    browser.wait_text("h1", "Job type http").await;

    browser.click("a[href='#/schedules']").await;
    browser.wait_text("tr.schedule-row", "nightly-report").await;
    browser.screenshot("16-schedules").await;
    browser.click("a[href='#/schedules/nightly-report']").await;
    browser.wait_text("#schedule-state", "active").await;
    browser.click("#toggle-schedule").await;
    browser.click("#confirm-yes").await;
    browser.wait_text("#schedule-state", "paused").await;
    browser.screenshot("17-schedule-paused").await;
    let paused = stack.get("/v1/schedules/nightly-report").await;
    assert_eq!(paused["paused"], true);
    browser.click("#toggle-schedule").await;
    browser.click("#confirm-yes").await;
    browser.wait_text("#schedule-state", "active").await;
    let resumed = stack.get("/v1/schedules/nightly-report").await;
    assert_eq!(resumed["paused"], false);
    browser.close().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_stopped_api_is_said_plainly(pool: PgPool) {
    let mut stack = Stack::start(pool).await;
    let browser = signed_in(&stack).await;
    stack.stop_api();
    browser.click("a[href='#/jobs']").await;
    browser.wait_text("h1", "The API cannot be reached").await;
    browser.wait_text("#banner", "cannot be reached").await;
    browser.screenshot("18-api-down").await;
    browser.close().await;
}
