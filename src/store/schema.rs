//! The schema, as ordered named steps. Written once; `{id}` and `{blob}` become each backend's
//! type, `{stamps}` the four columns of who made and last changed a row. Never change what a
//! released step does: append a new one with a new name.

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
        .map(|s| {
            let s = s.replace("{stamps}", STAMPS);
            s.replace("{id}", id).replace("{blob}", blob)
        })
        .collect()
}

/// Who made and last changed a row (`store::Stamps`), in the indentation of the steps.
const STAMPS: &str = "created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL";

/// (unique name, statements separated by `;`), applied in this order.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_credentials_access_audit",
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
    {stamps},
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
    ),
    (
        "0002_admin_sessions",
        r#"
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
)
"#,
    ),
    (
        "0003_aliases_reference_exceptions",
        r#"
CREATE TABLE workspaces (
    id {id},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    {stamps}
);
CREATE UNIQUE INDEX workspaces_name_key ON workspaces (name_key);
CREATE TABLE project_types (
    id {id},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    {stamps}
);
CREATE UNIQUE INDEX project_types_name_key ON project_types (name_key);
INSERT INTO project_types (name, name_key, created_at, created_by, updated_at, updated_by)
    VALUES ('Client Service Case', 'client service case', 0, 'system', 0, 'system');
CREATE TABLE clients (
    id {id},
    name TEXT NOT NULL,
    client_number TEXT,
    client_number_key TEXT,
    default_workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    {stamps}
);
CREATE UNIQUE INDEX clients_client_number_key ON clients (client_number_key);
CREATE INDEX clients_default_workspace_id ON clients (default_workspace_id);
CREATE TABLE client_domains (
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    domain TEXT NOT NULL
);
CREATE UNIQUE INDEX client_domains_domain ON client_domains (domain);
CREATE INDEX client_domains_client_id ON client_domains (client_id);
CREATE TABLE contacts (
    id {id},
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    name TEXT NOT NULL,
    client_id BIGINT REFERENCES clients (id),
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    {stamps}
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (email_key);
CREATE INDEX contacts_client_id ON contacts (client_id);
CREATE INDEX contacts_workspace_id ON contacts (workspace_id);
CREATE TABLE aliases (
    id {id},
    credential_id BIGINT NOT NULL REFERENCES credentials (id),
    email_alias TEXT NOT NULL,
    email_alias_key TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    project_type_id BIGINT NOT NULL REFERENCES project_types (id),
    client_id BIGINT REFERENCES clients (id),
    always_use_default_workspace BOOLEAN NOT NULL,
    include_attachments BOOLEAN NOT NULL,
    reply_template_id BIGINT,
    field_mappings TEXT NOT NULL,
    {stamps}
);
CREATE UNIQUE INDEX aliases_email_alias_key ON aliases (email_alias_key);
CREATE UNIQUE INDEX aliases_one_default ON aliases (credential_id) WHERE is_default;
CREATE INDEX aliases_credential_id ON aliases (credential_id);
CREATE INDEX aliases_workspace_id ON aliases (workspace_id);
CREATE INDEX aliases_project_type_id ON aliases (project_type_id);
CREATE INDEX aliases_client_id ON aliases (client_id);
CREATE TABLE exceptions (
    id {id},
    at BIGINT NOT NULL,
    credential_id BIGINT,
    alias_id BIGINT,
    source TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX exceptions_credential_id ON exceptions (credential_id)
"#,
    ),
    (
        "0004_processing",
        r#"
CREATE TABLE folder_checkpoints (
    credential_id BIGINT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (credential_id, folder)
);
CREATE TABLE processed_messages (
    credential_id BIGINT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    message_key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    case_id BIGINT,
    processed_at BIGINT NOT NULL,
    flagged BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (credential_id, folder, uidvalidity, uid)
);
CREATE TABLE cases (
    id {id},
    credential_id BIGINT NOT NULL,
    alias_id BIGINT,
    workspace_id BIGINT NOT NULL,
    project_type_id BIGINT NOT NULL,
    client_id BIGINT,
    contact_id BIGINT,
    message_key TEXT NOT NULL,
    message_id TEXT,
    subject TEXT NOT NULL,
    issue TEXT NOT NULL,
    sender TEXT,
    sender_name TEXT,
    recipients TEXT NOT NULL,
    sent_at BIGINT,
    communication_method TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    fields TEXT NOT NULL,
    automatic TEXT,
    routing TEXT NOT NULL,
    folder TEXT,
    uidvalidity BIGINT,
    uid BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX cases_message_key ON cases (credential_id, message_key);
CREATE INDEX cases_workspace_id ON cases (workspace_id);
CREATE INDEX cases_alias_id ON cases (alias_id);
CREATE INDEX cases_created_at ON cases (created_at);
CREATE INDEX cases_sender ON cases (credential_id, LOWER(sender), created_at);
CREATE TABLE attachment_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    bytes {blob} NOT NULL
);
CREATE TABLE case_attachments (
    id {id},
    case_id BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL
);
CREATE INDEX case_attachments_case_id ON case_attachments (case_id);
CREATE TABLE exception_messages (
    exception_id BIGINT PRIMARY KEY,
    uid BIGINT,
    uidvalidity BIGINT,
    folder TEXT,
    raw {blob} NOT NULL,
    resolved_at BIGINT,
    resolved_case_id BIGINT
);
ALTER TABLE credentials ADD COLUMN auth_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN backlog BIGINT
"#,
    ),
    (
        "0005_missing_messages",
        r#"
CREATE TABLE missing_messages (
    credential_id BIGINT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    misses BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    first_missed_at BIGINT NOT NULL,
    last_missed_at BIGINT NOT NULL,
    exception_id BIGINT,
    resolved_at BIGINT,
    resolved_case_id BIGINT,
    PRIMARY KEY (credential_id, folder, uidvalidity, uid)
);
CREATE INDEX missing_messages_exception_id ON missing_messages (exception_id)
"#,
    ),
    (
        "0006_case_originals",
        r#"
CREATE TABLE original_messages (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    compression TEXT NOT NULL,
    stored_size BIGINT NOT NULL,
    bytes {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
ALTER TABLE cases ADD COLUMN original_sha256 TEXT;
ALTER TABLE cases ADD COLUMN issue_html TEXT;
CREATE INDEX cases_original_sha256 ON cases (original_sha256)
"#,
    ),
    (
        "0007_oauth",
        r#"
CREATE TABLE oauth_apps (
    id {id},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    provider TEXT NOT NULL,
    flow TEXT NOT NULL,
    client_id TEXT NOT NULL,
    tenant TEXT,
    authorize_url TEXT,
    token_url TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    secret_nonce {blob} NOT NULL,
    secret_sealed {blob} NOT NULL,
    {stamps}
);
CREATE UNIQUE INDEX oauth_apps_name_key ON oauth_apps (name_key);
ALTER TABLE credentials ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE credentials ADD COLUMN oauth_app_id BIGINT;
ALTER TABLE credentials ADD COLUMN refresh_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN refresh_nonce {blob};
ALTER TABLE credentials ADD COLUMN refresh_sealed {blob};
CREATE INDEX credentials_oauth_app_id ON credentials (oauth_app_id)
"#,
    ),
    (
        "0008_oauth_sign_ins",
        r#"
CREATE TABLE oauth_sign_ins (
    state_hash TEXT PRIMARY KEY,
    credential_id BIGINT NOT NULL,
    binding TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    verifier_key_id TEXT NOT NULL,
    verifier_nonce {blob} NOT NULL,
    verifier_sealed {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_sign_ins_expires_at ON oauth_sign_ins (expires_at)
"#,
    ),
    (
        // Case status and priority are fixed values now (domain::CaseStatus, CasePriority);
        // older versions took free text from field mappings. Known spellings become the one
        // text form; any other text is kept in the case's fields (former_status,
        // former_priority) and the case gets the default.
        "0009_case_status_priority",
        r#"
UPDATE cases SET status = CASE LOWER(TRIM(status))
    WHEN 'new' THEN 'New' WHEN 'open' THEN 'Open' WHEN 'in progress' THEN 'In Progress'
    WHEN 'in_progress' THEN 'In Progress' WHEN 'in-progress' THEN 'In Progress'
    WHEN 'pending' THEN 'Pending' WHEN 'resolved' THEN 'Resolved' WHEN 'closed' THEN 'Closed'
    ELSE status END;
UPDATE cases SET
    fields = '{"former_status":"' || REPLACE(REPLACE(status, '\', '\\'), '"', '\"') || '"'
        || CASE WHEN fields = '{}' THEN '}' ELSE ',' || SUBSTR(fields, 2) END
    WHERE status NOT IN ('New', 'Open', 'In Progress', 'Pending', 'Resolved', 'Closed')
    AND fields LIKE '{%}';
UPDATE cases SET status = 'New'
    WHERE status NOT IN ('New', 'Open', 'In Progress', 'Pending', 'Resolved', 'Closed');
UPDATE cases SET priority = CASE LOWER(TRIM(priority))
    WHEN 'low' THEN 'Low' WHEN 'medium' THEN 'Medium' WHEN 'high' THEN 'High'
    WHEN 'urgent' THEN 'Urgent' ELSE priority END;
UPDATE cases SET
    fields = '{"former_priority":"' || REPLACE(REPLACE(priority, '\', '\\'), '"', '\"') || '"'
        || CASE WHEN fields = '{}' THEN '}' ELSE ',' || SUBSTR(fields, 2) END
    WHERE priority NOT IN ('Low', 'Medium', 'High', 'Urgent') AND fields LIKE '{%}';
UPDATE cases SET priority = 'Medium' WHERE priority NOT IN ('Low', 'Medium', 'High', 'Urgent')
"#,
    ),
    (
        // The built-in project type (the default of aliases given none) is marked, so it is
        // found by the mark, not by a name a person may change. It is the row step 0003
        // inserted (made by 'system' at 0); if that was deleted, a row of its name takes the
        // mark, else it is made again.
        "0010_built_in_project_type",
        r#"
ALTER TABLE project_types ADD COLUMN built_in BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE project_types SET built_in = TRUE WHERE id =
    (SELECT MIN(id) FROM project_types WHERE created_by = 'system' AND created_at = 0);
UPDATE project_types SET built_in = TRUE WHERE name_key = 'client service case'
    AND NOT EXISTS (SELECT 1 FROM project_types WHERE built_in);
INSERT INTO project_types (name, name_key, built_in, created_at, created_by, updated_at, updated_by)
    SELECT 'Client Service Case', 'client service case', TRUE, 0, 'system', 0, 'system'
    WHERE NOT EXISTS (SELECT 1 FROM project_types WHERE built_in);
CREATE UNIQUE INDEX project_types_one_built_in ON project_types (built_in) WHERE built_in
"#,
    ),
];
