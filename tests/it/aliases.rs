//! Aliases through the API (SPEC §2, §1.2): defaults, every validation rule, case-insensitive
//! uniqueness, one default per credential, edits, the credential's alias count and warning,
//! and the refused credential delete with its exception-log entry.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, valid_credential};

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
    alias_addresses_are_unique_across_credentials_case_insensitively,
    a_credential_has_at_most_one_default_alias,
    deleting_a_credential_with_aliases_is_refused_and_logged,
);

/// A credential (`valid_credential(n)`) and a workspace; returns (credential id, workspace id).
async fn setup(app: &TestApp, n: u32) -> (i64, i64) {
    let c = app.create_credential(&valid_credential(n)).await;
    let w = app
        .post(
            "/api/v1/workspaces",
            &json!({"name": format!("Workspace {n}")}),
        )
        .await;
    assert_eq!(w.status, 201, "{}", w.text);
    (c["id"].as_i64().unwrap(), w.body["id"].as_i64().unwrap())
}

async fn add_alias(app: &TestApp, credential: i64, body: Value) -> Value {
    let r = app
        .post(&format!("/api/v1/credentials/{credential}/aliases"), &body)
        .await;
    assert_eq!(r.status, 201, "create alias: {}", r.text);
    r.body
}

#[tokio::test]
async fn create_applies_the_defaults_and_the_credential_counts_it() {
    let app = TestApp::spawn().await;
    let (cred, ws) = setup(&app, 1).await;
    // Before any alias: a warning that no alias equals the mailbox.
    let c = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(c.body["aliases_count"], 0);
    let warnings = c.body["warnings"].to_string();
    assert!(
        warnings.contains("No alias equals") && warnings.contains("payroll1@example.com"),
        "{warnings}"
    );

    let a = add_alias(
        &app,
        cred,
        json!({"email_alias": "Payroll1@Example.com", "workspace_id": ws}),
    )
    .await;
    let types = app.get("/api/v1/project-types").await;
    let client_service_case = types.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Client Service Case")
        .expect("Client Service Case exists from the start")["id"]
        .clone();
    assert_eq!(a["project_type_id"], client_service_case);
    assert_eq!(a["email_alias"], "Payroll1@Example.com");
    assert_eq!(a["credential_id"], cred);
    assert_eq!(a["is_default"], false);
    assert_eq!(a["include_attachments"], true);
    assert_eq!(a["always_use_default_workspace"], false);
    assert_eq!(a["reply_template_id"], Value::Null);
    assert_eq!(a["client_id"], Value::Null);
    assert_eq!(a["field_mappings"], json!({}));

    let id = a["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/aliases/{id}")).await.body["email_alias"],
        "Payroll1@Example.com"
    );
    let list = app
        .get(&format!("/api/v1/credentials/{cred}/aliases"))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // The alias equals the mailbox (case-insensitively): counted, and the warning is gone.
    let c = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(c.body["aliases_count"], 1);
    assert_eq!(c.body["warnings"], json!([]));
    let listed = app.get("/api/v1/credentials").await;
    assert_eq!(listed.body["items"][0]["aliases_count"], 1);

    // An alias that is not the mailbox address keeps the warning.
    let (cred2, ws2) = setup(&app, 2).await;
    add_alias(
        &app,
        cred2,
        json!({"email_alias": "payroll2+x@example.com", "workspace_id": ws2}),
    )
    .await;
    let c2 = app.get(&format!("/api/v1/credentials/{cred2}")).await;
    assert_eq!(c2.body["aliases_count"], 1);
    assert!(c2.body["warnings"].to_string().contains("No alias equals"));
}

