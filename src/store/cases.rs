//! Cases, their attachments (content-addressed blobs), folder checkpoints and the record of
//! processed messages. `commit_batch` writes a fetched batch — cases, their originals,
//! exceptions, de-duplication keys, the UIDs the server left out (`missing`) and the advanced
//! checkpoint — in ONE transaction: it all happens or none of it does.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{FromRow, Row};

use super::audit::json_text;
use super::exceptions::write_retry;
use super::missing::write_missing;
use super::originals::write_originals;
use super::rows::from_row;
use super::{
    ExceptionEntry, MissingUid, NewOriginal, RetryOf, Store, StoreError, StoreResult, now_ms,
    with_pool,
};
use crate::domain::{CasePriority, CaseStatus};

/// A case to create from one email.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub alias_id: Option<i64>,
    pub workspace_id: i64,
    pub project_type_id: i64,
    pub client_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub message_id: Option<String>,
    pub subject: String,
    pub issue: String,
    /// The HTML of the body, kept for display.
    pub issue_html: Option<String>,
    pub sender: Option<String>,
    pub sender_name: Option<String>,
    pub recipients: serde_json::Value,
    pub sent_at: Option<i64>,
    pub status: CaseStatus,
    pub priority: CasePriority,
    pub fields: serde_json::Value,
    pub automatic: Option<String>,
    pub routing: serde_json::Value,
    pub attachments: Vec<NewAttachment>,
    /// The email as received, in its stored form (None: not kept).
    pub original: Option<NewOriginal>,
}

