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
    for (method, path, ..) in mailroom::web::api_routes() {
        let r = app.anonymous(&method.to_uppercase(), &concrete(path)).await;
        assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.text);
        assert_eq!(r.error_code(), "unauthorized", "{method} {path}");
        let bad = app
            .client
            .request(
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                format!("{}{}", app.base, concrete(path)),
            )
            .bearer_auth("mrt_not-a-real-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401, "{method} {path} with a wrong token");
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
    for (method, path, ..) in mailroom::web::api_routes() {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} missing from openapi.json"
        );
    }
    // And every listed route is one the router really answers.
    for (method, path, ..) in mailroom::web::api_routes() {
        let m = method.to_uppercase();
        let r = app
            .raw(&m, &concrete(path), "application/json", b"{}".to_vec())
            .await;
        assert_ne!(r.status, 405, "{m} {path}");
        assert_ne!(r.body["error"]["message"], "Route not found.", "{m} {path}");
    }
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
