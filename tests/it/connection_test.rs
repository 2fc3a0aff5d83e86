//! Test Connection (SPEC §1.3) against a real Dovecot: what the administrator sees for each
//! outcome, through the API and the CLI (scripted fake servers: `connection_test_fakes`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dovecot::{Dovecot, PASSWORD, USER};
use crate::helpers::{TestApp, cli_add_dovecot_credential, contains_bytes, run_cli, with};

/// Form values for the fixture's account over implicit TLS, trusting the test CA.
pub fn form(d: &Dovecot, overrides: Value) -> Value {
    with(
        json!({
            "mailbox": USER,
            "password": PASSWORD,
            "host": "127.0.0.1",
            "port": d.imaps_port,
            "security": "tls",
            "ca_bundle": d.ca.cert_pem,
        }),
        overrides,
    )
}

pub async fn test_form(app: &TestApp, body: &Value) -> Value {
    let r = app.post("/api/v1/connection-tests", body).await;
    assert_eq!(r.status, 200, "connection test: {}", r.text);
    r.body
}

fn step_names(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn check(report: &Value, category: &str) {
    assert_eq!(
        report["category"], category,
        "unexpected outcome: {report:#}"
    );
    assert_eq!(report["ok"], category == "ok", "{report:#}");
    for s in report["steps"].as_array().unwrap() {
        assert!(s["ms"].is_u64() && s["detail"].is_string(), "{s}");
    }
}

#[tokio::test]
async fn succeeds_over_tls_starttls_and_plain_with_right_counts_and_no_flag_changes() {
    let d = Dovecot::start();
    d.seed(2, 1);
    let app = TestApp::spawn().await;
    for (security, port) in [
        ("tls", d.imaps_port),
        ("starttls", d.imap_port),
        ("none", d.imap_port),
    ] {
        let report = test_form(&app, &form(&d, json!({"security": security, "port": port}))).await;
        check(&report, "ok");
        assert_eq!(
            report["message"],
            "We were able to connect to your mailbox."
        );
        assert_eq!(
            report["inbox"],
            json!({"messages": 3, "unseen": 2}),
            "{security}"
        );
        let names = step_names(&report);
        let expected: &[&str] = match security {
            "tls" => &[
                "dns",
                "tcp",
                "tls",
                "greeting",
                "capability",
                "login",
                "examine",
                "logout",
            ],
            "starttls" => &[
                "dns",
                "tcp",
                "greeting",
                "capability",
                "starttls",
                "tls",
                "capability",
                "login",
                "examine",
                "logout",
            ],
            _ => &[
                "dns",
                "tcp",
                "greeting",
                "capability",
                "login",
                "examine",
                "logout",
            ],
        };
        assert_eq!(names, expected, "{security}");
        if security == "none" {
            assert!(report["tls"].is_null());
        } else {
            assert!(
                report["tls"].as_str().unwrap().starts_with("TLSv1."),
                "{report}"
            );
            assert_eq!(report["certificate"]["sha256"], d.leaf.sha256);
            assert!(
                report["certificate"]["subject"]
                    .as_str()
                    .unwrap()
                    .contains("imap.mailroom.test")
            );
        }
        let examine = &report["steps"].as_array().unwrap()[names.len() - 2];
        assert!(
            examine["detail"]
                .as_str()
                .unwrap()
                .contains("3 messages, 2 unseen"),
            "{examine}"
        );
    }
    // EXAMINE, never SELECT: nothing gained \Seen.
    assert_eq!(d.seen_count(), 1, "a test changed flags in the mailbox");
    assert!(!d.log().contains("SELECT"), "{}", d.log());
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed_with_dovecots_own_text() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({"password": "not the password"}))).await;
    check(&report, "auth_failed");
    assert_eq!(report["message"], "Bad username or password");
    assert_eq!(
        report["server_response"],
        "NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    assert!(!report["hint"].as_str().unwrap().is_empty());
    assert_eq!(step_names(&report).last().unwrap(), "login");

    // Quotes, backslashes, spaces and non-ASCII letters reach the server intact.
    let odd = r#"p"ä\ss wörd ✓ 'x'"#;
    d.set_password(odd);
    let report = test_form(&app, &form(&d, json!({"password": odd}))).await;
    check(&report, "ok");
}

