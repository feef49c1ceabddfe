//! The `email` job type: one plain-text message over SMTP, or, without
//! SMTP_URL, only logged (addresses masked) for local runs. SMTP 4xx replies,
//! timeouts and connection failures are retryable; 5xx replies are permanent.
//! Addresses never reach logs or errors unmasked.

use super::{Handler, HandlerError, RegistryError};
use crate::config::SmtpUrl;
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::job_types::{EmailPayload, mask_address, parse_payload};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

/// Settings of the `email` handler.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The SMTP server; `None` selects the log-only transport.
    pub smtp_url: Option<SmtpUrl>,
    /// Sender of messages whose payload names none.
    pub from: Mailbox,
}

/// Where messages go.
#[derive(Debug, Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
}

/// Runs `email` jobs.
#[derive(Debug, Clone)]
pub struct EmailHandler {
    transport: Transport,
    from: Mailbox,
}

impl EmailHandler {
    /// A handler sending through SMTP_URL, or logging when there is none.
    pub fn new(settings: &EmailSettings) -> Result<Self, RegistryError> {
        let transport = match &settings.smtp_url {
            Some(url) => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|err| RegistryError::Setup {
                        job_type: "email",
                        // lettre's URL errors do not quote the URL, so no password leaks here.
                        message: format!("SMTP_URL: {err}"),
                    })?;
                Transport::Smtp(builder.build())
            }
            None => Transport::Log,
        };
        Ok(EmailHandler {
            transport,
            from: settings.from.clone(),
        })
    }

    fn message(&self, payload: &EmailPayload) -> Result<Message, HandlerError> {
        let from = match &payload.from {
            Some(from) => parse_mailbox("from", from)?,
            None => self.from.clone(),
        };
        let mut builder = Message::builder()
            .from(from)
            .subject(payload.subject.as_str())
            .header(ContentType::TEXT_PLAIN);
        for to in &payload.to {
            builder = builder.to(parse_mailbox("to", to)?);
        }
        builder
            .body(payload.body.clone())
            .map_err(|err| HandlerError::Permanent(format!("the message cannot be built: {err}")))
    }
}

fn parse_mailbox(field: &str, address: &str) -> Result<Mailbox, HandlerError> {
    address.parse().map_err(|_| {
        HandlerError::Permanent(format!(
            "{field}: `{}` is not an email address",
            mask_address(address)
        ))
    })
}

/// The recipients as logs may show them: `ja***@example.com, bo***@example.org`.
pub fn masked_recipients(to: &[String]) -> String {
    to.iter()
        .map(|address| mask_address(address))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How an SMTP failure ends the attempt. Only the reply code is kept: server
/// texts often quote the recipient's address.
fn smtp_failure(err: &lettre::transport::smtp::Error) -> HandlerError {
    let code = err
        .status()
        .map(|code| format!(" ({code})"))
        .unwrap_or_default();
    if err.is_permanent() {
        HandlerError::Permanent(format!("the SMTP server refused the message{code}"))
    } else if err.is_transient() {
        HandlerError::Retryable(format!("the SMTP server deferred the message{code}"))
    } else if err.is_timeout() {
        HandlerError::Retryable("the SMTP server did not answer in time".to_owned())
    } else if err.is_tls() {
        HandlerError::Retryable("TLS with the SMTP server failed".to_owned())
    } else {
        HandlerError::Retryable("cannot talk to the SMTP server".to_owned())
    }
}

#[async_trait]
impl Handler for EmailHandler {
    fn job_type(&self) -> &'static str {
        "email"
    }

    async fn run(&self, job: &Job) -> Result<Value, HandlerError> {
        let payload: EmailPayload = parse_payload(&job.payload)?;
        let message = self.message(&payload)?;
        let recipients = payload.to.len();
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|err| smtp_failure(&err))?;
                tracing::info!(
                    to = %masked_recipients(&payload.to),
                    recipients,
                    "email sent"
                );
                Ok(json!({"recipients": recipients, "transport": "smtp"}))
            }
            Transport::Log => {
                tracing::info!(
                    to = %masked_recipients(&payload.to),
                    subject = %payload.subject,
                    recipients,
                    "email not sent: log-only transport (set SMTP_URL to send)"
                );
                Ok(json!({"recipients": recipients, "transport": "log"}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked_for_logs() {
        let to = vec![
            "jane.doe@example.com".to_owned(),
            "b@example.org".to_owned(),
        ];
        let shown = masked_recipients(&to);
        assert_eq!(shown, "ja***@example.com, b***@example.org");
        assert!(!shown.contains("jane.doe"));
    }

    #[test]
    fn a_bad_address_is_permanent_and_masked() {
        let err = parse_mailbox("to", "jane.doe@exa mple.com").expect_err("refused");
        assert_eq!(
            err,
            HandlerError::Permanent("to: `ja***@exa mple.com` is not an email address".to_owned())
        );
    }
}
