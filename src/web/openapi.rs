//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, built from `ROUTES` so that a
//! route cannot be added without being described (a test checks every route is listed).

use axum::Json;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// Every API route: method, path (OpenAPI style), summary, request schema, success status.
pub const ROUTES: &[(&str, &str, &str, Option<&str>, u16)] = &[
    ("get", "/api/v1/openapi.json", "This document", None, 200),
    ("get", "/api/v1/credentials", "List credentials", None, 200),
    (
        "post",
        "/api/v1/credentials",
        "Add a credential",
        Some("CredentialInput"),
        201,
    ),
    (
        "get",
        "/api/v1/credentials/{id}",
        "Credential details",
        None,
        200,
    ),
    (
        "patch",
        "/api/v1/credentials/{id}",
        "Edit every field but the password",
        Some("CredentialPatch"),
        200,
    ),
    (
        "delete",
        "/api/v1/credentials/{id}",
        "Delete a credential",
        None,
        204,
    ),
    (
        "post",
        "/api/v1/credentials/{id}/password",
        "Change Password",
        Some("PasswordChange"),
        200,
    ),
    (
        "get",
        "/api/v1/audit",
        "The audit log, newest first (?limit=&before=)",
        None,
        200,
    ),
];

fn credential_properties(with_password: bool) -> Value {
    let mut p = json!({
        "mailbox": {"type": "string", "format": "email", "description": "The mailbox address; the IMAP login unless username is given. Unique, case-insensitive."},
        "username": {"type": "string", "description": "Optional separate IMAP login name (empty clears)."},
        "host": {"type": "string", "description": "DNS name or IP literal, host alone (no scheme, no port)."},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 993},
        "use_secure_connection": {"type": "boolean", "default": true},
        "security": {"type": "string", "enum": ["tls", "starttls", "none"], "default": "tls"},
        "configuration_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 1000},
        "ca_bundle": {"type": "string", "description": "PEM certificates to trust for this server."},
        "pinned_sha256": {"type": "string", "description": "SHA-256 of the one server certificate to accept (hex)."},
        "enabled": {"type": "boolean", "default": true}
    });
    if with_password {
        p["password"] = json!({"type": "string", "writeOnly": true, "maxLength": 1024});
    }
    p
}

pub fn openapi_value() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, body, status) in ROUTES {
        let mut op = json!({
            "summary": summary,
            "security": [{"bearer": []}],
            "responses": {
                status.to_string(): {"description": "Success"},
                "401": {"$ref": "#/components/responses/Error"},
                "4XX": {"$ref": "#/components/responses/Error"}
            }
        });
        if path.contains("{id}") {
            op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
        }
        if let Some(schema) = body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
            });
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Mailroom API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "CredentialInput": {
                    "type": "object", "additionalProperties": false,
                    "required": ["mailbox", "password", "host", "configuration_name", "description"],
                    "properties": credential_properties(true)
                },
                "CredentialPatch": {
                    "type": "object", "additionalProperties": false,
                    "properties": credential_properties(false)
                },
                "PasswordChange": {
                    "type": "object", "additionalProperties": false,
                    "required": ["new_password", "confirm_password"],
                    "properties": {
                        "new_password": {"type": "string", "writeOnly": true},
                        "confirm_password": {"type": "string", "writeOnly": true}
                    }
                },
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "field": {"type": ["string", "null"]}
                    }}}
                }
            },
            "responses": {
                "Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }
    })
}

pub async fn document() -> impl IntoResponse {
    Json(openapi_value())
}
