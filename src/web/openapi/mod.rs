//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, generated from the code: every
//! handler's `#[utoipa::path]` and the `ToSchema` of the types it reads and answers, gathered by
//! `api::routes()` — the same `OpenApiRouter` that builds the API's router, so a route cannot be
//! served without being described. The routes of reference records come from their `Spec`
//! (`record_paths`). `finish` then adds what holds for every operation (the error answers, the
//! bearer scheme), the create schemas with their required fields, the limits taken from the
//! domain's constants, and links from each 201 to the record's other operations.

mod records;
mod rules;

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Map, Value, json};

use utoipa_axum::router::OpenApiRouter;

use super::SharedApp;
pub use records::record_paths;
use records::record_schemas;
use rules::limits_and_rules;

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
    // Times are RFC 3339 or unix milliseconds (empty: no filter).
    for p in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if p["name"] == "since" || p["name"] == "until" {
            p["schema"] = json!({"anyOf": [{"type": "string", "format": "date-time"},
                {"type": "string", "pattern": "^-?[0-9]{1,18}$"}, {"const": ""}]});
        }
    }
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
    // A body is required unless its schema also takes null (Test Connection's overrides).
    if let Some(body) = op.get_mut("requestBody") {
        let schema = &body["content"]["application/json"]["schema"];
        let optional = schema["oneOf"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["type"] == "null"));
        body["required"] = json!(!optional);
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
/// the path whose GET answers the same schema, and on the paths below it with no other
/// parameter.
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
            let Some((target_path, _)) = target else {
                continue;
            };
            // The record's path and those below it that need no other parameter
            // (`/credentials/{id}/poll`, `…/aliases`).
            let under = format!("{target_path}/");
            let reached = paths.iter().filter(|(p, _)| {
                *p == target_path
                    || p.strip_prefix(&under)
                        .is_some_and(|rest| !rest.contains('{'))
            });
            let mut links = Map::new();
            let operations =
                reached.flat_map(|(_, i)| i.as_object().into_iter().flat_map(|m| m.values()));
            for to in operations {
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
