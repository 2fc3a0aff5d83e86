//! Test harness: `TestApp::spawn()` starts the real application on port 0 with its own data
//! directory (or its own PostgreSQL database) and gives one method per kind of request.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailroom::app::App;
use mailroom::app::processing::ProcessingOptions;
use mailroom::config::Settings;
use serde_json::Value;
use tokio::sync::oneshot;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which database a test app runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of tests that do not name one: `MAILROOM_TEST_BACKEND=postgres` runs them on
    /// PostgreSQL (`.ci/run` runs the suite once per backend); SQLite otherwise.
    pub fn from_env() -> Self {
        match std::env::var("MAILROOM_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("MAILROOM_TEST_BACKEND={other}: use sqlite or postgres"),
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub token: String,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status, parsed JSON body (Null when not JSON) and the raw text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The `error.field` of an error response.
    pub fn error_field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Every (field, rule) pair of a validation error.
    pub fn rules(&self) -> Vec<(String, String)> {
        self.body["error"]["details"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            d["field"].as_str().unwrap_or("").to_string(),
                            d["rule"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Creates a fresh PostgreSQL database for one test and returns its URL.
/// Fails loudly when the server is not there: these tests never skip.
pub async fn fresh_pg_database() -> String {
    use sqlx::Executor;
    let name = format!("mailroom_test_{}", rand_suffix());
    let pool = sqlx::PgPool::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432 (user postgres, trust auth)");
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    pool.close().await;
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl TestApp {
    /// A server on the backend of `MAILROOM_TEST_BACKEND` (SQLite by default).
    pub async fn spawn() -> Self {
        Self::spawn_on(Backend::from_env()).await
    }

    pub async fn spawn_on(backend: Backend) -> Self {
        Self::spawn_with(backend, ProcessingOptions::default()).await
    }

    /// A server whose processing uses `processing` instead of the `MAILROOM_*` variables.
    pub async fn spawn_with(backend: Backend, processing: ProcessingOptions) -> Self {
        Self::spawn_custom(backend, processing, |_| {}).await
    }

    /// A server with these web settings (public URL, trusted proxies).
    pub async fn spawn_with_web(web: mailroom::config::WebSettings) -> Self {
        Self::spawn_custom(Backend::from_env(), ProcessingOptions::default(), |s| {
            s.web = Ok(web)
        })
        .await
    }

    /// A server whose settings `adjust` changes after they are read from the environment.
    pub async fn spawn_custom(
        backend: Backend,
        processing: ProcessingOptions,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        init_tracing();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_pg_database().await),
        };
        let mut settings = Settings::new(data_dir.path().join("data"), database_url.clone());
        adjust(&mut settings);
        let app = Arc::new(
            App::open(settings)
                .await
                .expect("open app")
                .with_processing_options(processing),
        );
        let token = app
            .create_token("test-harness", "test")
            .await
            .expect("token")
            .token;
        let (listener, addr) = mailroom::web::bind("127.0.0.1:0").await.expect("bind");
        let (tx, rx) = oneshot::channel::<()>();
        let server_app = app.clone();
        let server = tokio::spawn(async move {
            mailroom::web::serve(listener, server_app, async {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            token,
            app,
            client: reqwest::Client::new(),
            data_dir,
            database_url,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Starts the mailbox workers as `mailroom serve` does; they stop when the sender is dropped.
    pub fn start_processing(&self) -> tokio::sync::watch::Sender<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(mailroom::app::processing::run_workers(self.app.clone(), rx));
        tx
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// Runs statements on the app's database, whichever backend it is.
    pub async fn run_sql(&self, statements: &[String]) {
        macro_rules! run {
            ($connect:expr) => {{
                let db = $connect.await.unwrap();
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(s.as_str()))
                        .execute(&db)
                        .await
                        .unwrap();
                }
                db.close().await;
            }};
        }
        match &self.database_url {
            Some(url) => run!(sqlx::PgPool::connect(url)),
            None => {
                let file = self.data_path().join("mailroom.db");
                run!(sqlx::SqlitePool::connect(&format!(
                    "sqlite://{}",
                    file.display()
                )))
            }
        }
    }

    /// Stops the server and closes the database (checkpointing SQLite).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        self.app.close().await;
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(&self.token))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(&self.token)
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(&self.token)
                .json(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.client.delete(self.url(path)).bearer_auth(&self.token))
            .await
    }

    /// A request with a raw body and content type (for malformed input).
    pub async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.client
                .request(m, self.url(path))
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// A request with no Authorization header at all.
    pub async fn anonymous(&self, method: &str, path: &str) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.client
                .request(m, self.url(path))
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await
    }

    /// Runs the real `mailroom` binary on this app's data (its data directory, and its
    /// PostgreSQL database when it has one).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut all: Vec<&str> = Vec::new();
        if let Some(url) = &self.database_url {
            all.extend(["--database-url", url.as_str()]);
        }
        all.extend_from_slice(args);
        run_cli(&self.data_path(), &all, stdin)
    }

    /// Creates a credential from `valid_credential(n)` with overrides; panics unless 201.
    pub async fn create_credential(&self, body: &Value) -> Value {
        let r = self.post("/api/v1/credentials", body).await;
        assert_eq!(r.status, 201, "create credential: {}", r.text);
        r.body
    }

    /// Adds an alias to credential `credential`; panics unless 201.
    pub async fn create_alias(&self, credential: &Value, body: &Value) -> Value {
        let path = format!("/api/v1/credentials/{credential}/aliases");
        let r = self.post(&path, body).await;
        assert_eq!(r.status, 201, "create alias: {}", r.text);
        r.body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(url) = self.database_url.take() {
            drop_pg_database(&url);
        }
    }
}

/// Drops a test's PostgreSQL database (closing its connections), from any context.
fn drop_pg_database(url: &str) {
    let Some(name) = url.rsplit('/').next().map(str::to_string) else {
        return;
    };
    let dropped = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            use sqlx::Executor;
            let pool = sqlx::PgPool::connect(PG_ADMIN_URL).await?;
            pool.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await?;
            pool.close().await;
            Ok::<(), sqlx::Error>(())
        })
    })
    .join();
    if let Ok(Err(e)) = dropped {
        eprintln!("could not drop the test database: {e}");
    }
}

