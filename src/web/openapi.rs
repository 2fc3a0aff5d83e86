//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, generated from the code: every
//! handler's `#[utoipa::path]` and the `ToSchema` of the types it reads and answers, gathered by
//! `api::routes()` — the same `OpenApiRouter` that builds the API's router, so a route cannot be
//! served without being described. The routes of reference records come from their `Spec`
//! (`record_paths`). `finish` then adds what holds for every operation (the error answers, the
//! bearer scheme), the create schemas with their required fields, the limits taken from the
//! domain's constants, and links from each 201 to the record's other operations.

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, Paths, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{Content, Ref, Required, ResponseBuilder};

use utoipa_axum::router::OpenApiRouter;

use super::SharedApp;
use crate::domain::{FIELD_MAPPING_NAMES, Kind, Spec, limits, record_specs};

/// The finished document.
pub fn openapi_value() -> &'static Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        let doc = OpenApiRouter::<SharedApp>::new()
            .nest("/api/v1", super::api::routes())
            .into_openapi();
        finish(serde_json::to_value(doc).unwrap_or_default())
    });
    &DOC
}

/// Every API operation in the document: (method, path).
pub fn api_routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = openapi_value()["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out
}

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "get_openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Json<&'static Value> {
    Json(openapi_value())
}

// ---- The routes of one kind of reference record, from its `Spec`. ----

/// The operations of one kind of record, one `Paths` per path (`OpenApiRouter::routes` takes
/// one path at a time): the collection, its import, one record.
pub fn record_paths(spec: &Spec) -> [Paths; 3] {
    let base = format!("/{}", spec.path);
    let (s, noun, plural) = (spec.schema, spec.noun, spec.plural.replace(' ', "_"));
    let tag = spec.path;
    let op = |id: String, summary: String| {
        OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .tag(tag)
    };
    let id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(format!("The {}'s id", spec.label)))
        .schema(Some(<i64 as utoipa::PartialSchema>::schema()))
        .build();
    let (a, title) = (spec.a(), spec.title());
    let list = op(format!("list_{plural}"), format!("List {}", spec.plural)).response(
        "200",
        answer(&format!("Every {}", spec.label), &format!("{s}List")),
    );
    let create = op(format!("create_{noun}"), format!("Add {a}"))
        .request_body(Some(body(&format!("{s}Input"))))
        .response("201", answer("Created", s))
        .response(
            "409",
            error(&format!("A unique value is another {}'s", spec.label)),
        );
    let import = op(
        format!("import_{plural}"),
        format!("Import {} (all or nothing)", spec.plural),
    )
    .description(Some(
        "Every row is checked first; one bad row (a missing or invalid field, an unknown reference, \
         a value another record or row already has) imports nothing and answers 422 \
         `import_rejected` listing every bad row in `rows` — also for a duplicate, which a single \
         create answers with 409, so that one answer names every row to fix.",
    ))
    .request_body(Some(body(&format!("{s}Import"))))
    .response("201", answer("Every row imported", "ImportReport"));
    let show = op(format!("get_{noun}"), format!("{title} details"))
        .parameter(id.clone())
        .response("200", answer(&format!("The {}", spec.label), s));
    let update = op(format!("update_{noun}"), format!("Edit {a}"))
        .description(Some(
            "Absent fields are kept and `null` clears an optional one; `{}` changes no field but \
             is still an edit (`updated_at`, `updated_by` and an audit entry).",
        ))
        .parameter(id.clone())
        .request_body(Some(body(&format!("{s}Patch"))))
        .response("200", answer("The record after the change", s))
        .response(
            "409",
            error(&format!("A unique value is another {}'s", spec.label)),
        );
    let delete = op(format!("delete_{noun}"), format!("Delete {a}"))
        .parameter(id)
        .response("204", ResponseBuilder::new().description("Deleted").build())
        .response(
            "409",
            error("Refused while anything uses it (named in the message), or a built-in record"),
        );
    let mut collection = PathItem::new(HttpMethod::Get, list);
    collection.merge_operations(PathItem::new(HttpMethod::Post, create));
    let mut one = PathItem::new(HttpMethod::Get, show);
    one.merge_operations(PathItem::new(HttpMethod::Patch, update));
    one.merge_operations(PathItem::new(HttpMethod::Delete, delete));
    [
        PathsBuilder::new().path(base.clone(), collection).build(),
        PathsBuilder::new()
            .path(
                format!("{base}/import"),
                PathItem::new(HttpMethod::Post, import),
            )
            .build(),
        PathsBuilder::new()
            .path(format!("{base}/{{id}}"), one)
            .build(),
    ]
}

