//! Provider presets and detection over HTTP: the preset list, detection from a provider's own
//! domain, an unknown domain answered "none" with the reason (DNS fails soft), the mailbox
//! checked (422 naming it), the presets in the OpenAPI document, and the credential form that
//! fills host, port and security from the guess (over HTTP and in a browser, with screenshots).

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app, sign_in};
use crate::browser::Browser;
use crate::helpers::TestApp;

const IDS: [&str; 9] = [
    "microsoft365",
    "outlook",
    "google",
    "yahoo",
    "icloud",
    "fastmail",
    "zoho",
    "gmx",
    "other",
];

#[tokio::test]
async fn presets_list_host_port_security_sign_in_methods_and_hint() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/providers").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS);
    for p in items {
        for key in ["name", "host", "security", "hint"] {
            assert!(p[key].is_string(), "{key} of {p}");
        }
        assert!(p["port"].is_u64() && !p["auth_methods"].as_array().unwrap().is_empty());
    }
    let m365 = &items[0];
    assert_eq!(m365["host"], "outlook.office365.com");
    assert_eq!(m365["auth_methods"], serde_json::json!(["oauth2"]));
    assert!(m365["hint"].as_str().unwrap().contains("OAuth2"));
    let google = &items[2];
    assert_eq!(
        (google["port"].as_u64(), google["security"].as_str()),
        (Some(993), Some("tls"))
    );
    assert_eq!(
        google["auth_methods"],
        serde_json::json!(["oauth2", "app_password"])
    );
    assert!(
        google["hint"]
            .as_str()
            .unwrap()
            .contains("2-Step Verification")
    );
    assert_eq!(items[8]["host"], "");
}

#[tokio::test]
async fn detect_answers_known_domains_and_none_with_a_reason() {
    let app = TestApp::spawn().await;
    let g = app
        .get("/api/v1/providers/detect?mailbox=Payroll%40GoogleMail.com")
        .await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.body["found_by"], "domain");
    assert_eq!(g.body["domain"], "googlemail.com");
    assert_eq!(g.body["provider"]["id"], "google");
    assert_eq!(g.body["host"], "imap.gmail.com");
    assert_eq!(
        (g.body["port"].as_u64(), g.body["security"].as_str()),
        (Some(993), Some("tls"))
    );
    let o = app
        .get("/api/v1/providers/detect?mailbox=hr@hotmail.com")
        .await;
    assert_eq!(o.body["provider"]["id"], "outlook");
    // A domain that cannot exist: whatever DNS does here (answer or fail), the guess is none.
    let n = app
        .get("/api/v1/providers/detect?mailbox=hr@mailroom-test.invalid")
        .await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(n.body["found_by"], "none");
    assert!(n.body["provider"].is_null() && n.body["host"].is_null());
    let reason = n.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("No provider recognised for mailroom-test.invalid"),
        "{reason}"
    );
}

#[tokio::test]
async fn detect_needs_a_valid_mailbox() {
    let app = TestApp::spawn().await;
    for (query, rule) in [
        ("", "required"),
        ("?mailbox=", "required"),
        ("?mailbox=%20%20", "required"),
        ("?mailbox=payroll", "invalid_email"),
        ("?mailbox=Ann%20%3Cann@example.com%3E", "invalid_email"),
        ("?domain=example.com", "required"),
    ] {
        let r = app.get(&format!("/api/v1/providers/detect{query}")).await;
        assert_eq!(r.status, 422, "{query}: {}", r.text);
        assert_eq!(r.error_field(), "mailbox", "{query}");
        assert_eq!(r.body["error"]["rule"], rule, "{query}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Mailbox")
        );
    }
}

#[tokio::test]
async fn openapi_lists_the_routes_and_every_preset() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json").await;
    let summary = doc.body["paths"]["/api/v1/providers"]["get"]["description"]
        .as_str()
        .unwrap();
    for id in IDS {
        assert!(summary.contains(id), "{id} missing from {summary}");
    }
    for name in [
        "Microsoft 365",
        "Outlook.com",
        "Google",
        "iCloud Mail",
        "GMX",
    ] {
        assert!(summary.contains(name), "{name} missing from {summary}");
    }
    let detect = &doc.body["paths"]["/api/v1/providers/detect"]["get"];
    let detect = format!(
        "{} {} {}",
        detect["summary"], detect["description"], detect["parameters"]
    );
    assert!(
        detect.contains("mailbox") && detect.contains("found_by"),
        "{detect}"
    );
}

#[tokio::test]
async fn the_credential_form_carries_what_its_script_needs() {
    let (app, client) = admin_app().await;
    let detect = format!("{}/admin/providers/detect?mailbox=a@icloud.com", app.base);
    // Anonymous: the login page, no guess.
    let r = client.get(&detect).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = sign_in(&app, &client).await;
    let page = client
        .get(format!("{}/admin/email-integration/new", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"data-detect="/admin/providers/detect""#),
        "{page}"
    );
    assert!(page.contains(r#"id="provider-hint""#));
    // Without JavaScript the host field still offers the presets' servers.
    assert!(page.contains(r#"list="provider-hosts""#));
    assert!(page.contains(r#"<option value="imap.gmail.com">"#));
    let r = client
        .get(&detect)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (d["found_by"].as_str(), d["host"].as_str()),
        (Some("domain"), Some("imap.mail.me.com"))
    );
    let bad = client
        .get(format!("{}/admin/providers/detect?mailbox=nope", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let e: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(e["error"]["field"], "mailbox");
}

#[tokio::test]
async fn typing_the_mailbox_fills_host_port_and_security_in_a_browser() {
    let (app, _) = admin_app().await;
    let b = Browser::start().await;
    b.goto(&format!("{}/admin/email-integration/new", app.base))
        .await;
    b.fill("#username", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("h1", "New Email Integration").await;
    // Security off and an odd port first: the guess puts both back.
    b.click("#use_secure_connection").await;
    b.fill("#port", "143").await;
    b.fill("#mailbox", "payroll@gmail.com").await;
    b.click("#password").await; // leaving the field is the change that asks
    let hint = b.wait_text("#provider-hint", "Google").await;
    assert!(hint.contains("app password"), "{hint}");
    let value = |sel: &'static str| {
        let b = &b;
        async move {
            b.css(sel)
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert_eq!(value("#host").await, "imap.gmail.com");
    assert_eq!(value("#port").await, "993");
    assert!(
        b.css("#use_secure_connection")
            .await
            .is_selected()
            .await
            .unwrap()
    );
    assert!(
        !b.css("#insecure-warning")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the clear-text warning follows the checkbox"
    );
    b.scroll_to("#mailbox").await;
    b.screenshot("credential-form-provider-1280").await;
    b.client.set_window_size(390, 844).await.unwrap();
    b.scroll_to("#mailbox").await;
    b.screenshot("credential-form-provider-390").await;
    b.close().await;
}

#[tokio::test]
async fn the_cli_lists_the_presets_and_detects_a_known_domain() {
    let app = TestApp::spawn().await;
    let list = crate::helpers::cli_stdout(&app.cli(&["provider", "list"], None));
    assert!(
        list.contains("microsoft365") && list.contains("outlook.office365.com:993"),
        "{list}"
    );
    let guess = crate::helpers::cli_stdout(&app.cli(
        &["provider", "detect", "--mailbox", "payroll@gmail.com"],
        None,
    ));
    assert!(
        guess.contains("Google")
            && guess.contains("imap.gmail.com:993")
            && guess.contains("Found by: domain"),
        "{guess}"
    );
    let out = app.cli(&["provider", "detect", "--mailbox", "not an address"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mailbox"));
}
