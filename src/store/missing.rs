//! Emails a server left out of its FETCH answers (`missing_messages`): pending ones are fetched
//! again on the next polls; after too many misses one is set aside with an exception-log entry
//! (`exception_id`) whose Retry fetches it again, and is marked resolved once it is committed.
//! Misses are recorded by `commit_batch`, in the batch's transaction. Must not hold email bytes.

use std::collections::HashMap;

use super::rows::{FromEitherRow, from_row};
use super::{ExceptionEntry, Store, StoreResult, with_pool};

/// A UID the server did not return in this batch.
#[derive(Debug, Clone)]
pub struct MissingUid {
    pub uid: i64,
    /// What the server answered instead, in words (already redacted by `imap`).
    pub reason: String,
    /// Set when this miss is the last one allowed: the entry that sets the email aside.
    pub give_up: Option<ExceptionEntry>,
}

/// A UID still to be fetched again.
#[derive(Debug, Clone, Copy)]
pub struct PendingMissing {
    pub uidvalidity: i64,
    pub uid: i64,
    pub misses: i64,
}

/// A set-aside UID, found by the exception-log entry that reports it.
#[derive(Debug, Clone)]
pub struct MissingMessage {
    pub credential_id: i64,
    pub folder: String,
    pub uidvalidity: i64,
    pub uid: i64,
    pub misses: i64,
    pub last_error: String,
    pub resolved_at: Option<i64>,
    pub resolved_case_id: Option<i64>,
}

from_row!(MissingMessage, |r| {
    Ok(MissingMessage {
        credential_id: r.try_get("credential_id")?,
        folder: r.try_get("folder")?,
        uidvalidity: r.try_get("uidvalidity")?,
        uid: r.try_get("uid")?,
        misses: r.try_get("misses")?,
        last_error: r.try_get("last_error")?,
        resolved_at: r.try_get("resolved_at")?,
        resolved_case_id: r.try_get("resolved_case_id")?,
    })
});

from_row!(PendingMissing, |r| {
    Ok(PendingMissing {
        uidvalidity: r.try_get("uidvalidity")?,
        uid: r.try_get("uid")?,
        misses: r.try_get("misses")?,
    })
});

impl Store {
    /// The UIDs of a folder still to be fetched again (not set aside), every UIDVALIDITY.
    pub async fn pending_missing(
        &self,
        credential_id: i64,
        folder: &str,
    ) -> StoreResult<Vec<PendingMissing>> {
        self.rows(
            "SELECT uidvalidity, uid, misses FROM missing_messages WHERE credential_id = $1 \
             AND folder = $2 AND exception_id IS NULL ORDER BY uidvalidity, uid",
            &[credential_id.into(), folder.into()],
        )
        .await
    }

    /// Forgets pending UIDs that are no longer worth fetching: those of another UIDVALIDITY
    /// (the folder was renumbered and is read again whole) and `gone` (no longer in the folder).
    pub async fn forget_missing(
        &self,
        credential_id: i64,
        folder: &str,
        uidvalidity: i64,
        gone: &[i64],
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "DELETE FROM missing_messages WHERE credential_id = $1 AND folder = $2 \
                 AND exception_id IS NULL AND uidvalidity <> $3",
            )
            .bind(credential_id)
            .bind(folder)
            .bind(uidvalidity)
            .execute(&mut *tx)
            .await?;
            for uid in gone {
                sqlx::query(
                    "DELETE FROM missing_messages WHERE credential_id = $1 AND folder = $2 \
                     AND exception_id IS NULL AND uidvalidity = $3 AND uid = $4",
                )
                .bind(credential_id)
                .bind(folder)
                .bind(uidvalidity)
                .bind(uid)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The set-aside UID an exception-log entry reports, if it reports one.
    pub async fn missing_message(&self, exception_id: i64) -> StoreResult<Option<MissingMessage>> {
        self.row(
            "SELECT credential_id, folder, uidvalidity, uid, misses, last_error, resolved_at, \
             resolved_case_id FROM missing_messages WHERE exception_id = $1",
            &[exception_id.into()],
        )
        .await
    }

    /// For each exception id that set a UID aside: `None` while it can be retried, the case it
    /// became once retried. Ids retried into something other than a case are absent.
    pub async fn missing_retry_states(
        &self,
        ids: &[i64],
    ) -> StoreResult<HashMap<i64, Option<i64>>> {
        let rows: Vec<(i64, Option<i64>, Option<i64>)> = self
            .rows_of_exceptions(
                "SELECT exception_id, resolved_at, resolved_case_id FROM missing_messages",
                ids,
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, resolved, case)| resolved.is_none() || case.is_some())
            .map(|(id, _, case)| (id, case))
            .collect())
    }

    /// The rows `select` (a statement without WHERE on a table with `exception_id`) reads for
    /// the exception ids `ids`.
    pub(super) async fn rows_of_exceptions<T: FromEitherRow>(
        &self,
        select: &str,
        ids: &[i64],
    ) -> StoreResult<Vec<T>> {
        let (Some(min), Some(max)) = (ids.iter().min(), ids.iter().max()) else {
            return Ok(Vec::new());
        };
        let rows: Vec<T> = self
            .rows(
                format!("{select} WHERE exception_id >= $1 AND exception_id <= $2"),
                &[(*min).into(), (*max).into()],
            )
            .await?;
        Ok(rows)
    }
}

