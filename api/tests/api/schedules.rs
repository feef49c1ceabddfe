//! `/v1/schedules` over HTTP: a tenant's periodic schedules, their errors,
//! pause and resume, and the jobs they enqueue listed by schedule.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use chrono::{DateTime, Utc};
use jobs_domain::{CronSchedule, Enqueued, ScheduleStore};
use reqwest::Response;
use serde_json::{Value, json};
use sqlx::PgPool;

impl TestApp {
    async fn put_schedule(&self, name: &str, body: &Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/schedules/{name}")))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("put")
    }

    async fn delete_schedule(&self, name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/schedules/{name}")))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("delete")
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// Enqueues the schedule's occurrence as the worker's leader would, as
    /// if it came due now.
    async fn enqueue_now(&self, name: &str) -> Value {
        sqlx::query(
            "update schedules set next_run_at = date_trunc('second', now()) - interval '1 second'
             where name = $1",
        )
        .bind(name)
        .execute(&self.pool)
        .await
        .expect("make it due");
        let store = ScheduleStore::new(self.pool.clone());
        let due = store.due(10).await.expect("due");
        let due = due.iter().find(|due| due.name == name).expect("due now");
        let occurrence = CronSchedule::parse(&due.cron, &due.timezone, due.now)
            .expect("a stored pattern")
            .due(due.next_run_at, due.now)
            .expect("an occurrence");
        let Enqueued::Created(job) = store.enqueue(due, occurrence).await.expect("enqueue") else {
            panic!("a new job for the occurrence");
        };
        serde_json::to_value(*job).expect("job json")
    }
}

fn nightly() -> Value {
    json!({
        "cron": "0 2 * * *",
        "timezone": "Europe/Paris",
        "job": {"type": "noop", "payload": {"report": "daily"}},
        "paused": false
    })
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// The `field`s of a 422's errors.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect()
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_schedule_is_created_replaced_read_listed_and_deleted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = Utc::now();
    let created = app.put_schedule("nightly", &nightly()).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["name"], "nightly");
    assert_eq!(created["cron"], "0 2 * * *");
    assert_eq!(created["timezone"], "Europe/Paris");
    assert_eq!(
        created["job"],
        json!({"type": "noop", "payload": {"report": "daily"}, "max_attempts": 5, "timeout_seconds": 60}),
        "the template with the defaults a submit would get"
    );
    assert_eq!(created["paused"], false);
    assert_eq!(
        (&created["last_run_at"], &created["last_job_id"]),
        (&Value::Null, &Value::Null)
    );
    // 02:00 in Paris: 01:00 UTC in winter, 00:00 UTC in summer, within a day.
    let next = time(&created["next_run_at"]);
    assert!(
        next > before && next <= before + chrono::Duration::days(1),
        "{next}"
    );
    let clock = next.format("%H:%M:%S").to_string();
    assert!(clock == "01:00:00" || clock == "00:00:00", "{next}");

    let mut replacement = nightly();
    replacement["cron"] = json!("*/5 * * * *");
    replacement["timezone"] = json!("UTC");
    replacement["job"]["max_attempts"] = json!(2);
    let replaced = app.put_schedule("nightly", &replacement).await;
    assert_eq!(replaced.status(), 200);
    let read = app.json("/v1/schedules/nightly").await;
    assert_eq!(
        (
            &read["cron"],
            &read["timezone"],
            &read["job"]["max_attempts"]
        ),
        (&json!("*/5 * * * *"), &json!("UTC"), &json!(2))
    );
    assert_eq!(read["created_at"], created["created_at"]);
    assert!(time(&read["next_run_at"]) <= Utc::now() + chrono::Duration::minutes(5));

