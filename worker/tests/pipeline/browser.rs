//! Headless Chromium, driven through chromedriver (WebDriver), for the
//! dashboard's tests: one chromedriver per test on a free port, a fresh
//! profile, and everything killed when the test ends, passed or not.

use crate::harness::{GUARD, free_port};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The desktop window the views are checked and photographed at.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone's viewport.
pub const PHONE: (u32, u32) = (390, 844);

/// A headless Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

/// Where screenshots go: `target/ui-screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    /// Fails, never skips, when either is not installed.
    pub async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: the dashboard's tests need Debian's chromium and \
                 chromium-driver (apt-get install -y chromium chromium-driver)"
            );
        }
        let port = free_port();
        let profile =
            std::env::temp_dir().join(format!("jobs-dashboard-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).expect("a profile directory");
        // A process group of its own, so the drop can kill Chromium with it.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let mut browser = Browser {
            client: connect(&url, capabilities).await,
            driver,
            profile,
        };
        browser.resize(DESKTOP).await;
        browser
    }

    /// Sets the viewport's size.
    pub async fn resize(&mut self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for the first element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        self.until(&format!("an element `{css}`"), || async move {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until an element matching `css` shows text containing `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.until(&format!("`{css}` to show `{needle}`"), || async move {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if let Ok(text) = element.text().await
                    && text.contains(needle)
                {
                    return Some(text);
                }
            }
            None
        })
        .await
    }

    /// Waits until exactly `count` elements match `css`.
    pub async fn wait_count(&self, css: &str, count: usize) -> Vec<Element> {
        self.until(&format!("{count} of `{css}`"), || async move {
            let found = self.client.find_all(Locator::Css(css)).await.ok()?;
            (found.len() == count).then_some(found)
        })
        .await
    }

    /// Clicks the element matching `css`, once it is there.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Types `text` into the (emptied) field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// The `data-id` of every job row shown.
    pub async fn job_rows(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for row in self
            .client
            .find_all(Locator::Css("tr.job-row"))
            .await
            .expect("rows")
        {
            if let Ok(Some(id)) = row.attr("data-id").await {
                ids.push(id);
            }
        }
        ids
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("text")
    }

    /// Saves a screenshot of the viewport as `<name>.png` and prints its path.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        println!("screenshot: {}", path.display());
    }

    /// Runs `probe` until it finds something; a test that waits past the guard fails.
    async fn until<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let found = tokio::time::timeout(GUARD, async {
            loop {
                if let Some(found) = probe().await {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        match found {
            Ok(found) => found,
            Err(_) => panic!(
                "waited {GUARD:?} for {what}; the page says:\n{}",
                self.text().await
            ),
        }
    }

    /// Ends the session (Chromium quits); the drop kills chromedriver.
    pub async fn close(self) {
        let client = self.client.clone();
        client.close().await.expect("the session ends");
    }
}

async fn connect(url: &str, capabilities: serde_json::Map<String, Value>) -> Client {
    // chromedriver takes a moment to listen.
    let mut last = None;
    for _ in 0..200 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(url)
            .await
        {
            Ok(client) => return client,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no Chromium session through chromedriver at {url}: {last:?}");
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started share its group.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
