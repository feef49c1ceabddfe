//! The `email` job type: one plain-text message over SMTP, or, without
//! SMTP_URL, only logged (addresses masked) for local runs. SMTP 4xx replies,
//! timeouts and connection failures are retryable; 5xx replies are permanent.
//! Addresses never reach logs or errors unmasked.

use crate::job_type::{HandlerError, JobType, Payload, SetupError};
use crate::settings::HandlerSettings;
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::submission::schema::{NO_CONTROL_PATTERN, NO_NUL_PATTERN, nullable, text};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The payload of the `email` type: one plain-text message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailPayload {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Sender; the worker's configured sender when absent.
    pub from: Option<String>,
}

const MAX_RECIPIENTS: usize = 50;

/// Whitespace (`char::is_whitespace`) and control characters (`char::is_control`),
/// as a regex character-class body: neither may appear in an address.
const NOT_IN_ADDRESS: &str = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// [`looks_like_address`] as a JSON Schema pattern: no `@` in the local part,
/// a domain with an inner dot, and no whitespace or control character anywhere.
fn address_pattern() -> String {
    let c = NOT_IN_ADDRESS;
    format!(r"^[^@{c}]+@[^@.{c}][^@{c}]*\.[^@{c}]*[^@.{c}]$")
}

/// A deliberately loose check (`local@domain`): the SMTP server has the final word.
fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    }
}

/// Masks an address for logs: `ja***@example.com`.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local.chars().take(2).collect();
            format!("{shown}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl Payload for EmailPayload {
    fn validate(&self) -> Result<(), String> {
        if self.to.is_empty() || self.to.len() > MAX_RECIPIENTS {
            return Err(format!("to: give 1 to {MAX_RECIPIENTS} recipients"));
        }
        if let Some(bad) = self.to.iter().find(|a| !looks_like_address(a)) {
            return Err(format!(
                "to: `{}` is not an email address",
                mask_address(bad)
            ));
        }
        if let Some(from) = &self.from
            && !looks_like_address(from)
        {
            return Err("from: not an email address".to_owned());
        }
        // Any control character, not only CR and LF, would reach the Subject header.
        if self.subject.chars().any(char::is_control) {
            return Err("subject: must be one line with no control characters".to_owned());
        }
        Ok(())
    }
}

impl PartialSchema for EmailPayload {
    fn schema() -> RefOr<Schema> {
        let address = || text(&address_pattern(), "An email address, `local@domain.tld`.");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The payload of the `email` type: one plain-text message.",
            ))
            .property(
                "to",
                ArrayBuilder::new()
                    .items(address())
                    .min_items(Some(1))
                    .max_items(Some(MAX_RECIPIENTS))
                    .description(Some("Recipients.")),
            )
            .property(
                "subject",
                text(
                    NO_CONTROL_PATTERN,
                    "Subject line: one line, no control characters.",
                ),
            )
            .property("body", text(NO_NUL_PATTERN, "Plain-text body."))
            .property(
                "from",
                nullable(
                    address()
                        .description(Some("Sender; the worker's configured sender when absent.")),
                ),
            )
            .required("to")
            .required("subject")
            .required("body")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for EmailPayload {}

/// Where messages go.
#[derive(Debug, Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
}

/// The `email` job type, with its transport.
#[derive(Debug, Clone)]
pub struct Email {
    transport: Transport,
    from: Mailbox,
}

#[async_trait]
impl JobType for Email {
    const NAME: &'static str = "email";
    type Payload = EmailPayload;

    /// Sends through SMTP_URL, or only logs when there is none.
    fn build(settings: &HandlerSettings) -> Result<Self, SetupError> {
        let transport = match &settings.smtp_url {
            Some(url) => {
                let refused = |message: String| SetupError {
                    job_type: Self::NAME,
                    message: format!("SMTP_URL: {message}"),
                };
                url.check().map_err(refused)?;
                // lettre's URL errors do not quote the URL, so no password leaks here.
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|err| refused(err.to_string()))?;
                Transport::Smtp(builder.build())
            }
            None => Transport::Log,
        };
        Ok(Email {
            transport,
            from: settings.email_from.clone(),
        })
    }

    async fn run(
        &self,
        payload: EmailPayload,
        _: &Job,
        _: &tokio_util::sync::CancellationToken,
    ) -> Result<Value, HandlerError> {
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

impl Email {
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

    #[test]
    fn addresses_are_checked_and_masked() {
        let ok = json!({"to": ["jane@example.com"], "subject": "Hi", "body": "Hello"});
        assert!(crate::parse_payload::<EmailPayload>(&ok).is_ok());
        let bad = json!({"to": ["jane"], "subject": "Hi", "body": "Hello"});
        assert!(crate::parse_payload::<EmailPayload>(&bad).is_err());
        assert_eq!(mask_address("jane@example.com"), "ja***@example.com");
    }

    #[test]
    fn a_subject_with_any_control_character_is_refused() {
        for subject in ["a\u{b}b", "a\tb", "a\u{85}b", "a\r\nBcc: x@y.z"] {
            let payload = json!({"to": ["jane@example.com"], "subject": subject, "body": ""});
            let err = crate::parse_payload::<EmailPayload>(&payload).expect_err(subject);
            assert!(err.to_string().starts_with("subject:"), "{err}");
        }
    }
}
