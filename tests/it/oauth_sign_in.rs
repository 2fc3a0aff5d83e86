//! The OAuth2 sign-in and what follows it (SPEC §1.5), against the test authorization server
//! and a Dovecot that checks its tokens: a sign-in started by one process is finished by
//! another (the pending sign-in is in the database) and only once; a token of another account
//! is refused in words that explain a delegate's access to a shared mailbox; "sign in again"
//! (also after a failed token step of Test Connection) is cleared by a successful Test
//! Connection, an edit of the OAuth app or a new sign-in; an access token that expires while the worker sits in IDLE is
//! renewed when the server ends the session, and mail keeps coming.

use std::time::Duration;

use mailroom::app::App;
use mailroom::config::Settings;
use serde_json::{Value, json};

use crate::dovecot::{Dovecot, USER};
use crate::helpers::TestApp;
use crate::oauth_admin::{Delegated, call_back, consent, delegated, route_to_cases, sign_in};
use crate::processing::{deliver, email};

const CLIENT_ID: &str = "mailroom-sign-in-test";
const CLIENT_SECRET: &str = "Client-Secret-Plover-6618";

async fn health(app: &TestApp, cred: i64) -> Value {
    app.get(&format!("/api/v1/credentials/{cred}"))
        .await
        .body
        .get("health")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn subjects(app: &TestApp) -> Vec<String> {
    let r = app.get("/api/v1/cases?limit=1000").await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Waits (polling every 100 ms, at most 60 s) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sign_in_started_by_one_process_is_finished_by_another_and_only_once() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    // Another process on the same database (a second node, or this one before a restart)
    // starts the sign-in; the browser comes back to this one.
    let other = App::open(Settings::new(s.app.data_path(), s.app.database_url.clone()))
        .await
        .unwrap();
    let redirect = format!("{}/admin/oauth/callback", s.app.base);
    let start = other
        .start_sign_in(s.cred, "principal:other-node", &redirect)
        .await
        .unwrap();
    other.close().await;
    drop(other);
    let back = consent(&start.authorization_url).await;
    assert!(back.starts_with(&redirect), "{back}");
    let done = call_back(&back).await;
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    let again = call_back(&back).await;
    assert_eq!(again.status(), 400, "single use");
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("unknown or was already used"),
        "in words"
    );
    let view = s.app.get(&format!("/api/v1/credentials/{}", s.cred)).await;
    assert_eq!(view.body["has_refresh_token"], true, "{}", view.text);
    let polled = s
        .app
        .post(&format!("/api/v1/credentials/{}/poll", s.cred), &json!({}))
        .await;
    assert_eq!(polled.status, 200, "{}", polled.text);
}

#[tokio::test]
async fn a_token_for_another_account_is_refused_with_what_a_delegate_needs() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    // Someone else signs in at the provider: the token is theirs, `user=` is the mailbox.
    s.auth.state.lock().unwrap().consent_user = "assistant@example.com".into();
    assert_eq!(sign_in(&s.app, s.cred).await, 303);
    deliver(
        &s.d,
        "d0",
        &email(0, USER, "", "For the shared mailbox"),
        false,
    );
    let polled = s
        .app
        .post(&format!("/api/v1/credentials/{}/poll", s.cred), &json!({}))
        .await;
    assert_eq!(polled.status, 502, "{}", polled.text);
    let words = polled.body["error"]["message"].as_str().unwrap();
    for part in [
        &format!("refused the access token for {USER}"),
        "another account",
        "a delegate with full access",
        "Add-MailboxPermission",
    ] {
        assert!(words.contains(part), "{part:?} in {words}");
    }
    let tested = test_stored(&s).await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["category"], "auth_token_rejected");
    let message = tested.body["message"].as_str().unwrap();
    assert!(message.contains("a delegate with full access"), "{message}");
}

/// Test Connection on the saved credential.
async fn test_stored(s: &Delegated) -> crate::helpers::Resp {
    s.app
        .post(
            &format!("/api/v1/credentials/{}/connection-tests", s.cred),
            &json!({}),
        )
        .await
}

