//! The password never leaks: not in API responses, log lines, CLI output, the audit log, or the
//! raw bytes of the SQLite database and its WAL. Runs the real binary so its logs are real.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::{all_file_bytes, contains_bytes, run_cli, valid_credential, with};

const PASSWORD: &str = "Zebra-Quartz-7731-secret";
const NEW_PASSWORD: &str = "Walrus-Nimbus-9902-secret";

/// A `mailroom serve` process whose stdout and stderr are captured.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub token: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Copies a pipe into `into` (and its lines to `lines`) until the process closes it.
fn capture(
    pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    lines: Option<std::sync::mpsc::Sender<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            into.lock().unwrap().push_str(&line);
            into.lock().unwrap().push('\n');
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    })
}

impl Server {
    pub fn start(data_dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "trace")
            .env_remove("MAILROOM_MASTER_KEY")
            .env_remove("MAILROOM_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mailroom serve");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let readers = vec![
            capture(child.stdout.take().unwrap(), output.clone(), Some(tx)),
            capture(child.stderr.take().unwrap(), output.clone(), None),
        ];
        let (mut base, mut token) = (String::new(), String::new());
        while base.is_empty() {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("mailroom serve printed its address");
            if let Some(t) = line.trim().strip_prefix("API token:") {
                token = t.trim().to_string();
            }
            if let Some(a) = line.strip_prefix("Mailroom listening on ") {
                base = a.trim().to_string();
            }
        }
        Self {
            child,
            base,
            token,
            output,
            readers,
        }
    }

    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait for serve");
        assert!(status.success(), "serve exited with {status}");
        for reader in self.readers.drain(..) {
            reader.join().expect("pipe reader"); // the pipes are drained once they close
        }
        self.output.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_password_appears_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    assert!(
        server.token.starts_with("mrt_"),
        "first start prints the API token once"
    );
    let client = reqwest::Client::new();
    let mut seen = String::new();
    let mut call = async |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = client
            .request(method, format!("{}{}", server.base, path))
            .bearer_auth(&server.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        seen.push_str(&text);
        (status, text)
    };
    use reqwest::Method;
    let body = with(valid_credential(1), json!({"password": PASSWORD}));
    let (status, created) = call(Method::POST, "/api/v1/credentials", Some(body.clone())).await;
    assert_eq!(status, 201);
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_i64()
        .unwrap();
    // Errors that echo back other fields must not echo the password either.
    let (status, _) = call(Method::POST, "/api/v1/credentials", Some(body.clone())).await;
    assert_eq!(status, 409);
    let (status, _) = call(
        Method::POST,
        "/api/v1/credentials",
        Some(with(body.clone(), json!({"port": 0, "mailbox": "x"}))),
    )
    .await;
    assert_eq!(status, 422);
    call(Method::GET, "/api/v1/credentials", None).await;
    call(Method::GET, &format!("/api/v1/credentials/{id}"), None).await;
    call(
        Method::PATCH,
        &format!("/api/v1/credentials/{id}"),
        Some(json!({"port": 143})),
    )
    .await;
    let (status, _) = call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/password"),
        Some(json!({"new_password": NEW_PASSWORD, "confirm_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/password"),
        Some(json!({"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 200);
    call(Method::GET, "/api/v1/audit", None).await;

    // Raw database bytes while the server runs (the WAL holds the recent pages).
    for (path, bytes) in all_file_bytes(&data) {
        for secret in [PASSWORD, NEW_PASSWORD] {
            assert!(
                !contains_bytes(&bytes, secret.as_bytes()),
                "{secret} found in {}",
                path.display()
            );
        }
    }
    let logs = server.stop();
    assert!(logs.contains("listening"), "logs were captured: {logs}");

    // CLI output over the same data directory.
    for args in [
        vec!["credential", "list"],
        vec!["credential", "list", "--json"],
        vec!["credential", "show", "1", "--json"],
        vec!["keys", "status"],
    ] {
        let out = run_cli(&data, &args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let out = run_cli(
        &data,
        &["credential", "set-password", "1", "--password-stdin"],
        Some(&format!("{PASSWORD}\nmismatch\n")),
    );
    assert!(!out.status.success());
    seen.push_str(&String::from_utf8_lossy(&out.stdout));
    seen.push_str(&String::from_utf8_lossy(&out.stderr));

    for secret in [PASSWORD, NEW_PASSWORD] {
        assert!(
            !seen.contains(secret),
            "{secret} found in API or CLI output"
        );
        assert!(!logs.contains(secret), "{secret} found in the logs");
    }
    // After shutdown the WAL is folded into the database file: search again.
    for (path, bytes) in all_file_bytes(&data) {
        for secret in [PASSWORD, NEW_PASSWORD] {
            assert!(
                !contains_bytes(&bytes, secret.as_bytes()),
                "{secret} found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn first_start_prints_credentials_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = Server::start(&data);
    let first_out = first.stop();
    assert!(first_out.contains("admin password:"));
    assert!(first_out.contains("API token:"));
    let second = Server::start(&data);
    let second_out = second.stop();
    assert!(!second_out.contains("admin password:"), "{second_out}");
    assert!(!second_out.contains("API token:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_password_puts_it_nowhere() {
    use crate::fake_imap::{Faults, MailServer, fake_email};
    use base64::Engine as _;
    let user = "echo@example.com";
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PASSWORD}"));
    let forms = [
        PASSWORD.to_string(),
        plain,
        base64::engine::general_purpose::STANDARD.encode(PASSWORD),
    ];
    // Answers every login with what the client sent: user, password and the SASL PLAIN string.
    let mail = MailServer::start(
        vec![(1, fake_email(1, user))],
        Faults {
            login_answer: Some(
                "NO [AUTHENTICATIONFAILED] Invalid login {user} / {password} / {plain}".into(),
            ),
            ..Faults::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let client = reqwest::Client::new();
    let mut seen = String::new();
    let mut call = async |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = client
            .request(method, format!("{}{}", server.base, path))
            .bearer_auth(&server.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        seen.push_str(&text);
        (status, text)
    };
    use reqwest::Method;
    let (status, created) = call(
        Method::POST,
        "/api/v1/credentials",
        Some(json!({
            "mailbox": user, "password": PASSWORD, "host": "127.0.0.1", "port": mail.port(),
            "use_secure_connection": false, "configuration_name": "Echo", "description": "Echoes",
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_i64()
        .unwrap();
    // Processing and Test Connection (both AUTHENTICATE PLAIN, one login path) meet the echo.
    let (status, polled) = call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/poll"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 502, "{polled}");
    assert!(
        polled.contains("Invalid login") && polled.contains("[redacted]"),
        "{polled}"
    );
    let (status, tested) = call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/connection-tests"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert!(tested.contains("Invalid login"), "{tested}");
    let (_, shown) = call(Method::GET, &format!("/api/v1/credentials/{id}"), None).await;
    assert!(
        shown.contains("Invalid login"),
        "health keeps the server's words: {shown}"
    );
    call(Method::GET, "/api/v1/exceptions", None).await;
    call(Method::GET, "/api/v1/audit", None).await;
    let files = all_file_bytes(&data);
    let logs = server.stop();
    assert!(
        logs.contains("Invalid login"),
        "the failure was logged: {logs}"
    );
    for form in &forms {
        assert!(
            !seen.contains(form.as_str()),
            "{form} in an API response: {seen}"
        );
        assert!(!logs.contains(form.as_str()), "{form} in the logs");
        for (path, bytes) in files.iter().chain(all_file_bytes(&data).iter()) {
            assert!(
                !contains_bytes(bytes, form.as_bytes()),
                "{form} found in {}",
                path.display()
            );
        }
    }
}
