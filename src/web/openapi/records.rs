//! The OpenAPI operations and schemas of every kind of reference record, from its `Spec`: the
//! routes `api_reference` registers (`record_paths`) and the record, list, create, edit and
//! import schemas (`record_schemas`).

use serde_json::{Map, Value, json};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, Paths, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{Content, Ref, Required, ResponseBuilder};

use super::PATCH;
use super::rules::{LINE, LINE_GIVEN};
use crate::domain::{Kind, Spec, record_specs};

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
        "Every row is checked first; a bad row imports nothing and the answer lists every bad \
         row in `rows` (`import_rejected`): 409 when the rows only repeat unique values that \
         stored records have (as a single create answers), else 422 (a missing or invalid field, \
         an unknown reference, a value repeated within the import).",
    ))
    .request_body(Some(body(&format!("{s}Import"))))
    .response("201", answer("Every row imported", "ImportReport"))
    .response(
        "409",
        error("Rows repeat unique values of stored records; nothing imported"),
    );
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
pub(super) fn record_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    for spec in record_specs() {
        let (mut properties, mut patch, mut shown) = (Map::new(), Map::new(), Map::new());
        shown.insert("id".into(), json!({"type": "integer", "format": "int64"}));
        for f in spec.fields {
            let mut p = match f.kind {
                Kind::Text if f.required => json!({"type": "string", "pattern": LINE_GIVEN}),
                Kind::Text => json!({"type": "string", "pattern": LINE}),
                Kind::Email => json!({"type": "string", "format": "email"}),
                Kind::List { .. } => json!({"type": "array", "items": {"type": "string"}}),
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
            let nullable = json!({"anyOf": [p, {"type": "null"}]});
            patch.insert(f.name.to_string(), nullable.clone());
            properties.insert(f.name.to_string(), if f.required { p } else { nullable });
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
            json!({"type": "object", "additionalProperties": false, "properties": patch,
                "description": PATCH}),
        );
        m.insert(
            format!("{s}Import"),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{s}Input")}}),
        );
    }
    m
}