/// Records the misses of a batch and resolves the UIDs that came back, inside the batch's
/// transaction `$tx`. Evaluates to the number of exception-log entries written.
macro_rules! write_missing {
    ($tx:expr, $now:expr, $credential_id:expr, $folder:expr, $uidvalidity:expr, $missing:expr, $resolved:expr) => {{
        let mut gave_up = 0u64;
        for m in $missing {
            let m: &$crate::store::MissingUid = m;
            let mut exception_id: Option<i64> = None;
            if let Some(entry) = &m.give_up {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO exceptions (at, credential_id, alias_id, source, message, details) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind($now)
                .bind(entry.credential_id)
                .bind(entry.alias_id)
                .bind(entry.source)
                .bind(&entry.message)
                .bind(entry.details.to_string())
                .fetch_one(&mut *$tx)
                .await?;
                exception_id = Some(id);
                gave_up += 1;
            }
            sqlx::query(
                "INSERT INTO missing_messages (credential_id, folder, uidvalidity, uid, misses, \
                 last_error, first_missed_at, last_missed_at, exception_id) \
                 VALUES ($1, $2, $3, $4, 1, $5, $6, $6, $7) \
                 ON CONFLICT (credential_id, folder, uidvalidity, uid) DO UPDATE SET \
                   misses = missing_messages.misses + 1, last_error = excluded.last_error, \
                   last_missed_at = excluded.last_missed_at, exception_id = excluded.exception_id",
            )
            .bind($credential_id)
            .bind($folder)
            .bind($uidvalidity)
            .bind(m.uid)
            .bind(&m.reason)
            .bind($now)
            .bind(exception_id)
            .execute(&mut *$tx)
            .await?;
        }
        for uid in $resolved {
            let uid: i64 = *uid;
            sqlx::query(
                "DELETE FROM missing_messages WHERE credential_id = $1 AND folder = $2 \
                 AND uidvalidity = $3 AND uid = $4 AND exception_id IS NULL",
            )
            .bind($credential_id)
            .bind($folder)
            .bind($uidvalidity)
            .bind(uid)
            .execute(&mut *$tx)
            .await?;
            sqlx::query(
                "UPDATE missing_messages SET resolved_at = $1, resolved_case_id = \
                 (SELECT p.case_id FROM processed_messages p WHERE p.credential_id = $2 \
                  AND p.folder = $3 AND p.uidvalidity = $4 AND p.uid = $5) \
                 WHERE credential_id = $2 AND folder = $3 AND uidvalidity = $4 AND uid = $5 \
                 AND exception_id IS NOT NULL AND resolved_at IS NULL",
            )
            .bind($now)
            .bind($credential_id)
            .bind($folder)
            .bind($uidvalidity)
            .bind(uid)
            .execute(&mut *$tx)
            .await?;
        }
        gave_up
    }};
}
pub(crate) use write_missing;
