//! `/ui`: the web dashboard, a small single-page app (`api/ui/`) embedded in
//! the binary. The page holds no data and no secret: the script asks for
//! an API key, keeps it in the tab's `sessionStorage` and calls the JSON API
//! with it as a bearer token, so the dashboard sees exactly what the key's
//! tenant sees through the API. No cookie is ever set, so another site
//! cannot make the browser act with the key (no CSRF), and the strict
//! Content-Security-Policy allows only these same-origin files to run.

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// What the dashboard's pages may load and do: their own script, style and
/// API, nothing inline, no framing, no form posts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// The dashboard's routes; outside the OpenAPI document, which describes the JSON API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/ui",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

/// One embedded file with the dashboard's security headers. `no-cache`: a
/// browser revalidates, so a new release's script is never mixed with an old page.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
