use super::Payload;
use serde::Deserialize;
use std::collections::BTreeMap;
use url::Url;

/// The payload of the `http` type: one outbound HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPayload {
    /// HTTP method; GET when absent.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http` or `https` URL.
    pub url: Url,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as given.
    pub body: Option<String>,
    /// Timeout of the request itself; the job's timeout applies when absent.
    pub timeout_seconds: Option<u32>,
}

fn default_method() -> String {
    "GET".to_owned()
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Payload for HttpPayload {
    fn validate(&self) -> Result<(), String> {
        if !METHODS.contains(&self.method.as_str()) {
            return Err(format!("method: must be one of {}", METHODS.join(", ")));
        }
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host().is_none() {
            return Err("url: must be an absolute http or https URL".to_owned());
        }
        for (name, value) in &self.headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok {
                return Err(format!("headers: `{name}` is not a valid header name"));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(format!("headers.{name}: must not contain CR, LF or NUL"));
            }
        }
        if self.timeout_seconds == Some(0) {
            return Err("timeout_seconds: must be at least 1".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::job_types::validate_payload;
    use serde_json::json;

    #[test]
    fn a_plain_get_is_valid() {
        assert!(validate_payload("http", &json!({"url": "https://example.com/hook"})).is_ok());
    }

    #[test]
    fn non_http_schemes_and_bad_headers_are_rejected() {
        assert!(validate_payload("http", &json!({"url": "file:///etc/passwd"})).is_err());
        assert!(validate_payload("http", &json!({"url": "not a url"})).is_err());
        let bad_header = json!({"url": "http://x.test", "headers": {"X": "a\r\nInjected: 1"}});
        assert!(validate_payload("http", &bad_header).is_err());
        assert!(
            validate_payload("http", &json!({"url": "http://x.test", "method": "BREW"})).is_err()
        );
    }
}
