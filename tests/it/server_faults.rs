//! Misbehaving mail servers (scripted, `fake_imap::MailServer`): a mailbox never waits forever
//! on an email the server leaves out of its FETCH answers, and every failure — in processing
//! and in Test Connection — is reported in words with the server's own reason, never as a
//! parser dump. Also: a stored password that cannot be opened is a failure with a back-off.

use std::time::Duration;

use mailroom::app::processing::ProcessingOptions;
use mailroom::domain::{Secret, Security};
use mailroom::imap::{Category, ProbeOptions, ProbeRequest};
use serde_json::{Value, json};

use crate::dovecot::TestCa;
use crate::fake_imap::{self, Faults, MailServer, fake_email};
use crate::helpers::{Backend, TestApp};

const UIDS: [u32; 5] = [101, 102, 103, 104, 105];

fn inbox() -> Vec<(u32, Vec<u8>)> {
    UIDS.iter()
        .map(|u| (*u, fake_email(*u, fake_imap::PLAIN_USER)))
        .collect()
}

/// Quick steps: a broken server must not cost the test the default 30 s.
async fn app() -> TestApp {
    app_on(Backend::Sqlite).await
}

async fn app_on(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        ProcessingOptions {
            step_timeout: Duration::from_secs(5),
            ..ProcessingOptions::default()
        },
    )
    .await
}

/// A credential for the scripted server with a default alias, so every email becomes a case.
async fn connect_fake(app: &TestApp, port: u16, tls_pin: Option<&str>) -> i64 {
    let mut body = json!({
        "mailbox": fake_imap::PLAIN_USER, "password": fake_imap::PLAIN_PASS,
        "host": "127.0.0.1", "port": port, "use_secure_connection": tls_pin.is_some(),
        "configuration_name": "Scripted", "description": "A scripted server",
    });
    if let Some(pin) = tls_pin {
        body["pinned_sha256"] = json!(pin);
    }
    let cred = app.create_credential(&body).await["id"].as_i64().unwrap();
    let w = app
        .post("/api/v1/workspaces", &json!({"name": "Scripted"}))
        .await;
    assert_eq!(w.status, 201, "{}", w.text);
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": fake_imap::PLAIN_USER, "is_default": true,
                    "workspace_id": w.body["id"], "project_type_id": 1, "reply_template_id": null}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    cred
}

async fn health(app: &TestApp, cred: i64) -> Value {
    app.get(&format!("/api/v1/credentials/{cred}")).await.body["health"].clone()
}

