//! Topics and subscriptions to create at start, from command-line specs, a
//! JSON or TOML file, or code, so a local stack needs no provisioning step.

use crate::broker::Broker;
use crate::error::Error;
use crate::names::{subscription_name, topic_name};
use crate::proto::{DeadLetterPolicy, PushConfig, RetryPolicy, Subscription, Topic};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Topics and subscriptions to create. Names may be short (`jobs`, resolved in
/// the emulator's project) or full (`projects/P/topics/jobs`). Topics that
/// subscriptions name (including dead-letter topics) are created too; existing
/// resources are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Setup {
    /// Topics to create.
    pub topics: Vec<String>,
    /// Subscriptions to create, after the topics.
    pub subscriptions: Vec<SubscriptionSetup>,
}

/// One subscription to create; push when `push_endpoint` is set, else pull.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSetup {
    /// The subscription's name.
    pub name: String,
    /// The topic it is attached to.
    pub topic: String,
    /// `http://…` endpoint for push delivery.
    #[serde(default)]
    pub push_endpoint: Option<String>,
    /// The ack deadline (10-600 s; Pub/Sub's default 10 s).
    #[serde(default)]
    pub ack_deadline_seconds: Option<i32>,
    /// Retry policy minimum backoff (`"10s"`); setting either bound sets a retry policy.
    #[serde(default, deserialize_with = "human_duration")]
    pub min_backoff: Option<Duration>,
    /// Retry policy maximum backoff (`"600s"`).
    #[serde(default, deserialize_with = "human_duration")]
    pub max_backoff: Option<Duration>,
    /// Dead-letter topic for messages that used their attempts.
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// Delivery attempts before dead-lettering (5-100; default 5).
    #[serde(default)]
    pub max_delivery_attempts: Option<i32>,
}

/// Setup that cannot be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The setup file could not be read.
    #[error("cannot read setup file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The setup file is not valid JSON or TOML of the expected shape.
    #[error("invalid setup file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A `--subscription` spec is malformed.
    #[error("invalid subscription spec {spec:?}: {reason}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// The emulator refused a resource.
    #[error("cannot create {resource}: {source}")]
    Apply {
        /// The resource's full name.
        resource: String,
        /// Pub/Sub's error.
        source: Error,
    },
}

impl Setup {
    /// An empty setup.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a topic.
    pub fn topic(mut self, name: impl Into<String>) -> Self {
        self.topics.push(name.into());
        self
    }

    /// Adds a subscription.
    pub fn subscription(mut self, subscription: SubscriptionSetup) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    /// Adds everything `other` describes.
    pub fn extend(&mut self, other: Setup) {
        self.topics.extend(other.topics);
        self.subscriptions.extend(other.subscriptions);
    }

    /// Reads a `.json` or `.toml` file (by extension; anything else is tried as JSON).
    pub fn from_file(path: &Path) -> Result<Self, SetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| SetupError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_error = |message: String| SetupError::Parse {
            path: path.to_owned(),
            message,
        };
        if path.extension().is_some_and(|ext| ext == "toml") {
            toml::from_str(&text).map_err(|e| parse_error(e.to_string()))
        } else {
            serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))
        }
    }

    /// Creates what is missing, resolving short names in `project`.
    pub(crate) fn apply(&self, broker: &Arc<Broker>, project: &str) -> Result<(), SetupError> {
        let referenced = self
            .subscriptions
            .iter()
            .flat_map(|sub| std::iter::once(&sub.topic).chain(sub.dead_letter_topic.as_ref()));
        for topic in self.topics.iter().chain(referenced) {
            let name = qualify(topic, project, topic_name);
            let created = broker.create_topic(Topic {
                name: name.clone(),
                ..Default::default()
            });
            tolerate_existing(created, &name)?;
        }
        for sub in &self.subscriptions {
            let subscription = sub.to_proto(project);
            let name = subscription.name.clone();
            tolerate_existing(broker.create_subscription(subscription), &name)?;
        }
        Ok(())
    }
}

fn tolerate_existing<T>(result: Result<T, Error>, name: &str) -> Result<(), SetupError> {
    match result {
        Ok(_) => {
            info!(resource = %name, "created");
            Ok(())
        }
        Err(Error::AlreadyExists(_)) => Ok(()),
        Err(source) => Err(SetupError::Apply {
            resource: name.to_owned(),
            source,
        }),
    }
}