/// A valid credential body; `n` makes mailbox and name unique.
pub fn valid_credential(n: u32) -> Value {
    serde_json::json!({
        "mailbox": format!("payroll{n}@example.com"),
        "password": "Correct horse battery staple",
        "host": "imap.example.com",
        "configuration_name": format!("Payroll {n}"),
        "description": "Payroll mailbox for new hires",
    })
}

/// Merges `overrides` into `base` (top-level keys; Null removes the key).
pub fn with(mut base: Value, overrides: Value) -> Value {
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// Every file below `dir`, read as bytes (for searching for leaked secrets).
pub fn all_file_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs the real `mailroom` binary with a data directory and optional standard input.
pub fn run_cli(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailroom");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().expect("wait for mailroom")
}

/// The standard output of a CLI run that must succeed (its error output if it did not).
pub fn cli_stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Adds a credential for the test Dovecot's user through the CLI (password on standard input);
/// `extra` gives the port's security, names and the like. Returns the new credential's id.
pub fn cli_add_dovecot_credential(data_dir: &Path, port: &str, extra: &[&str]) -> String {
    use crate::dovecot::{PASSWORD, USER};
    let mut args = vec![
        "credential",
        "add",
        "--mailbox",
        USER,
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--password-stdin",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = cli_stdout(&run_cli(data_dir, &args, Some(&format!("{PASSWORD}\n"))));
    serde_json::from_str::<Value>(&out).expect("credential JSON")["id"].to_string()
}

/// A port for a server that cannot be told to bind port 0 and report it (Dovecot,
/// chromedriver). Ports come from below the kernel's ephemeral range (32768–60999), where no
/// port-0 bind of another test lands, and each is handed out once per test process; it is
/// checked free before it is given.
pub fn unique_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Start at a place of this process's own, so two test runs at once rarely meet.
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 500) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(
            port < 32_768,
            "no free test port left below the ephemeral range"
        );
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.2", port)).is_ok()
        {
            return port;
        }
    }
}

/// Logs of the in-process service go to the test's own output (shown when it fails), once
/// per test binary; `RUST_LOG` filters as in production.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .with_target(false)
            .try_init();
    });
}
