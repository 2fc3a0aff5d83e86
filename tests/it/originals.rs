//! The original of every case: kept once per content hash, served byte for byte by the API and
//! the admin case page ("Download original", "Show source"), a case re-parsed from it by the
//! CLI, pruned by the retention setting; an Outlook `.msg` in the mailbox is "not an email".

use mailroom::app::processing::ProcessingOptions;
use mailroom::store::{AuditEntry, CaseContent};
use serde_json::{Value, json};

use crate::admin_http::{admin_app, sign_in};
use crate::dovecot::{Dovecot, PASSWORD, USER};
use crate::helpers::{Backend, TestApp, cli_stdout};
use crate::mime_corpus::original_of;
use crate::processing::{connect_mailbox, deliver, email};

async fn poll(app: &TestApp, cred: i64) -> mailroom::app::processing::PollReport {
    app.app.poll_once(cred, |_, _| {}).await.expect("poll")
}

async fn only_case(app: &TestApp) -> Value {
    let r = app.get("/api/v1/cases").await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    let id = items[0]["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/cases/{id}")).await.body
}

/// An email with four inline text parts and a PDF.
fn four_parts(i: usize) -> Vec<u8> {
    format!(
        "From: Ann <ann@client.example>\r\nTo: {USER}\r\nSubject: Four parts {i}\r\nMessage-ID: <four{i}@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPart one.\r\n--b\r\nContent-Type: text/plain\r\n\r\nPart two.\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b\r\nContent-Type: text/plain\r\n\r\nPart three.\r\n--b\r\nContent-Type: text/plain\r\n\r\nPart four.\r\n--b--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn an_outlook_msg_in_the_mailbox_is_logged_as_not_an_email() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    // An OLE compound file (how an Outlook .msg begins), then binary content.
    let mut msg = vec![0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
    msg.extend((0..30_000u32).map(|i| (i.wrapping_mul(7919) % 253 + 1) as u8));
    deliver(&d, "outlook.msg", &msg, false);
    let r = poll(&app, cred).await;
    assert_eq!((r.cases_created, r.exceptions), (0, 1), "{r:?}");
    let ex = app.get("/api/v1/exceptions").await;
    let entry = ex.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "processing")
        .expect("a processing exception")
        .clone();
    let message = entry["message"].as_str().unwrap();
    assert!(message.contains("not an email"), "{message}");
    // It kept the bytes; a Retry says the same in words.
    let id = entry["id"].as_i64().unwrap();
    let retry = app
        .post(&format!("/api/v1/exceptions/{id}/retry"), &json!({}))
        .await;
    assert_eq!(retry.status, 409, "{}", retry.text);
    assert!(retry.text.contains("not an email"), "{}", retry.text);
}

#[tokio::test]
async fn two_cases_with_identical_bytes_share_one_stored_original() {
    let (d1, d2) = (Dovecot::start(), Dovecot::start());
    let app = TestApp::spawn().await;
    let (cred1, ws, _) = connect_mailbox(&app, &d1, true).await;
    // A second mailbox with the same login on another server, with its own default alias.
    let c2 = app
        .create_credential(&json!({
            "mailbox": "copy@example.com", "username": USER, "password": PASSWORD,
            "host": "127.0.0.1", "port": d2.imap_port, "use_secure_connection": false,
            "configuration_name": "Copy", "description": "Second mailbox",
        }))
        .await;
    let cred2 = c2["id"].as_i64().unwrap();
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred2}/aliases"),
            &json!({"email_alias": "copy@example.com", "is_default": true, "workspace_id": ws,
                    "project_type_id": 1, "reply_template_id": null}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    poll(&app, cred1).await;
    poll(&app, cred2).await;
    let raw = four_parts(1);
    deliver(&d1, "same.mr", &raw, false);
    deliver(&d2, "same.mr", &raw, false);
    assert_eq!(poll(&app, cred1).await.cases_created, 1);
    assert_eq!(poll(&app, cred2).await.cases_created, 1);
    let list = app.get("/api/v1/cases").await.body["items"].clone();
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 2);
    let hashes: Vec<&str> = items
        .iter()
        .map(|c| c["original_sha256"].as_str().expect("kept"))
        .collect();
    assert_eq!(hashes[0], hashes[1]);
    for c in items {
        let (status, _, bytes) = original_of(&app, c["id"].as_i64().unwrap()).await;
        assert_eq!(status, 200);
        assert!(bytes == raw);
    }
    let stats = app.app.original_stats().await.unwrap();
    assert_eq!(stats.originals, 1, "{stats:?}");
    assert_eq!(stats.cases_with_original, 2);
    assert_eq!(stats.bytes, raw.len() as i64);
    assert!(stats.stored_bytes > 0 && stats.stored_bytes <= stats.bytes);
}