#[tokio::test]
async fn every_alias_rule_names_its_field_and_rule() {
    let app = TestApp::spawn().await;
    let (cred, ws) = setup(&app, 1).await;
    let base = json!({"email_alias": "payroll1@example.com", "workspace_id": ws});
    let with = |patch: Value| {
        let mut b = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v == &json!("__absent") {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"email_alias": "__absent"}),
            "email_alias",
            "required",
        ),
        (json!({"email_alias": "  "}), "email_alias", "required"),
        (
            json!({"email_alias": "not an address"}),
            "email_alias",
            "invalid_email",
        ),
        (
            json!({"email_alias": "Payroll <payroll1@example.com>"}),
            "email_alias",
            "invalid_email",
        ),
        (
            json!({"workspace_id": "__absent"}),
            "workspace_id",
            "required",
        ),
        (json!({"workspace_id": 999}), "workspace_id", "not_found"),
        (json!({"workspace_id": 0}), "workspace_id", "invalid_id"),
        (
            json!({"project_type_id": 999}),
            "project_type_id",
            "not_found",
        ),
        (json!({"client_id": 999}), "client_id", "not_found"),
        (
            json!({"reply_template_id": 7}),
            "reply_template_id",
            "not_found",
        ),
        (
            json!({"field_mappings": {"colour": "red"}}),
            "field_mappings",
            "unknown_case_field",
        ),
    ];
    for (patch, field, rule) in cases {
        let r = app
            .post(
                &format!("/api/v1/credentials/{cred}/aliases"),
                &with(patch.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{patch}: {}", r.text);
        assert_eq!(r.error_code(), "validation_failed", "{patch}");
        assert_eq!(r.error_field(), *field, "{patch}: {}", r.text);
        assert!(
            r.rules().contains(&(field.to_string(), rule.to_string())),
            "{patch}: {}",
            r.text
        );
    }
    // Wrong shapes and unknown fields are 422 too, naming the field.
    let r = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &with(json!({"colour": "red"})),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (422, "colour"));
    let r = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &with(json!({"is_default": "yes"})),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (422, "is_default"));
    // Unknown credential or alias: 404.
    let r = app.post("/api/v1/credentials/999/aliases", &base).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    assert_eq!(app.get("/api/v1/credentials/999/aliases").await.status, 404);
    assert_eq!(app.get("/api/v1/aliases/999").await.status, 404);
    assert_eq!(
        app.patch("/api/v1/aliases/999", &json!({})).await.status,
        404
    );
    assert_eq!(app.delete("/api/v1/aliases/999").await.status, 404);
    // Nothing was stored by the refused requests.
    assert_eq!(app.get("/api/v1/aliases").await.body["items"], json!([]));
    // A null reply template is No Reply and accepted; field mappings are kept.
    let a = add_alias(
        &app,
        cred,
        with(json!({"reply_template_id": null, "field_mappings": {"priority": "High", "status": ""}})),
    )
    .await;
    assert_eq!(a["reply_template_id"], Value::Null);
    assert_eq!(a["field_mappings"], json!({"priority": "High"}));
}

