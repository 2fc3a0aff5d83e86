//! The schema, as ordered steps. Written once; `{id}` and `{blob}` become each backend's type.
//! Never edit a released step: add a new one.

#[derive(Clone, Copy)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The statements of one step for one backend.
pub fn statements(step: &str, dialect: Dialect) -> Vec<String> {
    let (id, blob) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
    };
    step.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("{id}", id).replace("{blob}", blob))
        .collect()
}

pub const MIGRATIONS: &[&str] = &[
    // 1: credentials, access, audit
    r#"
CREATE TABLE credentials (
    id {id},
    mailbox TEXT NOT NULL,
    mailbox_key TEXT NOT NULL,
    username TEXT,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    security TEXT NOT NULL,
    configuration_name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL,
    ca_bundle TEXT,
    pinned_sha256 TEXT,
    enabled BOOLEAN NOT NULL,
    password_key_id TEXT NOT NULL,
    password_nonce {blob} NOT NULL,
    password_sealed {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    last_test_at BIGINT,
    last_test_ok BOOLEAN,
    last_test_category TEXT,
    last_test_message TEXT,
    health_state TEXT NOT NULL,
    last_success_at BIGINT,
    failing_since BIGINT,
    last_error TEXT,
    next_attempt_at BIGINT
);
CREATE UNIQUE INDEX credentials_mailbox_key ON credentials (mailbox_key);
CREATE UNIQUE INDEX credentials_name_key ON credentials (name_key);
CREATE TABLE api_tokens (
    id {id},
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);
CREATE TABLE users (
    id {id},
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE TABLE audit_log (
    id {id},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id BIGINT,
    summary TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at)
"#,
];
