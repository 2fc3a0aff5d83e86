//! Cross-cutting API behaviour: authentication on every route, the OpenAPI document, health,
//! and malformed input answered with JSON errors that store nothing.

use serde_json::json;

use crate::helpers::{TestApp, valid_credential};

fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{attachment_id}", "1")
}

#[tokio::test]
async fn every_api_route_requires_a_token() {
    let app = TestApp::spawn().await;
    app.create_credential(&valid_credential(1)).await;
    let routes = mailroom::web::api_routes();
    assert!(routes.len() > 40, "{routes:?}");
    for (method, path) in routes {
        let r = app
            .anonymous(&method.to_uppercase(), &concrete(&path))
            .await;
        assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.text);
        assert_eq!(r.error_code(), "unauthorized", "{method} {path}");
        let bad = app
            .client
            .request(
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                format!("{}{}", app.base, concrete(&path)),
            )
            .bearer_auth("mrt_not-a-real-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401, "{method} {path} with a wrong token");
        // RFC 6750: a 401 names the scheme to use.
        assert_eq!(
            bad.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
    }
    // Nothing was changed by the rejected requests.
    let list = app.get("/api/v1/credentials").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoked_token_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.app.create_token("test", "short-lived").await.unwrap();
    let ok = app
        .client
        .get(format!("{}/api/v1/credentials", app.base))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.app.revoke_token("test", t.id).await.unwrap();
    let refused = app
        .client
        .get(format!("{}/api/v1/credentials", app.base))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    // The document served is the one the router was built with.
    assert_eq!(&doc.body, mailroom::web::openapi_value());
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, item) in paths {
        for m in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            let documented = item[m.to_lowercase()].is_object();
            let r = app
                .raw(m, &concrete(path), "application/json", b"{}".to_vec())
                .await;
            // Every documented operation is answered…
            assert_ne!(r.body["error"]["message"], "Route not found.", "{m} {path}");
            // …and the router answers no method the document leaves out.
            assert_eq!(r.status == 405, !documented, "{m} {path}: {}", r.text);
        }
    }
    for preset in ["/api/v1/providers", "/api/v1/providers/detect"] {
        assert!(paths[preset]["get"]["operationId"].is_string(), "{preset}");
    }
}

/// A 201 names the new record in `Location`, and following it finds the record.
#[tokio::test]
async fn creates_answer_with_the_new_records_location() {
    let app = TestApp::spawn().await;
    let ws = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await;
    let cred = app
        .client
        .post(format!("{}/api/v1/credentials", app.base))
        .bearer_auth(&app.token)
        .json(&valid_credential(1))
        .send()
        .await
        .unwrap();
    assert_eq!(cred.status(), 201);
    let cred_location = cred.headers()["location"].to_str().unwrap().to_string();
    let cred: serde_json::Value = cred.json().await.unwrap();
    assert_eq!(cred_location, format!("/api/v1/credentials/{}", cred["id"]));
    let creates = [
        ("/api/v1/workspaces", json!({"name": "Benefits"})),
        (
            "/api/v1/clients",
            json!({"name": "Acme", "default_workspace_id": ws.body["id"]}),
        ),
        (
            &*format!("/api/v1/credentials/{}/aliases", cred["id"]),
            json!({"email_alias": "payroll@example.com", "workspace_id": ws.body["id"]}),
        ),
    ];
    for (path, body) in creates {
        let r = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let made: serde_json::Value = r.json().await.unwrap();
        let found = app.get(&location).await;
        assert_eq!(
            (found.status, &found.body),
            (200, &made),
            "{path} → {location}"
        );
    }
    let found = app.get(&cred_location).await;
    assert_eq!((found.status, &found.body["id"]), (200, &cred["id"]));
}

/// `PATCH {}` is an edit of no field: 200 with the record's fields as they were; like any edit
/// it is stamped (`updated_at`, `updated_by`) and in the audit log.
#[tokio::test]
async fn an_empty_patch_changes_no_field() {
    let app = TestApp::spawn().await;
    let cred = app.create_credential(&valid_credential(1)).await;
    let ws = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await
        .body;
    for (path, before) in [
        (format!("/api/v1/credentials/{}", cred["id"]), cred),
        (format!("/api/v1/workspaces/{}", ws["id"]), ws),
    ] {
        let r = app.patch(&path, &json!({})).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let after = app.get(&path).await.body;
        for (field, value) in before.as_object().unwrap() {
            if field != "updated_at" && field != "last_test" && field != "health" {
                assert_eq!(&after[field], value, "{path} {field}");
            }
        }
        let audit = app.get("/api/v1/audit?limit=1").await.body["items"][0].clone();
        assert_eq!(audit["target_id"], before["id"], "{path}: {audit}");
        assert!(
            audit["action"].as_str().unwrap().ends_with("update"),
            "{audit}"
        );
    }
}

