//! The official streaming-pull subscriber, pointed where the publisher is:
//! the emulator at `PUBSUB_EMULATOR_HOST` with anonymous credentials, else
//! Pub/Sub with Application Default Credentials.

use crate::settings::PubSubSettings;
use google_cloud_pubsub::client::Subscriber;
use thiserror::Error;

/// Why the subscriber could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The client could not be built (a bad endpoint, or no credentials):
    /// stop start-up and fix `PUBSUB_EMULATOR_HOST`, `GOOGLE_CLOUD_PROJECT`
    /// or the service account's credentials.
    #[error("cannot create the Pub/Sub subscriber: {0}")]
    Client(String),
}

/// A subscriber client for `settings`' project; its streams are opened
/// lazily, so a missing subscription shows on the first pull, not here.
pub async fn subscriber(settings: &PubSubSettings) -> Result<Subscriber, SubscribeError> {
    let mut builder = Subscriber::builder();
    if let Some(host) = &settings.emulator_host {
        // The client does not read the variable itself.
        builder = builder
            .with_endpoint(format!("http://{host}"))
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build());
    }
    builder
        .build()
        .await
        .map_err(|err| SubscribeError::Client(err.to_string()))
}
