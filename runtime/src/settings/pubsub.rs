//! Where job messages are published.

use clap::Args;

/// Where jobs are published.
#[derive(Debug, Clone, Args)]
pub struct PubSubSettings {
    /// The Google Cloud project that owns the topic.
    #[arg(
        long = "google-cloud-project",
        env = "GOOGLE_CLOUD_PROJECT",
        value_name = "GOOGLE_CLOUD_PROJECT",
        default_value = "local-project"
    )]
    pub project: String,
    /// `host:port` of a Pub/Sub emulator; when set, every client talks to it with anonymous credentials.
    #[arg(
        long = "pubsub-emulator-host",
        env = "PUBSUB_EMULATOR_HOST",
        value_name = "PUBSUB_EMULATOR_HOST"
    )]
    pub emulator_host: Option<String>,
    /// The topic jobs are published to.
    #[arg(
        long = "jobs-topic",
        env = "JOBS_TOPIC",
        value_name = "JOBS_TOPIC",
        default_value = jobs_domain::job_message::JOBS_TOPIC
    )]
    pub jobs_topic: String,
}

impl PubSubSettings {
    /// The topic's full resource name.
    pub fn topic_path(&self) -> String {
        format!("projects/{}/topics/{}", self.project, self.jobs_topic)
    }

    /// The full resource name of the subscription `name` in the project.
    pub fn subscription_path(&self, name: &str) -> String {
        format!("projects/{}/subscriptions/{name}", self.project)
    }
}