fn body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
}

fn answer(description: &str, schema: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
}

fn error(description: &str) -> utoipa::openapi::Response {
    answer(description, "Error")
}

/// The schemas of every kind of record, from its fields: the record (`{schema}`), the list
/// answer, the create form (`{schema}Input`, required fields required), the edit form
/// (`{schema}Patch`, nothing required) and the import (`{schema}Import`).
fn record_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    for spec in record_specs() {
        let mut properties = Map::new();
        let mut shown = Map::new();
        shown.insert("id".into(), json!({"type": "integer", "format": "int64"}));
        for f in spec.fields {
            let mut p = match f.kind {
                Kind::Text => json!({"type": "string", "minLength": 1}),
                Kind::Email => json!({"type": "string", "format": "email"}),
                Kind::List { .. } => {
                    json!({"type": "array", "items": {"type": "string", "minLength": 1}})
                }
                Kind::Ref(_) => json!({"type": "integer", "format": "int64", "minimum": 1}),
            };
            if f.max_chars > 0 {
                let at = if let Kind::List { .. } = f.kind {
                    &mut p["items"]
                } else {
                    &mut p
                };
                at["maxLength"] = json!(f.max_chars);
            }
            let about = match f.kind {
                Kind::Ref(to) => format!("The id of {}. {}", to.a(), f.hint),
                _ => f.hint.to_string(),
            };
            if !about.trim().is_empty() {
                p["description"] = json!(about.trim());
            }
            let out = match (f.kind, f.required) {
                (Kind::List { .. }, _) => json!({"type": "array", "items": {"type": "string"}}),
                (Kind::Ref(_), true) => json!({"type": "integer", "format": "int64"}),
                (Kind::Ref(_), false) => json!({"type": ["integer", "null"], "format": "int64"}),
                (_, true) => json!({"type": "string"}),
                (_, false) => json!({"type": ["string", "null"]}),
            };
            shown.insert(f.name.to_string(), out);
            if !f.required {
                p = json!({"anyOf": [p, {"type": "null"}]});
            }
            properties.insert(f.name.to_string(), p);
        }
        for stamp in ["created_at", "updated_at"] {
            shown.insert(
                stamp.into(),
                json!({"type": "string", "format": "date-time"}),
            );
        }
        for who in ["created_by", "updated_by"] {
            shown.insert(who.into(), json!({"type": "string"}));
        }
        let required: Vec<&str> = spec
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        let s = spec.schema;
        let all: Vec<&String> = shown.keys().collect();
        m.insert(
            s.to_string(),
            json!({"type": "object", "required": all, "properties": shown}),
        );
        m.insert(
            format!("{s}List"),
            json!({"type": "object", "required": ["items"], "properties":
                {"items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{s}")}}}}),
        );
        m.insert(
            format!("{s}Input"),
            json!({"type": "object", "additionalProperties": false,
                "required": required, "properties": properties}),
        );
        m.insert(
            format!("{s}Patch"),
            json!({"type": "object", "additionalProperties": false, "properties": properties,
                "description": PATCH}),
        );
        m.insert(
            format!("{s}Import"),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{s}Input")}}),
        );
    }
    m
}

// ---- What holds for every operation, and what the derives cannot say. ----

const PATCH: &str = "Any subset of the fields: absent fields are kept, null clears an optional one; `{}` changes no field but is still an edit.";

/// The create and test forms: the edit form's fields with the required ones required.
const REQUIRED: &[(&str, &str, &[&str])] = &[
    (
        "CredentialInput",
        "CredentialPatch",
        &["mailbox", "host", "configuration_name", "description"],
    ),
    (
        "ConnectionTestInput",
        "CredentialPatch",
        &["mailbox", "host"],
    ),
    ("AliasInput", "AliasPatch", &["email_alias", "workspace_id"]),
    (
        "OAuthAppInput",
        "OAuthAppPatch",
        &["name", "provider", "client_id"],
    ),
];

