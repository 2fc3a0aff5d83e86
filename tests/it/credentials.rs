//! Credentials through the API (SPEC §1.1, §1.2): every validation rule, uniqueness, defaults,
//! edits, Change Password and the audit log, on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, valid_credential, with};

/// Runs one scenario on both backends as two tests.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(crate::helpers::Backend::Postgres).await })*
        }
    };
}

on_both_backends!(
    create_applies_defaults_and_hides_the_password,
    every_rule_names_its_field_and_rule,
    mailbox_and_name_are_unique_case_insensitively,
    an_edit_that_changes_where_the_password_goes_needs_the_password,
    change_password_requires_matching_values,
    delete_removes_the_credential,
    audit_log_records_every_change,
);

async fn create_applies_defaults_and_hides_the_password(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let c = app.create_credential(&valid_credential(1)).await;
    assert_eq!(c["port"], 993);
    assert_eq!(c["use_secure_connection"], true);
    assert_eq!(c["security"], "tls");
    assert_eq!(c["has_password"], true);
    assert_eq!(c["enabled"], true);
    assert!(c.get("password").is_none());
    assert!(!c.to_string().contains("Correct horse"));
    let id = c["id"].as_i64().unwrap();
    let got = app.get(&format!("/api/v1/credentials/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["mailbox"], "payroll1@example.com");
    assert_eq!(got.body["login_name"], "payroll1@example.com");
    let list = app.get("/api/v1/credentials").await;
    assert_eq!(list.body["items"][0]["id"], id);

    // Security off: saved, with a clear-text warning.
    let plain = app
        .create_credential(&with(
            valid_credential(2),
            json!({"use_secure_connection": false, "port": 143}),
        ))
        .await;
    assert_eq!(plain["security"], "none");
    assert!(
        plain["warnings"][0]
            .as_str()
            .unwrap()
            .contains("clear text")
    );
    // STARTTLS as the advanced choice.
    let st = app
        .create_credential(&with(
            valid_credential(3),
            json!({"security": "starttls", "port": 143}),
        ))
        .await;
    assert_eq!(
        (
            st["security"].as_str(),
            st["use_secure_connection"].as_bool()
        ),
        (Some("starttls"), Some(true))
    );
    // Password with every kind of character, kept exactly (not trimmed, case kept).
    let odd = " Pä$$ wörd\t\"'\\ ";
    let c4 = app
        .create_credential(&with(valid_credential(4), json!({"password": odd})))
        .await;
    let opened = app
        .app
        .credential_password(c4["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(opened.expose(), odd);
}

/// (overrides, field, rule)
fn rule_cases() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (json!({"mailbox": null}), "mailbox", "required"),
        (json!({"mailbox": "  "}), "mailbox", "required"),
        (json!({"mailbox": "payroll"}), "mailbox", "invalid_email"),
        (
            json!({"mailbox": "Pay Roll <payroll@example.com>"}),
            "mailbox",
            "invalid_email",
        ),
        (
            json!({"mailbox": "pay roll@example.com"}),
            "mailbox",
            "invalid_email",
        ),
        (
            json!({"mailbox": "payroll@localhost"}),
            "mailbox",
            "invalid_email",
        ),
        (json!({"password": null}), "password", "required"),
        (json!({"password": ""}), "password", "required"),
        (
            json!({"password": "p".repeat(1025)}),
            "password",
            "too_long",
        ),
        (json!({"host": null}), "host", "required"),
        (
            json!({"host": "imaps://imap.example.com:993/"}),
            "host",
            "host_only",
        ),
        (json!({"host": "imap.example.com:993"}), "host", "host_only"),
        (
            json!({"host": "imap example com"}),
            "host",
            "invalid_format",
        ),
        (json!({"host": "bad_host!.com"}), "host", "invalid_format"),
        (json!({"port": 0}), "port", "out_of_range"),
        (json!({"port": 65536}), "port", "out_of_range"),
        (json!({"port": -1}), "port", "out_of_range"),
        (json!({"security": "ssl"}), "security", "invalid_choice"),
        (
            json!({"use_secure_connection": false, "security": "tls"}),
            "use_secure_connection",
            "conflict",
        ),
        (
            json!({"configuration_name": null}),
            "configuration_name",
            "required",
        ),
        (
            json!({"configuration_name": ""}),
            "configuration_name",
            "required",
        ),
        (
            json!({"configuration_name": "n".repeat(101)}),
            "configuration_name",
            "too_long",
        ),
        (json!({"description": null}), "description", "required"),
        (
            json!({"description": "d".repeat(1001)}),
            "description",
            "too_long",
        ),
        (
            json!({"ca_bundle": "not a certificate"}),
            "ca_bundle",
            "invalid_format",
        ),
        (
            json!({"pinned_sha256": "abc"}),
            "pinned_sha256",
            "invalid_format",
        ),
    ]
}

async fn every_rule_names_its_field_and_rule(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    for (overrides, field, rule) in rule_cases() {
        let r = app
            .post(
                "/api/v1/credentials",
                &with(valid_credential(1), overrides.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{overrides}: {}", r.text);
        assert_eq!(r.error_code(), "validation_failed");
        assert!(
            r.rules().contains(&(field.to_string(), rule.to_string())),
            "{overrides}: expected {field}/{rule}, got {:?}",
            r.rules()
        );
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // Limits are inclusive: exactly at the limit is fine.
    let at_limits = with(
        valid_credential(9),
        json!({"password": "p".repeat(1024), "configuration_name": "n".repeat(100),
               "description": "d".repeat(1000), "port": 65535,
               "host": "2001:db8::1", "mailbox": "jürgen@bücher.example",
               "pinned_sha256": "AB:".repeat(31) + "AB"}),
    );
    let c = app.create_credential(&at_limits).await;
    assert_eq!(c["pinned_sha256"], "ab".repeat(32));
    // Every broken rule is reported at once.
    let r = app.post("/api/v1/credentials", &json!({})).await;
    let fields: Vec<String> = r.rules().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "mailbox",
            "password",
            "host",
            "configuration_name",
            "description"
        ]
    );
    // Nothing but the one valid credential was stored.
    let list = app.get("/api/v1/credentials").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

async fn mailbox_and_name_are_unique_case_insensitively(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    app.create_credential(&with(
        valid_credential(1),
        json!({"mailbox": "Payroll@Example.com", "configuration_name": "Payroll"}),
    ))
    .await;
    let r = app
        .post(
            "/api/v1/credentials",
            &with(
                valid_credential(2),
                json!({"mailbox": "payroll@example.com"}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code(), r.error_field()),
        (409, "conflict", "mailbox")
    );
    let r = app
        .post(
            "/api/v1/credentials",
            &with(
                valid_credential(3),
                json!({"configuration_name": "PAYROLL"}),
            ),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (409, "configuration_name"));
    // An edit into a taken name conflicts too, and leaves the row as it was.
    let other = app.create_credential(&valid_credential(4)).await;
    let id = other["id"].as_i64().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/credentials/{id}"),
            &json!({"mailbox": "PAYROLL@example.COM", "password": "Another-Pass-1"}),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (409, "mailbox"));
    let still = app.get(&format!("/api/v1/credentials/{id}")).await;
    assert_eq!(still.body["mailbox"], "payroll4@example.com");
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "Correct horse battery staple",
        "a refused edit keeps the stored password"
    );
    assert_eq!(
        app.get("/api/v1/credentials").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn an_edit_that_changes_where_the_password_goes_needs_the_password(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/credentials/{id}");
    let pem = rcgen::generate_simple_self_signed(vec!["imap.example.com".into()])
        .unwrap()
        .cert
        .pem();
    // Each value that decides where the stored password is sent, alone: refused without the
    // password, and nothing of the edit is saved.
    for change in [
        json!({"host": "mail.example.org"}),
        json!({"port": 143}),
        json!({"security": "starttls"}),
        json!({"use_secure_connection": false}),
        json!({"username": "payroll-login"}),
        json!({"mailbox": "someone.else@example.com"}),
        json!({"ca_bundle": pem}),
        json!({"pinned_sha256": "ab".repeat(32)}),
        json!({"host": "mail.example.org", "password": ""}),
    ] {
        let r = app
            .patch(
                &path,
                &with(change.clone(), json!({"description": "changed"})),
            )
            .await;
        assert_eq!(
            (r.status, r.error_code(), r.error_field()),
            (422, "password_required", "password"),
            "{change}: {}",
            r.text
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("password again")
        );
        let now = app.get(&path).await.body;
        assert_eq!(
            now["description"], "Payroll mailbox for new hires",
            "{change}"
        );
        assert_eq!(now["host"], "imap.example.com");
    }
    // Values that do not move the password need none; the same host written differently is
    // the same host.
    let r = app
        .patch(&path, &json!({"description": "New text", "configuration_name": "Renamed", "host": "IMAP.Example.COM", "enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "New text");
    assert_eq!(r.body["enabled"], false);
    // With the password, the destination changes and the password given is sealed instead.
    let r = app
        .patch(&path, &json!({"host": "mail.example.org", "port": 143, "security": "starttls", "username": "payroll-login", "password": "New-Pass-For-New-Host"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("New-Pass-For-New-Host"));
    assert_eq!(r.body["host"], "mail.example.org");
    assert_eq!(r.body["port"], 143);
    assert_eq!(r.body["security"], "starttls");
    assert_eq!(r.body["login_name"], "payroll-login");
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "New-Pass-For-New-Host"
    );
    let audit = app.get("/api/v1/audit").await.body;
    assert_eq!(audit["items"][0]["action"], "credential.update");
    assert_eq!(audit["items"][0]["details"]["password"], "replaced");
    assert!(!audit.to_string().contains("New-Pass-For-New-Host"));
    // Clearing the login name moves the login back to the mailbox: the password again.
    let r = app.patch(&path, &json!({"username": ""})).await;
    assert_eq!((r.status, r.error_code()), (422, "password_required"));
    let r = app
        .patch(
            &path,
            &json!({"username": "", "password": "New-Pass-For-New-Host"}),
        )
        .await;
    assert_eq!(r.body["username"], Value::Null);
    // The password keeps its rules here too.
    let r = app
        .patch(
            &path,
            &json!({"host": "x.example.org", "password": "x".repeat(1025)}),
        )
        .await;
    assert_eq!(r.rules(), vec![("password".into(), "too_long".into())]);
    // An invalid edit changes nothing.
    let r = app
        .patch(&path, &json!({"port": 0, "description": "changed"}))
        .await;
    assert_eq!((r.status, r.error_field()), (422, "port"));
    assert_eq!(app.get(&path).await.body["description"], "New text");
    let r = app
        .patch("/api/v1/credentials/424242", &json!({"description": "x"}))
        .await;
    assert_eq!(r.status, 404);
}

async fn change_password_requires_matching_values(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/credentials/{id}/password");
    let r = app
        .post(
            &path,
            &json!({"new_password": "First-New-Pass", "confirm_password": "first-new-pass"}),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (422, "confirm_password"));
    assert_eq!(
        r.rules(),
        vec![("confirm_password".to_string(), "mismatch".to_string())]
    );
    let r = app.post(&path, &json!({"new_password": "only one"})).await;
    assert_eq!((r.status, r.error_field()), (422, "confirm_password"));
    let r = app
        .post(&path, &json!({"confirm_password": "only one"}))
        .await;
    assert_eq!((r.status, r.error_field()), (422, "new_password"));
    let r = app
        .post(&path, &json!({"new_password": "", "confirm_password": ""}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "Correct horse battery staple"
    );
    let r = app
        .post(
            &path,
            &json!({"new_password": "Second pass ✓", "confirm_password": "Second pass ✓"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["has_password"], true);
    assert!(!r.text.contains("Second pass"));
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "Second pass ✓"
    );
    let r = app
        .post(
            "/api/v1/credentials/9999/password",
            &json!({"new_password": "abc", "confirm_password": "abc"}),
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn delete_removes_the_credential(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let path = format!("/api/v1/credentials/{}", c["id"]);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.delete(&path).await.status, 404);
    // The same mailbox and name can be used again.
    app.create_credential(&valid_credential(1)).await;
}

async fn audit_log_records_every_change(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    app.patch(
        &format!("/api/v1/credentials/{id}"),
        &json!({"port": 143, "use_secure_connection": false, "password": "Audit-Secret-41"}),
    )
    .await;
    app.post(
        &format!("/api/v1/credentials/{id}/password"),
        &json!({"new_password": "Audit-Secret-42", "confirm_password": "Audit-Secret-42"}),
    )
    .await;
    app.delete(&format!("/api/v1/credentials/{id}")).await;
    let audit = app.get("/api/v1/audit").await;
    assert_eq!(audit.status, 200);
    let items = audit.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..4],
        [
            "credential.delete",
            "credential.password_change",
            "credential.update",
            "credential.create"
        ]
    );
    for item in &items[..4] {
        assert_eq!(item["actor"], "token:test#1");
        assert_eq!(item["target_id"], id);
        assert!(item["at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(items[2]["details"]["port"], json!({"from": 993, "to": 143}));
    assert!(!audit.text.contains("Audit-Secret-42"));
    assert!(!audit.text.contains("Correct horse"));
    let page = app.get("/api/v1/audit?limit=1").await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let bad = app.get("/api/v1/audit?limit=lots").await;
    assert_eq!((bad.status, bad.error_field()), (400, "limit"));
}