#[tokio::test]
async fn the_admin_case_page_offers_the_original_and_its_source() {
    let (app, client) = admin_app().await;
    let d = Dovecot::start();
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let raw = [
        email(
            5,
            USER,
            "Content-Type: text/plain; charset=iso-8859-1\r\n",
            "Hello <script>alert(1)</script> & goodbye",
        ),
        b"Gr\xfc\xdfe\r\n".to_vec(),
    ]
    .concat();
    deliver(&d, "admin.mr", &raw, false);
    poll(&app, cred).await;
    let id = only_case(&app).await["id"].as_i64().unwrap();
    let cookie = sign_in(&app, &client).await;
    let get = |path: String| {
        client
            .get(format!("{}{path}", app.base))
            .header("cookie", &cookie)
            .send()
    };
    let page = get(format!("/admin/cases/{id}")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("href=\"/admin/cases/{id}/original\" download"))
            && html.contains("Download original"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/admin/cases/{id}/source\""))
            && html.contains("Show source"),
        "{html}"
    );
    let original = get(format!("/admin/cases/{id}/original")).await.unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(original.headers()["content-type"], "message/rfc822");
    assert!(
        original.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(original.bytes().await.unwrap().to_vec() == raw);
    let source = get(format!("/admin/cases/{id}/source")).await.unwrap();
    assert_eq!(source.status(), 200);
    let source = source.text().await.unwrap();
    // Shown as text, escaped (askama writes &#60; for <).
    assert!(
        source.contains("Hello &#60;script&#62;alert(1)&#60;/script&#62; &#38; goodbye"),
        "{source}"
    );
    assert!(!source.contains("<script>alert"));
    assert!(source.contains("Message-ID: &#60;m5@client.example&#62;"));
    assert!(
        source.contains("not UTF-8"),
        "the page says it shows a lossy form"
    );
    // Without a session, neither is served.
    let anonymous = client
        .get(format!("{}/admin/cases/{id}/original", app.base))
        .send()
        .await
        .unwrap();
    assert_ne!(anonymous.status(), 200);
    // A very large original is shown in part, and downloaded whole.
    let big = email(
        6,
        USER,
        "",
        &"A long line of a very long email.\r\n".repeat(70_000),
    );
    deliver(&d, "big.mr", &big, false);
    poll(&app, cred).await;
    let big_id = id + 1;
    let page = get(format!("/admin/cases/{big_id}/source")).await.unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Only its first 2,000,000 bytes are shown"),
        "{}",
        &page[..500]
    );
    assert!(page.len() < 2_100_000, "{}", page.len());
    let whole = get(format!("/admin/cases/{big_id}/original"))
        .await
        .unwrap();
    assert!(whole.bytes().await.unwrap().to_vec() == big);
    assert!(!source.contains("Only its first"));
    // Once pruned, the page says so and offers neither.
    app.app.prune_originals(Some(0)).await.unwrap();
    let html = get(format!("/admin/cases/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"no-original\"") && !html.contains("Show source"),
        "{html}"
    );
    let gone = get(format!("/admin/cases/{id}/original")).await.unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn the_cli_reparses_cases_from_their_originals() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let raw = four_parts(2);
    deliver(&d, "four.mr", &raw, false);
    poll(&app, cred).await;
    let case = only_case(&app).await;
    let id = case["id"].as_i64().unwrap();
    let full = case["issue"].as_str().unwrap().to_string();
    for part in ["Part one.", "Part two.", "Part three.", "Part four."] {
        assert!(full.contains(part), "{full}");
    }
    assert_eq!(case["attachment_count"], 1);
    // What an older parser stored: the first text part only, no attachment.
    let old = CaseContent {
        subject: case["subject"].as_str().unwrap().into(),
        issue: "Part one.".into(),
        issue_html: None,
        sender: Some("ann@client.example".into()),
        sender_name: Some("Ann".into()),
        recipients: case["recipients"].clone(),
        sent_at: None,
        attachments: Vec::new(),
    };
    app.app
        .store()
        .replace_case_content(
            id,
            &old,
            &AuditEntry::new("test", "case.old_parser", "case"),
        )
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}")).await.body["attachment_count"],
        0
    );

    let out = cli_stdout(&app.cli(&["case", "reparse", &id.to_string()], None));
    assert!(
        out.contains(&format!("Case {id}: re-parsed; 1 attachments (was 0)")),
        "{out}"
    );
    let after = app.get(&format!("/api/v1/cases/{id}")).await.body;
    assert_eq!(after["issue"], full.as_str());
    assert_eq!(after["attachments"][0]["name"], "a.pdf");
    assert_eq!(after["subject"], case["subject"]);
    // A second run over every case changes nothing.
    let out = cli_stdout(&app.cli(&["case", "reparse", "--all", "--json"], None));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["cases"], 1, "{report}");
    assert_eq!(report["changed"], json!([]), "{report}");
    // The re-parse is in the audit log.
    let audit = app.app.list_audit(50, None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "case.reparse" && e.target_id == Some(id)),
        "{audit:?}"
    );
    // The original, byte for byte, from the CLI too; and what the originals take.
    let file = app.data_dir.path().join("case.eml");
    cli_stdout(&app.cli(
        &[
            "case",
            "original",
            &id.to_string(),
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    ));
    assert!(std::fs::read(&file).unwrap() == raw);
    let out = cli_stdout(&app.cli(&["case", "originals", "--json"], None));
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (stats["originals"].as_i64(), stats["bytes"].as_i64()),
        (Some(1), Some(raw.len() as i64))
    );
    // No id and no --all is a usage error.
    assert!(!app.cli(&["case", "reparse"], None).status.success());
}

