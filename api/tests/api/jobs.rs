use crate::helpers::{assert_problem, noop, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submit_stores_a_pending_job_and_answers_202_with_its_location(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.submit_job(&noop()).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let job: Value = response.json().await.expect("json");
    assert_eq!(
        location,
        format!("/v1/jobs/{}", job["id"].as_str().expect("id"))
    );
    assert_eq!(job["status"], "pending");
    assert_eq!(job["type"], "noop");
    assert_eq!(job["payload"], json!({"hello": "world"}));
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["max_attempts"], 5);
    for field in [
        "result",
        "error",
        "started_at",
        "finished_at",
        "idempotency_key",
    ] {
        assert_eq!(job[field], Value::Null, "{field}");
    }
    for field in ["run_at", "created_at", "updated_at"] {
        assert!(job[field].is_string(), "{field}");
    }

    let fetched = app.get(&location).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.expect("json"), job);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn options_are_stored_as_given(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let job = app
        .submitted_job(&json!({
            "type": "sleep", "payload": {"ms": 5}, "max_attempts": 2,
            "timeout_seconds": 30, "run_at": tomorrow
        }))
        .await;
    assert_eq!(job["max_attempts"], 2);
    assert_eq!(job["timeout_seconds"], 30);
    assert_eq!(job["run_at"], tomorrow.as_str());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn replaying_an_idempotency_key_returns_the_original_job_with_200(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({"type": "noop", "payload": {"a": 1}, "idempotency_key": "order-1"});
    let first = app.submitted_job(&body).await;
    let replay = app.submit_job(&body).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(
        replay.json::<Value>().await.expect("json")["id"],
        first["id"]
    );

    // The header is the same key.
    let by_header = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "order-1")
        .json(&json!({"type": "noop", "payload": {"a": 1}}))
        .send()
        .await
        .expect("send");
    assert_eq!(by_header.status(), 200);
    assert_eq!(
        by_header.json::<Value>().await.expect("json")["id"],
        first["id"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_idempotency_key_reused_with_a_different_body_is_409(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.submitted_job(&json!({"type": "noop", "payload": {"a": 1}, "idempotency_key": "k"}))
        .await;
    let conflict = app
        .submit_job(&json!({"type": "noop", "payload": {"a": 2}, "idempotency_key": "k"}))
        .await;
    assert_problem(conflict, 409, "conflict").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn parallel_submits_with_one_key_create_one_job(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let body = json!({"type": "noop", "payload": {}, "idempotency_key": "same"});
    let statuses = futures::future::join_all((0..16).map(|_| app.submit_job(&body))).await;
    let mut codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    codes.sort_unstable();
    assert_eq!(codes[0], 200);
    assert_eq!(codes.iter().filter(|&&c| c == 202).count(), 1);
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn list_pages_newest_first_and_filters_by_status_and_type(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.submitted_job(&noop()).await["id"].clone());
    }
    app.submitted_job(&json!({"type": "sleep", "payload": {"ms": 1}}))
        .await;
    let cancelled = ids[0].as_str().expect("id").to_owned();
    app.post(&format!("/v1/jobs/{cancelled}/cancel")).await;

    let mut seen = Vec::new();
    let mut path = "/v1/jobs?type=noop&limit=2".to_owned();
    loop {
        let page: Value = app.get(&path).await.json().await.expect("json");
        let jobs = page["jobs"].as_array().expect("jobs");
        assert!(jobs.len() <= 2);
        seen.extend(jobs.iter().map(|j| j["id"].clone()));
        match page["next_page_token"].as_str() {
            Some(token) => path = format!("/v1/jobs?type=noop&limit=2&page_token={token}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);

    let page: Value = app
        .get("/v1/jobs?status=cancelled")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["jobs"].as_array().expect("jobs").len(), 1);
    assert_eq!(page["jobs"][0]["id"], cancelled.as_str());
    assert!(page.get("next_page_token").is_none());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_listing_finds_the_tenants_job_by_its_idempotency_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut keyed = noop();
    keyed["idempotency_key"] = json!("order 42/é");
    let job = app.submitted_job(&keyed).await;
    app.submitted_job(&noop()).await;
    let globex = app.other_tenant_key().await;
    let theirs = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&globex)
        .json(&keyed)
        .send()
        .await
        .expect("submit");
    assert_eq!(theirs.status(), 202);

    let found: Value = app
        .get("/v1/jobs?idempotency_key=order%2042%2F%C3%A9")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(found["jobs"], json!([job]), "only this tenant's job");
    let none: Value = app
        .get("/v1/jobs?idempotency_key=order%2043")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(none["jobs"], json!([]));
    let long = "k".repeat(256);
    for bad in ["", "a%0Ab", long.as_str()] {
        let response = app.get(&format!("/v1/jobs?idempotency_key={bad}")).await;
        let problem = assert_problem(response, 422, "invalid-fields").await;
        assert_eq!(problem["errors"][0]["field"], "idempotency_key", "{bad}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn bad_list_parameters_are_422_naming_each_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/v1/jobs?status=done&limit=0&page_token=zzz").await;
    let problem = assert_problem(response, 422, "invalid-fields").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["status", "limit", "page_token"]);
    let too_big = app.get("/v1/jobs?limit=101").await;
    assert_problem(too_big, 422, "invalid-fields").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancel_moves_a_pending_job_and_refuses_a_second_time_with_409(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cancelled = app.post(&format!("/v1/jobs/{id}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    let job: Value = cancelled.json().await.expect("json");
    assert_eq!(job["status"], "cancelled");
    assert!(job["finished_at"].is_string());
    let again = app.post(&format!("/v1/jobs/{id}/cancel")).await;
    let problem = assert_problem(again, 409, "conflict").await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("cancelled")
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn retry_sends_a_cancelled_job_back_to_pending_but_not_a_pending_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let refused = app.post(&format!("/v1/jobs/{id}/retry")).await;
    assert_problem(refused, 409, "conflict").await;
    app.post(&format!("/v1/jobs/{id}/cancel")).await;
    let retried = app.post(&format!("/v1/jobs/{id}/retry")).await;
    assert_eq!(retried.status(), 200);
    let job: Value = retried.json().await.expect("json");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["finished_at"], Value::Null);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn events_show_every_transition_in_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(&format!("/v1/jobs/{id}/cancel")).await;
    app.post(&format!("/v1/jobs/{id}/retry")).await;
    let response = app.get(&format!("/v1/jobs/{id}/events")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let events: Vec<(&str, &str)> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or(""),
                e["to_status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("submitted", "pending"),
            ("cancelled", "cancelled"),
            ("retried", "pending")
        ]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn unknown_and_malformed_ids_are_404_on_every_job_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let unknown = "0190b7a2-0000-7000-8000-000000000000";
    for id in [unknown, "not-a-uuid"] {
        assert_problem(app.get(&format!("/v1/jobs/{id}")).await, 404, "not-found").await;
        assert_problem(
            app.get(&format!("/v1/jobs/{id}/events")).await,
            404,
            "not-found",
        )
        .await;
        assert_problem(
            app.post(&format!("/v1/jobs/{id}/cancel")).await,
            404,
            "not-found",
        )
        .await;
        assert_problem(
            app.post(&format!("/v1/jobs/{id}/retry")).await,
            404,
            "not-found",
        )
        .await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancelling_a_running_job_answers_202_with_the_request_recorded_once(pool: PgPool) {
    use jobs_domain::{Claim, JobId, JobStore};
    let app = spawn_app(pool.clone()).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job_id = JobId(uuid::Uuid::parse_str(&id).expect("uuid"));
    let store = JobStore::new(pool);
    let Claim::Claimed(_) = store
        .claim(job_id, std::time::Duration::from_secs(30))
        .await
        .expect("claim")
    else {
        panic!("claimed");
    };
    let requested = app.post(&format!("/v1/jobs/{id}/cancel")).await;
    assert_eq!(requested.status(), 202);
    let job: Value = requested.json().await.expect("json");
    assert_eq!(
        job["status"], "processing",
        "the worker running it stops it"
    );
    assert!(job["cancel_requested_at"].is_string());
    assert_eq!(job["finished_at"], Value::Null);
    let again = app.post(&format!("/v1/jobs/{id}/cancel")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        job,
        "nothing changes"
    );
    let events = app.get(&format!("/v1/jobs/{id}/events")).await;
    let body: Value = events.json().await.expect("json");
    let names: Vec<&str> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["submitted", "claimed", "cancel_requested"]);

    let doc: Value = app.get("/openapi.json").await.json().await.expect("doc");
    let responses = &doc["paths"]["/v1/jobs/{id}/cancel"]["post"]["responses"];
    for status in ["200", "202", "409"] {
        assert!(responses[status].is_object(), "{status} documented");
    }
    let job_schema = &doc["components"]["schemas"]["Job"]["properties"]["cancel_requested_at"];
    assert!(job_schema.is_object(), "{job_schema}");
}