/// A full name for `name`, which may already be one.
fn qualify(name: &str, project: &str, build: fn(&str, &str) -> String) -> String {
    if name.starts_with("projects/") {
        name.to_owned()
    } else {
        build(project, name)
    }
}

impl SubscriptionSetup {
    /// A pull subscription.
    pub fn pull(name: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            topic: topic.into(),
            push_endpoint: None,
            ack_deadline_seconds: None,
            min_backoff: None,
            max_backoff: None,
            dead_letter_topic: None,
            max_delivery_attempts: None,
        }
    }

    /// A push subscription delivering to `endpoint`.
    pub fn push(
        name: impl Into<String>,
        topic: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        Self {
            push_endpoint: Some(endpoint.into()),
            ..Self::pull(name, topic)
        }
    }

    /// Sets the ack deadline in seconds.
    pub fn ack_deadline_seconds(mut self, seconds: i32) -> Self {
        self.ack_deadline_seconds = Some(seconds);
        self
    }

    /// Sets a retry policy with these backoff bounds.
    pub fn retry(mut self, min_backoff: Duration, max_backoff: Duration) -> Self {
        self.min_backoff = Some(min_backoff);
        self.max_backoff = Some(max_backoff);
        self
    }

    /// Sets a dead-letter policy.
    pub fn dead_letter(mut self, topic: impl Into<String>, max_delivery_attempts: i32) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self.max_delivery_attempts = Some(max_delivery_attempts);
        self
    }

    /// The gRPC subscription, with short names resolved in `project`.
    fn to_proto(&self, project: &str) -> Subscription {
        let retry_policy =
            (self.min_backoff.is_some() || self.max_backoff.is_some()).then(|| RetryPolicy {
                minimum_backoff: self.min_backoff.map(proto_duration),
                maximum_backoff: self.max_backoff.map(proto_duration),
            });
        Subscription {
            name: qualify(&self.name, project, subscription_name),
            topic: qualify(&self.topic, project, topic_name),
            push_config: self.push_endpoint.as_ref().map(|endpoint| PushConfig {
                push_endpoint: endpoint.clone(),
                ..Default::default()
            }),
            ack_deadline_seconds: self.ack_deadline_seconds.unwrap_or(0),
            retry_policy,
            dead_letter_policy: self
                .dead_letter_topic
                .as_ref()
                .map(|topic| DeadLetterPolicy {
                    dead_letter_topic: qualify(topic, project, topic_name),
                    max_delivery_attempts: self.max_delivery_attempts.unwrap_or(0),
                }),
            ..Default::default()
        }
    }
}

/// Parses `NAME=TOPIC[@URL][,option=value…]` with options `ack-deadline=600`,
/// `min-backoff=10s`, `max-backoff=600s`, `dead-letter=TOPIC`, `max-attempts=5`.
impl FromStr for SubscriptionSetup {
    type Err = SetupError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| SetupError::Spec {
            spec: spec.to_owned(),
            reason,
        };
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default();
        let (name, target) = head
            .split_once('=')
            .ok_or_else(|| error("expected NAME=TOPIC or NAME=TOPIC@URL".to_owned()))?;
        let (topic, endpoint) = match target.split_once('@') {
            Some((topic, endpoint)) => (topic, Some(endpoint)),
            None => (target, None),
        };
        if name.is_empty() || topic.is_empty() || endpoint.is_some_and(str::is_empty) {
            return Err(error("expected NAME=TOPIC or NAME=TOPIC@URL".to_owned()));
        }
        let mut setup = Self::pull(name, topic);
        setup.push_endpoint = endpoint.map(str::to_owned);
        for option in parts {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| error(format!("option {option:?} is not key=value")))?;
            let duration = || {
                parse_human_duration(value)
                    .ok_or_else(|| error(format!("{key}: {value:?} is not a duration like 10s")))
            };
            match key.trim() {
                "ack-deadline" => {
                    let seconds = duration()?.as_secs();
                    setup.ack_deadline_seconds = Some(
                        i32::try_from(seconds)
                            .map_err(|_| error(format!("ack-deadline {value:?} is too long")))?,
                    );
                }
                "min-backoff" => setup.min_backoff = Some(duration()?),
                "max-backoff" => setup.max_backoff = Some(duration()?),
                "dead-letter" => setup.dead_letter_topic = Some(value.to_owned()),
                "max-attempts" | "max-delivery-attempts" => {
                    setup.max_delivery_attempts =
                        Some(value.parse().map_err(|_| {
                            error(format!("max-attempts {value:?} is not a number"))
                        })?);
                }
                other => {
                    return Err(error(format!(
                        "unknown option {other:?} (expected ack-deadline, min-backoff, max-backoff, dead-letter, max-attempts)"
                    )));
                }
            }
        }
        if setup.max_delivery_attempts.is_some() && setup.dead_letter_topic.is_none() {
            return Err(error("max-attempts needs dead-letter=TOPIC".to_owned()));
        }
        Ok(setup)
    }
}