fn invalid_grant() -> Value {
    json!({"error": "invalid_grant",
           "error_description": "AADSTS50173: The provided grant has expired due to it being revoked."})
}

/// The access token expires and the refresh is refused for good: a poll puts the credential
/// in "sign in again".
async fn poll_into_sign_in_again(s: &Delegated) {
    s.auth.answer_next_token_request(400, invalid_grant());
    s.auth.expire_access_tokens();
    let polled = s
        .app
        .post(&format!("/api/v1/credentials/{}/poll", s.cred), &json!({}))
        .await;
    assert_eq!(polled.status, 502, "{}", polled.text);
    assert_eq!(health(&s.app, s.cred).await["state"], "sign_in_again");
}

#[tokio::test]
async fn sign_in_again_is_cleared_by_a_good_test_an_app_edit_or_a_sign_in_and_never_retried() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    let cred = s.cred;
    assert_eq!(sign_in(&s.app, cred).await, 303);

    // Test Connection's token step fails for good: "sign in again" as processing would.
    s.auth.answer_next_token_request(400, invalid_grant());
    let tested = test_stored(&s).await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["category"], "token_failed", "{}", tested.text);
    let token = tested.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "token")
        .cloned()
        .unwrap();
    assert_eq!(token["ok"], false);
    assert!(token["ms"].is_u64(), "timed: {token}");
    let h = health(&s.app, cred).await;
    assert_eq!(h["state"], "sign_in_again", "{h}");
    assert!(
        h["last_error"].as_str().unwrap().contains("Sign in again"),
        "{h}"
    );
    assert_eq!(h["next_attempt_at"], Value::Null, "no retry planned: {h}");
    let exceptions = s.app.get("/api/v1/exceptions").await;
    assert!(
        exceptions.text.contains("AADSTS50173"),
        "{}",
        exceptions.text
    );
    let metrics = s.app.app.metrics().render();
    assert!(
        metrics.contains("mailroom_oauth_sign_in_again_total 1"),
        "{metrics}"
    );

    // A successful Test Connection (the provider works again) resumes it.
    let tested = test_stored(&s).await;
    assert_eq!(tested.body["ok"], true, "{}", tested.text);
    let h = health(&s.app, cred).await;
    assert_eq!(h["state"], "idle", "{h}");

    // An edit of its OAuth app (a new client secret) resumes it too.
    poll_into_sign_in_again(&s).await;
    let app_id = s.created.body["id"].as_i64().unwrap();
    let edited = s
        .app
        .patch(
            &format!("/api/v1/oauth-apps/{app_id}"),
            &json!({"client_secret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(health(&s.app, cred).await["state"], "idle");

    // A new sign-in clears it as well.
    poll_into_sign_in_again(&s).await;
    assert_eq!(sign_in(&s.app, cred).await, 303);
    let h = health(&s.app, cred).await;
    assert_eq!(h["state"], "idle", "{h}");
    assert_eq!(h["last_error"], Value::Null, "{h}");
    assert_eq!(s.auth.spent_refresh_presented(), 0);
}

#[tokio::test]
async fn a_refresh_token_another_node_rotated_meanwhile_is_taken_up_not_sign_in_again() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(sign_in(&s.app, s.cred).await, 303);
    let other = std::sync::Arc::new(
        App::open(Settings::new(s.app.data_path(), s.app.database_url.clone()))
            .await
            .unwrap(),
    );
    // The other node presents the stored refresh token; the provider holds its answer...
    let release = s.auth.hold_next_token_request();
    let asked = s.auth.token_requests();
    let (node, cred) = (other.clone(), s.cred);
    let held = tokio::spawn(async move { node.poll_once(cred, |_, _| {}).await.map(|_| ()) });
    until("the other node's token request", || async {
        s.auth.token_requests() > asked
    })
    .await;
    // ...while this node rotates that same refresh token and stores the new one.
    let polled = s
        .app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(polled.status, 200, "{}", polled.text);
    // The provider refuses the other node's spent token: it takes up the stored one.
    release.send(()).unwrap();
    let r = held.await.unwrap();
    assert!(r.is_ok(), "{:?}", r.err().map(|e| e.to_string()));
    let h = health(&s.app, cred).await;
    assert_eq!(h["state"], "healthy", "{h}");
    assert_eq!(s.auth.spent_refresh_presented(), 1, "the race itself");
    other.close().await;
}

/// Dovecot ends the user's sessions, as Microsoft 365 does when the access token of a session
/// expires (`* BYE Session invalidated - AccessTokenExpired`).
fn end_sessions(d: &Dovecot) {
    let out = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(d.dir.path().join("dovecot.conf"))
        .args(["kick", USER])
        .output()
        .expect("doveadm");
    assert!(
        out.status.success(),
        "doveadm kick: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_access_token_expiring_during_idle_is_renewed_and_mail_keeps_coming() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    let cred = s.cred;
    route_to_cases(&s.app, cred).await;
    assert_eq!(sign_in(&s.app, cred).await, 303);
    deliver(&s.d, "i0", &email(0, USER, "", "Before"), false);
    let _workers = s.app.start_processing();
    until("the first case", || async {
        subjects(&s.app).await.contains(&"Request 0".to_string())
    })
    .await;
    until(
        "the first email flagged (the worker goes on to IDLE)",
        || async { s.d.seen_count() == 1 },
    )
    .await;
    let refreshed = s.auth.refresh_tokens();

    // The token expires at the provider while the worker waits in IDLE, and the server ends
    // the session: the worker logs in again with a renewed token, without a back-off.
    s.auth.expire_access_tokens();
    end_sessions(&s.d);
    deliver(&s.d, "i1", &email(1, USER, "", "After"), false);
    until("the case of the email sent after the expiry", || async {
        subjects(&s.app).await.contains(&"Request 1".to_string())
    })
    .await;
    let h = health(&s.app, cred).await;
    assert_eq!(h["state"], "healthy", "{h}");
    // Renewed with the stored refresh token, which rotated: the old ones are spent.
    assert!(s.auth.refresh_tokens().len() > refreshed.len());
    for old in refreshed {
        assert!(!s.auth.is_active(&old), "rotated away");
    }
    assert_eq!(
        s.auth.spent_refresh_presented(),
        0,
        "a spent refresh token is never presented again"
    );
}

#[tokio::test]
async fn keys_rotated_by_another_process_during_a_sign_in_let_it_finish() {
    let s = delegated(CLIENT_ID, CLIENT_SECRET).await;
    let url = crate::oauth_admin::authorization_url(&s.app, s.cred).await;
    // `keys status` counts the started sign-in's verifier beside the client secret.
    let status = s.app.app.key_status().await.unwrap();
    assert_eq!(status.keys.iter().map(|k| k.secrets).sum::<i64>(), 2);
    // The CLI rotates and retires the old key while the sign-in is under way.
    let out = s.app.cli(&["keys", "rotate", "--json"], None);
    let report: Value = serde_json::from_str(&crate::helpers::cli_stdout(&out)).unwrap();
    assert_eq!(report["resealed"], 2, "{report}");
    assert_eq!(report["retired_key_ids"].as_array().unwrap().len(), 1);
    let out = s.app.cli(&["keys", "status", "--json"], None);
    let status: Value = serde_json::from_str(&crate::helpers::cli_stdout(&out)).unwrap();
    let keys = status["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "only the new key holds secrets: {status}");
    assert_eq!(keys[0]["secrets"], 2, "{status}");
    // The server (which loaded only the old key) finishes the sign-in.
    let done = call_back(&consent(&url).await).await;
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    let view = s.app.get(&format!("/api/v1/credentials/{}", s.cred)).await;
    assert_eq!(view.body["has_refresh_token"], true, "{}", view.text);
}