async fn exceptions(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/exceptions?limit=1000").await.body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn case_subjects(app: &TestApp) -> Vec<String> {
    let r = app.get("/api/v1/cases?limit=1000").await;
    let mut s: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

fn subjects(uids: &[u32]) -> Vec<String> {
    let mut s: Vec<String> = uids.iter().map(|u| format!("Fake request {u}")).collect();
    s.sort();
    s
}

/// No message a person reads may be a parser dump.
fn in_words(text: &str) {
    for dump in [
        "TakeWhile",
        "Error {",
        "input: [",
        "code:",
        "bytes remaining",
        "no response:",
    ] {
        assert!(!text.contains(dump), "a dump ({dump}) in: {text}");
    }
}

#[tokio::test]
async fn a_server_that_leaves_messages_out_of_a_fetch_holds_up_nothing() {
    left_out_of_a_fetch(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_server_that_leaves_messages_out_holds_up_nothing_on_postgres_too() {
    left_out_of_a_fetch(Backend::Postgres).await;
}

async fn left_out_of_a_fetch(backend: Backend) {
    let server = MailServer::start(
        inbox(),
        Faults {
            omit_in_multi: vec![102, 104],
            never_send: vec![104],
            fetch_no: Some("NO [UNAVAILABLE] Message 104 is temporarily unavailable".into()),
            ..Faults::default()
        },
    )
    .await;
    let app = app_on(backend).await;
    let cred = connect_fake(&app, server.port(), None).await;

    // 102 and 104 are missing from the answer to 101:105; 102 comes when asked alone.
    let r = app.app.poll_once(cred, |_, _| {}).await.expect("poll 1");
    assert_eq!((r.cases_created, r.not_returned), (4, 1), "{r:?}");
    assert_eq!(case_subjects(&app).await, subjects(&[101, 102, 103, 105]));
    assert_eq!(
        server.seen(),
        vec![101, 102, 103, 105],
        "only committed mail is read"
    );
    let fetches = server.state.lock().unwrap().body_fetches.clone();
    assert_eq!(fetches, vec!["101:105", "102", "104"]);
    assert_eq!(health(&app, cred).await["state"], "healthy");

    // 104 is fetched again, alone, by the next polls; the third miss sets it aside.
    let r = app.app.poll_once(cred, |_, _| {}).await.expect("poll 2");
    assert_eq!((r.cases_created, r.not_returned, r.exceptions), (0, 1, 0));
    let r = app.app.poll_once(cred, |_, _| {}).await.expect("poll 3");
    assert_eq!((r.not_returned, r.exceptions), (1, 1), "{r:?}");
    let entry = exceptions(&app)
        .await
        .into_iter()
        .find(|e| e["details"]["uid"] == 104)
        .expect("an exception-log entry for UID 104");
    let message = entry["message"].as_str().unwrap();
    assert!(
        message.contains("UID 104")
            && message.contains("3 polls")
            && message.contains("NO [UNAVAILABLE] Message 104 is temporarily unavailable"),
        "{message}"
    );
    in_words(message);
    // Set aside: no more fetching it on every poll.
    let before = server.state.lock().unwrap().body_fetches.len();
    let r = app.app.poll_once(cred, |_, _| {}).await.expect("poll 4");
    assert_eq!((r.not_returned, r.exceptions), (0, 0));
    assert_eq!(server.state.lock().unwrap().body_fetches.len(), before);

    // The server sends it again: Retry fetches it, makes the case, and only then flags it.
    server.faults(|f| f.never_send.clear());
    let id = entry["id"].as_i64().unwrap();
    let retried = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(case_subjects(&app).await, subjects(&UIDS));
    assert_eq!(server.seen(), UIDS.to_vec());
    let again = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(case_subjects(&app).await.len(), 5, "never a case twice");
    let states = app.app.exception_retry_states(&[id]).await.unwrap();
    assert_eq!(
        states.get(&id),
        Some(&Some(retried.body["case_id"].as_i64().unwrap()))
    );
}

#[tokio::test]
async fn a_fetch_answered_no_is_fetched_one_by_one_and_retry_says_why_it_still_fails() {
    let server = MailServer::start(
        inbox(),
        Faults {
            omit_in_multi: UIDS.to_vec(),
            never_send: vec![103],
            fetch_no: Some("NO [SERVERBUG] Internal error occurred. Refer to server log".into()),
            ..Faults::default()
        },
    )
    .await;
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        ProcessingOptions {
            step_timeout: Duration::from_secs(5),
            missing_attempts: 1,
            ..ProcessingOptions::default()
        },
    )
    .await;
    let cred = connect_fake(&app, server.port(), None).await;
    let r = app.app.poll_once(cred, |_, _| {}).await.expect("poll");
    assert_eq!((r.cases_created, r.exceptions), (4, 1), "{r:?}");
    let entry = exceptions(&app)
        .await
        .into_iter()
        .find(|e| e["details"]["uid"] == 103)
        .unwrap();
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("NO [SERVERBUG] Internal error occurred"),
        "{entry}"
    );
    // Still refused: Retry says so (502) and the entry stays retryable.
    let id = entry["id"].as_i64().unwrap();
    let r = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 502, "{}", r.text);
    let said = r.body["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("UID 103") && said.contains("NO [SERVERBUG]"),
        "{said}"
    );
    in_words(said);
    assert_eq!(
        app.app
            .exception_retry_states(&[id])
            .await
            .unwrap()
            .get(&id),
        Some(&None)
    );
    assert!(!server.seen().contains(&103));
}

