//! Writes that arrive at once: on SQLite every transaction takes the write lock first, so a
//! delete (which reads, then writes) beside other writes waits its turn instead of failing with
//! "database is locked" (found by Schemathesis with two workers).

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn concurrent_creates_edits_and_deletes_all_succeed(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let r = app
            .post("/api/v1/workspaces", &json!({"name": format!("Old {i}")}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    let app = &app;
    let (deletes, edits, creates) = tokio::join!(
        join_all(
            ids[..12]
                .iter()
                .map(|id| async move { app.delete(&format!("/api/v1/workspaces/{id}")).await })
        ),
        join_all(ids[12..].iter().map(|id| async move {
            let body = json!({"name": format!("Edited {id}")});
            app.patch(&format!("/api/v1/workspaces/{id}"), &body).await
        })),
        join_all((0..12).map(|i| async move {
            let body = json!({"name": format!("New {i}")});
            app.post("/api/v1/workspaces", &body).await
        })),
    );
    for (what, answers, expected) in [
        ("delete", &deletes, 204),
        ("edit", &edits, 200),
        ("create", &creates, 201),
    ] {
        for r in answers {
            assert_eq!(r.status, expected, "{what}: {}", r.text);
        }
    }
    let r = app.get("/api/v1/workspaces").await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 24, "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("Edited ")).count(),
        12,
        "{names:?}"
    );
}

#[tokio::test]
async fn concurrent_writes_on_sqlite() {
    concurrent_creates_edits_and_deletes_all_succeed(Backend::Sqlite).await;
}

#[tokio::test]
async fn concurrent_writes_on_postgres() {
    concurrent_creates_edits_and_deletes_all_succeed(Backend::Postgres).await;
}
