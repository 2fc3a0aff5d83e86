//! The audit log: who changed what, when. Entries are written by the store functions that make
//! the change, in the same transaction. Details never hold secret values.

use serde::Serialize;

use super::rows::from_row;
use super::{Store, StoreResult, with_pool};

/// What a change writes to the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// `token:NAME#ID`, `user:NAME` or `cli:OSUSER`.
    pub actor: String,
    /// `credential.create`, `credential.password_change`, `token.revoke`…
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<i64>,
    pub summary: String,
    /// Changed field names and non-secret values.
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &'static str, target_type: &'static str) -> Self {
        Self {
            actor: actor.to_string(),
            action,
            target_type,
            target_id: None,
            summary: String::new(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, id: i64) -> Self {
        self.target_id = Some(id);
        self
    }

    pub fn summary(mut self, s: impl Into<String>) -> Self {
        self.summary = s.into();
        self
    }

    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
}

/// Inserts `$entry` (an `&AuditEntry`) through `$exec`, inside the caller's transaction.
macro_rules! write_audit {
    ($exec:expr, $entry:expr) => {{
        let entry: &$crate::store::AuditEntry = $entry;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target_type, target_id, summary, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($crate::store::now_ms())
        .bind(&entry.actor)
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id)
        .bind(&entry.summary)
        .bind(entry.details.to_string())
        .execute($exec)
        .await
    }};
}
pub(crate) use write_audit;

/// A JSON column (stored as text) as a value; text that is not JSON reads as null.
pub(super) fn json_text(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub summary: String,
    pub details: serde_json::Value,
}

from_row!(AuditRow, |r| {
    Ok(AuditRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        summary: r.try_get("summary")?,
        details: json_text(r.try_get("details")?),
    })
});

impl Store {
    /// Writes one entry on its own (for events that change nothing else, such as a login).
    pub async fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            write_audit!(pool, entry)?;
        });
        Ok(())
    }

    /// Newest first.
    pub async fn list_audit(
        &self,
        limit: i64,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<AuditRow>> {
        self.rows(
            "SELECT id, at, actor, action, target_type, target_id, summary, details \
             FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
            &[before_id.unwrap_or(i64::MAX).into(), limit.into()],
        )
        .await
    }
}

/// Ends a transaction that changed one row: `NotFound` (and no commit) when `$done` touched
/// none, otherwise the audit entry is written and the transaction committed.
macro_rules! commit_change {
    ($tx:ident, $done:expr, $entry:expr) => {{
        if $done.rows_affected() == 0 {
            return Err($crate::store::StoreError::NotFound);
        }
        write_audit!(&mut *$tx, $entry)?;
        $tx.commit().await?;
    }};
}
pub(crate) use commit_change;
