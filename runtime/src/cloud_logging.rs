//! Cloud Logging's JSON lines, as tracing-stackdriver writes them, with the
//! trace of the span each line was logged in: `logging.googleapis.com/trace`
//! (`projects/PROJECT/traces/TRACE_ID`), `logging.googleapis.com/spanId` and
//! `logging.googleapis.com/trace_sampled`, which join the line to its trace
//! in the console.
//!
//! tracing-stackdriver can write these itself only with an OpenTelemetry
//! release far older than ours, so its line is written to a buffer and the
//! fields are put in at the front before the line goes out.

use opentelemetry::trace::TraceContextExt;
use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::OnceLock;
use tracing::dispatcher::WeakDispatch;
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

thread_local! {
    /// The line tracing-stackdriver is writing on this thread.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes Cloud Logging JSON lines, each with its span's trace.
pub struct CloudLogging<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    lines: tracing_stackdriver::Layer<S, fn() -> LineBuffer>,
    /// The project trace names are qualified with; `None` writes no trace fields.
    project: Option<String>,
    out: BoxMakeWriter,
    /// The subscriber this layer is part of, to read spans' trace context through.
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> CloudLogging<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    /// Lines to stdout; trace fields name `project`'s traces.
    pub fn stdout(project: Option<&str>) -> Self {
        CloudLogging::new(project, BoxMakeWriter::new(io::stdout))
    }

    /// Lines to `out`.
    pub fn new(project: Option<&str>, out: BoxMakeWriter) -> Self {
        CloudLogging {
            lines: tracing_stackdriver::layer().with_writer(LineBuffer::new as fn() -> LineBuffer),
            project: project.map(str::to_owned),
            out,
            dispatch: OnceLock::new(),
        }
    }

    /// The trace fields of a line logged in the span of `event`, as JSON members.
    fn trace_fields(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<String> {
        let project = self.project.as_deref()?;
        let span = ctx.event_span(event)?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let otel_span = cx.span();
        let context = otel_span.span_context();
        if !context.is_valid() {
            return None;
        }
        let trace = format!("projects/{project}/traces/{}", context.trace_id());
        Some(format!(
            r#""logging.googleapis.com/trace":{},"logging.googleapis.com/spanId":"{}","logging.googleapis.com/trace_sampled":{},"#,
            serde_json::Value::String(trace),
            context.span_id(),
            context.is_sampled()
        ))
    }
}

impl<S> Layer<S> for CloudLogging<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.lines.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.lines.on_record(span, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.lines.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.lines.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.lines.on_close(id, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let fields = self.trace_fields(event, &ctx);
        self.lines.on_event(event, ctx);
        let line = LINE.with_borrow_mut(std::mem::take);
        // The line is one JSON object: the fields go in right after its `{`.
        let Some((open, rest)) = line.split_first().filter(|(open, _)| **open == b'{') else {
            let _ = self.out.make_writer().write_all(&line);
            return;
        };
        let mut out = self.out.make_writer_for(event.metadata());
        let _ = match fields {
            Some(fields) => {
                let mut stamped = Vec::with_capacity(line.len() + fields.len());
                stamped.push(*open);
                stamped.extend_from_slice(fields.as_bytes());
                stamped.extend_from_slice(rest);
                out.write_all(&stamped)
            }
            None => out.write_all(&line),
        };
    }
}

/// Where tracing-stackdriver writes a line: this thread's [`LINE`].
pub struct LineBuffer;

impl LineBuffer {
    fn new() -> Self {
        LineBuffer
    }
}

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LINE.with_borrow_mut(|line| line.extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceFlags, TraceId, TraceState, TracerProvider as _,
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    /// Logs `log` through the OpenTelemetry layer and a [`CloudLogging`] for
    /// project `p`, and returns the lines written, parsed.
    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let out = {
            let written = written.clone();
            BoxMakeWriter::new(move || Captured(written.clone()))
        };
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(CloudLogging::new(Some("p"), out));
        tracing::subscriber::with_default(subscriber, log);
        let written = written.lock().expect("lines").clone();
        String::from_utf8(written)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_logged_in_a_span_names_the_spans_trace_in_its_project() {
        let mut ids = None;
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", job_id = 7);
            let _entered = span.enter();
            tracing::info!(attempt = 1, "handler succeeded");
            let otel_span = span.context();
            let context = otel_span.span().span_context().clone();
            ids = Some((context.trace_id(), context.span_id()));
        });
        let (trace_id, span_id) = ids.expect("the span's ids");
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(
            line["logging.googleapis.com/trace"],
            format!("projects/p/traces/{trace_id}")
        );
        assert_eq!(line["logging.googleapis.com/spanId"], span_id.to_string());
        assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
        // The rest of the line is tracing-stackdriver's, unchanged.
        assert_eq!(line["message"], "handler succeeded");
        assert_eq!(line["severity"], "INFO");
        assert_eq!(line["attempt"], 1);
        assert_eq!(line["span"]["name"], "request");
    }

    #[test]
    fn a_span_continuing_a_callers_trace_logs_the_callers_trace_id() {
        let caller = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
            SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let lines = lines_of(|| {
            let span = tracing::info_span!("delivery");
            span.set_parent(opentelemetry::Context::new().with_remote_span_context(caller))
                .expect("set before the span starts");
            let _entered = span.enter();
            tracing::warn!("the job's type differs");
        });
        assert_eq!(
            lines[0]["logging.googleapis.com/trace"],
            "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(
            lines[0]["logging.googleapis.com/spanId"],
            "00f067aa0ba902b7"
        );
    }

    #[test]
    fn a_line_outside_any_span_has_no_trace() {
        let lines = lines_of(|| tracing::info!("listening"));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "listening");
        assert!(lines[0].get("logging.googleapis.com/trace").is_none());
    }
}
