//! The routing dry run through the API and the CLI, against stored aliases and reference data.
//! (The rules themselves are tested table-driven in `domain::routing`'s unit tests.)

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

on_both_backends!(dry_run_applies_every_rule_to_stored_data);

struct World {
    app: TestApp,
    cred: i64,
    default_alias: i64,
    newhire_alias: i64,
    ws_main: i64,
    ws_token: i64,
    ws_acme: i64,
    ws_jane: i64,
    acme: i64,
    jane: i64,
}

async fn id(app: &TestApp, path: &str, body: Value) -> i64 {
    let r = app.post(path, &body).await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.text);
    r.body["id"].as_i64().unwrap()
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn_on(backend).await;
    let ws_main = id(&app, "/api/v1/workspaces", json!({"name": "Main"})).await;
    let ws_token = id(&app, "/api/v1/workspaces", json!({"name": "By token"})).await;
    let ws_acme = id(&app, "/api/v1/workspaces", json!({"name": "Acme"})).await;
    let ws_jane = id(&app, "/api/v1/workspaces", json!({"name": "Jane's"})).await;
    let hire = id(&app, "/api/v1/project-types", json!({"name": "New Hire"})).await;
    let acme = id(
        &app,
        "/api/v1/clients",
        json!({"name": "Acme", "client_number": "ACME01", "email_domains": ["acme.com"], "default_workspace_id": ws_acme}),
    )
    .await;
    let jane = id(
        &app,
        "/api/v1/contacts",
        json!({"email": "jane@contoso.com", "name": "Jane", "workspace_id": ws_jane}),
    )
    .await;
    let cred = app.create_credential(&valid_credential(1)).await["id"]
        .as_i64()
        .unwrap();
    let aliases = format!("/api/v1/credentials/{cred}/aliases");
    let default_alias = id(
        &app,
        &aliases,
        json!({"email_alias": "Payroll1@Example.com", "workspace_id": ws_main, "is_default": true}),
    )
    .await;
    let newhire_alias = id(
        &app,
        &aliases,
        json!({"email_alias": "payroll1+newhire@example.com", "workspace_id": ws_main, "project_type_id": hire}),
    )
    .await;
    World {
        app,
        cred,
        default_alias,
        newhire_alias,
        ws_main,
        ws_token,
        ws_acme,
        ws_jane,
        acme,
        jane,
    }
}

async fn resolve(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/routing/resolve", &body).await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.body
}

