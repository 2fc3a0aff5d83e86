//! Processing against the test Dovecot: every email becomes exactly one case, whatever its
//! \Seen flag; first sight takes the unread ones; attachments survive byte for byte; a
//! UIDVALIDITY change creates no duplicates; malformed mail never sticks a mailbox; unmatched
//! mail goes to the exception log and Retry turns it into a case once an alias exists.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::dovecot::{Dovecot, PASSWORD, USER};
use crate::helpers::{Backend, TestApp};

/// Delivers one raw message into INBOX the Maildir way (write in tmp/, then rename), so a
/// running server never sees a half-written file (`seen` = already read by another client).
pub fn deliver(d: &Dovecot, name: &str, raw: &[u8], seen: bool) {
    let md = d.maildir();
    let owner = std::fs::metadata(d.dir.path()).unwrap();
    let own = |p: &std::path::Path| {
        std::os::unix::fs::chown(p, Some(owner.uid()), Some(owner.gid())).unwrap();
    };
    for sub in ["", "cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
        own(&md.join(sub));
    }
    let tmp = md.join("tmp").join(name);
    std::fs::File::create(&tmp).unwrap().write_all(raw).unwrap();
    own(&tmp);
    let dest = if seen {
        md.join("cur").join(format!("{name}:2,S"))
    } else {
        md.join("new").join(name)
    };
    std::fs::rename(&tmp, &dest).unwrap();
}

pub fn email(i: usize, to: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender {i} <sender{i}@client.example>\r\nTo: {to}\r\nSubject: Request {i}\r\nMessage-ID: <m{i}@client.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n{extra_headers}\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A credential for the test Dovecot (plain IMAP on loopback), a workspace, and a default alias
/// for the mailbox. Returns (credential id, workspace id, alias id).
pub async fn connect_mailbox(
    app: &TestApp,
    d: &Dovecot,
    with_alias: bool,
) -> (i64, i64, Option<i64>) {
    let c = app
        .create_credential(&json!({
            "mailbox": USER, "password": PASSWORD, "host": "127.0.0.1", "port": d.imap_port,
            "use_secure_connection": false, "configuration_name": "Dovecot", "description": "Test mailbox",
        }))
        .await;
    let cred = c["id"].as_i64().unwrap();
    let w = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await;
    assert_eq!(w.status, 201, "{}", w.text);
    let ws = w.body["id"].as_i64().unwrap();
    let alias = if with_alias {
        let a = app
            .post(
                &format!("/api/v1/credentials/{cred}/aliases"),
                &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1,
                        "reply_template_id": null, "field_mappings": {"category": "Payroll"}}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        Some(a.body["id"].as_i64().unwrap())
    } else {
        None
    };
    (cred, ws, alias)
}

async fn poll(app: &TestApp, cred: i64) -> Value {
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "poll: {}", r.text);
    r.body
}