async fn alias_addresses_are_unique_across_credentials_case_insensitively(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let (c1, ws) = setup(&app, 1).await;
    let (c2, _) = setup(&app, 2).await;
    let first = add_alias(
        &app,
        c1,
        json!({"email_alias": "Payroll1@Example.com", "workspace_id": ws}),
    )
    .await;
    for cred in [c1, c2] {
        let r = app
            .post(
                &format!("/api/v1/credentials/{cred}/aliases"),
                &json!({"email_alias": "PAYROLL1@example.COM", "workspace_id": ws}),
            )
            .await;
        assert_eq!(
            (r.status, r.error_code(), r.error_field()),
            (409, "conflict", "email_alias"),
            "{}",
            r.text
        );
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("Payroll1@Example.com") && msg.contains("Payroll 1"),
            "{msg}"
        );
    }
    // Renaming another alias onto the address is refused too; renaming itself is fine.
    let other = add_alias(
        &app,
        c2,
        json!({"email_alias": "other@example.com", "workspace_id": ws}),
    )
    .await;
    let r = app
        .patch(
            &format!("/api/v1/aliases/{}", other["id"]),
            &json!({"email_alias": "payroll1@EXAMPLE.com"}),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (409, "email_alias"));
    let r = app
        .patch(
            &format!("/api/v1/aliases/{}", first["id"]),
            &json!({"email_alias": "payroll1@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/aliases").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn a_credential_has_at_most_one_default_alias(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let (c1, ws) = setup(&app, 1).await;
    let (c2, _) = setup(&app, 2).await;
    let d = add_alias(
        &app,
        c1,
        json!({"email_alias": "payroll1@example.com", "workspace_id": ws, "is_default": true}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/credentials/{c1}/aliases"),
            &json!({"email_alias": "second@example.com", "workspace_id": ws, "is_default": true}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_field()),
        (409, "is_default"),
        "{}",
        r.text
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payroll1@example.com")
    );
    // Another credential has its own default.
    add_alias(
        &app,
        c2,
        json!({"email_alias": "payroll2@example.com", "workspace_id": ws, "is_default": true}),
    )
    .await;
    // Making a second alias the default by an edit is refused, until the first is unset.
    let second = add_alias(
        &app,
        c1,
        json!({"email_alias": "second@example.com", "workspace_id": ws}),
    )
    .await;
    let path = format!("/api/v1/aliases/{}", second["id"]);
    assert_eq!(
        app.patch(&path, &json!({"is_default": true})).await.status,
        409
    );
    let r = app
        .patch(
            &format!("/api/v1/aliases/{}", d["id"]),
            &json!({"is_default": false}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["is_default"].as_bool()),
        (200, Some(false))
    );
    let r = app.patch(&path, &json!({"is_default": true})).await;
    assert_eq!(
        (r.status, r.body["is_default"].as_bool()),
        (200, Some(true)),
        "{}",
        r.text
    );
}

async fn deleting_a_credential_with_aliases_is_refused_and_logged(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let (cred, ws) = setup(&app, 1).await;
    let a1 = add_alias(
        &app,
        cred,
        json!({"email_alias": "payroll1@example.com", "workspace_id": ws, "is_default": true}),
    )
    .await;
    add_alias(
        &app,
        cred,
        json!({"email_alias": "payroll1+newhire@example.com", "workspace_id": ws}),
    )
    .await;

    let r = app.delete(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{}", r.text);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("payroll1@example.com") && msg.contains("payroll1+newhire@example.com"),
        "{msg}"
    );
    assert!(msg.contains("nothing was deleted"), "{msg}");
    // Nothing was deleted.
    let c = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!((c.status, c.body["aliases_count"].as_i64()), (200, Some(2)));
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{cred}/aliases"))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The exception log says what happened.
    let ex = app.get("/api/v1/exceptions").await;
    assert_eq!(ex.status, 200);
    let items = ex.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", ex.text);
    assert_eq!(items[0]["credential_id"], cred);
    assert_eq!(items[0]["source"], "credential.delete");
    assert!(
        items[0]["message"]
            .as_str()
            .unwrap()
            .contains("payroll1+newhire@example.com")
    );
    assert_eq!(items[0]["details"]["aliases"].as_array().unwrap().len(), 2);
    assert!(items[0]["at"].as_str().unwrap().ends_with('Z'));
    let filtered = app
        .get(&format!("/api/v1/exceptions?credential_id={}", cred + 100))
        .await;
    assert_eq!(filtered.body["items"], json!([]));
    // The audit log has no delete.
    let audit = app.get("/api/v1/audit").await;
    assert!(!audit.text.contains("credential.delete"), "{}", audit.text);

    // Once the aliases are gone, the credential can be deleted.
    for a in app
        .get(&format!("/api/v1/credentials/{cred}/aliases"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            app.delete(&format!("/api/v1/aliases/{}", a["id"]))
                .await
                .status,
            204
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/aliases/{}", a1["id"]))
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v1/credentials/{cred}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{cred}")).await.status,
        404
    );
}

#[tokio::test]
async fn edits_keep_absent_fields_clear_nulls_and_are_audited() {
    let app = TestApp::spawn().await;
    let (cred, ws) = setup(&app, 1).await;
    let ws2 = app
        .post("/api/v1/workspaces", &json!({"name": "Second"}))
        .await
        .body["id"]
        .clone();
    let client = app
        .post(
            "/api/v1/clients",
            &json!({"name": "Acme", "default_workspace_id": ws}),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.text);
    let a = add_alias(
        &app,
        cred,
        json!({"email_alias": "payroll1@example.com", "workspace_id": ws, "client_id": client.body["id"],
               "field_mappings": {"category": "Payroll"}}),
    )
    .await;
    let path = format!("/api/v1/aliases/{}", a["id"]);
    let r = app
        .patch(
            &path,
            &json!({"workspace_id": ws2, "client_id": null, "include_attachments": false,
                               "always_use_default_workspace": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["workspace_id"], ws2);
    assert_eq!(r.body["client_id"], Value::Null);
    assert_eq!(r.body["include_attachments"], false);
    assert_eq!(r.body["always_use_default_workspace"], true);
    assert_eq!(r.body["email_alias"], "payroll1@example.com");
    assert_eq!(r.body["field_mappings"], json!({"category": "Payroll"}));
    // A bad edit changes nothing.
    let bad = app
        .patch(
            &path,
            &json!({"workspace_id": 999, "email_alias": "x@example.com"}),
        )
        .await;
    assert_eq!((bad.status, bad.error_field()), (422, "workspace_id"));
    assert_eq!(
        app.get(&path).await.body["email_alias"],
        "payroll1@example.com"
    );
    // The credential cannot be changed by an edit.
    let r = app.patch(&path, &json!({"credential_id": 2})).await;
    assert_eq!((r.status, r.error_field()), (422, "credential_id"));

    assert_eq!(app.delete(&path).await.status, 204);
    let audit = app.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "alias.create",
        "alias.update",
        "alias.delete",
        "workspace.create",
        "client.create",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let update = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "alias.update")
        .unwrap();
    assert_eq!(
        update["details"]["include_attachments"],
        json!({"from": true, "to": false})
    );
    assert_eq!(update["target_type"], "alias");
}