#[tokio::test]
async fn retention_prunes_originals_and_zero_days_keeps_none() {
    // MAILROOM_KEEP_ORIGINALS_DAYS=0: no original is kept at all.
    let d = Dovecot::start();
    let opts = ProcessingOptions {
        keep_originals_days: Some(0),
        ..ProcessingOptions::default()
    };
    let app = TestApp::spawn_with(Backend::from_env(), opts).await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    deliver(&d, "none.mr", &email(1, USER, "", "not kept"), false);
    assert_eq!(poll(&app, cred).await.cases_created, 1);
    let case = only_case(&app).await;
    assert_eq!(case["original_sha256"], Value::Null);
    let r = app
        .get(&format!("/api/v1/cases/{}/original", case["id"]))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        r.text.contains("Original email of this case not found"),
        "{}",
        r.text
    );
    drop(app);

    // The default keeps them; a retention applied later lets old cases go of theirs.
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    poll(&app, cred).await;
    let raw = email(2, USER, "", "kept");
    deliver(&d, "kept.mr", &raw, false);
    poll(&app, cred).await;
    let id = only_case(&app).await["id"].as_i64().unwrap();
    let out = cli_stdout(&app.cli(&["case", "prune-originals", "--keep-days", "30"], None));
    assert!(
        out.contains("0 cases let go of theirs, 0 originals deleted"),
        "{out}"
    );
    assert!(original_of(&app, id).await.2 == raw);
    let out = cli_stdout(&app.cli(&["case", "prune-originals", "--keep-days", "0"], None));
    assert!(
        out.contains("1 cases let go of theirs, 1 originals deleted"),
        "{out}"
    );
    assert_eq!(original_of(&app, id).await.0, 404);
    let stats = app.app.original_stats().await.unwrap();
    assert_eq!((stats.originals, stats.cases_without_original), (0, 1));
    // Re-parsing a case without its original is refused in words.
    let out = app.cli(&["case", "reparse", &id.to_string()], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no kept original"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_retried_exception_keeps_its_original_in_the_case() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, ws, _) = connect_mailbox(&app, &d, false).await;
    let raw = email(3, "someone-else@example.com", "", "where do I go");
    deliver(&d, "lost.mr", &raw, false);
    assert_eq!(poll(&app, cred).await.exceptions, 1);
    let ex = app.get("/api/v1/exceptions").await.body["items"][0]["id"].clone();
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1, "reply_template_id": null}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let r = app
        .post(&format!("/api/v1/exceptions/{ex}/retry"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, ctype, bytes) = original_of(&app, r.body["case_id"].as_i64().unwrap()).await;
    assert_eq!((status, ctype.as_str()), (200, "message/rfc822"));
    assert!(bytes == raw);
}
