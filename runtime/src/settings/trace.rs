//! Where traces are exported, if anywhere.

use clap::Args;
use std::time::Duration;
use url::Url;

/// Trace export; off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The
/// variables are OpenTelemetry's own names, with their meaning.
#[derive(Debug, Clone, Args)]
pub struct TraceSettings {
    /// Base URL of an OTLP/HTTP receiver (`/v1/traces` is appended): a
    /// collector (`http://localhost:4318`) or `https://telemetry.googleapis.com`,
    /// which is sent the service account's credentials. Unset: no export.
    #[arg(
        long = "otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_parser = parse_endpoint
    )]
    pub endpoint: Option<Url>,
    /// Milliseconds between two exports of the finished spans.
    #[arg(
        long = "otel-bsp-schedule-delay",
        env = "OTEL_BSP_SCHEDULE_DELAY",
        value_name = "OTEL_BSP_SCHEDULE_DELAY",
        default_value = "5000",
        value_parser = parse_milliseconds
    )]
    pub export_delay: Duration,
    /// The `service.name` of the spans; the role's own (`jobs-api`, `jobs-worker`) when unset.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        value_name = "OTEL_SERVICE_NAME",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub service_name: Option<String>,
}

impl TraceSettings {
    /// Where spans are sent: the endpoint with OTLP's `/v1/traces` path.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.endpoint.as_ref()?;
        Some(format!(
            "{}/v1/traces",
            endpoint.as_str().trim_end_matches('/')
        ))
    }

    /// Whether the endpoint is Google's, which wants the service account's credentials.
    pub fn is_google(&self) -> bool {
        self.endpoint
            .as_ref()
            .and_then(Url::host_str)
            .is_some_and(|host| host == "googleapis.com" || host.ends_with(".googleapis.com"))
    }
}

fn parse_endpoint(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("`{value}` is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{value}` is not an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{value}` has a query or fragment; give the receiver's base URL"
        ));
    }
    Ok(url)
}

fn parse_milliseconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!(
            "`{value}` is not a whole number of milliseconds >= 1"
        )),
        Ok(ms) => Ok(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        trace: TraceSettings,
    }

    fn parse(args: &[&str]) -> Result<TraceSettings, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .map(|cli| cli.trace)
    }

    #[test]
    fn the_traces_path_is_appended_to_the_endpoint_with_or_without_a_slash() {
        for endpoint in ["http://collector:4318", "http://collector:4318/"] {
            let settings =
                parse(&[&format!("--otel-exporter-otlp-endpoint={endpoint}")]).expect("valid");
            assert_eq!(
                settings.traces_url().as_deref(),
                Some("http://collector:4318/v1/traces")
            );
            assert!(!settings.is_google());
        }
        let google = parse(&["--otel-exporter-otlp-endpoint=https://telemetry.googleapis.com"])
            .expect("valid");
        assert!(google.is_google());
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        let settings = parse(&[]).expect("valid");
        assert_eq!(settings.traces_url(), None);
        assert_eq!(settings.export_delay, Duration::from_secs(5));
    }

    #[test]
    fn an_endpoint_that_is_not_a_base_url_and_a_zero_delay_are_refused() {
        for bad in [
            "--otel-exporter-otlp-endpoint=collector:4318",
            "--otel-exporter-otlp-endpoint=ftp://collector",
            "--otel-exporter-otlp-endpoint=http://collector:4318/?x=1",
            "--otel-bsp-schedule-delay=0",
            "--otel-service-name=",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}