    assert_eq!(app.put_schedule("backup", &nightly()).await.status(), 201);
    let list = app.json("/v1/schedules").await;
    let names: Vec<&str> = list["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .filter_map(|schedule| schedule["name"].as_str())
        .collect();
    assert_eq!(names, ["backup", "nightly"]);

    assert_eq!(app.delete_schedule("nightly").await.status(), 204);
    assert_problem(app.get("/v1/schedules/nightly").await, 404, "not-found").await;
    assert_problem(app.delete_schedule("nightly").await, 404, "not-found").await;
    assert_problem(app.get("/v1/schedules/Not_A_Name").await, 404, "not-found").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_invalid_cron_timezone_or_job_is_422_naming_the_field_and_stores_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = nightly();
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["cron"] = json!("61 * * * *")), "cron"),
        (with(&|b| b["cron"] = json!("* * * *")), "cron"),
        (with(&|b| b["cron"] = json!("0 0 30 2 *")), "cron"),
        (with(&|b| b["cron"] = json!("@daily")), "cron"),
        (with(&|b| b["timezone"] = json!("Mars/Olympus")), "timezone"),
        (with(&|b| b["timezone"] = json!(null)), "timezone"),
        (with(&|b| b["job"]["type"] = json!("fax")), "job.type"),
        (with(&|b| b["job"]["payload"] = json!([1])), "job.payload"),
        (
            with(&|b| b["job"] = json!({"type": "sleep", "payload": {}})),
            "job.payload",
        ),
        (
            with(&|b| b["job"]["max_attempts"] = json!(0)),
            "job.max_attempts",
        ),
        (
            with(&|b| b["job"]["timeout_seconds"] = json!(100_000)),
            "job.timeout_seconds",
        ),
        (
            with(&|b| b["job"]["run_at"] = json!("2030-01-01T00:00:00Z")),
            "job.run_at",
        ),
        (with(&|b| b["job"] = json!({"payload": {}})), "job.type"),
        (with(&|b| b["paused"] = json!("no")), "paused"),
        (json!({"cron": "0 2 * * *", "timezone": "UTC"}), "job"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.put_schedule("nightly", &body).await,
            422,
            "invalid-fields",
        )
        .await;
        assert!(
            fields(&problem).iter().any(|f| f == field),
            "{body}: {problem}"
        );
    }
    let everything = with(&|b| {
        b["cron"] = json!("nope");
        b["timezone"] = json!("Nowhere");
        b["job"]["type"] = json!("fax");
    });
    let problem = assert_problem(
        app.put_schedule("nightly", &everything).await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(
        fields(&problem),
        ["timezone", "cron", "job.type"],
        "{problem}"
    );
    let bad_name = assert_problem(
        app.put_schedule("Nightly!", &nightly()).await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(fields(&bad_name), ["name"]);

    assert_eq!(app.json("/v1/schedules").await["schedules"], json!([]));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_template_of_the_tenants_own_type_is_checked_against_its_schema_and_limits(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let welcome = json!({
        "handler": {"builtin": "noop"},
        "payload_schema": {"type": "object", "required": ["user_id"],
                           "properties": {"user_id": {"type": "string"}}},
        "max_attempts": 3,
    });
    let defined = app
        .client
        .put(app.url("/v1/job-types/welcome"))
        .bearer_auth(&app.api_key)
        .json(&welcome)
        .send()
        .await
        .expect("put type");
    assert_eq!(defined.status(), 201);
    let schedule = |job: Value| json!({"cron": "0 9 * * MON", "job": job});

    let missing = app
        .put_schedule(
            "digest",
            &schedule(json!({"type": "welcome", "payload": {}})),
        )
        .await;
    let problem = assert_problem(missing, 422, "invalid-fields").await;
    assert_eq!(fields(&problem), ["job.payload.user_id"]);
    let above_the_types_cap = app
        .put_schedule(
            "digest",
            &schedule(json!({"type": "welcome", "payload": {"user_id": "u1"}, "max_attempts": 4})),
        )
        .await;
    let problem = assert_problem(above_the_types_cap, 422, "invalid-fields").await;
    assert_eq!(fields(&problem), ["job.max_attempts"]);

    let created = app
        .put_schedule(
            "digest",
            &schedule(json!({"type": "welcome", "payload": {"user_id": "u1"}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["timezone"], "UTC", "the default zone");
    assert_eq!(created["job"]["max_attempts"], 3, "the type's default");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn another_tenants_schedule_is_not_found_and_its_name_is_free(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(app.put_schedule("nightly", &nightly()).await.status(), 201);
    let other = app.other_tenant_key().await;
    let as_other = |request: reqwest::RequestBuilder| request.bearer_auth(&other).send();
    for request in [
        app.client.get(app.url("/v1/schedules/nightly")),
        app.client.delete(app.url("/v1/schedules/nightly")),
        app.client.post(app.url("/v1/schedules/nightly/pause")),
        app.client.post(app.url("/v1/schedules/nightly/resume")),
    ] {
        assert_problem(as_other(request).await.expect("send"), 404, "not-found").await;
    }
    let listed: Value = as_other(app.client.get(app.url("/v1/schedules")))
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["schedules"], json!([]));

    let mut theirs = nightly();
    theirs["paused"] = json!(true);
    let created = as_other(
        app.client
            .put(app.url("/v1/schedules/nightly"))
            .json(&theirs),
    )
    .await
    .expect("put");
    assert_eq!(
        created.status(),
        201,
        "the same name is another tenant's own"
    );
    let ours = app.json("/v1/schedules/nightly").await;
    assert_eq!(ours["paused"], false, "untouched by the other tenant");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_paused_schedule_has_no_next_run_and_resumes_from_now(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut every_minute = nightly();
    every_minute["cron"] = json!("* * * * *");
    assert_eq!(
        app.put_schedule("minutely", &every_minute).await.status(),
        201
    );

    let paused = app.post("/v1/schedules/minutely/pause").await;
    assert_eq!(paused.status(), 200);
    let paused: Value = paused.json().await.expect("json");
    assert_eq!(
        (&paused["paused"], &paused["next_run_at"]),
        (&json!(true), &Value::Null)
    );
    let again: Value = app
        .post("/v1/schedules/minutely/pause")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again, paused, "pausing a paused schedule changes nothing");

    let before = Utc::now();
    let resumed = app.post("/v1/schedules/minutely/resume").await;
    assert_eq!(resumed.status(), 200);
    let resumed: Value = resumed.json().await.expect("json");
    assert_eq!(resumed["paused"], false);
    let next = time(&resumed["next_run_at"]);
    assert!(
        next > before && next <= before + chrono::Duration::minutes(1),
        "the first occurrence from now: {next}"
    );
    let again: Value = app
        .post("/v1/schedules/minutely/resume")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        again, resumed,
        "resuming an active schedule changes nothing"
    );

    let mut created_paused = nightly();
    created_paused["paused"] = json!(true);
    let created: Value = app
        .put_schedule("quiet", &created_paused)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&created["paused"], &created["next_run_at"]),
        (&json!(true), &Value::Null)
    );
    assert_problem(
        app.post("/v1/schedules/absent/pause").await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.post("/v1/schedules/absent/resume").await,
        404,
        "not-found",
    )
    .await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn jobs_a_schedule_enqueued_carry_its_name_and_are_listed_by_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut every_second = nightly();
    every_second["cron"] = json!("* * * * * *");
    assert_eq!(
        app.put_schedule("every-second", &every_second)
            .await
            .status(),
        201
    );
    assert_eq!(app.put_schedule("nightly", &nightly()).await.status(), 201);
    let submitted = app.submitted_job(&crate::helpers::noop()).await;
    assert_eq!(submitted["schedule"], Value::Null);

    let job = app.enqueue_now("every-second").await;
    assert_eq!(job["schedule"], "every-second");
    assert_eq!(job["type"], "noop");
    let key = job["idempotency_key"].as_str().expect("a slot key");
    assert!(key.starts_with("schedule:every-second:"), "{key}");
    assert!(key.ends_with('Z'), "{key}");

    let listed = app.json("/v1/jobs?schedule=every-second").await;
    let ids: Vec<&Value> = listed["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| &job["id"])
        .collect();
    assert_eq!(ids, [&job["id"]]);
    assert_eq!(
        app.json("/v1/jobs?schedule=nightly&status=pending").await["jobs"],
        json!([])
    );
    assert_eq!(
        app.json("/v1/jobs").await["jobs"].as_array().map(Vec::len),
        Some(2)
    );
    let problem = assert_problem(
        app.get("/v1/jobs?schedule=Every%20Second").await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(fields(&problem), ["schedule"]);

    let schedule = app.json("/v1/schedules/every-second").await;
    assert_eq!(schedule["last_job_id"], job["id"]);
    assert_eq!(schedule["last_run_at"], job["run_at"]);
    assert!(time(&schedule["next_run_at"]) > time(&job["run_at"]));
    // Replacing the schedule keeps its last run.
    assert_eq!(
        app.put_schedule("every-second", &every_second)
            .await
            .status(),
        200
    );
    let replaced = app.json("/v1/schedules/every-second").await;
    assert_eq!(replaced["last_job_id"], job["id"]);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_schedule_schema_is_as_strict_as_the_validation(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc: Value = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let schemas = &doc["components"]["schemas"];
    let definition = &schemas["ScheduleDefinition"];
    assert_eq!(definition["additionalProperties"], false);
    assert_eq!(definition["required"], json!(["cron", "job"]));
    let cron = &definition["properties"]["cron"];
    assert_eq!(
        (&cron["maxLength"], cron["pattern"].is_string()),
        (&json!(200), true)
    );
    let zones = definition["properties"]["timezone"]["enum"]
        .as_array()
        .expect("the zones");
    for zone in ["UTC", "Europe/Paris", "America/New_York"] {
        assert!(zones.contains(&json!(zone)), "{zone}");
    }
    let variants = schemas["JobTemplate"]["oneOf"]
        .as_array()
        .expect("one per type");
    assert_eq!(variants.len(), 4);
    for variant in variants {
        let name = variant["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("a reference");
        let template = &schemas[name];
        assert_eq!(template["additionalProperties"], false, "{name}");
        assert_eq!(template["required"], json!(["type", "payload"]), "{name}");
        let properties: Vec<&String> = template["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(
            properties,
            ["max_attempts", "payload", "timeout_seconds", "type"],
            "{name}"
        );
        assert_eq!(template["properties"]["max_attempts"]["maximum"], 100);
    }
    let schedule = &doc["paths"]["/v1/jobs"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "schedule")
        .expect("a schedule filter")["schema"];
    assert_eq!(schedule["pattern"], jobs_domain::schedule::NAME_PATTERN);
    let put = &doc["paths"]["/v1/schedules/{name}"]["put"]["parameters"][0]["schema"];
    assert_eq!(put["pattern"], jobs_domain::schedule::NAME_PATTERN);
}
