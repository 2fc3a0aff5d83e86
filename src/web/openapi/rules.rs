//! Rules the server enforces that the derived schemas cannot say — limits from the domain's
//! constants, text without control characters, the fields one provider or sign-in method needs
//! — laid over the generated schemas by property.

use serde_json::{Value, json};

use super::not_null;
use crate::domain::{FIELD_MAPPING_NAMES, limits};

/// One line: no control characters (`char::is_control`, Unicode's Cc).
pub(super) const LINE: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// One line with more than spaces (a required text is trimmed, then must not be empty).
pub(super) const LINE_GIVEN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// Text with more than spaces, where line breaks and tabs are allowed.
const TEXT_GIVEN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// Rules the server enforces that the types alone do not say, with the limits from the
/// domain's constants. Answers the properties it did not find (a test keeps that empty).
pub(super) fn limits_and_rules(schemas: &mut Value) -> Vec<String> {
    let mut missed = Vec::new();
    let text = |pattern: &str, max: usize, about: &str| json!({"pattern": pattern, "maxLength": max, "description": about});
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
                LINE_GIVEN,
                limits::MAX_CONFIGURATION_NAME_CHARS,
                "The name shown in lists: unique (case-insensitive), one line, no control characters.",
            ),
        ),
        (
            "description",
            text(
                TEXT_GIVEN,
                limits::MAX_DESCRIPTION_CHARS,
                "No control characters but line breaks and tabs.",
            ),
        ),
        (
            "username",
            text(
                LINE,
                limits::MAX_LOGIN_CHARS,
                "A separate IMAP login name; empty clears it.",
            ),
        ),
        (
            "host",
            json!({"pattern": host_pattern(), "maxLength": 253, "description":
                "A DNS name (letters, digits and hyphens in dot-separated labels; the last label not all digits) or an IPv4 or IPv6 address (brackets allowed), alone: no scheme, no port."}),
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
            json!({"description": "With auth_method oauth2: an OAuth app that exists (id ≥ 1); such a credential has no password. Ignored with auth_method password."}),
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
            json!({"minimum": 1, "description": "A project type that exists; default: the built-in project type (Client Service Case, unless renamed; it cannot be deleted)."}),
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
                LINE_GIVEN,
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
                LINE_GIVEN,
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
            json!({"description": "Microsoft: the directory id (GUID) or domain (letters, digits, `.` and `-`; not common, organizations or consumers); other providers ignore it."}),
        ),
        (
            "authorize_url",
            json!({"format": "uri", "maxLength": limits::MAX_OAUTH_TEXT_CHARS}),
        ),
        (
            "token_url",
            json!({"format": "uri", "maxLength": limits::MAX_OAUTH_TEXT_CHARS, "description": "https (http only to loopback)."}),
        ),
        (
            "scopes",
            json!({"pattern": LINE, "maxLength": limits::MAX_OAUTH_TEXT_CHARS, "description": "Space-separated; one line, no control characters."}),
        ),
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
    let credential = json!({"minimum": 1, "description": "A credential that exists."});
    merge(
        schemas,
        "RouteRequest",
        "credential_id",
        &credential,
        &mut missed,
    );
    let from = json!({"format": "email", "description": "The sender (required): an address, `Name <a@b>` allowed."});
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
    let new_password = password(limits::MAX_PASSWORD_BYTES, "Typed twice, the same.");
    for field in ["new_password", "confirm_password"] {
        let mut rule = new_password.clone();
        rule["minLength"] = json!(1);
        merge(schemas, "PasswordChange", field, &rule, &mut missed);
    }
    for (schema, rules) in [
        ("OAuthAppInput", oauth_app_rules()),
        ("CredentialInput", credential_rules()),
        ("ConnectionTestInput", credential_rules()),
        ("CredentialPatch", json!([oauth_app_id_rule()])),
    ] {
        match schemas.get_mut(schema).and_then(Value::as_object_mut) {
            Some(input) => {
                input.insert("allOf".into(), rules);
            }
            None => missed.push(schema.to_string()),
        }
    }
    missed
}

