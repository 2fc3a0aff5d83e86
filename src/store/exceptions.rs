//! The exception log: processing errors and refused actions an administrator reviews.
//! Entries are written by the store function that hit the problem, in its transaction when
//! there is one. Must not hold secret values.

use serde::Serialize;

use super::audit::json_text;
use super::rows::from_row;
use super::{Store, StoreResult, with_pool};

/// What goes into the exception log.
#[derive(Debug, Clone)]
pub struct ExceptionEntry {
    pub credential_id: Option<i64>,
    pub alias_id: Option<i64>,
    /// Where it happened: `credential.delete`, `routing`, `processing`…
    pub source: &'static str,
    pub message: String,
    pub details: serde_json::Value,
}

/// Inserts `$entry` (an `&ExceptionEntry`) through `$exec`, inside the caller's transaction.
macro_rules! write_exception {
    ($exec:expr, $entry:expr) => {{
        let entry: &$crate::store::ExceptionEntry = $entry;
        sqlx::query(
            "INSERT INTO exceptions (at, credential_id, alias_id, source, message, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($crate::store::now_ms())
        .bind(entry.credential_id)
        .bind(entry.alias_id)
        .bind(entry.source)
        .bind(&entry.message)
        .bind(entry.details.to_string())
        .execute($exec)
        .await
    }};
}
pub(crate) use write_exception;

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRow {
    pub id: i64,
    pub at: i64,
    pub credential_id: Option<i64>,
    pub alias_id: Option<i64>,
    pub source: String,
    pub message: String,
    pub details: serde_json::Value,
}

from_row!(ExceptionRow, |r| {
    Ok(ExceptionRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        credential_id: r.try_get("credential_id")?,
        alias_id: r.try_get("alias_id")?,
        source: r.try_get("source")?,
        message: r.try_get("message")?,
        details: json_text(r.try_get("details")?),
    })
});

impl Store {
    /// Writes one entry on its own.
    pub async fn record_exception(&self, entry: &ExceptionEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            write_exception!(pool, entry)?;
        });
        Ok(())
    }

    /// Newest first; optionally only one credential's.
    pub async fn list_exceptions(
        &self,
        limit: i64,
        before_id: Option<i64>,
        credential_id: Option<i64>,
    ) -> StoreResult<Vec<ExceptionRow>> {
        self.rows(
            "SELECT id, at, credential_id, alias_id, source, message, details FROM exceptions \
             WHERE id < $1 AND ($2 IS NULL OR credential_id = $2) ORDER BY id DESC LIMIT $3",
            &[
                before_id.unwrap_or(i64::MAX).into(),
                credential_id.into(),
                limit.into(),
            ],
        )
        .await
    }
}

/// A Retry that commits with its batch: the exception it resolves and who retried it.
#[derive(Debug, Clone)]
pub struct RetryOf {
    pub exception_id: i64,
    pub actor: String,
    /// Whether a case that already existed under the same key also resolves it (a kept email
    /// retried again), or only a case created now (a missing email fetched again).
    pub existing_case_resolves: bool,
}

/// Inside the batch's transaction `$tx`: when the retried email's case exists (created now, or
/// earlier under the same key), marks the exception resolved and writes the Retry's audit
/// entry, so the change and its audit entry commit together. Evaluates to the case id.
macro_rules! write_retry {
    ($tx:expr, $now:expr, $credential_id:expr, $created:expr, $key:expr, $retry:expr) => {{
        let r: &$crate::store::RetryOf = $retry;
        let case_id: Option<i64> = match $created {
            Some(id) => Some(id),
            None if !r.existing_case_resolves => None,
            None => {
                sqlx::query_scalar(
                    "SELECT id FROM cases WHERE credential_id = $1 AND message_key = $2",
                )
                .bind($credential_id)
                .bind($key)
                .fetch_optional(&mut *$tx)
                .await?
            }
        };
        if let Some(case_id) = case_id {
            sqlx::query(
                "UPDATE exception_messages SET resolved_at = $1, resolved_case_id = $2 \
                 WHERE exception_id = $3",
            )
            .bind($now)
            .bind(case_id)
            .bind(r.exception_id)
            .execute(&mut *$tx)
            .await?;
            let entry = $crate::store::AuditEntry::new(&r.actor, "exception.retry", "exception")
                .target(r.exception_id)
                .summary(format!("retried exception {}: case {case_id}", r.exception_id))
                .details(serde_json::json!({ "case_id": case_id }));
            $crate::store::audit::write_audit!(&mut *$tx, &entry)?;
        }
        case_id
    }};
}
pub(crate) use write_retry;
