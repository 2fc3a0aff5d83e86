//! Case status and priority as fixed values: field mappings take only them (any spelling,
//! stored in the one text form) and refuse others by field and rule; a database written when
//! they were free text still reads after the migration, keeping the old text.

use serde_json::json;

use crate::helpers::{TestApp, cli_stdout, valid_credential};

/// A credential and a workspace; returns (credential id, workspace id).
async fn setup(app: &TestApp) -> (i64, i64) {
    let c = app.create_credential(&valid_credential(1)).await;
    let w = app
        .post("/api/v1/workspaces", &json!({"name": "Workspace 1"}))
        .await;
    assert_eq!(w.status, 201, "{}", w.text);
    (c["id"].as_i64().unwrap(), w.body["id"].as_i64().unwrap())
}

#[tokio::test]
async fn field_mappings_take_only_case_values() {
    let app = TestApp::spawn().await;
    let (cred, ws) = setup(&app).await;
    let path = format!("/api/v1/credentials/{cred}/aliases");
    let alias = |mappings| {
        json!({"email_alias": "payroll1@example.com", "workspace_id": ws,
               "field_mappings": mappings})
    };
    let r = app.post(&path, &alias(json!({"priority": "P1"}))).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.rules(),
        vec![("field_mappings".to_string(), "unknown_priority".to_string())]
    );
    assert!(
        r.text.contains("use one of Low, Medium, High, Urgent"),
        "{}",
        r.text
    );
    let r = app.post(&path, &alias(json!({"status": "Done"}))).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.rules(),
        vec![("field_mappings".to_string(), "unknown_status".to_string())]
    );
    let r = app
        .post(
            &path,
            &alias(json!({"status": "in_progress", "priority": " high "})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["field_mappings"],
        json!({"status": "In Progress", "priority": "High"})
    );
}

#[tokio::test]
async fn a_database_with_free_text_values_still_reads_after_the_migration() {
    let mut app = TestApp::spawn().await;
    let (cred, ws) = setup(&app).await;
    let alias = json!({"email_alias": "payroll1@example.com", "workspace_id": ws});
    let a = app.create_alias(&json!(cred), &alias).await;
    let alias = a["id"].as_i64().unwrap();
    let project_type = a["project_type_id"].as_i64().unwrap();
    app.stop().await;
    // As an older version left it: free text in the cases and in an alias's field mappings,
    // and the migration not yet applied.
    let case = |key: &str, status: &str, priority: &str| {
        format!(
            "INSERT INTO cases (credential_id, workspace_id, project_type_id, message_key, subject, \
             issue, recipients, communication_method, status, priority, fields, routing, created_at) \
             VALUES ({cred}, {ws}, {project_type}, '{key}', 's', 'i', '{{}}', 'Email Integration', \
             '{status}', '{priority}', '{{\"communication_method\":\"Email Integration\"}}', '[]', 1)"
        )
    };
    app.run_sql(&[
        case("a", "in_progress", r#"P1 "now" \ later"#),
        case("b", "Waiting on client", "HIGH"),
        format!(
            r#"UPDATE aliases SET field_mappings = '{{"category":"Payroll","priority":"P1","status":"closed"}}' WHERE id = {alias}"#
        ),
        "DELETE FROM schema_migrations WHERE name = '0009_case_status_priority'".into(),
    ])
    .await;

    let out = app.cli(&["case", "list", "--json"], None);
    let cases: serde_json::Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
    let mut cases = cases.as_array().unwrap().clone();
    cases.sort_by_key(|c| c["id"].as_i64());
    let read: Vec<_> = cases
        .iter()
        .map(|c| {
            (
                c["status"].clone(),
                c["priority"].clone(),
                c["fields"].clone(),
            )
        })
        .collect();
    assert_eq!(
        read,
        vec![
            (
                json!("In Progress"),
                json!("Medium"),
                json!({"former_priority": r#"P1 "now" \ later"#,
                       "communication_method": "Email Integration"})
            ),
            (
                json!("New"),
                json!("High"),
                json!({"former_status": "Waiting on client",
                       "communication_method": "Email Integration"})
            ),
        ]
    );
    let out = app.cli(&["alias", "show", &alias.to_string(), "--json"], None);
    let shown: serde_json::Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
    assert_eq!(
        shown["field_mappings"],
        json!({"category": "Payroll", "status": "Closed"})
    );
}
