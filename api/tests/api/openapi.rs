//! `/openapi.json` says what the service does: how errors are served, which
//! statuses each operation can answer, and the same rules as the validation.

use crate::helpers::{pubsub_settings, serve_with, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The OpenAPI document the app at `address` serves.
async fn document(address: &str) -> Value {
    reqwest::get(format!("{address}/openapi.json"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn every_error_response_is_documented_as_problem_json_as_it_is_served(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = document(&app.address).await;
    let mut checked = 0;
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status.as_str() < "400" {
                continue;
            }
            let content = response["content"].as_object().expect("error content");
            let types: Vec<&String> = content.keys().collect();
            assert_eq!(
                types,
                ["application/problem+json"],
                "{method} {path} {status}"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} error responses documented");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn every_operation_behind_a_key_documents_401_429_and_503_with_their_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = document(&app.address).await;
    let mut keyed = 0;
    for (path, method, operation) in operations(&doc) {
        if operation["security"].is_null() {
            continue;
        }
        keyed += 1;
        let responses = &operation["responses"];
        let challenge = &responses["401"]["headers"]["WWW-Authenticate"];
        assert!(
            challenge.is_object(),
            "{method} {path}: 401 without WWW-Authenticate"
        );
        for status in ["429", "503"] {
            let retry_after = &responses[status]["headers"]["Retry-After"];
            assert_eq!(
                retry_after["schema"]["type"], "integer",
                "{method} {path} {status}"
            );
        }
    }
    assert_eq!(keyed, 21);
    let ready = &doc["paths"]["/readyz"]["get"]["responses"]["503"];
    assert!(ready["headers"]["Retry-After"].is_object());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_submission_schema_is_as_strict_as_the_validation(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = document(&app.address).await;
    let schemas = &doc["components"]["schemas"];
    let variants = schemas["JobSubmission"]["oneOf"]
        .as_array()
        .expect("one schema per job type");
    let mut types = Vec::new();
    for variant in variants {
        let name = variant["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("a reference");
        let variant = &schemas[name];
        let object = &variant["allOf"][0];
        assert_eq!(object["additionalProperties"], false, "{name}");
        assert_eq!(object["required"], json!(["type", "payload"]), "{name}");
        let job_type = object["properties"]["type"]["enum"]
            .as_array()
            .expect("type enum");
        assert_eq!(job_type.len(), 1, "{name}");
        types.push(job_type[0].clone());
        let payload = &object["properties"]["payload"]["$ref"];
        let payload = payload
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("payload reference");
        assert_eq!(schemas[payload]["type"], "object", "{name}");
        let key = &object["properties"]["idempotency_key"];
        assert_eq!(
            (&key["minLength"], &key["maxLength"]),
            (&json!(1), &json!(255))
        );
        assert_eq!(object["properties"]["max_attempts"]["minimum"], 1);
        assert_eq!(object["properties"]["max_attempts"]["maximum"], 100);
        assert_eq!(object["properties"]["timeout_seconds"]["maximum"], 540);
        assert_eq!(object["properties"]["delay_seconds"]["maximum"], 2_592_000);
    }
    assert_eq!(
        types,
        json!(["http", "email", "noop", "sleep"])
            .as_array()
            .cloned()
            .expect("array")
    );

    let list = &doc["paths"]["/v1/jobs"]["get"]["parameters"];
    let param = |name: &str| -> Value {
        list.as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(param("status")["$ref"], "#/components/schemas/JobStatus");
    assert_eq!(param("limit")["type"], "integer");
    assert_eq!(
        (
            param("limit")["minimum"].clone(),
            param("limit")["maximum"].clone()
        ),
        (json!(1), json!(100))
    );
    assert_eq!(
        (
            param("type")["minLength"].clone(),
            param("type")["maxLength"].clone()
        ),
        (json!(1), json!(100))
    );
    assert!(param("page_token")["pattern"].is_string());
    let id = &doc["paths"]["/v1/jobs/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(id["format"], "uuid");
    let key = &doc["paths"]["/v1/jobs"]["post"]["parameters"][0];
    assert_eq!(key["name"], "Idempotency-Key");
    assert_eq!(key["schema"]["type"], "string");
    assert_eq!(key["schema"]["maxLength"], 255);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_documented_limits_are_the_configured_ones(pool: PgPool) {
    let limits = [
        "--default-max-attempts=2",
        "--max-attempts-limit=7",
        "--default-timeout-seconds=10",
        "--max-timeout-seconds=20",
        "--max-delay-seconds=3600",
    ];
    let address = serve_with(pool, &pubsub_settings("127.0.0.1:1"), &limits).await;
    let doc = document(&address).await;
    let sleep = &doc["components"]["schemas"]["SleepJobSubmission"]["allOf"][0]["properties"];
    assert_eq!(sleep["max_attempts"]["maximum"], 7);
    assert_eq!(sleep["timeout_seconds"]["maximum"], 20);
    assert_eq!(sleep["delay_seconds"]["maximum"], 3600);
}
