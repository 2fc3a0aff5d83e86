//! A real headless Chromium driven through chromedriver (Debian's packages), for admin UI tests.
//! Missing browser or driver is a loud failure, never a skip.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        for (path, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install Debian's {pkg} (scripts/install-test-deps does)"
            );
        }
        let port = crate::helpers::unique_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--disable-sync", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect to chromedriver");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("element {selector} not found: {e}"))
    }

    pub async fn fill(&self, selector: &str, text: &str) {
        let el = self.css(selector).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Clicks the element; when the page replaced it between finding and clicking (a stale
    /// reference), finds it again, a few times.
    pub async fn click(&self, selector: &str) {
        for _ in 0..5 {
            match self.css(selector).await.click().await {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() => continue,
                Err(e) => panic!("click on {selector}: {e}"),
            }
        }
        panic!("{selector} went stale five times in a row");
    }

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    pub async fn is_enabled(&self, selector: &str) -> bool {
        self.css(selector).await.is_enabled().await.unwrap()
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Every input's current value (what a password-hiding check must search).
    pub async fn input_values(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll('input, textarea')).map(e => e.value);",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(v).unwrap()
    }

    /// Opens `url` of the admin pages, which asks for a sign-in, and signs in as the admin.
    pub async fn sign_in_at(&self, url: &str) {
        self.goto(url).await;
        self.fill("#username", crate::admin_http::ADMIN_USER).await;
        self.fill("#password", crate::admin_http::ADMIN_PASSWORD)
            .await;
        self.click("#sign-in").await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `selector`'s text contains `needle`, returning the text.
    pub async fn wait_text(&self, selector: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let text = match self.client.find(Locator::Css(selector)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{selector} never showed {needle:?}; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls `selector` into view (before a screenshot).
    pub async fn scroll_to(&self, selector: &str) {
        let el = self.css(selector).await;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(el).unwrap()],
            )
            .await
            .unwrap();
    }

    /// Saves a PNG screenshot under `test-artifacts/` for people to look at.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
