//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, built from `api_routes()` — the
//! hand-written `ROUTES` and the routes and request schemas of every kind of reference record,
//! from its `Spec` — so that a route cannot be added without being described (a test checks
//! every route is listed).

use std::sync::LazyLock;

use axum::Json;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::domain::{Kind, Spec, record_specs};

/// One API route: method, path (OpenAPI style), summary, request schema, success status.
pub type Route = (&'static str, String, String, Option<String>, u16);

/// The API routes besides those of reference records (see `api_routes`).
pub const ROUTES: &[(&str, &str, &str, Option<&str>, u16)] = &[
    ("get", "/api/v1/oauth-apps", "List OAuth apps", None, 200),
    (
        "post",
        "/api/v1/oauth-apps",
        "Add an OAuth app (presets fill endpoints and scopes for microsoft and google)",
        Some("OAuthAppInput"),
        201,
    ),
    (
        "get",
        "/api/v1/oauth-apps/{id}",
        "OAuth app details",
        None,
        200,
    ),
    (
        "patch",
        "/api/v1/oauth-apps/{id}",
        "Edit an OAuth app (a change of provider, client, tenant, token URL or flow signs its credentials out)",
        Some("OAuthAppInput"),
        200,
    ),
    (
        "delete",
        "/api/v1/oauth-apps/{id}",
        "Delete an unused OAuth app",
        None,
        204,
    ),
    (
        "post",
        "/api/v1/credentials/{id}/oauth/authorize",
        "Start Sign in for an oauth2 credential: the provider URL to open ({authorization_url})",
        None,
        200,
    ),
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
        "get",
        "/api/v1/cases/{id}/original",
        "The original email, byte for byte as the server sent it (message/rfc822)",
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

/// Every API route: `ROUTES`, then six for each kind of reference record.
pub fn api_routes() -> &'static [Route] {
    static ALL: LazyLock<Vec<Route>> = LazyLock::new(|| {
        let fixed = ROUTES.iter().map(|(method, path, summary, body, status)| {
            let body = body.map(str::to_string);
            (
                *method,
                path.to_string(),
                summary.to_string(),
                body,
                *status,
            )
        });
        fixed
            .chain(record_specs().into_iter().flat_map(record_routes))
            .collect()
    });
    &ALL
}

fn record_routes(spec: &Spec) -> [Route; 6] {
    let base = format!("/api/v1/{}", spec.path);
    let one = format!("{base}/{{id}}");
    let input = Some(format!("{}Input", spec.schema));
    let (a, plural) = (spec.a(), spec.plural);
    [
        ("get", base.clone(), format!("List {plural}"), None, 200),
        ("post", base.clone(), format!("Add {a}"), input.clone(), 201),
        (
            "post",
            format!("{base}/import"),
            format!("Import {plural} (all or nothing)"),
            Some(format!("{}Import", spec.schema)),
            201,
        ),
        (
            "get",
            one.clone(),
            format!("{} details", spec.title()),
            None,
            200,
        ),
        (
            "patch",
            one.clone(),
            format!("Edit {a} (absent fields kept, null clears)"),
            input,
            200,
        ),
        (
            "delete",
            one,
            format!("Delete {a} (refused while anything uses it)"),
            None,
            204,
        ),
    ]
}

/// `{schema}Input` and `{schema}Import` of every kind of reference record, from its fields.
fn record_schemas() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for spec in record_specs() {
        let mut properties = serde_json::Map::new();
        for f in spec.fields {
            let (kind, format) = match f.kind {
                Kind::Text => ("string", None),
                Kind::Email => ("string", Some("email")),
                Kind::List { .. } => ("array", None),
                Kind::Ref(_) => ("integer", None),
            };
            let mut p = match f.required {
                true => json!({"type": kind}),
                false => json!({"type": [kind, "null"]}),
            };
            if let Some(format) = format {
                p["format"] = json!(format);
            }
            if let Kind::List { .. } = f.kind {
                p["items"] = json!({"type": "string"});
            }
            if f.max_chars > 0 {
                p["maxLength"] = json!(f.max_chars);
            }
            let about = match f.kind {
                Kind::Ref(to) => format!("The id of {}. {}", to.a(), f.hint),
                _ => f.hint.to_string(),
            };
            if !about.trim().is_empty() {
                p["description"] = json!(about.trim());
            }
            properties.insert(f.name.to_string(), p);
        }
        let required: Vec<&str> = spec
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        m.insert(
            format!("{}Input", spec.schema),
            json!({"type": "object", "additionalProperties": false,
                "required": required, "properties": properties}),
        );
        m.insert(
            format!("{}Import", spec.schema),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{}Input", spec.schema)}}),
        );
    }
    m
}

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
        "enabled": {"type": "boolean", "default": true},
        "auth_method": {"type": "string", "enum": ["password", "oauth2"], "default": "password"},
        "oauth_app_id": {"type": "integer", "description": "The OAuth app of an oauth2 credential (which has no password)."}
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
    for (method, path, summary, body, status) in api_routes() {
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
                "OAuthAppInput": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "maxLength": 100},
                        "provider": {"type": "string", "enum": ["microsoft", "google", "custom"]},
                        "flow": {"type": "string", "enum": ["authorization_code", "client_credentials"], "default": "authorization_code"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "writeOnly": true, "description": "Sealed; never shown (has_client_secret). Optional for a public client with PKCE."},
                        "tenant": {"type": "string", "description": "Microsoft: the directory id or domain (not common)."},
                        "authorize_url": {"type": "string", "format": "uri"},
                        "token_url": {"type": "string", "format": "uri", "description": "https (http only to loopback)."},
                        "scopes": {"type": "string"}
                    }
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
        schemas.extend(record_schemas());
    }
    doc
}

/// Request schemas of aliases and the routing dry run.
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
