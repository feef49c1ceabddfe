//! Client values that reach SQL: every out-of-range, oversized or malformed one
//! is refused with problem+json naming the field, and nothing is stored.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use reqwest::Response;
use serde_json::{Value, json};
use sqlx::PgPool;

async fn count_jobs(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Submits `body` exactly as written, so number literals reach the server untouched.
async fn submit_raw(app: &TestApp, body: &str) -> Response {
    app.client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("submit")
}

/// Asserts a 422 whose first field error names `field`, and returns its message.
async fn assert_invalid_field(response: Response, field: &str, context: &str) -> String {
    let problem = assert_problem(response, 422, "invalid-fields").await;
    assert_eq!(problem["errors"][0]["field"], field, "{context}");
    problem["errors"][0]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_run_at_outside_the_documented_range_is_422_never_a_500(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for run_at in [
        // Before PostgreSQL's earliest timestamp (4713 BC): was a 500 (22008).
        "-4714-01-01T00:00:00Z",
        "-262143-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:59:59+01:00",
        // Past the maximum delay, up to chrono's latest year.
        "9999-12-31T23:59:59Z",
        "+262142-12-31T23:59:59Z",
    ] {
        let response = app
            .submit_job(&json!({"type": "noop", "payload": {}, "run_at": run_at}))
            .await;
        let message = assert_invalid_field(response, "run_at", run_at).await;
        assert!(message.contains("1970-01-01T00:00:00Z"), "{message}");
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_run_at_at_the_unix_epoch_is_the_earliest_accepted_and_runs_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app
        .submitted_job(&json!({"type": "noop", "payload": {}, "run_at": "1970-01-01T00:00:00Z"}))
        .await;
    assert_eq!(job["run_at"], "1970-01-01T00:00:00Z");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn numbers_beyond_64_bit_integers_are_422_naming_the_field(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cases = [
        (
            r#"{"type":"noop","payload":{"n":18446744073709551616}}"#,
            "payload.n",
        ),
        (
            r#"{"type":"noop","payload":{"n":123456789012345678901234567890}}"#,
            "payload.n",
        ),
        (
            r#"{"type":"noop","payload":{"a":[1,{"b":-9223372036854775809}]}}"#,
            "payload.a[1].b",
        ),
        (r#"{"type":"noop","payload":{"f":1e300}}"#, "payload.f"),
        (
            r#"{"type":"noop","payload":{"we\"ird":[[-1E+20]]}}"#,
            "payload.we\"ird[0][0]",
        ),
        (
            r#"{"type":"sleep","payload":{"ms":99999999999999999999999}}"#,
            "payload.ms",
        ),
        (
            r#"{"type":"noop","payload":{},"max_attempts":100000000000000000000}"#,
            "max_attempts",
        ),
    ];
    for (body, field) in cases {
        let message = assert_invalid_field(submit_raw(&app, body).await, field, body).await;
        assert!(message.contains("18446744073709551615"), "{message}");
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_largest_64_bit_integers_in_a_payload_are_stored_exactly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body =
        r#"{"type":"noop","payload":{"max":18446744073709551615,"min":-9223372036854775808}}"#;
    let response = submit_raw(&app, body).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("job");
    let location = format!("/v1/jobs/{}", job["id"].as_str().expect("id"));
    let stored = app.get(&location).await.text().await.expect("body");
    assert!(stored.contains(r#""max":18446744073709551615"#), "{stored}");
    assert!(stored.contains(r#""min":-9223372036854775808"#), "{stored}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn whole_numbers_written_with_a_fraction_or_exponent_are_integers(pool: PgPool) {
    let app = spawn_app(pool).await;
    // JSON Schema, so the OpenAPI document, counts 2.0 as an integer.
    let body = r#"{"type":"sleep","payload":{"ms":5.0},"max_attempts":2.0,"delay_seconds":1e1}"#;
    let response = submit_raw(&app, body).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("job");
    assert_eq!(job["max_attempts"], 2);
    assert_eq!(job["payload"], json!({"ms": 5}));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn huge_numbers_in_job_options_are_422_naming_the_field(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cases = [
        (r#""max_attempts":2147483648"#, "max_attempts"),
        (r#""max_attempts":-2147483649"#, "max_attempts"),
        (r#""max_attempts":1.5"#, "max_attempts"),
        (r#""timeout_seconds":2147483648"#, "timeout_seconds"),
        (r#""timeout_seconds":0"#, "timeout_seconds"),
        (r#""delay_seconds":9223372036854775807"#, "delay_seconds"),
        (r#""delay_seconds":-9223372036854775808"#, "delay_seconds"),
        (r#""delay_seconds":9223372036854775808"#, "delay_seconds"),
    ];
    for (option, field) in cases {
        let body = format!(r#"{{"type":"noop","payload":{{}},{option}}}"#);
        assert_invalid_field(submit_raw(&app, &body).await, field, &body).await;
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_payload_that_is_not_a_json_object_is_422(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for (job_type, payload) in [
        // serde reads a struct from an array too, so this one was stored.
        ("sleep", json!([5])),
        ("http", json!(["https://example.com"])),
        ("noop", json!(null)),
        ("noop", json!(3)),
        ("email", json!("jane@example.com")),
    ] {
        let body = json!({"type": job_type, "payload": payload});
        let message =
            assert_invalid_field(app.submit_job(&body).await, "payload", &body.to_string()).await;
        assert!(message.contains("object"), "{message}");
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_control_character_in_an_email_subject_is_422(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for subject in [
        "a\u{b}b",
        "tab\there",
        "x\u{7f}",
        "next\u{85}line",
        "a\r\nBcc: x@y.z",
    ] {
        let body = json!({"type": "email", "payload": {
            "to": ["jane@example.com"], "subject": subject, "body": "hi"
        }});
        let message = assert_invalid_field(app.submit_job(&body).await, "payload", subject).await;
        assert!(message.starts_with("subject:"), "{message}");
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn control_characters_in_an_http_header_value_or_url_are_422(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let payloads = [
        json!({"url": "https://example.com", "headers": {"X-A": "a\u{1}b"}}),
        json!({"url": "https://example.com", "headers": {"X-A": "a\u{7f}"}}),
        // The URL parser drops these silently, so the job would call another URL.
        json!({"url": "https://exa\tmple.com/"}),
        json!({"url": " https://example.com/"}),
        json!({"url": "https://example.com/\n"}),
    ];
    for payload in payloads {
        let body = json!({"type": "http", "payload": payload});
        assert_invalid_field(app.submit_job(&body).await, "payload", &body.to_string()).await;
    }
    // A tab is a legal header value character.
    app.submitted_job(&json!({"type": "http", "payload": {
        "url": "https://example.com", "headers": {"X-A": "a\tb"}
    }}))
    .await;
    assert_eq!(count_jobs(&pool).await, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn nul_in_any_text_field_is_422_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cases = [
        (json!({"type": "noop\u{0}", "payload": {}}), "type"),
        (
            json!({"type": "noop", "payload": {}, "idempotency_key": "k\u{0}"}),
            "idempotency_key",
        ),
        (json!({"type": "noop", "payload": {"k\u{0}": 1}}), "payload"),
        (
            json!({"type": "email", "payload": {
                "to": ["jane@example.com"], "subject": "s", "body": "b\u{0}"
            }}),
            "payload",
        ),
        (
            json!({"type": "http", "payload": {"url": "https://example.com", "body": "\u{0}"}}),
            "payload",
        ),
    ];
    for (body, field) in cases {
        assert_invalid_field(app.submit_job(&body).await, field, &body.to_string()).await;
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_idempotency_key_is_measured_in_characters_like_the_database(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    // 255 characters, 510 bytes: the column allows it, so the API must too.
    let longest = "é".repeat(255);
    let job = app
        .submitted_job(&json!({"type": "noop", "payload": {}, "idempotency_key": longest}))
        .await;
    assert_eq!(job["idempotency_key"], longest.as_str());
    for key in ["é".repeat(256), String::new(), "a\u{85}".to_owned()] {
        let response = app
            .submit_job(&json!({"type": "noop", "payload": {}, "idempotency_key": key}))
            .await;
        assert_invalid_field(response, "idempotency_key", &key).await;
    }
    assert_eq!(count_jobs(&pool).await, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_bad_idempotency_key_header_is_422_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let long = "k".repeat(256);
    let values: [&[u8]; 4] = [b"caf\xc3\xa9", b"", long.as_bytes(), b"a\tb"];
    for value in values {
        let response = app
            .client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&app.api_key)
            .header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(value).expect("header value"),
            )
            .json(&json!({"type": "noop", "payload": {}}))
            .send()
            .await
            .expect("send");
        let problem = assert_problem(response, 422, "invalid-fields").await;
        let field = problem["errors"][0]["field"].as_str().expect("field");
        assert!(
            field.eq_ignore_ascii_case("idempotency-key") || field == "idempotency_key",
            "{field}"
        );
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_payload_nested_too_deeply_is_400_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let depth = 200;
    let body = format!(
        r#"{{"type":"noop","payload":{{"a":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_problem(submit_raw(&app, &body).await, 400, "malformed-request").await;
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn bad_list_parameters_are_422_naming_each_parameter(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases = [
        ("status=", "status"),
        ("status=PENDING", "status"),
        ("status=%00", "status"),
        ("limit=", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=%2B5", "limit"),
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("page_token=", "page_token"),
        ("page_token=not%20a%20token", "page_token"),
        // Right length and alphabet, but the last character carries stray bits.
        ("page_token=AAAAAAAAAAAAAAAAAAAAAB", "page_token"),
        ("type=", "type"),
        ("type=%0B", "type"),
    ];
    for (query, field) in cases {
        let response = app.get(&format!("/v1/jobs?{query}")).await;
        assert_invalid_field(response, field, query).await;
    }
    let too_long = "é".repeat(101);
    let response = app.get(&format!("/v1/jobs?type={too_long}")).await;
    assert_invalid_field(response, "type", "101 characters").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_type_filter_is_measured_in_characters_like_the_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    // 100 characters, 200 bytes: a type the column could hold.
    let longest = "é".repeat(100);
    let response = app.get(&format!("/v1/jobs?type={longest}")).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("page");
    assert_eq!(page["jobs"], json!([]));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn ids_that_are_not_uuids_are_404_on_every_job_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let long = "a".repeat(5000);
    for id in [
        "%00",
        "%FF",
        "x",
        "00000000-0000-0000-0000-00000000000g",
        "-1",
        long.as_str(),
    ] {
        for (method, suffix) in [
            ("GET", ""),
            ("GET", "/events"),
            ("POST", "/cancel"),
            ("POST", "/retry"),
        ] {
            let path = format!("/v1/jobs/{id}{suffix}");
            let response = if method == "GET" {
                app.get(&path).await
            } else {
                app.post(&path).await
            };
            assert_problem(response, 404, "not-found").await;
        }
    }
}
