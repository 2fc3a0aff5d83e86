//! Limits that keep Mailroom from being used against others or itself: Test Connection refuses
//! every IPv6 form of a denied address (and private ranges with `MAILROOM_DENY_PRIVATE=1`) and
//! answers 429 past its per-user allowance; the per-sender limit is a setting, and a case over
//! it says in words why it is not acknowledged (API, CLI, admin page).

use serde_json::{Value, json};

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app, csrf_of, sign_in};
use crate::dovecot::{Dovecot, USER};
use crate::helpers::{Backend, TestApp, cli_stdout, valid_credential, with};
use crate::processing::{connect_mailbox, deliver};

/// A signed-in administrator's browser (no redirects followed).
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
}

impl Browser<'_> {
    async fn new(app: &TestApp) -> Browser<'_> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cookie = sign_in(app, &client).await;
        Browser {
            app,
            client,
            cookie,
        }
    }

    /// GET: (status, html).
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.app.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts `form` with the CSRF token of the page `from`: (status, html).
    async fn post(&self, path: &str, from: &str, form: &[(&str, &str)]) -> (u16, String) {
        let csrf = csrf_of(&self.get(from).await.1);
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let r = self
            .client
            .post(format!("{}{path}", self.app.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.app.base)
            .form(&fields)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn blocked_form(host: &str) -> Value {
    json!({
        "mailbox": "payroll@example.com", "password": "not sent anywhere",
        "host": host, "port": 993, "security": "tls",
    })
}

#[tokio::test]
async fn test_connection_refuses_every_ipv6_form_of_a_denied_address() {
    let app = TestApp::spawn().await;
    for (host, stands_for) in [
        ("::a9fe:a9fe", Some("169.254.169.254")), // IPv4-compatible
        ("::ffff:a9fe:a9fe", Some("169.254.169.254")), // IPv4-mapped
        ("64:ff9b::a9fe:a9fe", Some("169.254.169.254")), // NAT64
        ("64:ff9b:1::a9fe:a9fe", Some("169.254.169.254")), // NAT64, local-use prefix
        ("2002:a9fe:a9fe::1", Some("169.254.169.254")), // 6to4
        (
            "2001:0:4136:e378:8000:63bf:5601:5601",
            Some("169.254.169.254"),
        ), // Teredo client
        ("168.63.129.16", None),                  // Azure's wire server
        ("64:ff9b::a83f:8110", Some("168.63.129.16")),
    ] {
        let r = app
            .post("/api/v1/connection-tests", &blocked_form(host))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["category"], "blocked_address",
            "{host}: {:#}",
            r.body
        );
        let steps: Vec<&str> = r.body["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["dns"], "{host}: no connection was attempted");
        let message = r.body["message"].as_str().unwrap();
        if let Some(v4) = stands_for {
            assert!(
                message.contains(&format!("an IPv6 form of {v4}")),
                "{host}: {message}"
            );
        }
        assert!(
            r.body["hint"]
                .as_str()
                .unwrap()
                .contains("MAILROOM_DENY_NETWORKS")
        );
    }
}

/// `mailroom connection-test` against a closed port of this machine with extra environment.
fn cli_test(
    data: &std::path::Path,
    host: &str,
    port: u16,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let port = port.to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("--data-dir")
        .arg(data)
        .args([
            "connection-test",
            "--mailbox",
            "payroll@example.com",
            "--host",
            host,
            "--port",
            &port,
            "--security",
            "none",
            "--password-stdin",
        ])
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .env_remove("MAILROOM_DENY_NETWORKS")
        .env_remove("MAILROOM_DENY_PRIVATE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"secret\n").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn deny_private_keeps_test_connection_away_from_private_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    // By default loopback may be tested (a mail server on the same machine): it is reached.
    let out = cli_test(&data, "127.0.0.1", closed, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("connection_refused"), "{stdout}");

    for host in ["127.0.0.1", "::ffff:127.0.0.1", "::7f00:1", "10.1.2.3"] {
        let out = cli_test(&data, host, closed, &[("MAILROOM_DENY_PRIVATE", "1")]);
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("blocked_address") && !stdout.contains("connection_refused"),
            "{host}: {stdout}"
        );
    }

    let out = cli_test(
        &data,
        "127.0.0.1",
        closed,
        &[("MAILROOM_DENY_PRIVATE", "maybe")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MAILROOM_DENY_PRIVATE") && stderr.contains("\"maybe\" is not 1 or 0"),
        "{stderr}"
    );
}

#[tokio::test]
async fn test_connection_answers_429_past_the_allowance_of_each_user_or_token() {
    let (app, _) = admin_app().await;
    let stored = app
        .create_credential(&with(
            valid_credential(1),
            json!({"host": "169.254.169.254"}),
        ))
        .await;
    let stored_path = format!(
        "/api/v1/credentials/{}/connection-tests",
        stored["id"].as_i64().unwrap()
    );
    // 30 tests a minute per token: form values and stored credentials count together, and each
    // of them is a real test (refused by the deny-list, so no network is needed).
    for i in 0..30 {
        let r = if i % 2 == 0 {
            app.post("/api/v1/connection-tests", &blocked_form("169.254.169.254"))
                .await
        } else {
            app.post(&stored_path, &json!({})).await
        };
        assert_eq!(r.status, 200, "test {i}: {}", r.text);
        assert_eq!(r.body["category"], "blocked_address", "test {i}");
    }
    for (path, body) in [
        ("/api/v1/connection-tests", blocked_form("169.254.169.254")),
        (stored_path.as_str(), json!({})),
    ] {
        let r = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{path}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_requests");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Too many connection tests")
                && message.contains("30 within a minute")
                && message.contains("Try again in"),
            "{message}"
        );
    }

    // Another token has its own allowance.
    let other = app.app.create_token("test", "second").await.unwrap().token;
    let r = app
        .client
        .post(format!("{}/api/v1/connection-tests", app.base))
        .bearer_auth(&other)
        .json(&blocked_form("169.254.169.254"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The admin pages: the 31st test of one administrator is refused with the reason, in the
    // place where the result would be.
    let admin = Browser::new(&app).await;
    let new = "/admin/email-integration/new";
    let form = [
        ("mailbox", "payroll@example.com"),
        ("password", "not sent anywhere"),
        ("host", "169.254.169.254"),
        ("port", "993"),
        ("use_secure_connection", "on"),
    ];
    for i in 0..30 {
        let (status, html) = admin
            .post("/admin/email-integration/connection-test", new, &form)
            .await;
        assert_eq!(status, 200, "test {i}: {html}");
        assert!(html.contains("data-category=\"blocked_address\""), "{html}");
    }
    let (status, html) = admin
        .post("/admin/email-integration/connection-test", new, &form)
        .await;
    assert_eq!(status, 429, "{html}");
    assert!(
        html.contains("data-category=\"too_many_tests\"")
            && html.contains("Too many connection tests")
            && html.contains("Try again in"),
        "{html}"
    );
    assert!(
        html.contains("value=\"169.254.169.254\""),
        "the form keeps its values"
    );
}

#[tokio::test]
async fn the_per_sender_limit_is_a_setting_and_the_case_says_why_it_is_not_acknowledged() {
    let d = Dovecot::start();
    let opts = mailroom::app::processing::ProcessingOptions {
        sender_limit_per_hour: 2,
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::from_env(), opts).await;
    app.app
        .create_user(
            "test",
            ADMIN_USER,
            &mailroom::domain::Secret::new(ADMIN_PASSWORD.into()),
        )
        .await
        .unwrap();
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    let first = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    for i in 0..3 {
        let raw = format!(
            "From: Ann Lee <Ann@client.example>\r\nTo: {USER}\r\nSubject: Question {i}\r\nMessage-ID: <q{i}@client.example>\r\n\r\nquestion {i}\r\n"
        );
        deliver(&d, &format!("q{i}.mr"), raw.as_bytes(), false);
    }
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["cases_created"], 3, "{}", r.text);
    let list = app.get("/api/v1/cases?limit=100").await.body["items"].clone();
    let id_of = |subject: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["subject"] == subject)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let expected = "not acknowledged: more than 2 emails from Ann@client.example this hour";
    for (subject, limited) in [
        ("Question 0", false),
        ("Question 1", false),
        ("Question 2", true),
    ] {
        let id = id_of(subject);
        let case = app.get(&format!("/api/v1/cases/{id}")).await;
        assert_eq!(case.status, 200);
        let ack = &case.body["acknowledgement"];
        if limited {
            assert!(
                ack.as_str().is_some_and(|a| a.starts_with(expected)),
                "{subject}: {:#}",
                case.body
            );
        } else {
            assert!(ack.is_null(), "{subject}: {:#}", case.body);
        }
    }
    let limited = id_of("Question 2");

    // The CLI and the admin page say the same.
    let shown = cli_stdout(&app.cli(&["case", "show", &limited.to_string()], None));
    assert!(
        shown.contains("Not acknowledged: more than 2 emails from Ann@client.example this hour"),
        "{shown}"
    );
    let admin = Browser::new(&app).await;
    let (status, html) = admin.get(&format!("/admin/cases/{limited}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(expected), "{html}");
    let (_, html) = admin
        .get(&format!("/admin/cases/{}", id_of("Question 0")))
        .await;
    assert!(
        html.contains("Question 0") && !html.contains("not acknowledged"),
        "{html}"
    );
}

#[tokio::test]
async fn retry_applies_the_same_per_sender_limit_as_polling() {
    let d = Dovecot::start();
    let opts = mailroom::app::processing::ProcessingOptions {
        sender_limit_per_hour: 1,
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::from_env(), opts).await;
    // No alias yet: both emails from one sender go to the exception log.
    let (cred, ws, _) = connect_mailbox(&app, &d, false).await;
    app.post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    for i in 0..2 {
        let raw = format!(
            "From: Bo Chan <bo@client.example>\r\nTo: {USER}\r\nSubject: Late {i}\r\nMessage-ID: <late{i}@client.example>\r\n\r\nlate {i}\r\n"
        );
        deliver(&d, &format!("late{i}.mr"), raw.as_bytes(), false);
    }
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["exceptions"], 2, "{}", r.text);
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1, "reply_template_id": null}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    // Retry routes as polling does: the second case from the sender is over the limit.
    let exceptions = app.get("/api/v1/exceptions").await.body["items"].clone();
    let mut ids: Vec<i64> = exceptions
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let mut acknowledgements = Vec::new();
    for id in ids {
        let r = app
            .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let case = app
            .get(&format!("/api/v1/cases/{}", r.body["case_id"]))
            .await
            .body;
        acknowledgements.push(case["acknowledgement"].clone());
    }
    assert!(acknowledgements[0].is_null(), "{acknowledgements:?}");
    // Each Retry wrote its audit entry (in the transaction that made its case).
    let audit = app.get("/api/v1/audit").await.body;
    let retries = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "exception.retry")
        .count();
    assert_eq!(retries, 2, "{audit}");
    assert_eq!(
        acknowledgements[1],
        "not acknowledged: more than 1 email from bo@client.example this hour (per-sender rate limit)"
    );
}
