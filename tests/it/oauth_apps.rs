//! OAuth apps and oauth2 credentials end to end (SPEC §1.5): a client-credentials app polls
//! the real Dovecot (oauth2 passdb, introspection at the test authorization server) and mail
//! becomes cases; the authorization-code sign-in over HTTP (authorize → the server's
//! auto-consent → callback → refresh token stored sealed → a poll), an expired access token
//! renewed with a rotated refresh token, `invalid_grant` → "sign in again"; no client secret or
//! token in responses.

use serde_json::{Value, json};

use crate::dovecot::{Dovecot, DovecotOptions, OAuth2Passdb, USER};
use crate::helpers::TestApp;
use crate::oauth_admin::{authorization_url, call_back, consent};
use crate::oauth_server::AuthServer;
use crate::processing::{deliver, email};

const CLIENT_ID: &str = "mailroom-apps-test";
const CLIENT_SECRET: &str = "Client-Secret-Heron-9034";

fn dovecot(auth: &AuthServer) -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        oauth2: Some(OAuth2Passdb::new(auth.introspection_url())),
        ..Default::default()
    })
}

/// An oauth2 credential for the fixture's mailbox over TLS, a workspace and a default alias.
async fn oauth2_mailbox(app: &TestApp, d: &Dovecot, app_id: i64) -> i64 {
    let c = app
        .post(
            "/api/v1/credentials",
            &json!({
                "mailbox": USER, "host": "127.0.0.1", "port": d.imaps_port, "security": "tls",
                "ca_bundle": d.ca.cert_pem, "configuration_name": "OAuth mailbox",
                "description": "Signs in with OAuth2", "auth_method": "oauth2", "oauth_app_id": app_id,
            }),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_eq!(c.body["auth_method"], "oauth2");
    assert_eq!(c.body["has_password"], false);
    let cred = c.body["id"].as_i64().unwrap();
    let w = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await;
    let ws = w.body["id"].as_i64().unwrap();
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1,
                    "reply_template_id": null, "field_mappings": {}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    cred
}

async fn cases(app: &TestApp) -> usize {
    let r = app.get("/api/v1/cases?limit=1000").await;
    r.body["items"].as_array().unwrap().len()
}

async fn poll(app: &TestApp, cred: i64) -> (u16, Value) {
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    (r.status, r.body)
}

#[tokio::test]
async fn a_client_credentials_app_polls_dovecot_and_mail_becomes_cases() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), Some(USER));
    let d = dovecot(&auth);
    let app = TestApp::spawn().await;

    // Validation names the field and the rule.
    let bad = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "X", "provider": "custom", "flow": "client_credentials",
            "client_id": "c", "client_secret": "s", "token_url": "http://auth.example.com/token"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("token_url"), "{}", bad.text);

    let created = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Test app", "provider": "custom",
            "flow": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "token_url": auth.token_url(), "scopes": "mail"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["has_client_secret"], true);
    assert!(!created.text.contains(CLIENT_SECRET));
    let app_id = created.body["id"].as_i64().unwrap();
    let listed = app.get("/api/v1/oauth-apps").await;
    assert!(!listed.text.contains(CLIENT_SECRET));

    let cred = oauth2_mailbox(&app, &d, app_id).await;
    for i in 0..2 {
        deliver(&d, &format!("cc{i}"), &email(i, USER, "", "Hello"), false);
    }
    let (status, body) = poll(&app, cred).await;
    assert_eq!(status, 200, "{body}\n{}", d.log());
    assert_eq!(cases(&app).await, 2);
    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(
        view.body["has_refresh_token"], false,
        "app-only: no refresh token"
    );
    assert!(!view.text.contains(CLIENT_SECRET));

    // An app in use cannot be deleted; `keys status` counts its sealed secret.
    let del = app.delete(&format!("/api/v1/oauth-apps/{app_id}")).await;
    assert_eq!(del.status, 409, "{}", del.text);
    let status = app.app.key_status().await.unwrap();
    assert_eq!(status.keys.iter().map(|k| k.secrets).sum::<i64>(), 1);
    let report = app.app.rotate_keys("test", |_, _| {}).await.unwrap();
    assert_eq!(report.resealed, 1);
    deliver(&d, "cc9", &email(9, USER, "", "After rotation"), false);
    app.app.poll_once(cred, |_, _| {}).await.unwrap();
    assert_eq!(
        cases(&app).await,
        3,
        "the re-sealed client secret still opens"
    );
}

#[tokio::test]
async fn sign_in_stores_a_refresh_token_that_rotates_and_invalid_grant_asks_to_sign_in_again() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), None);
    let d = dovecot(&auth);
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Delegated", "provider": "custom",
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_url": auth.token_url(),
            "authorize_url": auth.authorize_url(), "scopes": "mail offline_access"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cred = oauth2_mailbox(&app, &d, created.body["id"].as_i64().unwrap()).await;

    // Not signed in yet: "sign in again", with no retry.
    let (status, _) = poll(&app, cred).await;
    assert_eq!(status, 502);
    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(
        view.body["health"]["state"], "sign_in_again",
        "{}",
        view.text
    );

    let url = authorization_url(&app, cred).await;
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let back = consent(&url).await;
    assert!(
        back.starts_with(&format!("{}/admin/oauth/callback?", app.base)),
        "{back}"
    );
    let done = call_back(&back).await;
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    assert_eq!(
        done.headers()["location"],
        format!("/admin/email-integration/{cred}?flash=signed-in").as_str()
    );
    // The state is single use.
    let again = call_back(&back).await;
    assert_eq!(again.status(), 400);

    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(view.body["has_refresh_token"], true, "{}", view.text);
    assert_eq!(view.body["health"]["state"], "idle");
    deliver(&d, "ac0", &email(0, USER, "", "Signed in"), false);
    let (status, body) = poll(&app, cred).await;
    assert_eq!(status, 200, "{body}\n{}", d.log());
    assert_eq!(cases(&app).await, 1);

    // The access token expires between polls: renewed with the (rotated, stored) refresh
    // token — the old refresh token is revoked at the server, so this works only if the
    // rotated one was kept.
    auth.expire_access_tokens();
    deliver(&d, "ac1", &email(1, USER, "", "After expiry"), false);
    let (status, body) = poll(&app, cred).await;
    assert_eq!(status, 200, "{body}");
    deliver(&d, "ac2", &email(2, USER, "", "Third"), false);
    auth.expire_access_tokens();
    let (status, body) = poll(&app, cred).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cases(&app).await, 3);
    assert_eq!(
        auth.spent_refresh_presented(),
        0,
        "a rotated-away refresh token is never presented again"
    );

    // invalid_grant: "sign in again" in words, an exception-log entry, a metric.
    auth.expire_access_tokens();
    auth.answer_next_token_request(
        400,
        json!({"error": "invalid_grant", "error_description": "AADSTS700082: The refresh token has expired due to inactivity."}),
    );
    let (status, _) = poll(&app, cred).await;
    assert_eq!(status, 502);
    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(
        view.body["health"]["state"], "sign_in_again",
        "{}",
        view.text
    );
    let words = view.body["health"]["last_error"].as_str().unwrap();
    assert!(words.starts_with("Sign in again"), "{words}");
    assert_eq!(
        view.body["health"]["next_attempt_at"],
        Value::Null,
        "no retry planned"
    );
    let exceptions = app.get("/api/v1/exceptions").await;
    assert!(
        exceptions.text.contains("Sign in again"),
        "{}",
        exceptions.text
    );
    assert!(
        app.app
            .metrics()
            .render()
            .contains("mailroom_oauth_sign_in_again_total 2")
    );
}