#[tokio::test]
async fn a_stored_credential_after_a_password_change_says_connected_or_invalid_password() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let created = app
        .create_credential(&json!({
            "mailbox": USER,
            "password": PASSWORD,
            "host": "127.0.0.1",
            "port": d.imaps_port,
            "configuration_name": "Dovecot",
            "description": "Test server",
            "ca_bundle": d.ca.cert_pem,
        }))
        .await;
    let id = created["id"].as_i64().unwrap();
    assert!(created["last_test"].is_null());
    let path = format!("/api/v1/credentials/{id}/connection-tests");

    let r = app.post(&path, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    check(&r.body, "ok");
    assert_eq!(r.body["message"], "Connected Successfully");
    assert_eq!(r.body["credential_id"], id);
    // No body at all is the same as no overrides.
    let bare = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200);
    let bare: Value = bare.json().await.unwrap();
    assert_eq!(bare["message"], "Connected Successfully");

    // The mailbox password changes on the server; the old stored one is now wrong.
    let new_password = "N3w password, with spaces";
    d.set_password(new_password);
    let r = app.post(&path, &json!({})).await;
    check(&r.body, "auth_failed");
    assert_eq!(r.body["message"], "Invalid Password");
    assert!(
        r.body["server_response"]
            .as_str()
            .unwrap()
            .contains("[AUTHENTICATIONFAILED]")
    );

    // Change Password with the right one, then test: Connected Successfully.
    let r = app
        .post(
            &format!("/api/v1/credentials/{id}/password"),
            &json!({"new_password": new_password, "confirm_password": new_password}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post(&path, &json!({})).await;
    check(&r.body, "ok");
    assert_eq!(r.body["message"], "Connected Successfully");

    // Change Password with a wrong one: Invalid Password, kept as the last test.
    app.post(
        &format!("/api/v1/credentials/{id}/password"),
        &json!({"new_password": "typo", "confirm_password": "typo"}),
    )
    .await;
    let r = app.post(&path, &json!({})).await;
    check(&r.body, "auth_failed");
    assert_eq!(r.body["message"], "Invalid Password");

    let got = app.get(&format!("/api/v1/credentials/{id}")).await.body;
    assert_eq!(got["last_test"]["ok"], false);
    assert_eq!(got["last_test"]["category"], "auth_failed");
    assert_eq!(got["last_test"]["message"], "Invalid Password");
    let list = app.get("/api/v1/credentials").await.body;
    assert_eq!(list["items"][0]["last_test"]["message"], "Invalid Password");

    // Other connection values need the password: the stored one goes only where it was saved
    // for. With it, they are tested without being saved.
    let r = app
        .post(&path, &json!({"port": d.imap_port, "security": "none"}))
        .await;
    assert_eq!(
        (r.status, r.error_code(), r.error_field()),
        (422, "password_required", "password"),
        "{}",
        r.text
    );
    let r = app
        .post(
            &path,
            &json!({"port": d.imap_port, "security": "none", "password": new_password}),
        )
        .await;
    check(&r.body, "ok");
    assert_eq!(r.body["target"]["security"], "none");
    let got = app.get(&format!("/api/v1/credentials/{id}")).await.body;
    assert_eq!(got["security"], "tls");
    assert_eq!(got["port"], d.imaps_port);

    let audit = app.get("/api/v1/audit").await.body;
    let tests: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "credential.test")
        .collect();
    assert_eq!(tests.len(), 6, "{audit:#}");
    assert!(tests.iter().all(|e| e["target_id"] == id));
}

#[tokio::test]
async fn wrong_security_for_the_port_is_explained() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;

    let started = Instant::now();
    let report = test_form(&app, &form(&d, json!({"port": d.imap_port}))).await;
    check(&report, "tls_on_plain_port");
    assert!(
        report["server_response"]
            .as_str()
            .unwrap()
            .starts_with("* OK")
    );
    assert!(report["hint"].as_str().unwrap().contains("STARTTLS"));

    let report = test_form(&app, &form(&d, json!({"security": "none"}))).await;
    check(&report, "plain_on_tls_port");
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("Turn Use Secure Connection on")
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn starttls_not_offered_and_logindisabled_never_send_the_password() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    // On 127.0.0.2 TLS is off: no STARTTLS, and plain-text login is refused.
    let report = test_form(
        &app,
        &form(
            &d,
            json!({"host": "127.0.0.2", "port": d.imap_port, "security": "starttls"}),
        ),
    )
    .await;
    check(&report, "starttls_unsupported");
    assert!(!step_names(&report).contains(&"login".to_string()));

    let report = test_form(
        &app,
        &form(
            &d,
            json!({"host": "127.0.0.2", "port": d.imap_port, "security": "none"}),
        ),
    )
    .await;
    check(&report, "login_disabled");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("LOGINDISABLED")
    );
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("secure connection")
    );
    // The client stopped before sending anything: no LOGIN reached the server.
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("The password was not sent")
    );
    let login = report["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (login["name"].as_str(), login["ok"].as_bool()),
        (Some("login"), Some(false))
    );
    assert!(
        report["server_response"]
            .as_str()
            .unwrap()
            .contains("LOGINDISABLED")
    );
}

