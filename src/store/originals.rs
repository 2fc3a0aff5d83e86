//! The originals of cases (`original_messages`): the exact bytes of each email in their stored
//! form (zstd, made by `ingest::original`), once per content hash however many cases share them,
//! written by `commit_batch` in the batch's transaction (`write_originals!`); reading one back,
//! their retention (`prune_originals`) and a case's content replaced by a re-parse. Must not
//! compress or parse anything itself.

use sqlx::Row;

use super::audit::write_audit;
use super::{AuditEntry, NewAttachment, Store, StoreError, StoreResult, with_pool};

/// An original to keep with a new case.
#[derive(Debug, Clone)]
pub struct NewOriginal {
    /// SHA-256 of the original bytes, hex.
    pub sha256: String,
    /// Length of the original bytes.
    pub size: i64,
    /// How `stored` is encoded (`zstd`, `none`).
    pub compression: &'static str,
    pub stored: Vec<u8>,
}

/// An original as stored.
#[derive(Debug, Clone)]
pub struct StoredOriginal {
    pub sha256: String,
    pub size: i64,
    pub compression: String,
    pub stored: Vec<u8>,
}

/// What the originals take.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OriginalStats {
    /// Originals stored (one per content hash).
    pub originals: i64,
    /// Their length as received.
    pub bytes: i64,
    /// Their length as stored.
    pub stored_bytes: i64,
    /// Cases whose original is kept.
    pub cases_with_original: i64,
    /// Cases whose original is not (made before originals were kept, or pruned).
    pub cases_without_original: i64,
}

/// What a parse of the original gives a case (everything else of the case stays).
#[derive(Debug, Clone)]
pub struct CaseContent {
    pub subject: String,
    pub issue: String,
    pub issue_html: Option<String>,
    pub sender: Option<String>,
    pub sender_name: Option<String>,
    pub recipients: serde_json::Value,
    pub sent_at: Option<i64>,
    pub attachments: Vec<NewAttachment>,
}

/// Rows per multi-row insert of originals.
pub(super) const ORIGINAL_ROWS: usize = 50;

/// Writes the originals `$list` (`&[&NewOriginal]`, one per content hash) inside the batch's
/// transaction `$tx`; `$sql` turns `?` SQL into the backend's. An original already stored is
/// marked used now, so a prune running at the same time keeps it.
macro_rules! write_originals {
    ($tx:expr, $sql:expr, $now:expr, $list:expr) => {{
        let list: &[&$crate::store::NewOriginal] = $list;
        for chunk in list.chunks($crate::store::originals::ORIGINAL_ROWS) {
            let mut q = sqlx::query($sql(format!(
                "INSERT INTO original_messages (sha256, size, compression, stored_size, bytes, created_at, last_used_at) \
                 VALUES {} ON CONFLICT (sha256) DO UPDATE SET last_used_at = excluded.last_used_at",
                vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            )));
            for o in chunk {
                q = q
                    .bind(&o.sha256)
                    .bind(o.size)
                    .bind(o.compression)
                    .bind(o.stored.len() as i64)
                    .bind(&o.stored)
                    .bind($now)
                    .bind($now);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_originals;

impl Store {
    /// The original of a case: `None` when it is not kept; `NotFound` when there is no case.
    pub async fn case_original(&self, case_id: i64) -> StoreResult<Option<StoredOriginal>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT c.original_sha256, o.sha256, o.size, o.compression, o.bytes FROM cases c \
                 LEFT JOIN original_messages o ON o.sha256 = c.original_sha256 WHERE c.id = $1",
            )
            .bind(case_id)
            .fetch_optional(pool)
            .await?;
            let Some(r) = row else {
                return Err(StoreError::NotFound);
            };
            let sha: Option<String> = r.try_get("sha256")?;
            let Some(sha256) = sha else { return Ok(None) };
            Ok(Some(StoredOriginal {
                sha256,
                size: r.try_get("size")?,
                compression: r.try_get("compression")?,
                stored: r.try_get("bytes")?,
            }))
        })
    }

    /// Ids of cases with a kept original, ascending, after `after_id`.
    pub async fn case_ids_with_original(&self, after_id: i64, limit: i64) -> StoreResult<Vec<i64>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT id FROM cases WHERE original_sha256 IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Replaces what a parse gives a case (text, HTML, sender, recipients, attachments), with
    /// its audit entry, in one transaction.
    pub async fn replace_case_content(
        &self,
        case_id: i64,
        content: &CaseContent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE cases SET subject = $1, issue = $2, issue_html = $3, sender = $4, \
                 sender_name = $5, recipients = $6, sent_at = $7 WHERE id = $8",
            )
            .bind(&content.subject)
            .bind(&content.issue)
            .bind(&content.issue_html)
            .bind(&content.sender)
            .bind(&content.sender_name)
            .bind(content.recipients.to_string())
            .bind(content.sent_at)
            .bind(case_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM case_attachments WHERE case_id = $1")
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            for a in &content.attachments {
                let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a.bytes));
                sqlx::query(
                    "INSERT INTO attachment_blobs (sha256, size, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(&sha)
                .bind(a.bytes.len() as i64)
                .bind(&a.bytes)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO case_attachments (case_id, name, content_type, sha256, size) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(case_id)
                .bind(&a.name)
                .bind(&a.content_type)
                .bind(&sha)
                .bind(a.bytes.len() as i64)
                .execute(&mut *tx)
                .await?;
            }
            write_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Retention: cases created before `cutoff_ms` let go of their original, and originals no
    /// case holds any more (and not used since the cutoff) are deleted. Returns (cases that let
    /// go, originals deleted).
    pub async fn prune_originals(&self, cutoff_ms: i64) -> StoreResult<(u64, u64)> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let cases = sqlx::query(
                "UPDATE cases SET original_sha256 = NULL WHERE original_sha256 IS NOT NULL AND created_at < $1",
            )
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let originals = sqlx::query(
                "DELETE FROM original_messages WHERE last_used_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM cases c WHERE c.original_sha256 = original_messages.sha256)",
            )
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok((cases, originals))
        })
    }

    /// How many originals are kept, and their size as received and as stored.
    pub async fn original_stats(&self) -> StoreResult<OriginalStats> {
        with_pool!(self, |pool| {
            let r = sqlx::query(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes, \
                 CAST(COALESCE(SUM(stored_size), 0) AS BIGINT) AS stored FROM original_messages",
            )
            .fetch_one(pool)
            .await?;
            let c =
                sqlx::query("SELECT COUNT(original_sha256) AS kept, COUNT(*) AS total FROM cases")
                    .fetch_one(pool)
                    .await?;
            let kept: i64 = c.try_get("kept")?;
            let total: i64 = c.try_get("total")?;
            Ok(OriginalStats {
                originals: r.try_get("n")?,
                bytes: r.try_get("bytes")?,
                stored_bytes: r.try_get("stored")?,
                cases_with_original: kept,
                cases_without_original: total - kept,
            })
        })
    }
}