async fn cases(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/cases?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_email_becomes_exactly_one_case_whatever_its_seen_flag() {
    exactly_one_case_per_email(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_email_becomes_exactly_one_case_on_postgres_too() {
    exactly_one_case_per_email(Backend::Postgres).await;
}

async fn exactly_one_case_per_email(backend: Backend) {
    let d = Dovecot::start();
    let app = TestApp::spawn_on(backend).await;
    // Mail already there and read before the mailbox was connected is left alone (the
    // original product processed unread mail on first sight).
    for i in 0..3 {
        deliver(
            &d,
            &format!("old{i}.mr"),
            &email(1000 + i, USER, "", "old"),
            true,
        );
    }
    deliver(
        &d,
        "old-unread.mr",
        &email(999, USER, "", "old but unread"),
        false,
    );
    let (cred, ws, alias) = connect_mailbox(&app, &d, true).await;
    let first = poll(&app, cred).await;
    assert_eq!(first["cases_created"], 1, "{first}");
    // 200 new emails, 50 of them already read in another client.
    for i in 0..200 {
        deliver(
            &d,
            &format!("new{i:03}.mr"),
            &email(i, USER, "", &format!("Body {i} WSID=999")),
            i % 4 == 0,
        );
    }
    let second = poll(&app, cred).await;
    assert_eq!(second["cases_created"], 200, "{second}");
    assert_eq!(second["fetched"], 200);
    assert_eq!(cases(&app).await.len(), 201);
    assert_eq!(
        d.seen_count(),
        204,
        "every processed email carries \\Seen; the old read ones kept theirs"
    );
    // A second poll creates nothing.
    let third = poll(&app, cred).await;
    assert_eq!(third["cases_created"], 0, "{third}");
    assert_eq!(cases(&app).await.len(), 201);

    let all = cases(&app).await;
    let c = all
        .iter()
        .find(|c| c["subject"] == "Request 7")
        .expect("case for email 7");
    assert_eq!(c["sender"], "sender7@client.example");
    assert_eq!(c["sender_name"], "Sender 7");
    assert_eq!(c["issue"], "Body 7 WSID=999");
    assert_eq!(c["workspace_id"], ws);
    assert_eq!(c["project_type_id"], 1);
    assert_eq!(c["alias_id"], alias.unwrap());
    assert_eq!(c["status"], "New");
    assert_eq!(c["priority"], "Medium");
    assert_eq!(c["communication_method"], "Email Integration");
    assert_eq!(c["fields"]["category"], "Payroll");
    assert_eq!(c["message_id"], "m7@client.example");
    assert_eq!(c["recipients"]["to"][0], USER);
    let health = app.get(&format!("/api/v1/credentials/{cred}")).await.body["health"].clone();
    assert_eq!(health["state"], "healthy");
    assert_eq!(
        health["backlog"], 0,
        "nothing left above the checkpoint: {health}"
    );
    assert!(health["last_success_at"].is_string());
}

#[tokio::test]
async fn attachments_are_stored_and_served_byte_for_byte() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let raw = format!(
        "From: ann@client.example\r\nTo: {USER}\r\nSubject: Payslip\r\nMessage-ID: <att@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
        wrapped.join("\r\n")
    );
    deliver(&d, "att.mr", raw.as_bytes(), false);
    assert_eq!(poll(&app, cred).await["cases_created"], 1);
    let listed = &cases(&app).await[0];
    assert_eq!(listed["attachment_count"], 1, "{listed}");
    let id = listed["id"].as_i64().unwrap();
    let case = app.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case.body["attachment_count"], 1);
    let att = &case.body["attachments"][0];
    assert_eq!(att["name"], "data.bin");
    assert_eq!(att["size"], 70_000);
    let bytes = app
        .client
        .get(format!(
            "{}/api/v1/cases/{id}/attachments/{}",
            app.base, att["id"]
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.bytes().await.unwrap().to_vec(), payload);
}

#[tokio::test]
async fn a_uidvalidity_change_creates_no_duplicates() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    for i in 0..5 {
        deliver(&d, &format!("u{i}.mr"), &email(i, USER, "", "x"), false);
    }
    assert_eq!(poll(&app, cred).await["cases_created"], 5);
    // The server renumbers the folder: a new UIDVALIDITY in Dovecot's UID list.
    let uidlist = d.maildir().join("dovecot-uidlist");
    let text = std::fs::read_to_string(&uidlist).unwrap();
    let old: u64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('V'))
        .unwrap()
        .parse()
        .unwrap();
    std::fs::write(
        &uidlist,
        text.replacen(&format!("V{old}"), &format!("V{}", old + 7), 1),
    )
    .unwrap();
    deliver(
        &d,
        "u-new.mr",
        &email(50, USER, "", "after renumbering"),
        false,
    );
    let r = poll(&app, cred).await;
    assert_eq!(r["uidvalidity_changed"], true, "{r}");
    assert_eq!(r["cases_created"], 1, "only the really new email: {r}");
    assert_eq!(cases(&app).await.len(), 6);
}

