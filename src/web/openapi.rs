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
        "Edit a credential (the password is needed again when host, port, security, login name or trust change)",
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
        "post",
        "/api/v1/connection-tests",
        "Test Connection on unsaved form values (password included)",
        Some("ConnectionTestInput"),
        200,
    ),
    (
        "post",
        "/api/v1/credentials/{id}/connection-tests",
        "Test Connection on a stored credential (optional overrides; other connection values need the password)",
        Some("ConnectionTestOverrides"),
        200,
    ),
    (
        "get",
        "/api/v1/audit",
        "The audit log, newest first (?limit=&before=)",
        None,
        200,
    ),
    (
        "get",
        "/api/v1/credentials/{id}/aliases",
        "A credential's aliases",
        None,
        200,
    ),
    (
        "post",
        "/api/v1/credentials/{id}/aliases",
        "Add an alias to a credential",
        Some("AliasInput"),
        201,
    ),
    ("get", "/api/v1/aliases", "Every alias", None, 200),
    ("get", "/api/v1/aliases/{id}", "Alias details", None, 200),
    (
        "patch",
        "/api/v1/aliases/{id}",
        "Edit an alias (absent fields kept, null clears)",
        Some("AliasPatch"),
        200,
    ),
    (
        "delete",
        "/api/v1/aliases/{id}",
        "Delete an alias",
        None,
        204,
    ),
    (
        "post",
        "/api/v1/routing/resolve",
        "Dry run: where mail to these recipients from this sender would go, and why",
        Some("RouteRequest"),
        200,
    ),
    (
        "get",
        "/api/v1/exceptions",
        "The exception log, newest first (?limit=&before=&credential_id=)",
        None,
        200,
    ),
    ("get", "/api/v1/workspaces", "List workspaces", None, 200),
    (
        "post",
        "/api/v1/workspaces",
        "Add a workspace",
        Some("NamedInput"),
        201,
    ),
    (
        "post",
        "/api/v1/workspaces/import",
        "Import workspaces (all or nothing)",
        Some("NamedImport"),
        201,
    ),
    (
        "get",
        "/api/v1/workspaces/{id}",
        "Workspace details",
        None,
        200,
    ),
    (
        "patch",
        "/api/v1/workspaces/{id}",
        "Rename a workspace",
        Some("NamedInput"),
        200,
    ),
    (
        "delete",
        "/api/v1/workspaces/{id}",
        "Delete a workspace nothing uses",
        None,
        204,
    ),
    (
        "get",
        "/api/v1/project-types",
        "List project types",
        None,
        200,
    ),
    (
        "post",
        "/api/v1/project-types",
        "Add a project type",
        Some("NamedInput"),
        201,
    ),
    (
        "post",
        "/api/v1/project-types/import",
        "Import project types (all or nothing)",
        Some("NamedImport"),
        201,
    ),
    (
        "get",
        "/api/v1/project-types/{id}",
        "Project type details",
        None,
        200,
    ),
    (
        "patch",
        "/api/v1/project-types/{id}",
        "Rename a project type",
        Some("NamedInput"),
        200,
    ),
    (
        "delete",
        "/api/v1/project-types/{id}",
        "Delete a project type no alias uses",
        None,
        204,
    ),
    ("get", "/api/v1/clients", "List clients", None, 200),
    (
        "post",
        "/api/v1/clients",
        "Add a client",
        Some("ClientInput"),
        201,
    ),
    (
        "post",
        "/api/v1/clients/import",
        "Import clients (all or nothing)",
        Some("ClientImport"),
        201,
    ),
    ("get", "/api/v1/clients/{id}", "Client details", None, 200),
    (
        "patch",
        "/api/v1/clients/{id}",
        "Edit a client",
        Some("ClientInput"),
        200,
    ),
    (
        "delete",
        "/api/v1/clients/{id}",
        "Delete a client no alias or contact uses",
        None,
        204,
    ),
    ("get", "/api/v1/contacts", "List contacts", None, 200),
    (
        "post",
        "/api/v1/contacts",
        "Add a contact",
        Some("ContactInput"),
        201,
    ),
    (
        "post",
        "/api/v1/contacts/import",
        "Import contacts (all or nothing)",
        Some("ContactImport"),
        201,
    ),
    ("get", "/api/v1/contacts/{id}", "Contact details", None, 200),
    (
        "patch",
        "/api/v1/contacts/{id}",
        "Edit a contact",
        Some("ContactInput"),
        200,
    ),
    (
        "delete",
        "/api/v1/contacts/{id}",
        "Delete a contact",
        None,
        204,
    ),
    (
        "post",
        "/api/v1/credentials/{id}/poll",
        "Run a poll of this credential now",
        None,
        200,
    ),
    (
        "get",
        "/api/v1/cases",
        "List cases (?credential_id=&alias_id=&workspace_id=&since=&until=&limit=&before=)",
        None,
        200,
    ),
    (
        "get",
        "/api/v1/cases/{id}",
        "Case details with its attachments",
        None,
        200,
    ),
    (
        "get",
        "/api/v1/cases/{id}/attachments/{attachment_id}",
        "An attachment's bytes",
        None,
        200,
    ),
    (
        "post",
        "/api/v1/exceptions/{id}/retry",
        "Retry an exception-log entry (routing again)",
        None,
        200,
    ),
    (
        "get",
        "/api/v1/providers",
        crate::domain::providers::PRESETS_SUMMARY,
        None,
        200,
    ),
    (
        "get",
        "/api/v1/providers/detect",
        "Guess a mailbox's provider (?mailbox=): its domain, then MX records, then RFC 6186 _imaps._tcp SRV; answers found_by (domain, mx, srv or none, with the reason), the preset and host, port and security",
        None,
        200,
    ),
];

