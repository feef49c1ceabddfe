use crate::helpers::spawn_app;
use sqlx::PgPool;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                      form-action 'none'; frame-ancestors 'none'";

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_dashboard_files_are_served_without_a_key_under_a_strict_policy(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (path, content_type) in [
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["content-security-policy"], POLICY, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.get("set-cookie").is_none(), "{path} sets a cookie");
        assert!(!response.text().await.expect("body").is_empty(), "{path}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_dashboard_page_has_nothing_inline_for_its_policy_to_block(pool: PgPool) {
    let app = spawn_app(pool).await;
    let page = app
        .client
        .get(app.url("/ui"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    assert!(page.contains(r#"<script src="/ui/app.js" defer></script>"#));
    assert!(page.contains(r#"<link rel="stylesheet" href="/ui/app.css">"#));
    assert_eq!(
        page.matches("<script").count(),
        1,
        "one script, from a file"
    );
    for inline in ["<style", " style=", " onclick=", " onload=", "javascript:"] {
        assert!(!page.contains(inline), "inline `{inline}` in the page");
    }
}

/// The script makes every element with `textContent` (and attributes), so
/// no job's payload, error or name can turn into markup.
#[test]
fn the_dashboard_script_never_parses_strings_as_html_or_code() {
    let script = include_str!("../../ui/app.js");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
    ] {
        assert!(!script.contains(sink), "the script uses `{sink}`");
    }
    assert!(script.contains("sessionStorage"));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_unknown_dashboard_file_is_a_problem_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .get(app.url("/ui/missing.js"))
        .send()
        .await
        .expect("send");
    crate::helpers::assert_problem(response, 404, "not-found").await;
}