fn rules(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

async fn dry_run_applies_every_rule_to_stored_data(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;

    // Exact alias, case-insensitive; the alias's workspace.
    let v = resolve(
        app,
        json!({"to": ["PAYROLL1@example.com"], "from": "someone@nowhere.example"}),
    )
    .await;
    assert_eq!(v["routed"], true);
    assert_eq!(v["alias"]["id"], w.default_alias);
    assert_eq!(v["credential"]["id"], w.cred);
    assert_eq!(v["workspace"]["id"], w.ws_main);
    assert_eq!(v["workspace"]["name"], "Main");
    assert_eq!(v["project_type"]["name"], "Client Service Case");
    assert_eq!(rules(&v), ["recipient", "alias", "alias_workspace"]);

    // Plus-addressing: the exact plus alias first, else the base address.
    let v = resolve(
        app,
        json!({"to": ["Payroll1+NewHire@example.com"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(
        (
            v["alias"]["id"].as_i64(),
            v["project_type"]["name"].as_str()
        ),
        (Some(w.newhire_alias), Some("New Hire"))
    );
    let v = resolve(
        app,
        json!({"to": ["payroll1+other@example.com"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(v["alias"]["id"], w.default_alias);
    assert_eq!(rules(&v)[0], "plus_address");

    // Cc-only and Delivered-To-only mail; "Name <address>" is accepted.
    let v = resolve(
        app,
        json!({"cc": ["Payroll <payroll1@example.com>"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(v["alias"]["id"], w.default_alias);
    let v = resolve(
        app,
        json!({"delivered_to": ["payroll1+newhire@example.com"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(v["alias"]["id"], w.newhire_alias);

    // Unknown recipients with the credential in scope: its default alias.
    let v = resolve(
        app,
        json!({"credential_id": w.cred, "to": ["list@lists.example"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(
        (v["alias"]["id"].as_i64(), rules(&v)[0].as_str()),
        (Some(w.default_alias), "default_alias")
    );

    // WSID: well formed and existing; unknown and malformed ones are ignored with a reason.
    let body = format!(
        "Please file this. WSID= {} WSID=9999 WSID={}",
        w.ws_token, w.ws_token
    );
    let v = resolve(
        app,
        json!({"to": ["payroll1@example.com"], "from": "jane@contoso.com", "body": body}),
    )
    .await;
    assert_eq!(v["workspace"]["id"], w.ws_token);
    assert_eq!(
        rules(&v),
        [
            "recipient",
            "alias",
            "wsid_malformed",
            "wsid_unknown",
            "wsid_token"
        ]
    );
    assert_eq!(v["contact"], Value::Null);

    // CLID: the client's default workspace and the client.
    let v = resolve(
        app,
        json!({"to": ["payroll1@example.com"], "from": "jane@contoso.com", "body": "CLID=acme01"}),
    )
    .await;
    assert_eq!(
        (v["workspace"]["id"].as_i64(), v["client"]["id"].as_i64()),
        (Some(w.ws_acme), Some(w.acme))
    );
    assert_eq!(v["client"]["client_number"], "ACME01");

    // Contact: its workspace, and the contact is set.
    let v = resolve(
        app,
        json!({"to": ["payroll1@example.com"], "from": "Jane@Contoso.COM"}),
    )
    .await;
    assert_eq!(
        (v["workspace"]["id"].as_i64(), v["contact"]["id"].as_i64()),
        (Some(w.ws_jane), Some(w.jane))
    );

    // Sender domain of a client.
    let v = resolve(
        app,
        json!({"to": ["payroll1@example.com"], "from": "bob@ACME.com"}),
    )
    .await;
    assert_eq!(
        (v["workspace"]["id"].as_i64(), v["client"]["name"].as_str()),
        (Some(w.ws_acme), Some("Acme"))
    );

    // Nothing matches at all.
    let v = resolve(
        app,
        json!({"to": ["nobody@nowhere.example"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(v["routed"], false);
    assert_eq!(
        v["exception"],
        "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0"
    );
    assert_eq!(v["alias"], Value::Null);
    assert_eq!(rules(&v), ["no_match"]);
}

#[tokio::test]
async fn dry_run_without_a_default_alias_is_not_routed() {
    let w = world(Backend::Sqlite).await;
    let app = &w.app;
    let r = app
        .patch(
            &format!("/api/v1/aliases/{}", w.default_alias),
            &json!({"is_default": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = resolve(
        app,
        json!({"to": ["payroll1+zzz@example.com"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(v["routed"], true, "the base address is still an alias");
    let v = resolve(
        app,
        json!({"credential_id": w.cred, "to": ["other@example.com"], "from": "x@nowhere.example"}),
    )
    .await;
    assert_eq!(
        (v["routed"].as_bool(), v["credential"]["id"].as_i64()),
        (Some(false), Some(w.cred))
    );
    assert!(
        v["exception"]
            .as_str()
            .unwrap()
            .starts_with("Email Contains Missing or Invalid Key Information")
    );
    assert_eq!(rules(&v), ["no_default_alias"]);
}

#[tokio::test]
async fn dry_run_input_is_validated() {
    let app = TestApp::spawn().await;
    let cases: &[(Value, u16, &str)] = &[
        (json!({"from": "x@nowhere.example"}), 422, "to"),
        (json!({"to": ["payroll@example.com"]}), 422, "from"),
        (
            json!({"to": ["payroll@example.com"], "from": "not an address"}),
            422,
            "from",
        ),
        (
            json!({"to": ["ok@example.com", "bad"], "from": "x@nowhere.example"}),
            422,
            "to",
        ),
        (
            json!({"to": "payroll@example.com", "from": "x@nowhere.example"}),
            422,
            "to",
        ),
        (
            json!({"to": ["a@example.com"], "from": "x@nowhere.example", "credential_id": 99}),
            422,
            "credential_id",
        ),
        (
            json!({"to": ["a@example.com"], "from": "x@nowhere.example", "subject": "hi"}),
            422,
            "subject",
        ),
    ];
    for (body, status, field) in cases {
        let r = app.post("/api/v1/routing/resolve", body).await;
        assert_eq!(
            (r.status, r.error_field()),
            (*status, *field),
            "{body}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "/api/v1/routing/resolve",
            &json!({"x_original_to": ["a@example.com"], "from": "x@nowhere.example"}),
        )
        .await;
    assert_eq!((r.status, r.body["routed"].as_bool()), (200, Some(false)));
}

#[tokio::test]
async fn cli_route_prints_the_decision_and_its_reasons() {
    let w = world(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.txt");
    std::fs::write(&body, format!("Hello,\nplease see WSID={}\n", w.ws_token)).unwrap();
    let out = w.app.cli(
        &[
            "route",
            "--to",
            "Payroll1+NewHire@example.com",
            "--from",
            "jane@contoso.com",
            "--body-file",
            body.to_str().unwrap(),
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Routed to alias payroll1+newhire@example.com"),
        "{stdout}"
    );
    assert!(stdout.contains("By token"), "{stdout}");
    assert!(stdout.contains("New Hire"), "{stdout}");
    assert!(stdout.contains("workspace [wsid_token]"), "{stdout}");

    let out = w.app.cli(
        &[
            "route",
            "--to",
            "nobody@nowhere.example",
            "--from",
            "x@nowhere.example",
            "--json",
        ],
        None,
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["routed"], false);
    assert_eq!(
        v["exception"],
        "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0"
    );

    let out = w.app.cli(
        &["route", "--to", "bad", "--from", "x@nowhere.example"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("to:"));
}