fn finish(mut doc: Value) -> Value {
    doc["info"] = json!({
        "title": "Mailroom API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Every route needs `Authorization: Bearer <token>` (`mailroom token create`). \
            Errors answer `{\"error\": {code, message, field, …}}` (the Error schema)."
    });
    doc["security"] = json!([{"bearer": []}]);
    let schemas = &mut doc["components"]["schemas"];
    if let Some(map) = schemas.as_object_mut() {
        map.extend(record_schemas());
        for (input, patch, required) in REQUIRED {
            let mut s = map.get(*patch).cloned().unwrap_or_default();
            for field in *required {
                if let Some(p) = s.pointer_mut(&format!("/properties/{field}")) {
                    not_null(p);
                }
            }
            s["required"] = json!(required);
            s["description"] = json!("The fields of a new record; the required ones are required.");
            map.insert((*input).to_string(), s);
        }
        for (_, patch, _) in REQUIRED {
            if let Some(p) = map.get_mut(*patch) {
                p["description"] = json!(PATCH);
            }
        }
    }
    always_present(schemas);
    let missed = limits_and_rules(schemas);
    if !missed.is_empty() {
        tracing::warn!(?missed, "OpenAPI rules for properties that are not there");
    }
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API token"}
    });
    doc["components"]["headers"] = json!({
        "WWW-Authenticate": {"description": "`Bearer`: the scheme to authenticate with",
            "schema": {"type": "string"}}
    });
    let created = created_links(&doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (_, item) in paths.iter_mut() {
            for (_, op) in item.as_object_mut().into_iter().flatten() {
                common_answers(op);
                let id = op["operationId"].as_str().unwrap_or("").to_string();
                if let Some(links) = created.iter().find(|(from, _)| *from == id) {
                    op["responses"]["201"]["links"] = links.1.clone();
                }
            }
        }
    }
    doc
}

/// Answers serialise every field, `null` included (only the error body leaves some out): every
/// property of an answer's schema is required. Request forms are the schemas that refuse
/// unknown properties.
fn always_present(schemas: &mut Value) {
    for (name, schema) in schemas.as_object_mut().into_iter().flatten() {
        let parts: Vec<&mut Value> = if schema.get("allOf").is_some() {
            schema["allOf"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .collect()
        } else {
            vec![schema]
        };
        for part in parts {
            let request = part["additionalProperties"] == json!(false);
            let Some(keys) = part["properties"].as_object().map(|p| p.keys().cloned()) else {
                continue;
            };
            if !request && name != "ErrorDetail" {
                part["required"] = json!(keys.collect::<Vec<_>>());
            }
        }
    }
}

/// A required property: `null` is not a value it takes.
fn not_null(property: &mut Value) {
    if let Some(types) = property.get("type").and_then(Value::as_array) {
        let left: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        property["type"] = match left.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(left),
        };
    }
    if let Some(values) = property.get_mut("enum").and_then(Value::as_array_mut) {
        values.retain(|v| !v.is_null());
    }
}

