//! A real headless Chromium driven over WebDriver (chromedriver), for tests
//! that log in, type and click like staff do.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(candidates: &[&'static str], what: &str) -> &'static str {
    candidates
        .iter()
        .copied()
        .find(|c| Path::new(c).exists())
        .unwrap_or_else(|| panic!("{what} is not installed: run scripts/test, which installs it (apt-get install chromium chromium-driver)"))
}

pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: Option<tempfile::TempDir>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`x`height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let path = profile.path().to_owned();
        let mut b = Browser::start_in(width, height, &path).await;
        b._profile = Some(profile);
        b
    }

    /// With the profile in `profile`, which outlives the browser: a second
    /// browser on it finds what the first kept (service workers, storage).
    pub async fn start_in(width: u32, height: u32, profile: &Path) -> Browser {
        let chromium = find_binary(
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
            "chromium",
        );
        let chromedriver = find_binary(&["/usr/bin/chromedriver"], "chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        // In a process group of its own, with the Chromium it starts: a test
        // that fails before `quit` still takes its browser down (see `Drop`),
        // instead of leaving a live page polling beside the tests that follow.
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.display())]
        }}}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {resp}"));
        let b = Browser {
            base: format!("{base}/session/{session}"),
            driver,
            http,
            _profile: None,
        };
        // Headless Chromium will not make a window narrower than 500 px, so
        // the page's viewport is set exactly (a phone's 390 px stays 390).
        let metrics = json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600
        }});
        let set = b
            .call(reqwest::Method::POST, "/goog/cdp/execute", Some(metrics))
            .await;
        assert!(
            set["value"].is_object(),
            "viewport {width}x{height} not set: {set}"
        );
        b
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("webdriver json")
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks something that submits a form or follows a link, and waits for the next page.
    pub async fn click_and_wait(&self, css: &str) {
        self.eval("window.__pvm_old_page = true; return 0").await;
        self.click(css).await;
        for _ in 0..200 {
            let fresh = self
                .eval("return window.__pvm_old_page !== true && document.readyState === 'complete'")
                .await;
            if fresh == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no new page after clicking {css}");
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await["value"]
            .clone()
    }

    /// Runs a script with arguments (`arguments[0]`, …) and returns its value.
    pub async fn eval_with(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await["value"]
            .clone()
    }

    /// Picks `value` in the `select` that `css` finds, as a person choosing it would.
    pub async fn choose(&self, css: &str, value: &str) {
        let picked = self
            .eval_with(
                "const s = document.querySelector(arguments[0]); if (!s) return 'no select'; \
                 s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true})); \
                 return s.value === arguments[1] ? 'ok' : 'no option';",
                json!([css, value]),
            )
            .await;
        assert_eq!(picked, json!("ok"), "choosing {value:?} in {css}");
    }

    /// Waits until `script` returns true, failing with `what` after `within`.
    pub async fn until(&self, script: &str, within: Duration, what: &str) -> Duration {
        let start = std::time::Instant::now();
        loop {
            if self.eval(script).await == json!(true) {
                return start.elapsed();
            }
            assert!(start.elapsed() < within, "{what}: not within {within:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// True when the page opened a JavaScript alert (an injected script ran).
    pub async fn alert_open(&self) -> bool {
        let v = self.call(reqwest::Method::GET, "/alert/text", None).await;
        v["value"].is_string()
    }

    /// The whole page, not only the viewport: the viewport grows to the
    /// page's height (at most 6,000 px) for the picture and goes back after.
    pub async fn full_screenshot(&self, path: &Path) {
        let size = self
            .eval("return [window.innerWidth, window.innerHeight, document.documentElement.scrollHeight]")
            .await;
        let at = |i: usize| size[i].as_u64().unwrap_or(800);
        let (width, height, full) = (at(0), at(1), at(2).min(6_000));
        let metrics = |h: u64| {
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": h, "deviceScaleFactor": 1, "mobile": width < 600
            }})
        };
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(metrics(full)),
        )
        .await;
        self.screenshot(path).await;
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(metrics(height)),
        )
        .await;
    }

    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Browser {
    /// Closes the browser (chromedriver stops it) and the driver.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process under it.
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group
            // only, the one `start_in` made for this driver.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
