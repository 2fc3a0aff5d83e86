//! Reference data through the API and the CLI: workspaces, project types, clients and
//! contacts; validation, conflicts, deletes refused while something uses a row, and bulk
//! import that imports every row or none.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, cli_stdout, valid_credential};

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
    deleting_what_is_still_used_is_refused_and_names_the_users,
    bulk_import_is_all_or_nothing,
    the_built_in_project_type_stays_the_default_when_renamed,
    the_migration_marks_the_built_in_project_type,
);

async fn created(app: &TestApp, path: &str, body: Value) -> i64 {
    let r = app.post(path, &body).await;
    assert_eq!(r.status, 201, "POST {path} {body}: {}", r.text);
    r.body["id"].as_i64().unwrap()
}

fn count(v: &Value) -> usize {
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn workspaces_and_project_types_crud_with_unique_names() {
    let app = TestApp::spawn().await;
    let types = app.get("/api/v1/project-types").await;
    assert_eq!(types.body["items"][0]["name"], "Client Service Case");
    for base in ["/api/v1/workspaces", "/api/v1/project-types"] {
        let id = created(&app, base, json!({"name": "  North  "})).await;
        let got = app.get(&format!("{base}/{id}")).await;
        assert_eq!(got.body["name"], "North");
        let dup = app.post(base, &json!({"name": "NORTH"})).await;
        assert_eq!(
            (dup.status, dup.error_field()),
            (409, "name"),
            "{}",
            dup.text
        );
        let empty = app.post(base, &json!({"name": ""})).await;
        assert_eq!((empty.status, empty.error_field()), (422, "name"));
        assert_eq!(
            empty.rules(),
            [("name".to_string(), "required".to_string())]
        );
        let long = app.post(base, &json!({"name": "x".repeat(201)})).await;
        assert_eq!(long.rules(), [("name".to_string(), "too_long".to_string())]);
        let renamed = app
            .patch(&format!("{base}/{id}"), &json!({"name": "Northern"}))
            .await;
        assert_eq!(
            (renamed.status, renamed.body["name"].as_str()),
            (200, Some("Northern"))
        );
        let other = created(&app, base, json!({"name": "South"})).await;
        let clash = app
            .patch(&format!("{base}/{other}"), &json!({"name": "northern"}))
            .await;
        assert_eq!(clash.status, 409);
        assert_eq!(app.delete(&format!("{base}/{other}")).await.status, 204);
        assert_eq!(app.get(&format!("{base}/{other}")).await.status, 404);
        assert_eq!(app.delete(&format!("{base}/{other}")).await.status, 404);
        assert_eq!(app.get(&format!("{base}/abc")).await.status, 404);
    }
}

#[tokio::test]
async fn clients_and_contacts_validate_and_conflict() {
    let app = TestApp::spawn().await;
    let ws = created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
    let acme = app
        .post(
            "/api/v1/clients",
            &json!({"name": "Acme", "client_number": "ACME01", "email_domains": ["@Acme.com", "bücher.example", "acme.com"], "default_workspace_id": ws}),
        )
        .await;
    assert_eq!(acme.status, 201, "{}", acme.text);
    assert_eq!(
        acme.body["email_domains"],
        json!(["acme.com", "xn--bcher-kva.example"])
    );
    let acme_id = acme.body["id"].as_i64().unwrap();

    let bad: &[(Value, &str, &str)] = &[
        (json!({"default_workspace_id": ws}), "name", "required"),
        (json!({"name": "X"}), "default_workspace_id", "required"),
        (
            json!({"name": "X", "default_workspace_id": 999}),
            "default_workspace_id",
            "not_found",
        ),
        (
            json!({"name": "X", "default_workspace_id": ws, "client_number": "AC ME"}),
            "client_number",
            "invalid_format",
        ),
        (
            json!({"name": "X", "default_workspace_id": ws, "email_domains": ["not a domain"]}),
            "email_domains",
            "invalid_domain",
        ),
    ];
    for (body, field, rule) in bad {
        let r = app.post("/api/v1/clients", body).await;
        assert_eq!(
            (r.status, r.error_field()),
            (422, *field),
            "{body}: {}",
            r.text
        );
        assert!(
            r.rules().contains(&(field.to_string(), rule.to_string())),
            "{body}: {}",
            r.text
        );
    }
    let dup_number = app
        .post(
            "/api/v1/clients",
            &json!({"name": "Other", "client_number": "acme01", "default_workspace_id": ws}),
        )
        .await;
    assert_eq!(
        (dup_number.status, dup_number.error_field()),
        (409, "client_number")
    );
    assert!(
        dup_number.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Acme")
    );
    let dup_domain = app
        .post(
            "/api/v1/clients",
            &json!({"name": "Other", "email_domains": ["ACME.com"], "default_workspace_id": ws}),
        )
        .await;
    assert_eq!(
        (dup_domain.status, dup_domain.error_field()),
        (409, "email_domains")
    );
    assert_eq!(count(&app.get("/api/v1/clients").await.body), 1);
    // Edits: absent fields kept, null clears.
    let edited = app
        .patch(
            &format!("/api/v1/clients/{acme_id}"),
            &json!({"client_number": null, "email_domains": ["acme.org"]}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["client_number"], Value::Null);
    assert_eq!(edited.body["email_domains"], json!(["acme.org"]));
    assert_eq!(edited.body["name"], "Acme");

    // Contacts.
    let jane = created(
        &app,
        "/api/v1/contacts",
        json!({"email": "Jane@Contoso.com", "name": "Jane", "client_id": acme_id, "workspace_id": ws}),
    )
    .await;
    let bad: &[(Value, &str, &str)] = &[
        (
            json!({"name": "J", "workspace_id": ws}),
            "email",
            "required",
        ),
        (
            json!({"email": "jane", "name": "J", "workspace_id": ws}),
            "email",
            "invalid_email",
        ),
        (
            json!({"email": "j@x.example", "workspace_id": ws}),
            "name",
            "required",
        ),
        (
            json!({"email": "j@x.example", "name": "J"}),
            "workspace_id",
            "required",
        ),
        (
            json!({"email": "j@x.example", "name": "J", "workspace_id": 999}),
            "workspace_id",
            "not_found",
        ),
        (
            json!({"email": "j@x.example", "name": "J", "workspace_id": ws, "client_id": 999}),
            "client_id",
            "not_found",
        ),
    ];
    for (body, field, rule) in bad {
        let r = app.post("/api/v1/contacts", body).await;
        assert_eq!(
            (r.status, r.error_field()),
            (422, *field),
            "{body}: {}",
            r.text
        );
        assert!(
            r.rules().contains(&(field.to_string(), rule.to_string())),
            "{body}: {}",
            r.text
        );
    }
    let dup = app
        .post(
            "/api/v1/contacts",
            &json!({"email": "jane@CONTOSO.com", "name": "Jane 2", "workspace_id": ws}),
        )
        .await;
    assert_eq!((dup.status, dup.error_field()), (409, "email"));
    let edited = app
        .patch(
            &format!("/api/v1/contacts/{jane}"),
            &json!({"client_id": null}),
        )
        .await;
    assert_eq!(
        (edited.status, edited.body["client_id"].clone()),
        (200, Value::Null)
    );
    assert_eq!(edited.body["email"], "Jane@Contoso.com");
    assert_eq!(
        app.delete(&format!("/api/v1/contacts/{jane}")).await.status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/contacts/{jane}")).await.status,
        404
    );
}

async fn deleting_what_is_still_used_is_refused_and_names_the_users(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let ws = created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
    let pt = created(
        &app,
        "/api/v1/project-types",
        json!({"name": "Payroll Case"}),
    )
    .await;
    let client = created(
        &app,
        "/api/v1/clients",
        json!({"name": "Acme", "default_workspace_id": ws}),
    )
    .await;
    created(
        &app,
        "/api/v1/contacts",
        json!({"email": "jane@acme.com", "name": "Jane", "client_id": client, "workspace_id": ws}),
    )
    .await;
    let cred = app.create_credential(&valid_credential(1)).await["id"]
        .as_i64()
        .unwrap();
    created(
        &app,
        &format!("/api/v1/credentials/{cred}/aliases"),
        json!({"email_alias": "payroll1@example.com", "workspace_id": ws, "project_type_id": pt, "client_id": client}),
    )
    .await;

    let checks: &[(String, &[&str])] = &[
        (
            format!("/api/v1/workspaces/{ws}"),
            &[
                "alias payroll1@example.com",
                "client Acme",
                "contact jane@acme.com",
            ],
        ),
        (
            format!("/api/v1/project-types/{pt}"),
            &["alias payroll1@example.com"],
        ),
        (
            format!("/api/v1/clients/{client}"),
            &["alias payroll1@example.com", "contact jane@acme.com"],
        ),
    ];
    for (path, users) in checks {
        let r = app.delete(path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (409, "conflict"),
            "{path}: {}",
            r.text
        );
        let msg = r.body["error"]["message"].as_str().unwrap();
        for u in *users {
            assert!(msg.contains(u), "{path}: {msg} should name {u}");
        }
        assert_eq!(app.get(path).await.status, 200, "{path} still exists");
    }
}

async fn bulk_import_is_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
    // Workspaces: a duplicate inside the file and one that exists already.
    let r = app
        .post(
            "/api/v1/workspaces/import",
            &json!([{"name": "East"}, {"name": "north"}, {"name": "EAST"}, {"nam": "x"}]),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (422, "import_rejected"),
        "{}",
        r.text
    );
    let rows: Vec<(i64, &str, &str)> = r.body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap(),
                e["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "name", "conflict"),
            (3, "name", "duplicate"),
            (4, "nam", "unknown_field")
        ]
    );
    assert_eq!(
        count(&app.get("/api/v1/workspaces").await.body),
        1,
        "nothing imported"
    );
    let ok = app
        .post(
            "/api/v1/workspaces/import",
            &json!([{"name": "East"}, {"name": "West"}]),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body["imported"].as_i64()),
        (201, Some(2)),
        "{}",
        ok.text
    );
    let ws = ok.body["ids"][0].as_i64().unwrap();

    // Clients: every bad row reported, none imported.
    let clients = json!([
        {"name": "Acme", "client_number": "AC1", "email_domains": ["acme.com"], "default_workspace_id": ws},
        {"client_number": "AC2", "default_workspace_id": ws},
        {"name": "Dup", "client_number": "ac1", "default_workspace_id": ws},
        {"name": "Nowhere", "default_workspace_id": 999},
        {"name": "Typed", "default_workspace_id": "three"},
        {"name": "Domain", "email_domains": ["ACME.com"], "default_workspace_id": ws},
        {"name": "Fine", "default_workspace_id": ws},
    ]);
    let r = app.post("/api/v1/clients/import", &clients).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let rows: Vec<(i64, &str, &str)> = r.body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap(),
                e["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "name", "required"),
            (3, "client_number", "duplicate"),
            (4, "default_workspace_id", "not_found"),
            (5, "default_workspace_id", "invalid_type"),
            (6, "email_domains", "duplicate"),
        ]
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was imported")
    );
    assert_eq!(
        count(&app.get("/api/v1/clients").await.body),
        0,
        "nothing imported"
    );
    let good = json!([
        {"name": "Acme", "client_number": "AC1", "email_domains": ["acme.com"], "default_workspace_id": ws},
        {"name": "Fine", "default_workspace_id": ws},
    ]);
    let r = app.post("/api/v1/clients/import", &good).await;
    assert_eq!(
        (r.status, r.body["imported"].as_i64()),
        (201, Some(2)),
        "{}",
        r.text
    );
    // Importing them again conflicts with what exists.
    let r = app.post("/api/v1/clients/import", &json!([good[0]])).await;
    assert_eq!(r.body["error"]["rows"][0]["rule"], "conflict", "{}", r.text);
    let acme = app.get("/api/v1/clients").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();

    // Contacts.
    let r = app
        .post(
            "/api/v1/contacts/import",
            &json!([
                {"email": "a@acme.com", "name": "A", "client_id": acme, "workspace_id": ws},
                {"email": "A@ACME.com", "name": "A again", "workspace_id": ws},
                {"email": "b@acme.com", "name": "B", "client_id": 999, "workspace_id": ws},
            ]),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["rows"].as_array().unwrap().len(), 2);
    assert_eq!(count(&app.get("/api/v1/contacts").await.body), 0);
    let r = app
        .post(
            "/api/v1/contacts/import",
            &json!([{"email": "a@acme.com", "name": "A", "client_id": acme, "workspace_id": ws}]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Not an array: a shape error.
    let r = app
        .post("/api/v1/contacts/import", &json!({"email": "x@y.example"}))
        .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn cli_import_reports_every_bad_line_and_imports_nothing() {
    let app = TestApp::spawn().await;
    let ws = created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clients.csv");
    std::fs::write(
        &csv,
        format!(
            "name,client_number,email_domains,default_workspace_id\n\
             Acme,AC1,acme.com;acme.org,{ws}\n\
             ,AC2,,{ws}\n\
             Bad Number,A C,,{ws}\n\
             Short,1\n\
             Globex,GX,globex.example,{ws}\n"
        ),
    )
    .unwrap();
    let out = app.cli(&["client", "import", csv.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for needle in [
        "line 3: name",
        "line 4: client_number",
        "line 5:",
        "nothing was imported",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("line 2:") && !stderr.contains("line 6:"),
        "{stderr}"
    );
    assert_eq!(
        count(&app.get("/api/v1/clients").await.body),
        0,
        "nothing imported"
    );

    let json_file = dir.path().join("clients.json");
    std::fs::write(
        &json_file,
        format!(
            "[\n  {{\"name\": \"Acme\", \"client_number\": \"AC1\", \"default_workspace_id\": {ws}}},\n  {{\"name\": \"\", \"default_workspace_id\": {ws}}}\n]\n"
        ),
    )
    .unwrap();
    let out = app.cli(&["client", "import", json_file.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("line 3: name"),
        "{stderr}"
    );

    std::fs::write(
        &csv,
        format!("name,client_number,email_domains,default_workspace_id\nAcme,AC1,acme.com,{ws}\nGlobex,GX,,{ws}\n"),
    )
    .unwrap();
    let out = app.cli(&["client", "import", csv.to_str().unwrap(), "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 2);
    let listed = app.get("/api/v1/clients").await;
    assert_eq!(count(&listed.body), 2);
    assert_eq!(
        listed.body["items"][0]["email_domains"],
        json!(["acme.com"])
    );
}

/// The id of the project type named `name`.
async fn project_type_named(app: &TestApp, name: &str) -> Value {
    let types = app.get("/api/v1/project-types").await.body["items"].clone();
    let found = types.as_array().unwrap().iter().find(|t| t["name"] == name);
    found.unwrap_or_else(|| panic!("no {name:?} in {types}"))["id"].clone()
}

/// The built-in project type is the default of aliases given none: it cannot be deleted, and
/// renamed (say, translated) it stays the default; its old name is free for another type,
/// which is not the default and can be deleted.
async fn the_built_in_project_type_stays_the_default_when_renamed(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let built_in = project_type_named(&app, "Client Service Case").await;
    let path = format!("/api/v1/project-types/{built_in}");
    let r = app.patch(&path, &json!({"name": "Kundenservice"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let namesake = created(
        &app,
        "/api/v1/project-types",
        json!({"name": "Client Service Case"}),
    )
    .await;

    let cred = app.create_credential(&valid_credential(1)).await["id"].clone();
    let ws = created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
    let alias = json!({"email_alias": "payroll1@example.com", "workspace_id": ws});
    let a = app.create_alias(&cred, &alias).await;
    assert_eq!(a["project_type_id"], built_in);

    let r = app.delete(&path).await;
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{}", r.text);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"Kundenservice\" is the built-in project type")
            && message.contains("cannot be deleted"),
        "{message}"
    );
    assert_eq!(app.get(&path).await.body["name"], "Kundenservice");
    let r = app
        .delete(&format!("/api/v1/project-types/{namesake}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

/// A database from before the mark: the row the first version made is marked, whatever it is
/// called by then; if it was deleted, a row of its name takes the mark, else it is made again.
async fn the_migration_marks_the_built_in_project_type(backend: Backend) {
    for before in ["renamed", "deleted, name taken again", "deleted"] {
        let mut app = TestApp::spawn_on(backend).await;
        let built_in = project_type_named(&app, "Client Service Case").await;
        let cred = app.create_credential(&valid_credential(1)).await["id"].clone();
        let ws = created(&app, "/api/v1/workspaces", json!({"name": "North"})).await;
        if before == "renamed" {
            let path = format!("/api/v1/project-types/{built_in}");
            let r = app.patch(&path, &json!({"name": "Kundenservice"})).await;
            assert_eq!(r.status, 200, "{}", r.text);
            created(
                &app,
                "/api/v1/project-types",
                json!({"name": "Client Service Case"}),
            )
            .await;
        }
        app.stop().await;
        let mut sql = vec![
            "DROP INDEX project_types_one_built_in".to_string(),
            "ALTER TABLE project_types DROP COLUMN built_in".into(),
            "DELETE FROM schema_migrations WHERE name = '0010_built_in_project_type'".into(),
        ];
        if before.starts_with("deleted") {
            sql.push(format!("DELETE FROM project_types WHERE id = {built_in}"));
        }
        if before == "deleted, name taken again" {
            sql.push(
                "INSERT INTO project_types (name, name_key, created_at, created_by, updated_at, \
                 updated_by) VALUES ('Client Service Case', 'client service case', 5, 'admin', 5, \
                 'admin')"
                    .into(),
            );
        }
        app.run_sql(&sql).await;

        // The CLI migrates the database, then adds an alias with no project type.
        let (cred, ws) = (cred.to_string(), ws.to_string());
        let out = app.cli(
            &[
                "alias",
                "add",
                "--credential",
                &cred,
                "--email-alias",
                "payroll1@example.com",
                "--workspace",
                &ws,
                "--json",
            ],
            None,
        );
        let alias: Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
        let out = app.cli(&["project-type", "list", "--json"], None);
        let types: Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
        let named = |name: &str| {
            let found = types.as_array().unwrap().iter().find(|t| t["name"] == name);
            found.unwrap_or_else(|| panic!("{before}: no {name:?} in {types}"))["id"].clone()
        };
        let expected = match before {
            "renamed" => {
                assert_eq!(named("Kundenservice"), built_in);
                built_in.clone()
            }
            _ => named("Client Service Case"),
        };
        assert_eq!(alias["project_type_id"], expected, "{before}: {alias}");
        if before == "deleted" {
            assert_ne!(expected, built_in, "made again: {types}");
        }
        let out = app.cli(&["project-type", "delete", &expected.to_string()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("built-in project type"),
            "{before}: {stderr}"
        );
    }
}
