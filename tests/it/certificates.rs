//! Certificate failures of Test Connection against a real Dovecot, each told apart with the
//! field that fixes it: a private CA (paste its certificate into Trusted CA certificates), a
//! self-signed certificate (pin it), an expired certificate and a wrong name. In a browser, the
//! private-CA result's button opens Advanced with the CA field focused.

use serde_json::{Value, json};

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app};
use crate::browser::Browser;
use crate::dovecot::{Dovecot, DovecotOptions, PASSWORD, USER};
use crate::helpers::{TestApp, with};

/// The fixture's account over implicit TLS, trusting only the system roots.
fn form(d: &Dovecot, overrides: Value) -> Value {
    with(
        json!({
            "mailbox": USER,
            "password": PASSWORD,
            "host": "127.0.0.1",
            "port": d.imaps_port,
            "security": "tls",
        }),
        overrides,
    )
}

async fn test_form(app: &TestApp, body: &Value) -> Value {
    let r = app.post("/api/v1/connection-tests", body).await;
    assert_eq!(r.status, 200, "connection test: {}", r.text);
    r.body
}

fn text<'a>(report: &'a Value, key: &str) -> &'a str {
    report[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {report:#}"))
}

/// A failed certificate check: its category and fix, and each thing said once — the message
/// does not carry the certificate dump (that is `certificate`), the hint does not repeat the
/// message, and there is no server text.
fn failed(report: &Value, category: &str, fix: &str) {
    assert_eq!(report["category"], category, "{report:#}");
    assert_eq!(report["fix_field"], fix, "{report:#}");
    let sha = text(&report["certificate"], "sha256");
    assert!(!text(report, "message").contains(sha), "{report:#}");
    assert!(
        !text(report, "hint").contains(text(report, "message")),
        "{report:#}"
    );
    assert!(report["server_response"].is_null(), "{report:#}");
}

#[tokio::test]
async fn a_private_ca_points_at_trusted_ca_certificates() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({}))).await;
    failed(&report, "certificate_untrusted", "ca_bundle");
    let message = text(&report, "message");
    assert!(
        message.contains("signed by “Mailroom Test CA”, a private certificate authority"),
        "{message}"
    );
    assert!(!message.contains("self-signed"), "{message}");
    let hint = text(&report, "hint");
    assert!(
        hint.contains("Paste the certificate of “Mailroom Test CA”")
            && hint.contains("Advanced › Trusted CA certificates"),
        "{hint}"
    );

    // The fix it names works.
    let report = test_form(&app, &form(&d, json!({"ca_bundle": d.ca.cert_pem}))).await;
    assert_eq!(report["category"], "ok", "{report:#}");

    // Another authority's certificate in the bundle: still this CA, and said so.
    let other = crate::dovecot::TestCa::new("Someone Else CA");
    let report = test_form(&app, &form(&d, json!({"ca_bundle": other.cert_pem}))).await;
    failed(&report, "certificate_untrusted", "ca_bundle");
    assert!(
        text(&report, "message").contains("not among this credential's Trusted CA certificates"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_self_signed_certificate_is_pinned() {
    let d = Dovecot::start_with(DovecotOptions {
        self_signed_certificate: true,
        ..Default::default()
    });
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({}))).await;
    failed(&report, "certificate_untrusted", "pinned_sha256");
    assert!(
        text(&report, "message").contains("is self-signed"),
        "{report:#}"
    );
    let hint = text(&report, "hint");
    assert!(
        hint.contains(&d.leaf.sha256) && hint.contains("Pinned certificate SHA-256"),
        "{hint}"
    );
    assert!(!hint.contains("Trusted CA"), "{hint}");

    let report = test_form(&app, &form(&d, json!({"pinned_sha256": d.leaf.sha256}))).await;
    assert_eq!(report["category"], "ok", "{report:#}");
}

#[tokio::test]
async fn an_expired_certificate_says_when() {
    let d = Dovecot::start_with(DovecotOptions {
        expired_certificate: true,
        ..Default::default()
    });
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({"ca_bundle": d.ca.cert_pem}))).await;
    failed(&report, "certificate_expired", "pinned_sha256");
    assert!(
        text(&report, "message").contains("expired on 2021-01-01"),
        "{report:#}"
    );
    assert!(text(&report, "hint").contains("renew"), "{report:#}");
}

#[tokio::test]
async fn a_wrong_name_lists_the_names_of_the_certificate() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let body = form(&d, json!({"host": "localhost", "ca_bundle": d.ca.cert_pem}));
    let report = test_form(&app, &body).await;
    failed(&report, "certificate_wrong_name", "host");
    assert!(
        text(&report, "message")
            .contains("is issued for 127.0.0.1, imap.mailroom.test, not for localhost"),
        "{report:#}"
    );
    assert!(text(&report, "hint").contains("as Host"), "{report:#}");
}

#[tokio::test]
async fn the_private_ca_button_opens_advanced_with_the_ca_field_focused() {
    let d = Dovecot::start();
    let (app, _) = admin_app().await;
    let b = Browser::start().await;
    b.goto(&format!("{}/admin/login", app.base)).await;
    b.fill("#username", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("h1", "Email Integration").await;
    b.click("#add-credential").await;
    b.wait_text("h1", "New Email Integration").await;
    b.fill("#mailbox", USER).await;
    b.fill("#password", PASSWORD).await;
    b.fill("#host", "127.0.0.1").await;
    b.fill("#port", &d.imaps_port.to_string()).await;
    b.fill("#configuration_name", "Private CA").await;
    b.fill("#description", "Signed by a company CA").await;

    b.click("#test-connection").await;
    b.wait_text("#test-message", "a private certificate authority")
        .await;
    // Said once: the failed step points up instead of repeating the message.
    b.wait_text(".steps tr.failed", "See above").await;
    let closed = b
        .eval("return document.querySelector('details.advanced').open;")
        .await;
    assert_eq!(closed, json!(false), "Advanced starts closed");
    b.scroll_to("#test-outcome").await;
    b.screenshot("certificate-private-ca").await;

    b.click("#fix-ca-bundle").await;
    let state = b
        .eval(
            "return [document.querySelector('details.advanced').open, document.activeElement.id];",
        )
        .await;
    assert_eq!(
        state,
        json!([true, "ca_bundle"]),
        "Advanced open, CA field focused"
    );

    // Pasting the CA there makes the test pass.
    b.css("#ca_bundle")
        .await
        .send_keys(&d.ca.cert_pem)
        .await
        .unwrap();
    b.click("#test-connection").await;
    b.wait_text("#test-message", "We were able to connect to your mailbox.")
        .await;
    b.close().await;
}