/// Polls until the mailbox is drained (at most `max` polls); returns the errors on the way.
async fn poll_until_drained(app: &TestApp, cred: i64, max: usize) -> Vec<String> {
    let mut errors = Vec::new();
    for _ in 0..max {
        match app.app.poll_once(cred, |_, _| {}).await {
            Ok(r) if r.not_returned == 0 && r.fetched == 0 => return errors,
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("the mailbox was not drained in {max} polls: {errors:?}");
}

#[tokio::test]
async fn a_93_gb_email_or_a_connection_closed_mid_email_is_set_aside_in_words() {
    for (faults, words) in [
        (
            Faults {
                huge_literal: Some((103, 93_000_000_000)),
                ..Faults::default()
            },
            "93 GB",
        ),
        (
            Faults {
                close_in_body: Some(103),
                ..Faults::default()
            },
            "closed the connection in the middle of an email",
        ),
    ] {
        let server = MailServer::start(inbox(), faults).await;
        let app = app().await;
        let cred = connect_fake(&app, server.port(), None).await;
        let first = app
            .app
            .poll_once(cred, |_, _| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(first.contains(words), "{first}");
        in_words(&first);
        let h = health(&app, cred).await;
        assert_eq!(h["state"], "failing", "{h}");
        assert!(h["last_error"].as_str().unwrap().contains(words), "{h}");
        assert_eq!(
            case_subjects(&app).await,
            subjects(&[101, 102]),
            "what came before it is committed"
        );
        let errors = poll_until_drained(&app, cred, 6).await;
        for e in &errors {
            in_words(e);
        }
        // Every email is a case or an exception-log entry; only committed mail is read.
        assert_eq!(case_subjects(&app).await, subjects(&[101, 102, 104, 105]));
        let entry = exceptions(&app)
            .await
            .into_iter()
            .find(|e| e["details"]["uid"] == 103)
            .expect("UID 103 set aside");
        let message = entry["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        in_words(message);
        assert_eq!(server.seen(), vec![101, 102, 104, 105]);
        assert_eq!(health(&app, cred).await["state"], "healthy");
    }
}

#[tokio::test]
async fn processing_failures_keep_the_servers_reason_in_words() {
    let ca = TestCa::new("Scripted CA");
    let leaf = ca.leaf(&["127.0.0.1"], false);
    let cases: Vec<(MailServer, bool, &str)> = vec![
        (
            MailServer::start(
                inbox(),
                Faults {
                    select_answer: Some("NO [NONEXISTENT] Mailbox doesn't exist: INBOX".into()),
                    ..Faults::default()
                },
            )
            .await,
            false,
            "NO [NONEXISTENT] Mailbox doesn't exist: INBOX",
        ),
        (
            MailServer::start(
                inbox(),
                Faults {
                    select_answer: Some("* BYE [UNAVAILABLE] Mailbox is being moved".into()),
                    ..Faults::default()
                },
            )
            .await,
            false,
            "BYE [UNAVAILABLE] Mailbox is being moved",
        ),
        (
            MailServer::start(
                inbox(),
                Faults {
                    bare_lf: true,
                    ..Faults::default()
                },
            )
            .await,
            false,
            "bare line feed",
        ),
        (
            MailServer::start(
                inbox(),
                Faults {
                    login_answer: Some("NO AUTHENTICATE failed.".into()),
                    ..Faults::default()
                },
            )
            .await,
            false,
            "Microsoft 365",
        ),
        (
            MailServer::start_tls(
                inbox(),
                Faults {
                    capabilities: Some("IMAP4rev1 LOGINDISABLED AUTH=XOAUTH2".into()),
                    ..Faults::default()
                },
                &leaf,
            )
            .await,
            true,
            "accepts no password login at all",
        ),
    ];
    for (i, (server, tls, words)) in cases.iter().enumerate() {
        let app = app().await;
        let cred = connect_fake(&app, server.port(), tls.then_some(leaf.sha256.as_str())).await;
        let r = app
            .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
            .await;
        assert_eq!(r.status, 502, "case {i}: {}", r.text);
        let said = r.body["error"]["message"].as_str().unwrap();
        assert!(said.contains(words), "case {i}: {said}");
        in_words(said);
        let h = health(&app, cred).await;
        let last = h["last_error"].as_str().unwrap();
        assert!(last.contains(words), "case {i}: {h}");
        in_words(last);
        assert!(h["next_attempt_at"].is_string(), "case {i}: {h}");
        assert!(server.seen().is_empty(), "case {i}: nothing was flagged");
    }
}

fn quick() -> ProbeOptions {
    ProbeOptions {
        step_timeout: Duration::from_secs(3),
        total_timeout: Duration::from_secs(8),
        ..ProbeOptions::default()
    }
}

#[tokio::test]
async fn test_connection_explains_microsoft_logindisabled_under_tls_and_bare_lf() {
    let ca = TestCa::new("Scripted CA");
    let leaf = ca.leaf(&["127.0.0.1"], false);
    let microsoft = MailServer::start(
        inbox(),
        Faults {
            capabilities: Some("IMAP4rev1 AUTH=XOAUTH2 IDLE".into()),
            login_answer: Some("NO LOGIN failed.".into()),
            ..Faults::default()
        },
    )
    .await;
    let no_password = MailServer::start_tls(
        inbox(),
        Faults {
            capabilities: Some("IMAP4rev1 LOGINDISABLED AUTH=XOAUTH2".into()),
            ..Faults::default()
        },
        &leaf,
    )
    .await;
    let bare_lf = MailServer::start(
        inbox(),
        Faults {
            bare_lf: true,
            ..Faults::default()
        },
    )
    .await;
    let probe = |port: u16, security: Security, pin: Option<String>| async move {
        let req = ProbeRequest {
            host: "127.0.0.1".into(),
            port,
            security,
            login: fake_imap::PLAIN_USER.into(),
            ca_bundle: None,
            pinned_sha256: pin,
        };
        mailroom::imap::probe(&req, &Secret::new(fake_imap::PLAIN_PASS.into()), &quick()).await
    };

    let r = probe(microsoft.port(), Security::None, None).await;
    assert_eq!(r.category, Category::AuthOauthRequired, "{r:#?}");
    assert_eq!(r.category.as_str(), "auth_oauth_required");
    assert!(
        r.message.contains("Microsoft 365") && r.message.contains("OAuth2"),
        "{}",
        r.message
    );
    assert_eq!(r.server_response.as_deref(), Some("NO LOGIN failed."));

    let r = probe(no_password.port(), Security::Tls, Some(leaf.sha256.clone())).await;
    assert_eq!(r.category, Category::LoginDisabled, "{r:#?}");
    assert!(
        r.message.contains("no password login at all"),
        "{}",
        r.message
    );
    let hint = r.hint.clone().unwrap();
    assert!(!hint.contains("Turn on a secure connection"), "{hint}");
    assert!(hint.contains("OAuth2"), "{hint}");
    assert!(r.tls.is_some(), "the connection was encrypted");

    let r = probe(bare_lf.port(), Security::None, None).await;
    assert_eq!(r.category, Category::ProtocolError, "{r:#?}");
    assert!(r.message.contains("bare line feed"), "{}", r.message);
    in_words(&serde_json::to_string(&r).unwrap());
}

#[tokio::test]
async fn a_password_that_cannot_be_opened_is_a_failure_with_a_back_off() {
    let server = MailServer::start(inbox(), Faults::default()).await;
    let app = app().await;
    let cred = connect_fake(&app, server.port(), None).await;
    // Tamper with the sealed password (as a bad restore or a copied row would).
    let store = app.app.store();
    let mut sealed = store.get_credential(cred).await.unwrap().sealed_password;
    sealed.ciphertext[0] ^= 0x55;
    store
        .set_credential_password(
            cred,
            &sealed,
            mailroom::store::AuditEntry::new("test", "credential.password", "credential")
                .target(cred),
        )
        .await
        .unwrap();
    let failures = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("mailroom_poll_failures_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the failure counter")
    };
    let before = failures(&app.app.metrics().render());
    let err = app.app.poll_once(cred, |_, _| {}).await.unwrap_err();
    assert!(err.to_string().contains("cannot be opened"), "{err}");
    let h = health(&app, cred).await;
    assert_eq!(h["state"], "failing", "{h}");
    let last = h["last_error"].as_str().unwrap();
    assert!(
        last.contains("stored password") && last.contains("master key"),
        "{last}"
    );
    assert!(h["next_attempt_at"].is_string(), "a back-off is set: {h}");
    assert_eq!(failures(&app.app.metrics().render()), before + 1);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn connection_failures_count_as_failed_polls() {
    // Nothing listens on the port any more: the connection is refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = app().await;
    let cred = connect_fake(&app, port, None).await;
    let failures = || {
        app.app
            .metrics()
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("mailroom_poll_failures_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap()
    };
    let before = failures();
    let err = app.app.poll_once(cred, |_, _| {}).await.unwrap_err();
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert_eq!(failures(), before + 1);
    let h = health(&app, cred).await;
    assert_eq!(h["state"], "failing");
    assert!(h["next_attempt_at"].is_string());
}