impl NewCase {
    /// A case routed to a workspace and project type, before an email fills it: New, Medium,
    /// no content, no other record.
    pub fn routed(workspace_id: i64, project_type_id: i64) -> Self {
        Self {
            alias_id: None,
            workspace_id,
            project_type_id,
            client_id: None,
            contact_id: None,
            message_id: None,
            subject: String::new(),
            issue: String::new(),
            issue_html: None,
            sender: None,
            sender_name: None,
            recipients: serde_json::json!({}),
            sent_at: None,
            status: CaseStatus::default(),
            priority: CasePriority::default(),
            fields: serde_json::json!({}),
            automatic: None,
            routing: serde_json::Value::Null,
            attachments: Vec::new(),
            original: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What became of one message of a batch.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    Case(Box<NewCase>),
    /// An exception-log entry; `raw` keeps the message so Retry can run without the server.
    Exception {
        entry: ExceptionEntry,
        raw: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone)]
pub struct BatchItem {
    pub uid: i64,
    /// Message-ID + content hash: the same email seen again (any UID) is the same key.
    pub message_key: String,
    pub outcome: ItemOutcome,
}

/// One fetched batch of one folder.
#[derive(Debug, Clone)]
pub struct Batch {
    pub credential_id: i64,
    pub folder: String,
    pub uidvalidity: i64,
    /// The checkpoint after this batch (highest UID handled); never moves backwards.
    pub advance_to: i64,
    /// Leave the checkpoint as it is (the first sight of a folder moves it only at the end).
    pub keep_checkpoint: bool,
    pub items: Vec<BatchItem>,
    /// UIDs the server did not return: recorded to be fetched again (or set aside).
    pub missing: Vec<MissingUid>,
    /// UIDs among `items` that an earlier poll had recorded as missing.
    pub resolved_missing: Vec<i64>,
    /// The Retry this batch carries out (its exception resolved and audited in the batch).
    pub retried: Option<RetryOf>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchOutcome {
    pub created_case_ids: Vec<i64>,
    pub exceptions: u64,
    pub duplicates: u64,
    pub already_processed: u64,
    /// UIDs whose outcome is committed (safe to flag \Seen).
    pub committed_uids: Vec<i64>,
    /// UIDs recorded as missing (not committed, not to be flagged).
    pub missing: u64,
    /// The case a Retry's exception was resolved with.
    pub resolved_case_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Attachment)]
pub struct AttachmentRow {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub sha256: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseRow {
    pub id: i64,
    pub credential_id: i64,
    pub alias_id: Option<i64>,
    pub workspace_id: i64,
    pub project_type_id: i64,
    pub client_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub message_id: Option<String>,
    pub subject: String,
    pub issue: String,
    /// The HTML of the body, for display (None when the email had no HTML).
    pub issue_html: Option<String>,
    pub sender: Option<String>,
    pub sender_name: Option<String>,
    pub recipients: serde_json::Value,
    pub sent_at: Option<i64>,
    pub communication_method: String,
    pub status: CaseStatus,
    pub priority: CasePriority,
    pub fields: serde_json::Value,
    pub automatic: Option<String>,
    pub routing: serde_json::Value,
    pub uid: Option<i64>,
    pub created_at: i64,
    /// SHA-256 of the original email when it is kept (`GET /api/v1/cases/{id}/original`).
    pub original_sha256: Option<String>,
    /// How many attachments the case has (listed in `attachments` only for one case).
    pub attachment_count: i64,
    pub attachments: Vec<AttachmentRow>,
}

/// Filters for listing cases; all optional.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub credential_id: Option<i64>,
    pub alias_id: Option<i64>,
    pub workspace_id: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
    pub before_id: Option<i64>,
}

/// Rows per multi-row statement of `commit_batch` (parameters stay far below the limits of
/// SQLite, 32766, and PostgreSQL, 65535).
const CLAIM_ROWS: usize = 500;
const CASE_ROWS: usize = 200;
const ATTACHMENT_ROWS: usize = 50;
const OUTCOME_ROWS: usize = 500;

/// `rows` copies of `row` (such as `(?, ?, 'x')`) joined by `, `.
fn repeat_rows(row: &str, rows: usize) -> String {
    vec![row; rows].join(", ")
}

/// SQL written with `?` placeholders for the backend: SQLite binds `?` in order; PostgreSQL
/// needs them numbered `$1`, `$2`, … in order. (SQLite also accepts `$n`, but looks every
/// named parameter up by a linear scan: quadratic for a statement with thousands of them.)
/// The statements are constants of this file: no `?` inside a literal.
fn placeholders(sql: String, numbered: bool) -> String {
    if !numbered {
        return sql;
    }
    let mut out = String::with_capacity(sql.len() + sql.len() / 2);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

const CASE_COLUMNS: &str = "id, credential_id, alias_id, workspace_id, project_type_id, client_id, \
    contact_id, message_id, subject, issue, issue_html, sender, sender_name, recipients, sent_at, \
    communication_method, status, priority, fields, automatic, routing, uid, created_at, \
    original_sha256, \
    (SELECT COUNT(*) FROM case_attachments a WHERE a.case_id = cases.id) AS attachment_count";

from_row!(CaseRow, |r| {
    Ok(CaseRow {
        id: r.try_get("id")?,
        credential_id: r.try_get("credential_id")?,
        alias_id: r.try_get("alias_id")?,
        workspace_id: r.try_get("workspace_id")?,
        project_type_id: r.try_get("project_type_id")?,
        client_id: r.try_get("client_id")?,
        contact_id: r.try_get("contact_id")?,
        message_id: r.try_get("message_id")?,
        subject: r.try_get("subject")?,
        issue: r.try_get("issue")?,
        issue_html: r.try_get("issue_html")?,
        sender: r.try_get("sender")?,
        sender_name: r.try_get("sender_name")?,
        recipients: json_text(r.try_get("recipients")?),
        sent_at: r.try_get("sent_at")?,
        communication_method: r.try_get("communication_method")?,
        status: CaseStatus::from_stored(r.try_get("status")?),
        priority: CasePriority::from_stored(r.try_get("priority")?),
        fields: json_text(r.try_get("fields")?),
        automatic: r.try_get("automatic")?,
        routing: json_text(r.try_get("routing")?),
        uid: r.try_get("uid")?,
        created_at: r.try_get("created_at")?,
        original_sha256: r.try_get("original_sha256")?,
        attachment_count: r.try_get("attachment_count")?,
        attachments: Vec::new(),
    })
});

from_row!(AttachmentRow, |r| {
    Ok(AttachmentRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        content_type: r.try_get("content_type")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
    })
});

impl Store {
    /// The folder's checkpoint: (UIDVALIDITY, highest processed UID).
    pub async fn checkpoint(
        &self,
        credential_id: i64,
        folder: &str,
    ) -> StoreResult<Option<(i64, i64)>> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT uidvalidity, last_uid FROM folder_checkpoints WHERE credential_id = $1 AND folder = $2")
                .bind(credential_id)
                .bind(folder)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some((r.try_get("uidvalidity")?, r.try_get("last_uid")?))),
                None => Ok(None),
            }
        })
    }

    /// Commits one batch: every case, exception, processed-message key and the checkpoint.
    ///
    /// Rows go in as multi-row statements (a handful per batch rather than a few per email):
    /// every UID is claimed first (`processed_messages`, as before: a UID claimed by an earlier
    /// commit is `already_processed`), then the cases, their attachments, the exceptions, the
    /// outcome of each claim, and the checkpoint.
    pub async fn commit_batch(&self, batch: Batch) -> StoreResult<BatchOutcome> {
        let now = now_ms();
        let mut out = BatchOutcome::default();
        let numbered = self.is_postgres();
        let sql = |s: String| sqlx::AssertSqlSafe(placeholders(s, numbered));
        let Batch {
            credential_id,
            folder,
            uidvalidity,
            advance_to,
            keep_checkpoint,
            items,
            missing,
            resolved_missing,
            retried,
        } = batch;
        let first_key = items.first().map(|i| i.message_key.clone());
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut fresh: HashSet<i64> = HashSet::with_capacity(items.len());
            for chunk in items.chunks(CLAIM_ROWS) {
                let mut q = sqlx::query_scalar::<_, i64>(sql(format!(
                    "INSERT INTO processed_messages (credential_id, folder, uidvalidity, uid, message_key, outcome, processed_at) \
                     VALUES {} ON CONFLICT DO NOTHING RETURNING uid",
                    repeat_rows("(?, ?, ?, ?, ?, 'pending', ?)", chunk.len())
                )));
                for item in chunk {
                    q = q
                        .bind(credential_id)
                        .bind(&folder)
                        .bind(uidvalidity)
                        .bind(item.uid)
                        .bind(&item.message_key)
                        .bind(now);
                }
                fresh.extend(q.fetch_all(&mut *tx).await?);
            }
            out.committed_uids = items.iter().map(|i| i.uid).collect();
            out.already_processed = (items.len() - fresh.len()) as u64;

            // The fresh items, owned: their text moves into the statements without a copy.
            let mut cases: Vec<(i64, String, NewCase)> = Vec::with_capacity(fresh.len());
            let mut exceptions: Vec<(i64, ExceptionEntry, Option<Vec<u8>>)> = Vec::new();
            for item in items.into_iter().filter(|i| fresh.contains(&i.uid)) {
                match item.outcome {
                    ItemOutcome::Case(c) => cases.push((item.uid, item.message_key, *c)),
                    ItemOutcome::Exception { entry, raw } => {
                        exceptions.push((item.uid, entry, raw))
                    }
                }
            }

            // Cases: the first email with a key gets the case; any other is a duplicate.
            let mut ids_by_key: HashMap<String, i64> = HashMap::with_capacity(cases.len());
            for chunk in cases.chunks_mut(CASE_ROWS) {
                let mut q = sqlx::query_as::<_, (i64, String)>(sql(format!(
                    "INSERT INTO cases (credential_id, alias_id, workspace_id, project_type_id, client_id, contact_id, \
                     message_key, message_id, subject, issue, issue_html, sender, sender_name, recipients, sent_at, \
                     communication_method, status, priority, fields, automatic, routing, folder, uidvalidity, uid, created_at, \
                     original_sha256) \
                     VALUES {} ON CONFLICT DO NOTHING RETURNING id, message_key",
                    repeat_rows(
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Email Integration', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        chunk.len()
                    )
                )));
                for (uid, key, c) in chunk.iter_mut() {
                    q = q
                        .bind(credential_id)
                        .bind(c.alias_id)
                        .bind(c.workspace_id)
                        .bind(c.project_type_id)
                        .bind(c.client_id)
                        .bind(c.contact_id)
                        .bind(key.clone())
                        .bind(c.message_id.take())
                        .bind(std::mem::take(&mut c.subject))
                        .bind(std::mem::take(&mut c.issue))
                        .bind(c.issue_html.take())
                        .bind(c.sender.take())
                        .bind(c.sender_name.take())
                        .bind(c.recipients.to_string())
                        .bind(c.sent_at)
                        .bind(c.status.as_str())
                        .bind(c.priority.as_str())
                        .bind(c.fields.to_string())
                        .bind(c.automatic.take())
                        .bind(c.routing.to_string())
                        .bind(&folder)
                        .bind(uidvalidity)
                        .bind(*uid)
                        .bind(now)
                        .bind(c.original.as_ref().map(|o| o.sha256.clone()));
                }
                ids_by_key.extend(
                    q.fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|(id, key)| (key, id)),
                );
            }
            let mut created: Vec<(i64, i64, &NewCase)> = Vec::with_capacity(cases.len());
            let mut duplicate_uids: Vec<i64> = Vec::new();
            for (uid, key, c) in &cases {
                match ids_by_key.remove(key) {
                    Some(id) => created.push((*uid, id, c)),
                    None => duplicate_uids.push(*uid),
                }
            }
            out.duplicates = duplicate_uids.len() as u64;
            out.created_case_ids = created.iter().map(|(_, id, _)| *id).collect();

            // Attachments: content-addressed blobs, then the case's list.
            let attachments: Vec<(i64, &NewAttachment, String)> = created
                .iter()
                .flat_map(|(_, id, c)| c.attachments.iter().map(move |a| (*id, a)))
                .map(|(id, a)| {
                    (
                        id,
                        a,
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a.bytes)),
                    )
                })
                .collect();
            for chunk in attachments.chunks(ATTACHMENT_ROWS) {
                let mut q = sqlx::query(sql(format!(
                    "INSERT INTO attachment_blobs (sha256, size, bytes) VALUES {} ON CONFLICT DO NOTHING",
                    repeat_rows("(?, ?, ?)", chunk.len())
                )));
                for (_, a, sha) in chunk {
                    q = q.bind(sha).bind(a.bytes.len() as i64).bind(&a.bytes);
                }
                q.execute(&mut *tx).await?;
                let mut q = sqlx::query(sql(format!(
                    "INSERT INTO case_attachments (case_id, name, content_type, sha256, size) VALUES {}",
                    repeat_rows("(?, ?, ?, ?, ?)", chunk.len())
                )));
                for (id, a, sha) in chunk {
                    q = q
                        .bind(*id)
                        .bind(&a.name)
                        .bind(&a.content_type)
                        .bind(sha)
                        .bind(a.bytes.len() as i64);
                }
                q.execute(&mut *tx).await?;
            }

            // Originals: one per content hash, however many cases of the batch share it, in
            // hash order (concurrent batches lock shared rows in the same order).
            let mut seen: HashSet<&str> = HashSet::new();
            let mut originals: Vec<&NewOriginal> = created
                .iter()
                .filter_map(|(_, _, c)| c.original.as_ref())
                .filter(|o| seen.insert(o.sha256.as_str()))
                .collect();
            originals.sort_unstable_by(|a, b| a.sha256.cmp(&b.sha256));
            write_originals!(tx, sql, now, &originals);

            // Exceptions (rare): one at a time, each keeping its message for Retry.
            let mut exception_uids: Vec<i64> = Vec::new();
            for (uid, entry, raw) in &exceptions {
                let exception_id: i64 = sqlx::query_scalar(
                    "INSERT INTO exceptions (at, credential_id, alias_id, source, message, details) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(now)
                .bind(entry.credential_id)
                .bind(entry.alias_id)
                .bind(entry.source)
                .bind(&entry.message)
                .bind(entry.details.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if let Some(raw) = raw {
                    sqlx::query("INSERT INTO exception_messages (exception_id, uid, uidvalidity, folder, raw) VALUES ($1, $2, $3, $4, $5)")
                        .bind(exception_id)
                        .bind(*uid)
                        .bind(uidvalidity)
                        .bind(&folder)
                        .bind(raw)
                        .execute(&mut *tx)
                        .await?;
                }
                exception_uids.push(*uid);
            }
            out.exceptions = exception_uids.len() as u64;

            // The outcome of every claim.
            for chunk in created.chunks(OUTCOME_ROWS) {
                let mut q = sqlx::query(sql(format!(
                    "UPDATE processed_messages SET outcome = 'case', case_id = CASE uid {} END \
                     WHERE credential_id = ? AND folder = ? AND uidvalidity = ? AND uid IN ({})",
                    vec!["WHEN ? THEN ?"; chunk.len()].join(" "),
                    repeat_rows("?", chunk.len())
                )));
                for (uid, id, _) in chunk {
                    q = q.bind(*uid).bind(*id);
                }
                q = q.bind(credential_id).bind(&folder).bind(uidvalidity);
                for (uid, _, _) in chunk {
                    q = q.bind(*uid);
                }
                q.execute(&mut *tx).await?;
            }
            for (outcome, uids) in [
                ("duplicate", &duplicate_uids),
                ("exception", &exception_uids),
            ] {
                for chunk in uids.chunks(OUTCOME_ROWS) {
                    let mut q = sqlx::query(sql(format!(
                        "UPDATE processed_messages SET outcome = ? \
                         WHERE credential_id = ? AND folder = ? AND uidvalidity = ? AND uid IN ({})",
                        repeat_rows("?", chunk.len())
                    )))
                    .bind(outcome)
                    .bind(credential_id)
                    .bind(&folder)
                    .bind(uidvalidity);
                    for uid in chunk {
                        q = q.bind(*uid);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            // Misses and the earlier misses that came back, in the same transaction.
            out.missing = missing.len() as u64;
            out.exceptions += write_missing!(
                tx,
                now,
                credential_id,
                &folder,
                uidvalidity,
                &missing,
                &resolved_missing
            );
            if !keep_checkpoint {
                sqlx::query(
                "INSERT INTO folder_checkpoints (credential_id, folder, uidvalidity, last_uid, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (credential_id, folder) DO UPDATE SET \
                   last_uid = CASE WHEN folder_checkpoints.uidvalidity = excluded.uidvalidity \
                                    AND folder_checkpoints.last_uid > excluded.last_uid \
                               THEN folder_checkpoints.last_uid ELSE excluded.last_uid END, \
                   uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
            )
            .bind(credential_id)
            .bind(&folder)
            .bind(uidvalidity)
            .bind(advance_to)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            }
            if let Some(retry) = &retried {
                out.resolved_case_id = write_retry!(
                    tx,
                    now,
                    credential_id,
                    out.created_case_ids.first().copied(),
                    first_key.as_deref().unwrap_or(""),
                    retry
                );
            }
            tx.commit().await?;
        });
        Ok(out)
    }

    pub async fn list_cases(&self, f: &CaseFilter) -> StoreResult<Vec<CaseRow>> {
        self.rows(
            format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE \
                 ($1 IS NULL OR credential_id = $1) AND ($2 IS NULL OR alias_id = $2) AND \
                 ($3 IS NULL OR workspace_id = $3) AND ($4 IS NULL OR created_at >= $4) AND \
                 ($5 IS NULL OR created_at < $5) AND id < $6 ORDER BY id DESC LIMIT $7"
            ),
            &[
                f.credential_id.into(),
                f.alias_id.into(),
                f.workspace_id.into(),
                f.since.into(),
                f.until.into(),
                f.before_id.unwrap_or(i64::MAX).into(),
                f.limit.into(),
            ],
        )
        .await
    }

    pub async fn count_cases(&self, credential_id: Option<i64>) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM cases WHERE ($1 IS NULL OR credential_id = $1)",
            )
            .bind(credential_id)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One case with its attachment list.
    pub async fn get_case(&self, id: i64) -> StoreResult<CaseRow> {
        let mut case: CaseRow = self
            .row(
                format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"),
                &[id.into()],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        case.attachments = self
            .rows(
                "SELECT id, name, content_type, sha256, size FROM case_attachments \
                 WHERE case_id = $1 ORDER BY id",
                &[id.into()],
            )
            .await?;
        Ok(case)
    }

    /// The bytes of one attachment of one case.
    pub async fn attachment_bytes(
        &self,
        case_id: i64,
        attachment_id: i64,
    ) -> StoreResult<(AttachmentRow, Vec<u8>)> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT a.id, a.name, a.content_type, a.sha256, a.size, b.bytes FROM case_attachments a \
                 JOIN attachment_blobs b ON b.sha256 = a.sha256 WHERE a.case_id = $1 AND a.id = $2",
            )
            .bind(case_id)
            .bind(attachment_id)
            .fetch_optional(pool)
            .await?;
            let Some(r) = row else {
                return Err(StoreError::NotFound);
            };
            Ok((AttachmentRow::from_row(&r)?, r.try_get("bytes")?))
        })
    }
}