/// How the password goes with a change of where it is sent (SPEC §1.3).
const PASSWORD_AGAIN: &str = "The mailbox password, needed again (else 422, code password_required, field password) when the change alters the host, port, security, login name, ca_bundle or pinned_sha256: a stored password is only sent to the server it was saved for. When given, it replaces the stored password.";

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
    p["password"] = if with_password {
        json!({"type": "string", "writeOnly": true, "maxLength": 1024})
    } else {
        json!({"type": "string", "writeOnly": true, "maxLength": 1024, "description": PASSWORD_AGAIN})
    };
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
        let params: Vec<Value> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split('}').next())
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
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
    let mut doc = json!({
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
                    "description": "Any subset of the fields. Changing where the password goes needs the password in the same request.",
                    "properties": credential_properties(false)
                },
                "ConnectionTestInput": {
                    "type": "object", "additionalProperties": false,
                    "required": ["mailbox", "password", "host"],
                    "properties": credential_properties(true)
                },
                "ConnectionTestOverrides": {
                    "type": "object", "additionalProperties": false,
                    "description": "Values to test instead of the saved ones (not saved). Without password, the stored password is used, and only with the saved host, port, security, login name and trust.",
                    "properties": {
                        "mailbox": {"type": "string", "format": "email"},
                        "username": {"type": "string"},
                        "password": {"type": "string", "writeOnly": true, "maxLength": 1024, "description": PASSWORD_AGAIN},
                        "host": {"type": "string"},
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "use_secure_connection": {"type": "boolean"},
                        "security": {"type": "string", "enum": ["tls", "starttls", "none"]},
                        "ca_bundle": {"type": "string"},
                        "pinned_sha256": {"type": "string"}
                    }
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
    });
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(alias_schemas());
    }
    doc
}

/// Request schemas of aliases, reference data and the routing dry run.
fn alias_schemas() -> serde_json::Map<String, Value> {
    let alias = json!({
        "email_alias": {"type": "string", "format": "email", "description": "Unique across all aliases, case-insensitive."},
        "is_default": {"type": "boolean", "default": false, "description": "At most one per credential."},
        "workspace_id": {"type": "integer"},
        "project_type_id": {"type": "integer", "description": "Default: Client Service Case."},
        "client_id": {"type": ["integer", "null"]},
        "always_use_default_workspace": {"type": "boolean", "default": false},
        "include_attachments": {"type": "boolean", "default": true},
        "reply_template_id": {"type": ["integer", "null"], "description": "null = No Reply."},
        "field_mappings": {"type": ["object", "null"], "additionalProperties": {"type": "string"},
            "propertyNames": {"enum": crate::domain::FIELD_MAPPING_NAMES}}
    });
    let client = json!({
        "name": {"type": "string", "maxLength": 200},
        "client_number": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{1,50}$", "description": "Named in emails as CLID=<client number>."},
        "email_domains": {"type": ["array", "null"], "items": {"type": "string"}},
        "default_workspace_id": {"type": "integer"}
    });
    let contact = json!({
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string", "maxLength": 200},
        "client_id": {"type": ["integer", "null"]},
        "workspace_id": {"type": "integer"}
    });
    let named = json!({"name": {"type": "string", "maxLength": 200}});
    let list = json!({"type": "array", "items": {"type": "string", "format": "email"}});
    let mut m = serde_json::Map::new();
    let mut put = |name: &str, v: Value| {
        m.insert(name.to_string(), v);
    };
    put(
        "AliasInput",
        json!({"type": "object", "additionalProperties": false,
        "required": ["email_alias", "workspace_id"], "properties": alias}),
    );
    put(
        "AliasPatch",
        json!({"type": "object", "additionalProperties": false, "properties": alias}),
    );
    put(
        "NamedInput",
        json!({"type": "object", "additionalProperties": false,
        "required": ["name"], "properties": named}),
    );
    put(
        "NamedImport",
        json!({"type": "array", "items": {"$ref": "#/components/schemas/NamedInput"}}),
    );
    put(
        "ClientInput",
        json!({"type": "object", "additionalProperties": false,
        "required": ["name", "default_workspace_id"], "properties": client}),
    );
    put(
        "ClientImport",
        json!({"type": "array", "items": {"$ref": "#/components/schemas/ClientInput"}}),
    );
    put(
        "ContactInput",
        json!({"type": "object", "additionalProperties": false,
        "required": ["email", "name", "workspace_id"], "properties": contact}),
    );
    put(
        "ContactImport",
        json!({"type": "array", "items": {"$ref": "#/components/schemas/ContactInput"}}),
    );
    put(
        "RouteRequest",
        json!({"type": "object", "additionalProperties": false,
        "required": ["from"],
        "properties": {
            "credential_id": {"type": "integer", "description": "Match only this credential's aliases."},
            "to": list, "cc": list, "delivered_to": list, "x_original_to": list,
            "from": {"type": "string", "format": "email"},
            "body": {"type": "string", "description": "Searched for WSID=<id> and CLID=<client number>."}
        }}),
    );
    m
}

pub async fn document() -> impl IntoResponse {
    Json(openapi_value())
}