#[tokio::test]
async fn malformed_and_unusual_mail_never_sticks_the_mailbox() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("broken-boundary", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=NOPE\r\n\r\n--WRONG\r\nContent-Type: text/plain\r\n\r\ntext\r\n").into_bytes()),
        ("unknown-charset", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: charset\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\nhello\r\n").into_bytes()),
        ("8bit-headers", [b"From: J\xfcrgen <j@client.example>\r\nTo: ".as_slice(), USER.as_bytes(), b"\r\nSubject: Gr\xfc\xdfe\r\n\r\nbody\r\n"].concat()),
        ("no-message-id", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: no id\r\n\r\nno id\r\n").into_bytes()),
        ("no-text-part", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: image only\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n").into_bytes()),
        ("html-only", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: html\r\nContent-Type: text/html\r\n\r\n<html><body><p>Hello <b>HTML</b></p></body></html>\r\n").into_bytes()),
        ("nested-rfc822", format!("From: a@client.example\r\nTo: {USER}\r\nSubject: fwd\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@else.example\r\nSubject: inner\r\n\r\ninner body\r\n").into_bytes()),
        ("zero-bytes", Vec::new()),
        ("garbage", vec![0xff, 0xfe, 0x00, 0x01, 0x80, b'\r', b'\n']),
    ];
    for (name, raw) in &corpus {
        deliver(&d, name, raw, false);
    }
    let r = poll(&app, cred).await;
    let cases_n = r["cases_created"].as_u64().unwrap();
    let exceptions_n = r["exceptions"].as_u64().unwrap();
    assert_eq!(cases_n + exceptions_n, corpus.len() as u64, "{r}");
    assert!(cases_n >= 6, "most of the corpus becomes cases: {r}");
    let all = cases(&app).await;
    let html = all.iter().find(|c| c["subject"] == "html").unwrap();
    assert!(
        html["issue"].as_str().unwrap().contains("Hello HTML"),
        "{html}"
    );
    // The mailbox keeps going: a normal email after the corpus is processed.
    deliver(&d, "normal.mr", &email(1, USER, "", "fine"), false);
    assert_eq!(poll(&app, cred).await["cases_created"], 1);
}

#[tokio::test]
async fn unmatched_mail_is_logged_and_retry_makes_a_case_once_an_alias_exists() {
    unmatched_then_retry(Backend::Sqlite).await;
}

#[tokio::test]
async fn unmatched_mail_and_retry_on_postgres_too() {
    unmatched_then_retry(Backend::Postgres).await;
}

async fn unmatched_then_retry(backend: Backend) {
    let d = Dovecot::start();
    let app = TestApp::spawn_on(backend).await;
    let (cred, ws, _) = connect_mailbox(&app, &d, false).await;
    deliver(
        &d,
        "lost.mr",
        &email(1, "someone-else@example.com", "", "where do I go"),
        false,
    );
    let r = poll(&app, cred).await;
    assert_eq!(
        (r["cases_created"].as_u64(), r["exceptions"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    let ex = app.get("/api/v1/exceptions").await;
    let entry = ex.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "processing")
        .expect("a processing exception")
        .clone();
    assert_eq!(
        entry["message"],
        "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0"
    );
    assert_eq!(entry["details"]["subject"], "Request 1");
    assert_eq!(entry["details"]["message_id"], "m1@client.example");
    let id = entry["id"].as_i64().unwrap();
    // Retry before an alias exists: still unmatched, nothing created.
    let r = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // Add a default alias, retry: a case.
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1, "reply_template_id": null}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let r = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let case_id = r.body["case_id"].as_i64().unwrap();
    let case = app.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case.body["subject"], "Request 1");
    assert_eq!(case.body["workspace_id"], ws);
    // A second retry does not create a second case.
    let r = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(cases(&app).await.len(), 1);
}

/// Waits (generous deadline, functional check) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_the_service_running_new_mail_arrives_through_idle() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    let _workers = app.start_processing();
    eventually("the first poll", || async {
        app.get(&format!("/api/v1/credentials/{cred}")).await.body["health"]["state"] == "healthy"
    })
    .await;
    // No poll is triggered from here on: the worker sits in IDLE (poll interval 60 s).
    deliver(&d, "idle.mr", &email(42, USER, "", "pushed"), false);
    eventually("the case of the pushed email", || async {
        cases(&app)
            .await
            .iter()
            .any(|c| c["subject"] == "Request 42")
    })
    .await;
}

#[tokio::test]
async fn rejected_logins_back_off_then_pause_until_an_edit() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    d.set_password("the provider changed it");
    for attempt in 1..=3 {
        let r = app
            .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
            .await;
        assert_eq!(r.status, 502, "attempt {attempt}: {}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("login"),
            "{}",
            r.text
        );
        let h = app.get(&format!("/api/v1/credentials/{cred}")).await.body["health"].clone();
        if attempt < 3 {
            assert_eq!(h["state"], "failing", "{h}");
            assert!(
                h["next_attempt_at"].is_string(),
                "a back-off is scheduled: {h}"
            );
        } else {
            assert_eq!(h["state"], "paused_auth", "{h}");
            assert!(
                h["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("Paused after 3 rejected logins"),
                "{h}"
            );
        }
        assert!(h["failing_since"].is_string());
    }
    // The right password again, and an edit resumes processing.
    let r = app
        .post(
            &format!("/api/v1/credentials/{cred}/password"),
            &json!({"new_password": "the provider changed it", "confirm_password": "the provider changed it"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let h = &r.body["health"];
    assert_eq!(h["state"], "idle", "{h}");
    deliver(
        &d,
        "after.mr",
        &email(5, USER, "", "after the pause"),
        false,
    );
    let r = poll(&app, cred).await;
    assert_eq!(r["cases_created"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{cred}")).await.body["health"]["state"],
        "healthy"
    );
}

#[tokio::test]
async fn read_mail_arriving_after_an_empty_first_poll_is_processed() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    assert_eq!(poll(&app, cred).await["cases_created"], 0);
    deliver(
        &d,
        "read.mr",
        &email(1, USER, "", "read in Outlook first"),
        true,
    );
    assert_eq!(poll(&app, cred).await["cases_created"], 1);
    let metrics = app.anonymous("GET", "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains("mailroom_cases_created_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("mailroom_poll_duration_seconds_count")
    );
    assert!(metrics.text.contains("mailroom_backlog_messages"));
}

#[tokio::test]
async fn automatic_mail_and_floods_from_one_sender_are_marked_automatic() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let robot = format!(
        "From: out-of-office@client.example\r\nTo: {USER}\r\nSubject: Away\r\nMessage-ID: <ooo@client.example>\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n"
    );
    deliver(&d, "robot.mr", robot.as_bytes(), false);
    // 22 emails from one sender within the hour: the 21st and 22nd hit the rate limit.
    for i in 0..22 {
        let raw = format!(
            "From: Busy <busy@client.example>\r\nTo: {USER}\r\nSubject: Flood {i:02}\r\nMessage-ID: <flood{i}@client.example>\r\n\r\nmessage {i}\r\n"
        );
        deliver(&d, &format!("flood{i:02}.mr"), raw.as_bytes(), false);
    }
    assert_eq!(poll(&app, cred).await["cases_created"], 23);
    let all = cases(&app).await;
    let robot = all.iter().find(|c| c["subject"] == "Away").unwrap();
    assert!(
        robot["automatic"]
            .as_str()
            .unwrap()
            .contains("Auto-Submitted"),
        "{robot}"
    );
    let flood: Vec<&Value> = all
        .iter()
        .filter(|c| c["sender"] == "busy@client.example")
        .collect();
    let limited = flood
        .iter()
        .filter(|c| {
            c["automatic"]
                .as_str()
                .is_some_and(|a| a.contains("rate limit"))
        })
        .count();
    assert_eq!(limited, 2, "only the emails beyond the limit are marked");
}

#[tokio::test]
async fn oversized_mail_goes_to_the_exception_log_and_stays_unread() {
    let d = Dovecot::start();
    let limit = 20_000;
    let opts = mailroom::app::processing::ProcessingOptions {
        max_message_bytes: limit,
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::from_env(), opts).await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    let big = |i| email(i, USER, "", &"Scanned pages. ".repeat(2_000));
    deliver(&d, "1.small", &email(1, USER, "", "Hello"), false);
    deliver(&d, "2.big", &big(2), false);
    deliver(&d, "3.small", &email(3, USER, "", "Hello again"), false);

    let report = poll(&app, cred).await;
    assert_eq!(report["cases_created"], 2, "{report}");
    assert_eq!(report["too_large"], 1, "{report}");
    assert_eq!(report["exceptions"], 1, "{report}");
    assert_eq!(d.seen_count(), 2, "the oversized email is left unread");
    let oversized = |app_exceptions: &Value| -> Vec<Value> {
        app_exceptions["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .unwrap()
                    .contains("more than the limit")
            })
            .cloned()
            .collect()
    };
    let ex = app.get("/api/v1/exceptions").await;
    let found = oversized(&ex.body);
    assert_eq!(found.len(), 1, "{}", ex.text);
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("limit of {limit} bytes")) && message.contains("left untouched"),
        "{message}"
    );
    assert!(found[0]["details"]["size"].as_u64().unwrap() > limit);

    // Polling again logs nothing twice; new mail after the checkpoint is sized the same way.
    deliver(&d, "4.big", &big(4), false);
    deliver(&d, "5.small", &email(5, USER, "", "Third"), false);
    let report = poll(&app, cred).await;
    assert_eq!(report["cases_created"], 1, "{report}");
    assert_eq!(report["too_large"], 1, "{report}");
    assert_eq!(
        oversized(&app.get("/api/v1/exceptions").await.body).len(),
        2
    );
    assert_eq!(d.seen_count(), 3);
    assert_eq!(cases(&app).await.len(), 3);
}

/// Runs the CLI and returns its standard output, failing with its error output.
fn cli_ok(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    crate::helpers::cli_stdout(&crate::helpers::run_cli(data, args, stdin))
}

#[test]
fn the_cli_polls_lists_and_shows_cases_and_retries_exceptions() {
    let d = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let json = |s: String| -> Value { serde_json::from_str(&s).unwrap() };
    let port = d.imap_port.to_string();
    let cred = crate::helpers::cli_add_dovecot_credential(
        &data,
        &port,
        &[
            "--security",
            "none",
            "--configuration-name",
            "Dovecot",
            "--description",
            "Test",
        ],
    );
    let ws = json(cli_ok(
        &data,
        &["workspace", "add", "--name", "Payroll", "--json"],
        None,
    ))["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let attached = format!(
        "From: ann@client.example\r\nTo: {USER}\r\nSubject: Payslip\r\nMessage-ID: <cli-att@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"slip.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--XX--\r\n"
    );
    deliver(
        &d,
        "1.cli",
        &email(1, USER, "", "Where is my payslip?"),
        false,
    );
    deliver(&d, "2.cli", attached.as_bytes(), false);

    // No alias yet: both emails go to the exception log.
    let report = json(cli_ok(
        &data,
        &["credential", "poll", &cred, "--json"],
        None,
    ));
    assert_eq!(report["exceptions"], 2, "{report}");
    assert_eq!(report["cases_created"], 0, "{report}");
    let exceptions = json(cli_ok(&data, &["exception", "list", "--json"], None));
    let ids: Vec<String> = exceptions
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "processing")
        .map(|e| e["id"].as_i64().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{exceptions}");

    // With a default alias, Retry turns each into a case.
    cli_ok(
        &data,
        &[
            "alias",
            "add",
            "--credential",
            &cred,
            "--email-alias",
            USER,
            "--is-default",
            "--workspace",
            &ws,
            "--json",
        ],
        None,
    );
    for id in &ids {
        let out = cli_ok(&data, &["exception", "retry", id], None);
        assert!(out.contains("case"), "{out}");
    }
    let cases = json(cli_ok(&data, &["case", "list", "--json"], None));
    assert_eq!(cases.as_array().unwrap().len(), 2, "{cases}");
    let with_att = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Payslip")
        .unwrap();
    assert_eq!(with_att["attachment_count"], 1);
    let table = cli_ok(&data, &["case", "list"], None);
    assert!(
        table.starts_with("ID") && table.contains("ATTACHMENTS") && table.contains("Request 1"),
        "{table}"
    );
    let id = with_att["id"].as_i64().unwrap().to_string();
    let shown = cli_ok(&data, &["case", "show", &id], None);
    assert!(
        shown.contains("Subject:   Payslip")
            && shown.contains("slip.pdf")
            && shown.contains("See attached."),
        "{shown}"
    );

    // A new email after the checkpoint: the poll makes the case directly.
    deliver(&d, "3.cli", &email(3, USER, "", "Thanks"), false);
    let report = json(cli_ok(
        &data,
        &["credential", "poll", &cred, "--json"],
        None,
    ));
    assert_eq!(report["cases_created"], 1, "{report}");
    assert_eq!(d.seen_count(), 3);
}

#[tokio::test]
async fn the_backlog_gauge_counts_down_while_a_poll_commits_its_batches() {
    let d = Dovecot::start();
    let opts = mailroom::app::processing::ProcessingOptions {
        batch_size: 100,
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::from_env(), opts).await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    for i in 0..250 {
        deliver(
            &d,
            &format!("{i}.backlog"),
            &email(i, USER, "", "Hello"),
            false,
        );
    }
    let mut seen = Vec::new();
    let report = app
        .app
        .poll_once(cred, |done, total| {
            seen.push((done, total, app.app.metrics().backlog(cred)));
        })
        .await
        .expect("poll");
    assert_eq!(report.cases_created, 250);
    // One observation per committed batch of 100; the gauge shows what is left.
    assert_eq!(
        seen,
        vec![
            (100, 250, Some(150)),
            (200, 250, Some(50)),
            (250, 250, Some(0))
        ]
    );
    let metrics = app.get("/metrics").await;
    assert!(
        metrics.text.contains(&format!(
            "mailroom_backlog_messages{{credential_id=\"{cred}\"}} 0"
        )),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("mailroom_cases_created_total 250"));
}
