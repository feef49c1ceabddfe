//! The worker's settings: one struct per concern, a file each, flattened
//! into [`WorkerSettings`] and read from the environment (or flags).

mod delivery;
mod pull;
mod push_auth;
mod reconciler;
mod retention;

pub use delivery::DeliverySettings;
pub use pull::{PULL_SUBSCRIPTION, PullOptions, PullSettings, WorkerMode};
pub use push_auth::{GOOGLE_JWKS_URL, PushTokenSettings};
pub use reconciler::ReconcilerSettings;
pub use retention::RetentionSettings;

use clap::Args;
use jobs_job_types::HandlerSettings;
use jobs_job_types::SecretsSettings;
use jobs_runtime::settings::ServerSettings;

/// Everything the worker process needs to start.
#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    /// What every server needs (listen, database, logs, Pub/Sub, job limits).
    #[command(flatten)]
    pub server: ServerSettings,
    /// The key that seals tenants' HMAC secrets.
    #[command(flatten)]
    pub secrets: SecretsSettings,
    /// How the reconciler paces itself.
    #[command(flatten)]
    pub reconciler: ReconcilerSettings,
    /// How long finished jobs are kept.
    #[command(flatten)]
    pub retention: RetentionSettings,
    /// How pushes are authenticated.
    #[command(flatten)]
    pub push_auth: PushTokenSettings,
    /// Push bodies and leases.
    #[command(flatten)]
    pub delivery: DeliverySettings,
    /// Push or pull, and the pull's flow control.
    #[command(flatten)]
    pub pull: PullSettings,
    /// The built-in job types' settings.
    #[command(flatten)]
    pub handlers: HandlerSettings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: WorkerSettings,
    }

    fn parse(args: &[&str]) -> WorkerSettings {
        let argv = std::iter::once("worker").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("valid flags").settings
    }

    #[test]
    fn defaults_leave_push_auth_off_and_cap_jobs_at_540_seconds() {
        let settings = parse(&[]);
        assert!(settings.push_auth.checked().expect("consistent").is_none());
        assert_eq!(
            settings.server.job_limits.max_timeout(),
            Duration::from_secs(540)
        );
        assert_eq!(
            settings.delivery.lease_policy().expect("valid").every,
            Duration::from_secs(10)
        );
        assert_eq!(settings.server.listen.port, 8080);
        assert_eq!(
            settings.handlers.email_from.email.to_string(),
            "jobs@localhost"
        );
        assert_eq!(settings.push_auth.push_jwks_url.as_str(), GOOGLE_JWKS_URL);
    }

    #[test]
    fn deferrals_wait_1_to_10_seconds_by_default_and_a_delay_over_its_cap_is_refused() {
        let policy = parse(&[]).delivery.deferral_policy().expect("consistent");
        assert_eq!(policy, jobs_domain::DeferralPolicy::DEFAULT);
        let scaled = parse(&[
            "--concurrency-defer-delay=0.01",
            "--concurrency-defer-max-delay=0.1",
        ]);
        let policy = scaled.delivery.deferral_policy().expect("consistent");
        assert_eq!(
            (policy.delay, policy.max_delay),
            (Duration::from_millis(10), Duration::from_millis(100))
        );
        let upside_down = parse(&["--concurrency-defer-delay=20"]);
        let err = upside_down
            .delivery
            .deferral_policy()
            .expect_err("over the cap");
        assert_eq!(err.setting, "CONCURRENCY_DEFER_DELAY_SECONDS");
    }

    #[test]
    fn a_heartbeat_may_be_fractional_and_is_checked_at_start() {
        let policy = parse(&["--lease-heartbeat=0.2"])
            .delivery
            .lease_policy()
            .expect("valid");
        assert_eq!(policy.every, Duration::from_millis(200));
        assert_eq!(policy.lease(), Duration::from_millis(600));
        for bad in ["0.01", "601"] {
            let err = parse(&[&format!("--lease-heartbeat={bad}")])
                .delivery
                .lease_policy()
                .expect_err("out of range");
            assert_eq!(err.setting, "LEASE_HEARTBEAT_SECONDS", "{bad}");
        }
        let argv = ["worker", "--lease-heartbeat=0"];
        assert!(Cli::try_parse_from(argv).is_err(), "zero is no heartbeat");
    }

    #[test]
    fn push_is_the_default_mode_and_pull_takes_its_subscription_and_flow_control() {
        assert_eq!(parse(&[]).pull.checked().expect("consistent"), None);
        let pull = parse(&["--worker-mode=pull", "--pull-concurrency=8"])
            .pull
            .checked()
            .expect("consistent")
            .expect("pull mode");
        assert_eq!(pull.subscription, PULL_SUBSCRIPTION);
        assert_eq!((pull.concurrency, pull.max_outstanding), (8, 1000));
        assert_eq!(pull.ack_deadline, Duration::from_secs(60));
    }

    #[test]
    fn pull_settings_that_disagree_are_refused_naming_the_setting() {
        let fewer = parse(&[
            "--worker-mode=pull",
            "--pull-concurrency=10",
            "--pull-max-outstanding-messages=5",
        ]);
        let err = fewer.pull.checked().expect_err("fewer than run at once");
        assert_eq!(err.setting, "PULL_MAX_OUTSTANDING_MESSAGES");
        let path = parse(&[
            "--worker-mode=pull",
            "--pubsub-pull-subscription=projects/p/subscriptions/s",
        ]);
        let err = path.pull.checked().expect_err("a path, not a name");
        assert_eq!(err.setting, "PUBSUB_PULL_SUBSCRIPTION");
        let argv = ["worker", "--worker-mode=poll"];
        let err = Cli::try_parse_from(argv).err().expect("an unknown mode");
        assert!(err.to_string().contains("WORKER_MODE"), "{err}");
        let argv = ["worker", "--pull-ack-deadline=5"];
        assert!(Cli::try_parse_from(argv).is_err(), "under Pub/Sub's 10 s");
    }

    #[test]
    fn an_audience_without_a_service_account_is_refused_naming_the_setting() {
        let settings = parse(&["--push-audience", "https://worker.example.com"]);
        let err = settings.push_auth.checked().expect_err("must be refused");
        assert_eq!(err.setting, "PUSH_SERVICE_ACCOUNT");
        assert!(
            err.to_string().starts_with("PUSH_SERVICE_ACCOUNT:"),
            "{err}"
        );
    }

    #[test]
    fn a_service_account_without_an_audience_is_refused_too() {
        let settings = parse(&["--push-service-account", "push@p.iam.gserviceaccount.com"]);
        let err = settings.push_auth.checked().expect_err("must be refused");
        assert_eq!(err.setting, "PUSH_AUDIENCE");
    }
}