/// `"10s"`, `"500ms"`, `"1.5s"`, `"2m"`, or plain seconds (`"600"`).
fn parse_human_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    Duration::try_from_secs_f64(value * unit).ok()
}

fn human_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| {
        parse_human_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a duration like \"10s\""))
        })
    })
    .transpose()
}

fn proto_duration(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_spec_with_options_parses() {
        let spec = "jobs-worker=jobs@http://127.0.0.1:8081/pubsub/push,ack-deadline=600,min-backoff=10s,max-backoff=600s,dead-letter=jobs-dead-letter,max-attempts=5";
        let parsed: SubscriptionSetup = spec.parse().expect("valid");
        assert_eq!(
            parsed,
            SubscriptionSetup::push("jobs-worker", "jobs", "http://127.0.0.1:8081/pubsub/push")
                .ack_deadline_seconds(600)
                .retry(Duration::from_secs(10), Duration::from_secs(600))
                .dead_letter("jobs-dead-letter", 5)
        );
        let pull: SubscriptionSetup = "audit=jobs".parse().expect("valid");
        assert_eq!(pull, SubscriptionSetup::pull("audit", "jobs"));
    }

    #[test]
    fn malformed_specs_say_what_is_wrong() {
        for spec in [
            "no-topic",
            "s=",
            "s=t@",
            "s=t,ack-deadline",
            "s=t,colour=blue",
            "s=t,min-backoff=soon",
            "s=t,max-attempts=5",
        ] {
            let error = spec.parse::<SubscriptionSetup>().expect_err(spec);
            assert!(error.to_string().contains(spec), "{error}");
        }
    }

    #[test]
    fn short_names_resolve_in_the_project() {
        let sub = SubscriptionSetup::push("w", "jobs", "http://h/p")
            .dead_letter("projects/other/topics/dead", 5)
            .to_proto("local");
        assert_eq!(sub.name, "projects/local/subscriptions/w");
        assert_eq!(sub.topic, "projects/local/topics/jobs");
        assert_eq!(
            sub.dead_letter_policy
                .map(|p| p.dead_letter_topic)
                .as_deref(),
            Some("projects/other/topics/dead")
        );
        assert!(
            sub.retry_policy.is_none(),
            "no backoff given, no retry policy"
        );
    }

    #[test]
    fn toml_and_json_files_describe_the_same_setup() {
        let toml_text = r#"
            topics = ["jobs"]
            [[subscriptions]]
            name = "jobs-worker"
            topic = "jobs"
            push_endpoint = "http://127.0.0.1:8081/pubsub/push"
            min_backoff = "10s"
            max_backoff = "600s"
        "#;
        let json_text = r#"{"topics":["jobs"],"subscriptions":[{"name":"jobs-worker","topic":"jobs",
            "push_endpoint":"http://127.0.0.1:8081/pubsub/push","min_backoff":"10s","max_backoff":"600s"}]}"#;
        let from_toml: Setup = toml::from_str(toml_text).expect("toml");
        let from_json: Setup = serde_json::from_str(json_text).expect("json");
        assert_eq!(from_toml, from_json);
        assert_eq!(
            parse_human_duration("500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_human_duration("2m"), Some(Duration::from_secs(120)));
    }
}