/// Path ids are at least 1. The answers every operation can give besides its own: 401 (with
/// `WWW-Authenticate`), 500;
/// 404 where the path names a record; 400/413/415/422 where a body is read; 400 for a query.
fn common_answers(op: &mut Value) {
    let error = |description: &str| {
        json!({"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    };
    let has = |op: &Value, place: &str| {
        op["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["in"] == place))
    };
    // Ids are positive whole numbers (anything else is simply not found).
    for p in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if p["in"] == "path" && p["schema"]["type"] == "integer" {
            p["schema"]["minimum"] = json!(1);
        }
    }
    let (path, query, body) = (
        has(op, "path"),
        has(op, "query"),
        op["requestBody"].is_object(),
    );
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    let mut add = |status: &str, value: Value| {
        responses.entry(status.to_string()).or_insert(value);
    };
    let mut unauthorized = error("No token, or a token that is not valid or was revoked");
    unauthorized["headers"] =
        json!({"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}});
    add("401", unauthorized);
    add(
        "500",
        error("Internal error; the server log has the details"),
    );
    if path {
        add(
            "404",
            error("Not found (also for an id that is not a positive whole number)"),
        );
    }
    if query {
        add(
            "400",
            error("A query parameter is malformed (`invalid_query`, naming it)"),
        );
    }
    if body {
        add("400", error("The body is not valid JSON"));
        add("413", error("The body is too large"));
        add("415", error("The body is not sent as application/json"));
        add(
            "422",
            error(
                "A field is missing, of the wrong type, unknown or breaks a rule (`field`, `rule` and every broken rule in `details`)",
            ),
        );
    }
}

/// For each create (201) operation, links to the operations of the record it made: those on
/// the path whose GET answers the same schema.
fn created_links(doc: &Value) -> Vec<(String, Value)> {
    let schema_of = |op: &Value, status: &str| {
        op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(str::to_string)
    };
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        for op in item.as_object().into_iter().flat_map(|m| m.values()) {
            let (Some(made), Some(from)) = (schema_of(op, "201"), op["operationId"].as_str())
            else {
                continue;
            };
            // Kinds may share a schema: the record's own path below the create's comes first.
            let below = format!("{path}/{{id}}");
            let target = paths
                .iter()
                .filter(|(p, i)| {
                    p.ends_with("/{id}") && schema_of(&i["get"], "200").as_deref() == Some(&*made)
                })
                .min_by_key(|(p, _)| **p != below);
            let Some((_, target)) = target else { continue };
            let mut links = Map::new();
            for to in target.as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(to_id) = to["operationId"].as_str() {
                    links.insert(
                        to_id.to_string(),
                        json!({"operationId": to_id, "parameters": {"id": "$response.body#/id"}}),
                    );
                }
            }
            out.push((from.to_string(), Value::Object(links)));
        }
    }
    out
}

/// Rules the server enforces that the types alone do not say, with the limits from the
/// domain's constants. Answers the properties it did not find (a test keeps that empty).
fn limits_and_rules(schemas: &mut Value) -> Vec<String> {
    let mut missed = Vec::new();
    let text = |min: usize, max: usize, about: &str| json!({"minLength": min, "maxLength": max, "description": about});
    let port = json!({"minimum": 1, "maximum": 65535, "description":
        "1–65535, a whole number written without a fraction (993, not 993.0)."});
    let security = json!({"enum": ["tls", "starttls", "none", null], "description":
        "tls (default), starttls or none; must agree with use_secure_connection when both are given."});
    let password = |limit: usize, about: &str| {
        json!({"maxLength": limit, "description":
            format!("At most {limit} bytes in UTF-8. {about}")})
    };
    let credential = [
        (
            "configuration_name",
            text(
                1,
                limits::MAX_CONFIGURATION_NAME_CHARS,
                "The name shown in lists: unique (case-insensitive), one line, no control characters.",
            ),
        ),
        (
            "description",
            text(
                1,
                limits::MAX_DESCRIPTION_CHARS,
                "No control characters but line breaks and tabs.",
            ),
        ),
        (
            "username",
            text(
                0,
                limits::MAX_LOGIN_CHARS,
                "A separate IMAP login name; empty clears it.",
            ),
        ),
        (
            "host",
            text(
                1,
                253,
                "A DNS name or IP literal alone (no scheme, no port).",
            ),
        ),
        (
            "mailbox",
            json!({"format": "email", "description": "The mailbox address; the IMAP login unless username is given. Unique (case-insensitive)."}),
        ),
        ("port", port.clone()),
        ("security", security.clone()),
        (
            "ca_bundle",
            json!({"maxLength": limits::MAX_CA_BUNDLE_BYTES, "description":
            "PEM certificates to trust for this server (-----BEGIN CERTIFICATE-----); empty clears."}),
        ),
        (
            "pinned_sha256",
            json!({"pattern": "^[: ]*(?:[0-9A-Fa-f][: ]*){64}$|^[: ]*$", "description":
            "SHA-256 of the one server certificate to accept: 64 hexadecimal digits, colons allowed between pairs; empty clears."}),
        ),
        ("auth_method", json!({"enum": ["password", "oauth2", null]})),
        (
            "oauth_app_id",
            json!({"minimum": 1, "description": "It must exist; such a credential has no password."}),
        ),
        (
            "password",
            password(
                limits::MAX_PASSWORD_BYTES,
                "Required to add a password credential. On an edit, needed again (else 422 password_required) when host, port, security, login name, ca_bundle or pinned_sha256 change; when given it replaces the stored one.",
            ),
        ),
    ];
    for schema in ["CredentialPatch", "CredentialInput", "ConnectionTestInput"] {
        for (field, rule) in &credential {
            merge(schemas, schema, field, rule, &mut missed);
        }
    }
    // Test Connection overrides take only the connection's fields.
    let mut not_overrides = Vec::new();
    for (field, rule) in &credential {
        merge(
            schemas,
            "ConnectionTestOverrides",
            field,
            rule,
            &mut not_overrides,
        );
    }
    let alias = [
        (
            "email_alias",
            json!({"format": "email", "description": "Unique across all aliases (case-insensitive)."}),
        ),
        (
            "workspace_id",
            json!({"minimum": 1, "description": "A workspace that exists."}),
        ),
        (
            "project_type_id",
            json!({"minimum": 1, "description": "A project type that exists; default: the built-in Client Service Case."}),
        ),
        (
            "client_id",
            json!({"minimum": 1, "description": "A client that exists; null clears."}),
        ),
        (
            "is_default",
            json!({"description": "At most one per credential."}),
        ),
        (
            "reply_template_id",
            json!({"description": "null = No Reply."}),
        ),
        (
            "field_mappings",
            json!({"propertyNames": {"enum": FIELD_MAPPING_NAMES},
            "description": "Case field → preset value; null clears."}),
        ),
    ];
    for schema in ["AliasPatch", "AliasInput"] {
        for (field, rule) in &alias {
            merge(schemas, schema, field, rule, &mut missed);
        }
    }
    let oauth = [
        (
            "name",
            text(
                1,
                limits::MAX_OAUTH_APP_NAME_CHARS,
                "Unique (case-insensitive).",
            ),
        ),
        (
            "provider",
            json!({"enum": ["microsoft", "google", "custom", null]}),
        ),
        (
            "flow",
            json!({"enum": ["authorization_code", "client_credentials", null], "description": "Default authorization_code."}),
        ),
        (
            "client_id",
            text(
                1,
                limits::MAX_CLIENT_ID_CHARS,
                "The app's client id at the provider.",
            ),
        ),
        (
            "client_secret",
            password(
                limits::MAX_CLIENT_SECRET_BYTES,
                "Sealed; never shown (has_client_secret). Optional for a public client with PKCE.",
            ),
        ),
        (
            "tenant",
            json!({"maxLength": limits::MAX_OAUTH_TEXT_CHARS, "description": "Microsoft: the directory id or domain (not common)."}),
        ),
        (
            "authorize_url",
            json!({"format": "uri", "maxLength": limits::MAX_OAUTH_TEXT_CHARS}),
        ),
        (
            "token_url",
            json!({"format": "uri", "maxLength": limits::MAX_OAUTH_TEXT_CHARS, "description": "https (http only to loopback)."}),
        ),
        ("scopes", json!({"maxLength": limits::MAX_OAUTH_TEXT_CHARS})),
    ];
    for schema in ["OAuthAppPatch", "OAuthAppInput"] {
        for (field, rule) in &oauth {
            merge(schemas, schema, field, rule, &mut missed);
        }
    }
    for list in ["to", "cc", "delivered_to", "x_original_to"] {
        let rule = json!({"items": {"type": "string", "format": "email"}, "description": "Addresses (`Name <a@b>` allowed). At least one recipient among to, cc, delivered_to and x_original_to."});
        merge(schemas, "RouteRequest", list, &rule, &mut missed);
    }
    let from = json!({"description": "The sender (required)."});
    merge(schemas, "RouteRequest", "from", &from, &mut missed);
    if let Some(r) = schemas
        .get_mut("RouteRequest")
        .and_then(Value::as_object_mut)
    {
        r.insert("required".into(), json!(["from"]));
    }
    if let Some(from) = schemas.pointer_mut("/RouteRequest/properties/from") {
        not_null(from);
    }
    missed
}

/// Lays `rule`'s keys over the property `field` of `schema` (a `description` is appended to
/// the one there); a property that is not there is added to `missed`.
fn merge(schemas: &mut Value, schema: &str, field: &str, rule: &Value, missed: &mut Vec<String>) {
    let at = schemas.pointer_mut(&format!("/{schema}/properties/{field}"));
    let (Some(at), Some(rule)) = (at.and_then(Value::as_object_mut), rule.as_object()) else {
        missed.push(format!("{schema}.{field}"));
        return;
    };
    for (k, v) in rule {
        match (k.as_str(), at.get(k).and_then(Value::as_str)) {
            ("description", Some(before)) => {
                let joined = format!("{before} {}", v.as_str().unwrap_or(""));
                at.insert(k.clone(), json!(joined));
            }
            _ => {
                at.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_lands_on_a_property() {
        let doc = OpenApiRouter::<SharedApp>::new()
            .nest("/api/v1", super::super::api::routes())
            .into_openapi();
        let mut doc = serde_json::to_value(doc).unwrap();
        let schemas = &mut doc["components"]["schemas"];
        for (input, patch, _) in REQUIRED {
            let s = schemas[*patch].clone();
            schemas[*input] = s;
        }
        assert_eq!(limits_and_rules(schemas), Vec::<String>::new());
    }

    #[test]
    fn every_operation_has_an_id_and_the_common_answers() {
        let doc = openapi_value();
        let mut ids = std::collections::HashSet::new();
        for (method, path) in api_routes() {
            let op = &doc["paths"][&path][&method];
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && ids.insert(id.to_string()),
                "{method} {path}: {id}"
            );
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|s| s.starts_with('2'));
            assert!(ok, "{method} {path} has no 2xx answer");
        }
    }

    #[test]
    fn creates_link_to_their_record() {
        let doc = openapi_value();
        let links = &doc["paths"]["/api/v1/credentials"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["get_credential"]["operationId"], "get_credential");
        let links = &doc["paths"]["/api/v1/workspaces"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            links["delete_workspace"]["parameters"]["id"],
            "$response.body#/id"
        );
    }
}