/// What a new OAuth app needs by provider and flow: a custom one has no presets (its endpoints
/// are given), Microsoft needs the tenant, Google has no client-credentials flow, which needs
/// the client secret.
fn oauth_app_rules() -> Value {
    let given = json!({"type": "string", "minLength": 1});
    let provider = |p: &str| json!({"properties": {"provider": {"const": p}}});
    json!([
        {"if": provider("custom"), "then": {"required": ["token_url"], "properties": {"token_url": given}}},
        {"if": {"properties": {"provider": {"const": "custom"},
                "flow": {"not": {"const": "client_credentials"}}}},
         "then": {"required": ["authorize_url"], "properties": {"authorize_url": given}}},
        {"if": provider("microsoft"), "then": {"required": ["tenant"],
            "properties": {"tenant": tenant_rule()}}},
        {"if": {"properties": {"flow": {"const": "client_credentials"}}, "required": ["flow"]},
         "then": {"required": ["client_secret"], "properties": {"client_secret": given}}},
        {"if": provider("google"), "then": {"properties": {"flow": {"not": {"const": "client_credentials"}}}}}
    ])
}

/// Microsoft's tenant as `domain::oauth_app` reads it: trimmed, letters, digits, `.` and `-`,
/// at most 200 characters, and not one of the shared endpoints.
fn tenant_rule() -> Value {
    let word = |w: &str| -> String {
        w.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c))
            .collect()
    };
    let shared = ["common", "organizations", "consumers"].map(word).join("|");
    json!({"type": "string", "maxLength": 200, "pattern": "^[ \\t\\n\\r]*[A-Za-z0-9.-]+[ \\t\\n\\r]*$",
        "not": {"pattern": format!("^[ \\t\\n\\r]*(?:{shared})[ \\t\\n\\r]*$")}})
}

/// `domain::Host::parse`'s rule: (after trimming) an IPv4 address, an IPv6 address bare or in
/// brackets, or a DNS name of letter-digit-hyphen labels (no hyphen first, last, or third and
/// fourth) whose last label starts with a letter. Internationalised names, which the server
/// also takes, and punycode labels (`xn--`) are left out.
pub(super) fn host_pattern() -> String {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let ipv4 = format!("(?:{octet}\\.){{3}}{octet}");
    let h = "[0-9A-Fa-f]{1,4}";
    let ipv6 = [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}:{h}"),
        format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
        format!("{h}:(?::{h}){{1,6}}"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
    ]
    .join("|");
    // At most 63 characters; with four or more, the third and fourth are not both hyphens.
    let (a, y) = ("[A-Za-z0-9]", "[A-Za-z0-9-]");
    let label = |first: &str| {
        format!("{first}(?:{y}?{a})?|{first}{y}(?:{a}{y}{{0,59}}{a}|-{a}(?:{y}{{0,58}}{a})?)")
    };
    let (label, last) = (label(a), label("[A-Za-z]"));
    let space = "[ \\t\\n\\r]*";
    format!("^{space}(?:{ipv4}|{ipv6}|\\[(?:{ipv6})\\]|(?:(?:{label})\\.)*(?:{last})\\.?){space}$")
}

/// With `auth_method` oauth2 a given `oauth_app_id` is an id (≥ 1); otherwise it is ignored.
fn oauth_app_id_rule() -> Value {
    json!({
        "if": {"properties": {"auth_method": {"const": "oauth2"}}, "required": ["auth_method"]},
        "then": {"properties": {"oauth_app_id": {"type": ["integer", "null"], "minimum": 1}}}
    })
}

/// A new (or tested) credential signs in with a password, or through an OAuth app
/// (`auth_method` oauth2); `auth_method` absent or null is password, as on the server.
fn credential_rules() -> Value {
    json!([oauth_app_id_rule(), {
        "if": {"properties": {"auth_method": {"const": "oauth2"}}, "required": ["auth_method"]},
        "then": {"required": ["oauth_app_id"], "properties": {"oauth_app_id": {"type": "integer"}}},
        "else": {"required": ["password"], "properties": {"password": {"type": "string", "minLength": 1}}}
    }])
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
    use proptest::prelude::*;

    use super::host_pattern;
    use crate::domain::Host;

    /// The pattern without `^` and `$` (the generator takes none).
    fn unanchored(pattern: &str) -> &str {
        pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .unwrap()
    }

    proptest! {
        /// Every host the document's pattern describes is one the server takes.
        #[test]
        fn the_host_pattern_describes_only_hosts_the_server_takes(
            host in proptest::string::string_regex(unanchored(&host_pattern())).unwrap()
                .prop_filter("at most 253 characters", |h| h.trim().len() <= 253)
        ) {
            prop_assert!(Host::parse(&host).is_ok(), "{host:?}");
        }
    }
}
