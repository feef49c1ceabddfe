use clap::Parser;
use jobs_worker::settings::WorkerSettings;
use jobs_worker::startup::build;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    settings: WorkerSettings,
}

#[tokio::test]
async fn a_push_audience_without_a_service_account_stops_start_up_naming_it() {
    let cli = Cli::try_parse_from([
        "worker",
        "--port",
        "0",
        "--push-audience",
        "https://worker.example.com/pubsub/push",
    ])
    .expect("flags parse");
    // Flags beat the environment, but a stray PUSH_SERVICE_ACCOUNT would make this pass for the wrong reason.
    assert!(
        cli.settings.push_auth.push_service_account.is_none(),
        "unset PUSH_SERVICE_ACCOUNT to run this test"
    );

    let err = build(&cli.settings).await.expect_err("start-up must fail");

    let message = err.to_string();
    assert!(message.starts_with("PUSH_SERVICE_ACCOUNT:"), "{message}");
}
