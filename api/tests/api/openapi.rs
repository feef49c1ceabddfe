//! `/openapi.json` says what the service does: how errors are served, which
//! statuses each operation can answer, and the same rules as the validation.

use crate::helpers::spawn_app;
use serde_json::Value;
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
    assert_eq!(keyed, 6);
    let ready = &doc["paths"]["/readyz"]["get"]["responses"]["503"];
    assert!(ready["headers"]["Retry-After"].is_object());
}
