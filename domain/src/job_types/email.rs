use super::Payload;
use crate::submission::schema::{NO_CONTROL_PATTERN, NO_NUL_PATTERN, nullable, text};
use serde::Deserialize;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_types::validate_payload;
    use serde_json::json;

    #[test]
    fn addresses_are_checked_and_masked() {
        let ok = json!({"to": ["jane@example.com"], "subject": "Hi", "body": "Hello"});
        assert!(validate_payload("email", &ok).is_ok());
        let bad = json!({"to": ["jane"], "subject": "Hi", "body": "Hello"});
        assert!(validate_payload("email", &bad).is_err());
        assert_eq!(mask_address("jane@example.com"), "ja***@example.com");
    }

    #[test]
    fn a_subject_with_any_control_character_is_refused() {
        for subject in ["a\u{b}b", "a\tb", "a\u{85}b", "a\r\nBcc: x@y.z"] {
            let payload = json!({"to": ["jane@example.com"], "subject": subject, "body": ""});
            let err = validate_payload("email", &payload).expect_err(subject);
            assert!(err.to_string().starts_with("subject:"), "{err}");
        }
    }
}
