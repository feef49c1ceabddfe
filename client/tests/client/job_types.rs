//! Job types and the callback secret through the client.

use crate::client_of;
use crate::test_api::TestApi;
use jobs_client::{Error, Handler, JobTypeDefinition, RetryStrategy, Target, TargetAuth};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_type_is_defined_read_listed_rotated_and_deleted(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let mut definition = JobTypeDefinition::new(Handler::Target(Target {
        url: "https://billing.example.com/jobs/render".to_owned(),
        method: Some("POST".to_owned()),
        auth: TargetAuth::Hmac,
        ..Target::default()
    }));
    definition.payload_schema = Some(json!({"type": "object", "required": ["invoice_id"]}));
    definition.max_attempts = Some(8);
    definition.retry = Some(RetryStrategy::Fixed { delay_seconds: 5 });

    let saved = client
        .put_job_type("invoice.render", &definition)
        .await
        .expect("defined");
    assert!(saved.created);
    let secret = saved.value.secret.expect("an hmac type's secret, once");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let job_type = saved.value.job_type;
    assert_eq!(job_type.name, "invoice.render");
    assert!(!job_type.builtin);
    assert_eq!(job_type.handler, Some(definition.handler.clone()));
    assert_eq!(job_type.max_attempts, Some(8));
    assert_eq!(job_type.retry, definition.retry);

    let replaced = client
        .put_job_type("invoice.render", &definition)
        .await
        .expect("replaced");
    assert!(!replaced.created);
    assert_eq!(
        replaced.value.secret, None,
        "a replaced type keeps its secret"
    );

    assert_eq!(
        client.get_job_type("invoice.render").await.expect("read"),
        replaced.value.job_type
    );
    let listed = client.list_job_types().await.expect("listed");
    assert!(listed.iter().any(|t| t.name == "noop" && t.builtin));
    assert!(listed.contains(&replaced.value.job_type));

    let rotated = client
        .rotate_job_type_secret("invoice.render")
        .await
        .expect("rotated");
    assert_ne!(rotated, secret);

    client
        .delete_job_type("invoice.render")
        .await
        .expect("deleted");
    let err = client
        .get_job_type("invoice.render")
        .await
        .expect_err("gone");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_builtin_name_is_a_conflict(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let definition = JobTypeDefinition::new(Handler::Builtin("noop".to_owned()));
    let err = client_of(&api)
        .put_job_type("http", &definition)
        .await
        .expect_err("reserved");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_callback_secret_is_created_then_rotated(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let client = client_of(&api);
    let first = client.create_callback_secret().await.expect("created");
    assert!(first.created);
    let second = client.create_callback_secret().await.expect("rotated");
    assert!(!second.created);
    assert_ne!(first.value.secret, second.value.secret);
}
