//! The `pubsub-emulator` binary: its help, start-up setup from flags, and SIGTERM.

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_pubsub-emulator");

#[test]
fn help_says_it_is_not_for_production() {
    let output = Command::new(BINARY).arg("--help").output().expect("runs");
    let help = String::from_utf8(output.stdout).expect("utf-8");
    assert!(output.status.success());
    assert!(help.contains("NEVER PRODUCTION"), "{help}");
    assert!(help.contains("--time-scale"), "{help}");
    assert!(help.contains("--subscription"), "{help}");
}

#[tokio::test]
async fn the_binary_creates_the_local_stack_and_stops_on_sigterm() {
    let mut child = Command::new(BINARY)
        .args([
            "--port",
            "0",
            "--project",
            "local-project",
            "--subscription",
            "jobs-worker=jobs@http://127.0.0.1:9/pubsub/push,ack-deadline=600,min-backoff=10s,max-backoff=600s,dead-letter=jobs-dead-letter,max-attempts=5",
            "--subscription",
            "jobs-dead-letter-worker=jobs-dead-letter@http://127.0.0.1:9/pubsub/dead-letter",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    // Keeps reading to the end so the emulator's last log lines find an open pipe.
    let reader = tokio::task::spawn_blocking(move || {
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let host = line
                .split("PUBSUB_EMULATOR_HOST=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next());
            if let Some(host) = host
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(host.to_owned());
            }
        }
    });
    let host = tokio::time::timeout(common::GUARD, ready_rx)
        .await
        .expect("ready in time")
        .expect("the ready line names the host");

    let url = format!("http://{host}/v1/projects/local-project/subscriptions/jobs-worker");
    let sub: serde_json::Value = reqwest::get(&url)
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(sub["topic"], "projects/local-project/topics/jobs");
    assert_eq!(sub["ackDeadlineSeconds"], 600);
    assert_eq!(sub["retryPolicy"]["maximumBackoff"], "600s");
    assert_eq!(
        sub["deadLetterPolicy"]["deadLetterTopic"],
        "projects/local-project/topics/jobs-dead-letter"
    );
    assert_eq!(sub["deadLetterPolicy"]["maxDeliveryAttempts"], 5);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("waited");
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    reader.await.expect("stdout read to the end");
}
