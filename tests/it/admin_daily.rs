//! The admin pages as an administrator uses them every day, over plain HTTP: the exception log
//! with Retry and the cases it makes (attachment downloads), the last test and a credential's
//! health in words with what to do, and Enter in a credential field saving.

use serde_json::json;

use crate::admin_http::admin_app;
use crate::admin_pages::{Admin, element_text, workspace};
use crate::dovecot::{Dovecot, USER};
use crate::helpers::valid_credential;
use crate::processing::{connect_mailbox, deliver, email};

/// A credential for the fixture's Dovecot account, with the password that works today.
async fn payroll_on(app: &crate::helpers::TestApp, d: &Dovecot) -> i64 {
    let form = crate::connection_test::form(
        d,
        json!({"configuration_name": "Payroll", "description": "Payroll inbox"}),
    );
    app.create_credential(&form).await["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_last_test_is_shown_in_words_not_as_a_code() {
    let d = Dovecot::start();
    let (app, client) = admin_app().await;
    let id = payroll_on(&app, &d).await;
    let path = format!("/api/v1/credentials/{id}/connection-tests");
    let admin = Admin::new(&app, client).await;

    // The password changes on the server: the stored one is now wrong.
    d.set_password("another password entirely");
    let r = app.post(&path, &json!({})).await;
    assert_eq!(r.body["category"], "auth_failed", "{}", r.text);
    for page in [
        "/admin/email-integration".to_string(),
        format!("/admin/email-integration/{id}"),
    ] {
        let html = admin.open(&page).await;
        assert!(
            html.contains("Wrong username or password"),
            "{page}: {html}"
        );
        assert!(!html.contains("auth_failed"), "{page} shows the code");
    }

    d.set_password(crate::dovecot::PASSWORD);
    let r = app.post(&path, &json!({})).await;
    assert_eq!(r.body["category"], "ok", "{}", r.text);
    let html = admin.open(&format!("/admin/email-integration/{id}")).await;
    assert!(html.contains("Connected"), "{html}");
    assert!(!html.contains("Last test</dt><dd>never"), "{html}");
}

#[tokio::test]
async fn enter_in_a_credential_field_saves_rather_than_tests() {
    // A browser submits a form on Enter through its first submit button.
    let (app, client) = admin_app().await;
    let cred = app.create_credential(&valid_credential(1)).await["id"]
        .as_i64()
        .unwrap();
    let admin = Admin::new(&app, client).await;
    for page in [
        "/admin/email-integration/new".to_string(),
        format!("/admin/email-integration/{cred}"),
    ] {
        let html = admin.open(&page).await;
        let form = &html[html.find("id=\"credential-form\"").expect("the form")..];
        let form = &form[..form.find("</form>").unwrap()];
        let first = &form[form.find("type=\"submit\"").expect("a submit button")..];
        let first = &first[..first.find('>').unwrap()];
        assert!(
            first.contains("id=\"save\""),
            "{page}: first submit is {first}"
        );
    }
}

#[tokio::test]
async fn a_failing_credential_says_why_and_what_to_do() {
    let d = Dovecot::start();
    let (app, client) = admin_app().await;
    let id = payroll_on(&app, &d).await;
    let admin = Admin::new(&app, client).await;
    let page = format!("/admin/email-integration/{id}");
    let html = admin.open(&page).await;
    assert!(html.contains("Not polled yet"), "idle is explained: {html}");

    // The password changes on the server; the next poll fails with the server's refusal.
    d.set_password("another password entirely");
    let r = app
        .post(&format!("/api/v1/credentials/{id}/poll"), &json!({}))
        .await;
    assert_ne!(r.status, 200, "{}", r.text);
    let health = app.get(&format!("/api/v1/credentials/{id}")).await.body["health"].clone();
    assert_eq!(health["state"], "failing", "{health}");
    let error = health["last_error"].as_str().unwrap().to_string();

    let html = admin.open(&page).await;
    assert!(html.contains(">Failing</span>"), "{html}");
    assert!(html.contains("Change"), "says what to do: {html}");
    assert!(html.contains(&format!("Last error: {error}")), "{html}");
    assert!(html.contains("Failing since"), "{html}");
    let list = admin.open("/admin/email-integration").await;
    assert!(
        list.contains(">Failing</span>") && list.contains(&error),
        "{list}"
    );
}

/// An email with one attachment, to `to`.
fn email_with_attachment(to: &str) -> Vec<u8> {
    format!(
        "From: Pat <pat@client.example>\r\nTo: {to}\r\nSubject: Payslip query\r\nMessage-ID: <att1@client.example>\r\n\
         Date: Mon, 2 Nov 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy payslip is attached.\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"payslip.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"payslip.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQgcGF5c2xpcA==\r\n--b1--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn retry_on_the_exception_log_turns_unmatched_mail_into_a_case() {
    let d = Dovecot::start();
    let (app, client) = admin_app().await;
    let (cred, ws, _) = connect_mailbox(&app, &d, false).await;
    deliver(
        &d,
        "lost.mr",
        &email(1, "someone-else@example.com", "", "where do I go"),
        false,
    );
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["exceptions"], 1, "{}", r.text);
    let admin = Admin::new(&app, client).await;

    // The log shows the entry with its email's details and a Retry button.
    let html = admin.open("/admin/exceptions").await;
    let at = html.find("<tr id=\"exception-").expect("an entry");
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    for needle in [
        "Dovecot",
        "processing",
        "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0",
        "m1@client.example",
        "sender1@client.example",
        "someone-else@example.com",
        "Request 1",
        "<dt>UID</dt>",
        ">Retry</button>",
    ] {
        assert!(row.contains(needle), "row lacks {needle}: {row}");
    }
    let id: i64 = row["<tr id=\"exception-".len()..]
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let retry = format!("/admin/exceptions/{id}/retry");

    // Retry while nothing matches: still unmatched, said so, nothing created.
    let p = admin.post(&retry, "/admin/exceptions", &[]).await;
    assert_eq!(p.status, 409);
    let outcome = element_text(&p.html, "retry-outcome").unwrap();
    assert!(
        outcome.contains("was not turned into a case") && outcome.contains("matches no alias"),
        "{outcome}"
    );
    assert_eq!(app.get("/api/v1/cases").await.body["items"], json!([]));

    // The entry says, in words, that no alias matched its recipients, and offers one for the
    // first: the New alias form with that address filled in.
    assert!(
        row.contains("No alias of this mailbox matches someone-else@example.com"),
        "{row}"
    );
    let offer = format!(
        "href=\"/admin/email-integration/{cred}/aliases/new?email_alias=someone-else%40example.com\""
    );
    assert!(row.contains(&offer), "{row}");
    let form = admin
        .open(&format!(
            "/admin/email-integration/{cred}/aliases/new?email_alias=someone-else%40example.com"
        ))
        .await;
    assert!(
        form.contains("value=\"someone-else@example.com\""),
        "the form proposes the address: {form}"
    );

    // Add the default alias through the form, retry: a case, and the outcome says which.
    let new = format!("/admin/email-integration/{cred}/aliases/new");
    let p = admin
        .post(
            &new,
            &new,
            &[
                ("email_alias", USER),
                ("is_default", "on"),
                ("workspace_id", &ws.to_string()),
                ("project_type_id", "1"),
                ("include_attachments", "on"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    let p = admin.post(&retry, "/admin/exceptions", &[]).await;
    let html = admin.follow(&p).await;
    let cases = app.get("/api/v1/cases").await.body["items"].clone();
    let case_id = cases[0]["id"].as_i64().expect("a case");
    let outcome = element_text(&html, "retry-outcome").unwrap();
    assert!(
        outcome.contains(&format!("Exception {id} retried")),
        "{outcome}"
    );
    assert!(html.contains(&format!("case #{case_id}</a> created")));
    let at = html.find(&format!("<tr id=\"exception-{id}\"")).unwrap();
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    assert!(
        row.contains("retried") && !row.contains(">Retry</button>"),
        "{row}"
    );

    // Cases: listed, filtered, details with the issue text.
    let list = admin.open("/admin/cases").await;
    assert!(list.contains("Request 1") && list.contains("Payroll"));
    let filtered = admin
        .open(&format!(
            "/admin/cases?credential_id={cred}&workspace_id={ws}"
        ))
        .await;
    assert!(filtered.contains("Request 1"));
    let other_ws = workspace(&app, "Elsewhere").await;
    let filtered = admin
        .open(&format!("/admin/cases?workspace_id={other_ws}"))
        .await;
    assert!(filtered.contains("No cases.") && !filtered.contains("Request 1"));
    let case = admin.open(&format!("/admin/cases/{case_id}")).await;
    assert!(case.contains("Request 1") && case.contains("where do I go"));
    assert!(case.contains("sender1@client.example"));

    // A new email with an attachment: the case page links to a download behind the session.
    deliver(&d, "att.mr", &email_with_attachment(USER), false);
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["cases_created"], 1, "{}", r.text);
    let cases = app.get("/api/v1/cases").await.body["items"].clone();
    let with_att = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Payslip query")
        .unwrap()
        .clone();
    let case_id = with_att["id"].as_i64().unwrap();
    assert_eq!(with_att["attachment_count"], 1);
    let list = admin.open("/admin/cases").await;
    let at = list.find(&format!("<tr data-id=\"{case_id}\"")).unwrap();
    let row = &list[at..at + list[at..].find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"attachments\">1</td>"), "{row}");
    let att_id = app.get(&format!("/api/v1/cases/{case_id}")).await.body["attachments"][0]["id"]
        .as_i64()
        .expect("the case has the attachment");
    let html = admin.open(&format!("/admin/cases/{case_id}")).await;
    let link = format!("/admin/cases/{case_id}/attachments/{att_id}");
    assert!(html.contains(&format!("href=\"{link}\"")) && html.contains("payslip.pdf"));
    let r = admin
        .client
        .get(format!("{}{}", app.base, link))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("payslip.pdf")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 payslip");
    let r = admin
        .client
        .get(format!("{}{}", app.base, link))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "no download without a session");
}