#[tokio::test]
async fn certificates_unknown_ca_pinned_and_wrong_name() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;

    let report = test_form(&app, &form(&d, json!({"ca_bundle": null}))).await;
    check(&report, "certificate_untrusted");
    assert_eq!(report["certificate"]["sha256"], d.leaf.sha256);
    assert!(report["hint"].as_str().unwrap().contains(&d.leaf.sha256));
    assert!(
        report["certificate"]["issuer"]
            .as_str()
            .unwrap()
            .contains("Mailroom Test CA")
    );
    assert!(!step_names(&report).contains(&"login".to_string()));

    // Trusted by pinning exactly that certificate (colons allowed), no CA bundle.
    let colons: Vec<String> = d
        .leaf
        .sha256
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
        .collect();
    let report = test_form(
        &app,
        &form(
            &d,
            json!({"ca_bundle": null, "pinned_sha256": colons.join(":")}),
        ),
    )
    .await;
    check(&report, "ok");

    // A pin of another certificate trusts nothing.
    let report = test_form(
        &app,
        &form(
            &d,
            json!({"ca_bundle": null, "pinned_sha256": "ab".repeat(32)}),
        ),
    )
    .await;
    check(&report, "certificate_untrusted");

    // The certificate names 127.0.0.1 and imap.mailroom.test, not localhost.
    let report = test_form(&app, &form(&d, json!({"host": "localhost"}))).await;
    check(&report, "certificate_wrong_name");
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("imap.mailroom.test")
    );
}

#[tokio::test]
async fn an_expired_certificate_is_named() {
    let d = Dovecot::start_with(crate::dovecot::DovecotOptions {
        expired_certificate: true,
        ..Default::default()
    });
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({}))).await;
    check(&report, "certificate_expired");
    assert!(
        report["certificate"]["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2021-01-01")
    );
}

