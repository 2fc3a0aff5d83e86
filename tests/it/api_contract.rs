//! The OpenAPI document and the server agree (issue 16): each rule the server enforces that
//! Schemathesis found missing or wrong in the document is stated there, and the server
//! answers as the document says.

use serde_json::{Value, json};

use crate::helpers::{TestApp, valid_credential, with};

async fn schemas(app: &TestApp) -> Value {
    let doc = app.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    doc.body["components"]["schemas"].clone()
}

/// The statuses the document lists for `method path`.
async fn statuses(app: &TestApp, method: &str, path: &str) -> Vec<String> {
    let doc = app.get("/api/v1/openapi.json").await;
    let op = &doc.body["paths"][path][method];
    op["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn host_follows_the_documented_pattern() {
    let app = TestApp::spawn().await;
    let s = schemas(&app).await;
    let pattern = s["CredentialInput"]["properties"]["host"]["pattern"].clone();
    assert!(
        pattern
            .as_str()
            .is_some_and(|p| p.starts_with('^') && p.ends_with('$'))
    );
    for form in ["CredentialPatch", "ConnectionTestInput"] {
        assert_eq!(s[form]["properties"]["host"]["pattern"], pattern, "{form}");
    }
    // Refused by the pattern (all-digit last label, broken IPv4) and by the server.
    for (n, host) in ["0", "1.2.3.999", "a..b", "-a.example.com"]
        .iter()
        .enumerate()
    {
        let body = with(valid_credential(n as u32), json!({"host": host}));
        let r = app.post("/api/v1/credentials", &body).await;
        assert_eq!(
            (r.status, r.error_field()),
            (422, "host"),
            "{host}: {}",
            r.text
        );
    }
    // Taken by both.
    for (n, host) in [
        "10.0.0.1",
        "[::1]",
        "fe80::1",
        "imap.example.com.",
        "3com.example",
    ]
    .iter()
    .enumerate()
    {
        let body = with(valid_credential(10 + n as u32), json!({"host": host}));
        let r = app.post("/api/v1/credentials", &body).await;
        assert_eq!(r.status, 201, "{host}: {}", r.text);
    }
}

#[tokio::test]
async fn a_null_auth_method_needs_the_password_in_the_document_as_on_the_server() {
    let app = TestApp::spawn().await;
    let s = schemas(&app).await;
    for form in ["CredentialInput", "ConnectionTestInput"] {
        let rules = s[form]["allOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{form}"));
        // `if` is auth_method oauth2 given; anything else, null included, needs the password.
        let sign_in = rules.iter().find(|r| r.get("else").is_some()).unwrap();
        assert_eq!(sign_in["if"]["required"], json!(["auth_method"]), "{form}");
        assert_eq!(sign_in["else"]["required"], json!(["password"]), "{form}");
    }
    let body = json!({"mailbox": "a@example.com", "password": "", "auth_method": null,
        "oauth_app_id": 1, "host": "imap.example.com"});
    let r = app.post("/api/v1/connection-tests", &body).await;
    assert_eq!((r.status, r.error_field()), (422, "password"), "{}", r.text);
}

#[tokio::test]
async fn oauth_app_scopes_and_tenant_rules_are_documented_and_enforced() {
    let app = TestApp::spawn().await;
    let s = schemas(&app).await;
    for form in ["OAuthAppInput", "OAuthAppPatch"] {
        let scopes = &s[form]["properties"]["scopes"];
        assert!(scopes["pattern"].as_str().is_some(), "{form}: {scopes}");
    }
    let microsoft = s["OAuthAppInput"]["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["if"]["properties"]["provider"]["const"] == "microsoft")
        .unwrap()
        .clone();
    let tenant = &microsoft["then"]["properties"]["tenant"];
    assert!(tenant["pattern"].as_str().is_some() && tenant["not"]["pattern"].is_string());
    let app_with = |extra: Value| {
        with(
            json!({"name": "M", "provider": "microsoft", "client_id": "c", "tenant": "contoso.onmicrosoft.com"}),
            extra,
        )
    };
    let r = app
        .post(
            "/api/v1/oauth-apps",
            &app_with(json!({"scopes": "a\u{14}b"})),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (422, "scopes"), "{}", r.text);
    for tenant in ["Å", "Common", "a b"] {
        let r = app
            .post("/api/v1/oauth-apps", &app_with(json!({"tenant": tenant})))
            .await;
        assert_eq!(
            (r.status, r.error_field()),
            (422, "tenant"),
            "{tenant}: {}",
            r.text
        );
    }
    let r = app.post("/api/v1/oauth-apps", &app_with(json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_null_body_is_no_overrides_and_type_errors_are_in_plain_words() {
    let app = TestApp::spawn().await;
    // A loopback port nothing listens on: the test fails fast, the same way each time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let body = with(
        valid_credential(1),
        json!({"host": "127.0.0.1", "port": port}),
    );
    let id = app.create_credential(&body).await["id"].as_i64().unwrap();
    let path = format!("/api/v1/credentials/{id}/connection-tests");
    let empty = app.post(&path, &json!({})).await;
    let null = app.post(&path, &Value::Null).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(null.status, 200, "{}", null.text);
    assert_eq!(null.body["status"], empty.body["status"]);
    for (sent, message) in [
        (json!("text"), "expected a JSON object, not a string."),
        (json!([]), "expected a JSON object, not a list."),
    ] {
        let r = app.post(&path, &sent).await;
        assert_eq!(
            (r.status, r.error_code()),
            (422, "invalid_type"),
            "{}",
            r.text
        );
        assert_eq!(r.body["error"]["message"], message, "{sent}");
    }
}

#[tokio::test]
async fn every_status_these_routes_answer_is_documented() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/providers/detect").await;
    assert_eq!((r.status, r.error_field()), (422, "mailbox"), "{}", r.text);
    let detect = statuses(&app, "get", "/api/v1/providers/detect").await;
    assert!(detect.contains(&"422".to_string()), "{detect:?}");

    let credential = app.create_credential(&valid_credential(1)).await["id"].clone();
    let ws = app.post("/api/v1/workspaces", &json!({"name": "W"})).await;
    assert_eq!(ws.status, 201, "{}", ws.text);
    let alias = json!({"email_alias": "payroll1@example.com", "workspace_id": ws.body["id"]});
    app.create_alias(&credential, &alias).await;
    let r = app
        .delete(&format!("/api/v1/credentials/{credential}"))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let delete = statuses(&app, "delete", "/api/v1/credentials/{id}").await;
    assert!(delete.contains(&"409".to_string()), "{delete:?}");
}

#[tokio::test]
async fn query_numbers_are_never_empty_and_may_be_written_with_a_zero_fraction() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/audit?limit=",
        "/api/v1/cases?workspace_id=",
        "/api/v1/cases?limit=2.5",
    ] {
        let r = app.get(path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "invalid_query"),
            "{path}: {}",
            r.text
        );
    }
    for path in ["/api/v1/audit?limit=2.0", "/api/v1/cases?workspace_id=40.0"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}

#[tokio::test]
async fn a_new_credential_links_to_the_operations_on_it() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json").await;
    let links = &doc.body["paths"]["/api/v1/credentials"]["post"]["responses"]["201"]["links"];
    for to in [
        "get_credential",
        "poll_credential",
        "test_stored_credential",
        "change_password",
    ] {
        assert_eq!(links[to]["operationId"], to, "{links}");
        assert_eq!(links[to]["parameters"]["id"], "$response.body#/id");
    }
}
