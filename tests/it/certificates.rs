//! Certificate failures of Test Connection against a real Dovecot, each told apart with the
//! field that fixes it: a private CA (paste its certificate into Trusted CA certificates), a
//! self-signed certificate (pin it), a chain sent without its intermediate, an expired
//! certificate and a wrong name. In a browser, the
//! private-CA result's button opens Advanced with the CA field focused.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::admin_http::admin_app;
use crate::browser::Browser;
use crate::connection_test::{self, test_form};
use crate::dovecot::{Dovecot, DovecotOptions, Leaf, PASSWORD, USER};
use crate::helpers::{TestApp, with};

/// The fixture's account over implicit TLS, trusting only the system roots unless told.
fn form(d: &Dovecot, overrides: Value) -> Value {
    with(
        connection_test::form(d, json!({"ca_bundle": null})),
        overrides,
    )
}

fn text<'a>(report: &'a Value, key: &str) -> &'a str {
    report[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {report:#}"))
}

/// A failed certificate check: its category, fix and words, and each thing said once — the
/// message does not carry the certificate dump (that is `certificate`), the hint does not
/// repeat the message, and there is no server text.
fn failed(report: &Value, category: &str, fix: &str, says: &str) {
    assert_eq!(report["category"], category, "{report:#}");
    assert_eq!(report["fix_field"], fix, "{report:#}");
    assert!(text(report, "message").contains(says), "{report:#}");
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
    let private = "signed by “Mailroom Test CA”, a private certificate authority";
    failed(&report, "certificate_untrusted", "ca_bundle", private);
    assert!(!text(&report, "message").contains("self-signed"));
    let hint = text(&report, "hint");
    assert!(
        hint.contains("Paste the certificate of “Mailroom Test CA”")
            && hint.contains("Advanced › Trusted CA certificates"),
        "{hint}"
    );

    // The fix it names works.
    let report = test_form(&app, &connection_test::form(&d, json!({}))).await;
    assert_eq!(report["category"], "ok", "{report:#}");

    // Another authority's certificate in the bundle: still this CA, and said so.
    let other = crate::dovecot::TestCa::new("Someone Else CA");
    let report = test_form(&app, &form(&d, json!({"ca_bundle": other.cert_pem}))).await;
    failed(
        &report,
        "certificate_untrusted",
        "ca_bundle",
        "not among this credential's Trusted CA certificates",
    );
}

fn authority(
    name: &str,
    parent: Option<&CertifiedIssuer<'static, KeyPair>>,
) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    match parent {
        None => CertifiedIssuer::self_signed(p, key).unwrap(),
        Some(parent) => CertifiedIssuer::signed_by(p, key, parent).unwrap(),
    }
}

/// Authority Information Access with a caIssuers URL, as public authorities issue it.
fn published_issuer() -> CustomExtension {
    let uri = b"http://ca.mailroom.test/issuing.crt";
    let mut desc = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    desc.extend([0x86, uri.len() as u8]);
    desc.extend(uri);
    let mut one = vec![0x30, desc.len() as u8];
    one.extend(desc);
    let mut all = vec![0x30, one.len() as u8];
    all.extend(one);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], all)
}

/// A server certificate for 127.0.0.1 signed by `issuer`, served with `chain` after it.
fn served(issuer: &CertifiedIssuer<'static, KeyPair>, published: bool, chain: &[&str]) -> Leaf {
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "imap.mailroom.test");
    if published {
        p.custom_extensions.push(published_issuer());
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    Leaf {
        cert_pem: std::iter::once(cert.pem().as_str())
            .chain(chain.iter().copied())
            .collect(),
        key_pem: key.serialize_pem(),
        sha256: hex::encode(Sha256::digest(cert.der().as_ref())),
    }
}