#[tokio::test]
async fn closed_port_unknown_name_and_denied_address() {
    let app = TestApp::spawn().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = json!({"mailbox": USER, "password": PASSWORD, "security": "tls"});

    let report = test_form(
        &app,
        &with(base.clone(), json!({"host": "127.0.0.1", "port": closed})),
    )
    .await;
    check(&report, "connection_refused");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{closed}"))
    );

    let report = test_form(
        &app,
        &with(
            base.clone(),
            json!({"host": "no-such-host.invalid", "port": 993}),
        ),
    )
    .await;
    check(&report, "dns_not_found");
    assert_eq!(report["message"], "No such host is known");
    assert_eq!(step_names(&report), ["dns"]);

    for host in ["169.254.169.254", "fe80::1", "100.100.100.200"] {
        let report = test_form(&app, &with(base.clone(), json!({"host": host, "port": 80}))).await;
        check(&report, "blocked_address");
        assert_eq!(step_names(&report), ["dns"], "no connection was made");
    }

    // Missing fields are a validation error, not a test.
    let r = app
        .post("/api/v1/connection-tests", &json!({"host": "127.0.0.1"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let fields: Vec<String> = r.rules().into_iter().map(|(f, _)| f).collect();
    assert!(fields.contains(&"mailbox".into()) && fields.contains(&"password".into()));
    let r = app
        .post("/api/v1/credentials/999/connection-tests", &json!({}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_password_never_appears_in_reports_audit_logs_or_cli_output() {
    let d = Dovecot::start();
    let secret = "Zebra-Secret-4821";
    d.set_password(secret);
    let app = TestApp::spawn().await;
    let mut texts = Vec::new();
    for overrides in [
        json!({"password": secret}),
        json!({"password": secret, "port": d.imap_port, "security": "none"}),
        json!({"password": format!("{secret}-wrong")}),
        json!({"password": secret, "ca_bundle": null}),
        json!({"password": secret, "host": "127.0.0.2", "port": d.imap_port, "security": "none"}),
    ] {
        let r = app
            .post("/api/v1/connection-tests", &form(&d, overrides))
            .await;
        assert_eq!(r.status, 200);
        texts.push(r.text);
    }
    let c = app
        .create_credential(&with(
            form(&d, json!({"password": secret})),
            json!({
                "configuration_name": "Leak check", "description": "x"
            }),
        ))
        .await;
    let r = app
        .post(
            &format!("/api/v1/credentials/{}/connection-tests", c["id"]),
            &json!({}),
        )
        .await;
    check(&r.body, "ok");
    texts.push(r.text);
    texts.push(app.get("/api/v1/audit").await.text);
    texts.push(app.get("/api/v1/credentials").await.text);
    for t in &texts {
        assert!(!t.contains(secret), "password leaked: {t}");
    }
    for (path, bytes) in crate::helpers::all_file_bytes(&app.data_path()) {
        assert!(
            !contains_bytes(&bytes, secret.as_bytes()),
            "in {}",
            path.display()
        );
    }
}

#[tokio::test]
async fn cli_prints_each_step_and_exits_non_zero_on_failure() {
    let d = Dovecot::start();
    d.seed(1, 0);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &d.ca.cert_pem).unwrap();
    let port = d.imaps_port.to_string();
    let args = [
        "connection-test",
        "--mailbox",
        USER,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "tls",
        "--ca-bundle",
        ca.to_str().unwrap(),
        "--password-stdin",
    ];
    let out = run_cli(&data, &args, Some(&format!("{PASSWORD}\n")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for step in [
        "dns",
        "tcp",
        "tls",
        "greeting",
        "capability",
        "login",
        "examine",
        "logout",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(step) && l.contains(" ms")),
            "no line for {step}: {stdout}"
        );
    }
    assert!(stdout.contains("We were able to connect to your mailbox."));
    assert!(stdout.contains("1 messages, 1 unseen") || stdout.contains("INBOX: 1 messages"));

    let out = run_cli(&data, &args, Some("wrong-password-123\n"));
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Bad username or password"), "{stdout}");
    assert!(stdout.contains("[AUTHENTICATIONFAILED]"), "{stdout}");
    assert!(!stdout.contains("wrong-password-123"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong-password-123"));

    // A stored credential: `credential test ID`.
    let id = cli_add_dovecot_credential(
        &data,
        &port,
        &[
            "--name",
            "CLI test",
            "--description",
            "x",
            "--ca-bundle",
            ca.to_str().unwrap(),
        ],
    );
    let out = run_cli(&data, &["credential", "test", &id], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Connected Successfully"), "{stdout}");
    let out = run_cli(
        &data,
        &[
            "credential",
            "test",
            &id,
            "--port",
            &d.imap_port.to_string(),
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("tls_on_plain_port"));
    for o in [&out.stdout, &out.stderr] {
        assert!(!contains_bytes(o, PASSWORD.as_bytes()));
    }
}

/// Runs `mailroom connection-test` with extra environment and the fixture's password on stdin.
fn cli_with_env(
    data: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .env_remove("MAILROOM_DENY_NETWORKS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn trace_logs_hold_no_password_and_the_deny_list_comes_from_the_environment() {
    let d = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = d.imap_port.to_string();
    let args = [
        "connection-test",
        "--mailbox",
        USER,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "none",
        "--password-stdin",
    ];
    let out = cli_with_env(&data, &args, &[("RUST_LOG", "trace")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for o in [&out.stdout, &out.stderr] {
        assert!(
            !contains_bytes(o, PASSWORD.as_bytes()),
            "{}",
            String::from_utf8_lossy(o)
        );
    }

    let out = cli_with_env(
        &data,
        &args,
        &[("MAILROOM_DENY_NETWORKS", "10.0.0.0/8, 127.0.0.0/8")],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("blocked_address") && stdout.contains("127.0.0.0/8"),
        "{stdout}"
    );

    let out = cli_with_env(&data, &args, &[("MAILROOM_DENY_NETWORKS", "not-a-range")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MAILROOM_DENY_NETWORKS"), "{stderr}");

    // An empty list allows everything (an administrator's explicit choice).
    let out = cli_with_env(&data, &args, &[("MAILROOM_DENY_NETWORKS", "")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
