//! Test Connection's token step on oauth2 values that are not saved (SPEC §1.3, §1.5): form
//! values naming a client-credentials app get a timed token step; an authorization-code app has
//! no token before a sign-in (422 `sign_in_required`); edited values on a saved credential use
//! its stored sign-in only where it was made (same OAuth app and destination), otherwise only a
//! client-credentials app, and no refresh token is spent on them.

use serde_json::{Value, json};

use crate::admin_pages::Admin;
use crate::dovecot::{Dovecot, USER};
use crate::helpers::{Resp, TestApp};
use crate::oauth_admin::{delegated, sign_in};

const CLIENT_ID: &str = "mailroom-form-test";
const CLIENT_SECRET: &str = "Client-Secret-Curlew-3390";
const APP_ONLY_ID: &str = "mailroom-form-test-app-only";
const APP_ONLY_SECRET: &str = "Client-Secret-Dunlin-7702";

/// The fixture's mailbox over TLS as a form sends it, signing in through `app_id`.
fn form(d: &Dovecot, app_id: &Value) -> Value {
    json!({
        "mailbox": USER, "host": "127.0.0.1", "port": d.imaps_port, "security": "tls",
        "ca_bundle": d.ca.cert_pem, "auth_method": "oauth2", "oauth_app_id": app_id,
    })
}

fn step(report: &Value, name: &str) -> Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// What the token step says about the token it got.
fn token_detail(report: &Value) -> String {
    step(report, "token")["detail"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn app_only(app: &TestApp, token_url: &str) -> Value {
    let created = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "App-only", "provider": "custom", "flow": "client_credentials",
                    "client_id": APP_ONLY_ID, "client_secret": APP_ONLY_SECRET,
                    "token_url": token_url, "scopes": "mail"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["id"].clone()
}

/// A test refused for want of a sign-in: 422 `validation_failed` with the field and the rule at
/// the top level, as every validation error, and as the OpenAPI document of the operation on
/// `path` says.
async fn sign_in_required(app: &TestApp, path: &str, r: &Resp) {
    assert_eq!(
        (r.status, r.error_code(), r.error_field()),
        (422, "validation_failed", "oauth_app_id"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["rule"], "sign_in_required", "{}", r.text);
    assert_eq!(
        r.rules(),
        [("oauth_app_id".to_string(), "sign_in_required".to_string())]
    );
    let doc = app.get("/api/v1/openapi.json").await.body;
    let answer = &doc["paths"][format!("/api/v1{path}")]["post"]["responses"]["422"];
    assert_eq!(
        answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
        "{answer}"
    );
    let said = answer["description"].as_str().unwrap_or("");
    assert!(
        said.contains("`field` `oauth_app_id`, `rule` `sign_in_required`"),
        "{said}"
    );
}

#[tokio::test]
async fn unsaved_oauth2_values_get_a_timed_token_step_where_a_token_may_be_had() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    s.auth
        .register_client(APP_ONLY_ID, Some(APP_ONLY_SECRET), Some(USER));
    let app_only = app_only(&s.app, &s.auth.token_url()).await;

    // Form values with a client-credentials app: token, then login, each timed.
    let r = s
        .app
        .post("/api/v1/connection-tests", &form(&s.d, &app_only))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true, "{}", r.text);
    let token = step(&r.body, "token");
    assert_eq!(token["ok"], true, "{token}");
    assert!(token["ms"].is_u64(), "{token}");
    assert!(
        token_detail(&r.body).contains("client_credentials grant"),
        "{token}"
    );
    assert_eq!(step(&r.body, "login")["ok"], true);
    assert!(!r.text.contains(APP_ONLY_SECRET));

    // Form values with an authorization-code app: no sign-in to take a token from.
    let delegated_app = s.created.body["id"].clone();
    let r = s
        .app
        .post("/api/v1/connection-tests", &form(&s.d, &delegated_app))
        .await;
    sign_in_required(&s.app, "/connection-tests", &r).await;
    assert!(r.text.contains("Sign in"), "{}", r.text);
    let r = s
        .app
        .post("/api/v1/connection-tests", &form(&s.d, &json!(99999)))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_field(), "oauth_app_id");

    // A saved, signed-in credential: its stored sign-in with its own settings...
    assert_eq!(sign_in(&s.app, s.cred).await, 303);
    let stored = format!("/api/v1/credentials/{}/connection-tests", s.cred);
    let r = s.app.post(&stored, &json!({})).await;
    assert_eq!(r.body["ok"], true, "{}", r.text);
    assert!(
        token_detail(&r.body).contains("refresh_token grant"),
        "{}",
        r.text
    );

    // ...but not with another destination: no refresh token is spent on it.
    let asked = s.auth.state.lock().unwrap().grants.len();
    let r = s
        .app
        .post(
            &stored,
            &json!({"host": "localhost", "ca_bundle": s.d.ca.cert_pem}),
        )
        .await;
    sign_in_required(&s.app, "/credentials/{id}/connection-tests", &r).await;
    assert!(r.text.contains("where it was made"), "{}", r.text);
    assert_eq!(s.auth.state.lock().unwrap().grants.len(), asked);

    // Another OAuth app on the saved credential: that app's own grant.
    let r = s
        .app
        .post(&stored, &json!({"oauth_app_id": app_only}))
        .await;
    assert_eq!(r.body["ok"], true, "{}", r.text);
    assert!(
        token_detail(&r.body).contains("client_credentials grant"),
        "{}",
        r.text
    );
    // Back to a password: the stored sign-in is no password.
    let r = s
        .app
        .post(&stored, &json!({"auth_method": "password"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_code(), "password_required");
}

#[tokio::test]
async fn the_admin_forms_test_oauth2_values_with_the_token_step() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    s.auth
        .register_client(APP_ONLY_ID, Some(APP_ONLY_SECRET), Some(USER));
    let app_only = app_only(&s.app, &s.auth.token_url()).await.to_string();
    let admin = Admin::new(&s.app, s.client.clone()).await;
    let port = s.d.imaps_port.to_string();
    let fields = [
        ("mailbox", USER),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("use_secure_connection", "on"),
        ("secure_mode", "tls"),
        ("ca_bundle", s.d.ca.cert_pem.as_str()),
        ("auth_method", "oauth2"),
        ("oauth_app_id", app_only.as_str()),
    ];

    // The New form: the app's client-credentials grant, then the login.
    let new = "/admin/email-integration/new";
    let r = admin
        .post("/admin/email-integration/connection-test", new, &fields)
        .await;
    assert_eq!(r.status, 200, "{}", r.html);
    assert!(r.html.contains("We were able to connect"), "{}", r.html);
    assert!(r.html.contains("client_credentials grant"), "{}", r.html);
    assert!(!r.html.contains(APP_ONLY_SECRET));

    // The saved credential's form, switched to the app-only app (not saved): that app's grant.
    let details = format!("/admin/email-integration/{}", s.cred);
    let r = admin
        .post(&format!("{details}/connection-test"), &details, &fields)
        .await;
    assert_eq!(r.status, 200, "{}", r.html);
    assert!(r.html.contains("client_credentials grant"), "{}", r.html);
}