#[tokio::test]
async fn a_chain_without_its_intermediate_and_a_private_chain_are_told_apart() {
    let root = authority("Mailroom Root CA", None);
    let issuing = authority("Mailroom Issuing CA", Some(&root));
    let app = TestApp::spawn().await;

    // A public-style certificate (it says where its issuer is published), sent alone.
    let d = Dovecot::start_with(DovecotOptions {
        certificate: Some(served(&issuing, true, &[])),
        ..Default::default()
    });
    let report = test_form(&app, &form(&d, json!({"ca_bundle": root.pem()}))).await;
    failed(
        &report,
        "certificate_untrusted",
        "ca_bundle",
        "sent its certificate without the intermediate certificate of “Mailroom Issuing CA”",
    );
    assert!(
        text(&report, "hint").contains("send the full certificate chain"),
        "{report:#}"
    );
    let both = format!("{}{}", root.pem(), issuing.pem());
    let report = test_form(&app, &form(&d, json!({"ca_bundle": both}))).await;
    assert_eq!(report["category"], "ok", "{report:#}");
    drop(d);

    // The whole private chain sent: the authority to paste is the one at its top.
    let d = Dovecot::start_with(DovecotOptions {
        certificate: Some(served(&issuing, false, &[&issuing.pem()])),
        ..Default::default()
    });
    let report = test_form(&app, &form(&d, json!({}))).await;
    failed(
        &report,
        "certificate_untrusted",
        "ca_bundle",
        "signed by “Mailroom Root CA”, a private certificate authority",
    );
    let report = test_form(&app, &form(&d, json!({"ca_bundle": root.pem()}))).await;
    assert_eq!(report["category"], "ok", "{report:#}");
}

#[tokio::test]
async fn a_self_signed_certificate_is_pinned() {
    let d = Dovecot::start_with(DovecotOptions {
        self_signed_certificate: true,
        ..Default::default()
    });
    let app = TestApp::spawn().await;
    let report = test_form(&app, &form(&d, json!({}))).await;
    failed(
        &report,
        "certificate_untrusted",
        "pinned_sha256",
        "is self-signed",
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
    let report = test_form(&app, &connection_test::form(&d, json!({}))).await;
    failed(
        &report,
        "certificate_expired",
        "pinned_sha256",
        "expired on 2021-01-01",
    );
    assert!(text(&report, "hint").contains("renew"), "{report:#}");
}

#[tokio::test]
async fn a_wrong_name_lists_the_names_of_the_certificate() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let body = connection_test::form(&d, json!({"host": "localhost"}));
    let report = test_form(&app, &body).await;
    failed(
        &report,
        "certificate_wrong_name",
        "host",
        "is issued for 127.0.0.1, imap.mailroom.test, not for localhost",
    );
    assert!(text(&report, "hint").contains("as Host"), "{report:#}");
}

/// Signs in, fills the New Email Integration form for `d` (no trust added) and runs Test
/// Connection until its message says `says`.
async fn tested_in_a_browser(d: &Dovecot, says: &str) -> (Browser, TestApp) {
    let (app, _) = admin_app().await;
    let b = Browser::start().await;
    b.sign_in_at(&format!("{}/admin/email-integration/new", app.base))
        .await;
    b.wait_text("h1", "New Email Integration").await;
    b.fill("#mailbox", USER).await;
    b.fill("#password", PASSWORD).await;
    b.fill("#host", "127.0.0.1").await;
    b.fill("#port", &d.imaps_port.to_string()).await;
    b.fill("#configuration_name", "Certificates").await;
    b.fill("#description", "A server with its own certificate")
        .await;
    b.click("#test-connection").await;
    b.wait_text("#test-message", says).await;
    let closed = b
        .eval("return document.querySelector('details.advanced').open;")
        .await;
    assert_eq!(closed, json!(false), "Advanced starts closed");
    (b, app)
}

/// Whether Advanced is open, and the id of the focused element.
async fn advanced_and_focus(b: &Browser) -> Value {
    b.eval("return [document.querySelector('details.advanced').open, document.activeElement.id];")
        .await
}

#[tokio::test]
async fn the_private_ca_button_opens_advanced_with_the_ca_field_focused() {
    let d = Dovecot::start();
    let (b, _app) = tested_in_a_browser(&d, "a private certificate authority").await;
    // Said once: the failed step points up instead of repeating the message.
    b.wait_text(".steps tr.failed", "See above").await;
    b.scroll_to("#test-outcome").await;
    b.screenshot("certificate-private-ca").await;

    b.click("#fix-ca-bundle").await;
    assert_eq!(advanced_and_focus(&b).await, json!([true, "ca_bundle"]));

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

#[tokio::test]
async fn the_pin_button_fills_in_the_fingerprint_shown() {
    let d = Dovecot::start_with(DovecotOptions {
        self_signed_certificate: true,
        ..Default::default()
    });
    let (b, _app) = tested_in_a_browser(&d, "is self-signed").await;
    b.click("#fix-pin").await;
    assert_eq!(advanced_and_focus(&b).await, json!([true, "pinned_sha256"]));
    let pin = b.css("#pinned_sha256").await.prop("value").await.unwrap();
    assert_eq!(pin.as_deref(), Some(d.leaf.sha256.as_str()));
    b.click("#test-connection").await;
    b.wait_text("#test-message", "We were able to connect to your mailbox.")
        .await;
    b.close().await;
}
