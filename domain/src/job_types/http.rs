use super::Payload;
use crate::submission::schema::{NO_NUL_PATTERN, nullable, text};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use url::Url;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The payload of the `http` type: one outbound HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPayload {
    /// HTTP method; GET when absent.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http` or `https` URL.
    #[serde(deserialize_with = "url_as_written")]
    pub url: Url,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as given.
    pub body: Option<String>,
    /// Timeout of the request itself; the job's timeout applies when absent.
    pub timeout_seconds: Option<u32>,
}

/// A URL parsed only if it has no whitespace or control character, which the
/// parser would drop silently, so that the job calls the URL the client wrote.
fn url_as_written<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let raw = String::deserialize(deserializer)?;
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(D::Error::custom(
            "must not contain whitespace or control characters",
        ));
    }
    Url::parse(&raw).map_err(|err| D::Error::custom(format_args!("not a valid URL: {err}")))
}

fn default_method() -> String {
    "GET".to_owned()
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A header value may hold tab but no other ASCII control character (RFC 9110 field-value).
fn is_header_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// A conservative form of the URLs [`HttpPayload::validate`] accepts, for the
/// OpenAPI document: every string it matches is accepted, and most real URLs
/// match. Lowercase host labels, the last starting with a letter (so it is
/// never read as an IPv4 address), an optional port and path, query, fragment.
const URL_PATTERN: &str = concat!(
    r"^https?://([a-z0-9]+\.)*[a-z][a-z0-9]*(:[0-9]{1,4})?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*",
    r"(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?(#[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
);

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
            if !value.bytes().all(is_header_value_byte) {
                return Err(format!(
                    "headers.{name}: must not contain control characters other than tab"
                ));
            }
        }
        if self.timeout_seconds == Some(0) {
            return Err("timeout_seconds: must be at least 1".to_owned());
        }
        Ok(())
    }
}

impl PartialSchema for HttpPayload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The payload of the `http` type: one outbound HTTP request.",
            ))
            .property(
                "method",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(METHODS))
                    .default(Some("GET".into()))
                    .description(Some("HTTP method; GET when absent.")),
            )
            .property(
                "url",
                text(
                    URL_PATTERN,
                    "Absolute `http` or `https` URL with no whitespace or control characters. \
                     The pattern is a conservative form; any such URL with a host is accepted.",
                ),
            )
            .property(
                "headers",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property_names(Some(text(
                        r"^[0-9A-Za-z!#$%&'*+.^_`|~-]+$",
                        "RFC 9110 token",
                    )))
                    .additional_properties(Some(text(
                        r"^[^\x00-\x08\x0a-\x1f\x7f]*$",
                        "No control characters but tab.",
                    )))
                    .description(Some("Request headers: RFC 9110 token names.")),
            )
            .property(
                "body",
                nullable(text(NO_NUL_PATTERN, "Request body, sent as given.")),
            )
            .property(
                "timeout_seconds",
                nullable(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(u32::MAX))
                        .description(Some(
                            "Timeout of the request itself; the job's timeout applies when absent.",
                        )),
                ),
            )
            .required("url")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for HttpPayload {}

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

    #[test]
    fn control_characters_are_refused_in_header_values_and_urls_but_tab_is_a_legal_value() {
        for value in ["a\u{1}b", "a\u{7f}", "a\u{0}"] {
            let payload = json!({"url": "http://x.test", "headers": {"X": value}});
            assert!(validate_payload("http", &payload).is_err(), "{value:?}");
        }
        let tab = json!({"url": "http://x.test", "headers": {"X": "a\tb"}});
        assert!(validate_payload("http", &tab).is_ok());
        for url in [
            "http://x.te\tst/",
            " http://x.test",
            "http://x.test/\n",
            "http://x.test/\u{85}",
        ] {
            let err = validate_payload("http", &json!({"url": url})).expect_err(url);
            assert!(err.to_string().starts_with("url:"), "{err}");
        }
    }
}