/// The message kept with an exception, for Retry.
#[derive(Debug, Clone)]
pub struct ExceptionMessage {
    pub exception_id: i64,
    pub credential_id: Option<i64>,
    pub raw: Vec<u8>,
    pub uid: Option<i64>,
    pub resolved_case_id: Option<i64>,
}

from_row!(ExceptionMessage, |r| {
    Ok(ExceptionMessage {
        exception_id: r.try_get("exception_id")?,
        credential_id: r.try_get("credential_id")?,
        raw: r.try_get("raw")?,
        uid: r.try_get("uid")?,
        resolved_case_id: r.try_get("resolved_case_id")?,
    })
});

impl Store {
    pub async fn exception_message(&self, exception_id: i64) -> StoreResult<ExceptionMessage> {
        self.row(
            "SELECT m.exception_id, e.credential_id, m.raw, m.uid, m.resolved_case_id \
             FROM exception_messages m JOIN exceptions e ON e.id = m.exception_id \
             WHERE m.exception_id = $1",
            &[exception_id.into()],
        )
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Commits the case of a retried exception, resolves the exception and writes the Retry's
    /// audit entry, all in one transaction. The case id, or None when no case resulted.
    pub async fn resolve_exception_with_case(
        &self,
        retry: RetryOf,
        credential_id: i64,
        message_key: &str,
        uid: Option<i64>,
        case: NewCase,
    ) -> StoreResult<Option<i64>> {
        let folder = format!("retry:{}", retry.exception_id);
        let batch = Batch {
            credential_id,
            folder,
            uidvalidity: 0,
            advance_to: 0,
            keep_checkpoint: true,
            items: vec![BatchItem {
                uid: uid.unwrap_or(0),
                message_key: message_key.to_string(),
                outcome: ItemOutcome::Case(Box::new(case)),
            }],
            missing: Vec::new(),
            resolved_missing: Vec::new(),
            retried: Some(retry),
        };
        Ok(self.commit_batch(batch).await?.resolved_case_id)
    }
}

/// The key prefix of oversized mail, which is left unflagged on the server.
pub const TOO_LARGE_KEY_PREFIX: &str = "too-large|";

impl Store {
    /// Records that the committed `uids` now carry \Seen on the server.
    pub async fn mark_flagged(
        &self,
        credential_id: i64,
        folder: &str,
        uidvalidity: i64,
        uids: &[i64],
    ) -> StoreResult<()> {
        let numbered = self.is_postgres();
        with_pool!(self, |pool| {
            for chunk in uids.chunks(OUTCOME_ROWS) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(placeholders(
                    format!(
                        "UPDATE processed_messages SET flagged = TRUE WHERE credential_id = ? \
                         AND folder = ? AND uidvalidity = ? AND uid IN ({})",
                        repeat_rows("?", chunk.len())
                    ),
                    numbered,
                )))
                .bind(credential_id)
                .bind(folder)
                .bind(uidvalidity);
                for uid in chunk {
                    q = q.bind(*uid);
                }
                q.execute(pool).await?;
            }
            Ok(())
        })
    }

    /// Committed messages whose \Seen flag was not confirmed (the process stopped in between).
    pub async fn unflagged_uids(
        &self,
        credential_id: i64,
        folder: &str,
        uidvalidity: i64,
    ) -> StoreResult<Vec<i64>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT uid FROM processed_messages WHERE credential_id = $1 AND folder = $2 \
                 AND uidvalidity = $3 AND flagged = FALSE AND message_key NOT LIKE $4 ORDER BY uid",
            )
            .bind(credential_id)
            .bind(folder)
            .bind(uidvalidity)
            .bind(format!("{TOO_LARGE_KEY_PREFIX}%"))
            .fetch_all(pool)
            .await?)
        })
    }

    /// Cases created from `sender` (lower-case address) for a credential since `since_ms`.
    pub async fn recent_cases_from(
        &self,
        credential_id: i64,
        sender: &str,
        since_ms: i64,
    ) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM cases WHERE credential_id = $1 AND LOWER(sender) = $2 AND created_at >= $3",
            )
            .bind(credential_id)
            .bind(sender)
            .bind(since_ms)
            .fetch_one(pool)
            .await?)
        })
    }
}

impl Store {
    /// For each exception id that kept its email: the case it became, if it was retried.
    /// Ids without a kept email are absent. Reads no message bytes.
    pub async fn exception_retry_states(
        &self,
        ids: &[i64],
    ) -> StoreResult<HashMap<i64, Option<i64>>> {
        let rows: Vec<(i64, Option<i64>)> = self
            .rows_of_exceptions(
                "SELECT exception_id, resolved_case_id FROM exception_messages",
                ids,
            )
            .await?;
        Ok(rows.into_iter().collect())
    }
}
