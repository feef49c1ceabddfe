use super::Payload;
use serde::Deserialize;

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