/// An import that only repeats values stored records have answers 409, as a create does; one
/// whose rows are wrong in themselves answers 422. Either way nothing is imported.
#[tokio::test]
async fn an_import_of_taken_names_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/workspaces", &json!({"name": "North"}))
        .await;
    let taken = app
        .post("/api/v1/workspaces/import", &json!([{"name": "north"}]))
        .await;
    assert_eq!(
        (taken.status, taken.error_code()),
        (409, "import_rejected"),
        "{}",
        taken.text
    );
    assert_eq!(taken.body["error"]["rows"][0]["rule"], "conflict");
    let twice = app
        .post(
            "/api/v1/workspaces/import",
            &json!([{"name": "South"}, {"name": "SOUTH"}]),
        )
        .await;
    assert_eq!(
        (twice.status, twice.error_code()),
        (422, "import_rejected"),
        "{}",
        twice.text
    );
    let items = app.get("/api/v1/workspaces").await.body["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
}

/// `since` and `until` take RFC 3339 times with any offset, and dates before 1970.
#[tokio::test]
async fn case_time_filters_take_offsets_and_dates_before_1970() {
    use crate::dovecot::{Dovecot, USER};
    use crate::processing::{connect_mailbox, deliver, email};
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, ..) = connect_mailbox(&app, &d, true).await;
    deliver(&d, "one.mr", &email(1, USER, "", "hello"), false);
    let poll = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(poll.body["cases_created"], 1, "{}", poll.text);
    let case = app.get("/api/v1/cases").await.body["items"][0].clone();
    let created = case["created_at"].as_i64().unwrap();
    // An instant written five hours behind UTC.
    let at = |ms: i64| {
        let t =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis((ms - 5 * 3_600_000) as u64);
        humantime::format_rfc3339_millis(t)
            .to_string()
            .replace('Z', "-05:00")
    };
    let count = |query: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/v1/cases?{query}")).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text);
            r.body["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count(format!("since={}", at(created))).await, 1);
    assert_eq!(count(format!("since={}", at(created + 1))).await, 0);
    assert_eq!(count(format!("until={}", at(created))).await, 0);
    assert_eq!(count(format!("until={}", at(created + 1))).await, 1);
    assert_eq!(count("since=1969-07-20T20:17:00Z".into()).await, 1);
    assert_eq!(count("until=1969-07-20T20:17:00%2B01:00".into()).await, 0);
    assert_eq!(count("since=2999-01-01T00:00:00%2B02:00".into()).await, 0);
    let bad = app.get("/api/v1/cases?since=yesterday").await;
    assert_eq!(
        (bad.status, bad.error_field()),
        (400, "since"),
        "{}",
        bad.text
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let h = app.anonymous("GET", "/healthz").await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = app.anonymous("GET", "/readyz").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ready")));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/nothing-here").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = app.get("/api/v1/credentials/not-a-number").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = app.get("/api/v1/credentials/999").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = app
        .raw(
            "PUT",
            "/api/v1/credentials/1",
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
}

/// Every malformed body gets a 4xx JSON error, and none of them stores anything.
#[tokio::test]
async fn malformed_input_is_rejected_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(1_000_000);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            b"{\"mailbox\": ".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            b"not json at all".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            b"[1, 2, 3]".to_vec(),
            422,
            "invalid_type",
        ),
        (
            "application/json",
            b"{\"port\": \"993\"}".to_vec(),
            422,
            "invalid_type",
        ),
        (
            "application/json",
            b"{\"port\": 99999999999999999999}".to_vec(),
            422,
            "invalid_type",
        ),
        (
            "application/json",
            b"{\"use_secure_connection\": \"yes\"}".to_vec(),
            422,
            "invalid_type",
        ),
        (
            "application/json",
            b"{\"mailbox\": 42}".to_vec(),
            422,
            "invalid_type",
        ),
        (
            "application/json",
            b"{\"surprise\": 1}".to_vec(),
            422,
            "unknown_field",
        ),
        (
            "application/json",
            b"{\"mailbox\": \"\xff\xfe@example.com\"}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            b"{} trailing".to_vec(),
            400,
            "invalid_json",
        ),
        ("text/plain", b"{}".to_vec(), 415, "unsupported_media_type"),
        (
            "application/json",
            serde_json::to_vec(&crate::helpers::with(
                valid_credential(1),
                json!({"description": huge}),
            ))
            .unwrap(),
            422,
            "validation_failed",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"description": "y".repeat(3_000_000)})).unwrap(),
            413,
            "payload_too_large",
        ),
    ];
    for (ct, body, status, code) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).to_string();
        let r = app.raw("POST", "/api/v1/credentials", ct, body).await;
        assert_eq!(
            r.status,
            status,
            "{preview}: {}",
            &r.text[..r.text.len().min(300)]
        );
        assert_eq!(r.error_code(), code, "{preview}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let r = app
        .raw(
            "POST",
            "/api/v1/credentials",
            "application/json",
            b"{\"surprise\": 1}".to_vec(),
        )
        .await;
    assert_eq!(r.error_field(), "surprise");
    let r = app
        .raw(
            "POST",
            "/api/v1/credentials",
            "application/json",
            b"{\"port\": \"993\"}".to_vec(),
        )
        .await;
    assert_eq!(r.error_field(), "port");
    let list = app.get("/api/v1/credentials").await;
    assert_eq!(list.body["items"], json!([]));
}
