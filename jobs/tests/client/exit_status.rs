//! Every kind of ending has its exit status and at most one line on stderr.

use crate::test_api::TestApi;
use crate::{jobs, run_with};
use sqlx::PgPool;

/// Asserts `stderr` is one line starting `error: ` and returns it.
fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    lines[0]
}

#[tokio::test]
async fn a_usage_error_is_exit_2() {
    let env = [("JOBS_API_KEY", "jk_x")];
    let flag = run_with(&env, &["list", "--no-such-flag"]).await;
    assert_eq!(flag.code, Some(2), "{flag:?}");
    assert!(flag.stderr.contains("--no-such-flag"), "{flag:?}");

    let id = run_with(&env, &["get", "not-a-uuid"]).await;
    assert_eq!(id.code, Some(2), "{id:?}");

    let payload = run_with(&env, &["submit", "noop", "--payload", "{not json"]).await;
    assert_eq!(payload.code, Some(2), "{payload:?}");
    assert!(payload.stderr.contains("is not JSON"), "{payload:?}");

    let no_key = run_with(&[], &["list"]).await;
    assert_eq!(no_key.code, Some(2), "{no_key:?}");
    assert!(one_error_line(&no_key.stderr).contains("JOBS_API_KEY"));

    let bad_url = run_with(&[("JOBS_API_URL", "ftp://example.com"), env[0]], &["list"]).await;
    assert_eq!(bad_url.code, Some(2), "{bad_url:?}");
    one_error_line(&bad_url.stderr);
}

#[tokio::test]
async fn every_command_explains_itself_with_help() {
    let commands: [&[&str]; 8] = [
        &["submit", "--help"],
        &["wait", "--help"],
        &["retry", "--help"],
        &["batch", "--help"],
        &["types", "put", "--help"],
        &["schedules", "put", "--help"],
        &["callback-secret", "--help"],
        &["help", "list"],
    ];
    for args in commands {
        let run = run_with(&[], args).await;
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        assert!(run.stdout.contains("Usage: jobs "), "{args:?}: {run:?}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wrong_key_is_exit_3_with_one_line(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let run = run_with(
        &[("JOBS_API_URL", &api.url), ("JOBS_API_KEY", "jk_wrong")],
        &["list"],
    )
    .await;
    assert_eq!(run.code, Some(3), "{run:?}");
    let line = one_error_line(&run.stderr);
    assert!(line.contains("API key"), "{line}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[tokio::test]
async fn an_unreachable_api_is_exit_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    drop(listener);
    let run = run_with(
        &[("JOBS_API_KEY", "jk_x")],
        &[
            "--api-url",
            &url,
            "get",
            "0199c3a4-0000-7000-8000-000000000001",
        ],
    )
    .await;
    assert_eq!(run.code, Some(3), "{run:?}");
    let line = one_error_line(&run.stderr);
    assert!(line.contains("cannot reach the jobs API"), "{line}");

    let unresolvable = run_with(
        &[
            ("JOBS_API_KEY", "jk_x"),
            ("JOBS_API_URL", "http://no-such-host.invalid"),
        ],
        &["list"],
    )
    .await;
    assert_eq!(unresolvable.code, Some(3), "{unresolvable:?}");
    one_error_line(&unresolvable.stderr);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_refused_request_is_exit_1_with_its_detail_and_field_errors(pool: PgPool) {
    let api = TestApi::start(pool, &[]).await;
    let invalid = jobs(
        &api,
        &["submit", "http", "--payload", "{}", "--max-attempts", "0"],
    )
    .await;
    assert_eq!(invalid.code, Some(1), "{invalid:?}");
    let line = one_error_line(&invalid.stderr);
    assert!(line.contains("the request has invalid fields: "), "{line}");
    assert!(line.contains("max_attempts: "), "{line}");
    assert!(line.contains("payload"), "{line}");

    let unknown = jobs(&api, &["get", "0199c3a4-0000-7000-8000-000000000001"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert_eq!(
        one_error_line(&unknown.stderr),
        "error: no job with that id"
    );
}
