//! The original emails of cases: their exact bytes (`GET /api/v1/cases/{id}/original`, the admin
//! case page's "Download original" and "Show source", `mailroom case original`), re-parsing a
//! case from its original after a parser fix (`mailroom case reparse`), and their retention
//! (`MAILROOM_KEEP_ORIGINALS_DAYS`). Must not compress or parse MIME itself (that is `ingest`)
//! or hold SQL (that is `store`).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult, StoreResultExt};
use crate::ingest::{Original, ParsedEmail, original};
use crate::store::{AuditEntry, CaseContent, CaseRow, NewCase, NewOriginal, OriginalStats, now_ms};

/// What a re-parse did to one case.
#[derive(Debug, Clone, Serialize)]
pub struct ReparseOutcome {
    pub case_id: i64,
    /// Whether the body, subject, sender, recipients or attachments differ from before.
    pub changed: bool,
    pub attachments_before: usize,
    pub attachments_after: usize,
    pub body_chars_before: usize,
    pub body_chars_after: usize,
}

/// What a re-parse of every case did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReparseReport {
    pub cases: u64,
    pub changed: Vec<i64>,
    /// Cases that could not be re-parsed, with why.
    pub failed: Vec<(i64, String)>,
}

/// What a retention run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// The retention applied (None: originals are kept for ever, nothing was pruned).
    pub keep_days: Option<u64>,
    pub cases_released: u64,
    pub originals_deleted: u64,
    pub after: OriginalStats,
}

const DAY_MS: i64 = 86_400_000;

impl App {
    /// The original email of a case, byte for byte as the server sent it.
    pub async fn case_original(&self, case_id: i64) -> AppResult<Vec<u8>> {
        let stored = self
            .store
            .case_original(case_id)
            .await
            .app_err("case")?
            .ok_or(AppError::NotFound("original email of this case"))?;
        tokio::task::spawn_blocking(move || {
            original::restore(
                &stored.compression,
                stored.stored,
                stored.size,
                &stored.sha256,
            )
        })
        .await
        .map_err(|e| AppError::Other(anyhow::anyhow!("reading the original failed: {e}")))?
        .map_err(|e| AppError::Other(anyhow::Error::new(e).context(format!("case {case_id}"))))
    }

    /// Parses a case's original again (after a parser fix) and replaces what the parse gives
    /// the case: body text and HTML, subject, sender, recipients, date and attachments. Its
    /// routing, status and fields stay. Audited when something changed.
    pub async fn reparse_case(&self, actor: &str, case_id: i64) -> AppResult<ReparseOutcome> {
        let row = self.store.get_case(case_id).await.app_err("case")?;
        let raw = match self.case_original(case_id).await {
            Err(AppError::NotFound(_)) => {
                return Err(AppError::Conflict {
                    field: None,
                    message: format!(
                        "Case {case_id} has no kept original (it was made before originals were kept, or its original was pruned), so it cannot be re-parsed."
                    ),
                });
            }
            other => other?,
        };
        let parsed = tokio::task::spawn_blocking(move || ParsedEmail::parse(&raw))
            .await
            .map_err(|e| AppError::Other(anyhow::anyhow!("parsing the original failed: {e}")))?
            .map_err(|e| AppError::Conflict {
                field: None,
                message: format!("The original of case {case_id} cannot be read: {e}."),
            })?;
        let aliases = self
            .store
            .list_aliases(Some(row.credential_id))
            .await
            .app_err("alias")?
            .into_iter()
            .map(|a| (a.id, a))
            .collect::<HashMap<_, _>>();
        let fresh = super::processing::fill_case(parsed, skeleton(&row), &aliases);
        let content = CaseContent {
            subject: fresh.subject,
            issue: fresh.issue,
            issue_html: fresh.issue_html,
            sender: fresh.sender,
            sender_name: fresh.sender_name,
            recipients: fresh.recipients,
            sent_at: fresh.sent_at,
            attachments: fresh.attachments,
        };
        let outcome = ReparseOutcome {
            case_id,
            changed: differs(&row, &content),
            attachments_before: row.attachments.len(),
            attachments_after: content.attachments.len(),
            body_chars_before: row.issue.chars().count(),
            body_chars_after: content.issue.chars().count(),
        };
        if outcome.changed {
            let entry = AuditEntry::new(actor, "case.reparse", "case")
                .target(case_id)
                .summary(format!(
                    "re-parsed case {case_id} from its original: {} attachments (was {}), body {} characters (was {})",
                    outcome.attachments_after,
                    outcome.attachments_before,
                    outcome.body_chars_after,
                    outcome.body_chars_before
                ))
                .details(json!({
                    "attachments_before": outcome.attachments_before,
                    "attachments_after": outcome.attachments_after,
                    "body_chars_before": outcome.body_chars_before,
                    "body_chars_after": outcome.body_chars_after,
                }));
            self.store
                .replace_case_content(case_id, &content, &entry)
                .await
                .app_err("case")?;
        }
        Ok(outcome)
    }

    /// Re-parses every case whose original is kept, oldest first; `progress` sees each one.
    pub async fn reparse_all_cases(
        &self,
        actor: &str,
        mut progress: impl FnMut(&Result<ReparseOutcome, (i64, String)>),
    ) -> AppResult<ReparseReport> {
        let mut report = ReparseReport::default();
        let mut after = 0;
        loop {
            let ids = self
                .store
                .case_ids_with_original(after, 200)
                .await
                .app_err("case")?;
            let Some(last) = ids.last() else { break };
            after = *last;
            for id in ids {
                report.cases += 1;
                let result = self
                    .reparse_case(actor, id)
                    .await
                    .map_err(|e| (id, e.to_string()));
                progress(&result);
                match result {
                    Ok(o) if o.changed => report.changed.push(id),
                    Ok(_) => {}
                    Err(failed) => report.failed.push(failed),
                }
            }
        }
        Ok(report)
    }

    /// Applies the retention of originals: with `keep_days` set, cases older than that many
    /// days let go of their original, and originals no case holds any more are deleted.
    pub async fn prune_originals(&self, keep_days: Option<u64>) -> AppResult<PruneReport> {
        let mut report = PruneReport {
            keep_days,
            ..PruneReport::default()
        };
        if let Some(days) = keep_days {
            let days = i64::try_from(days)
                .unwrap_or(i64::MAX / DAY_MS)
                .min(i64::MAX / DAY_MS);
            let cutoff = now_ms().saturating_sub(days * DAY_MS);
            let (cases, originals) = self.store.prune_originals(cutoff).await.app_err("case")?;
            report.cases_released = cases;
            report.originals_deleted = originals;
            if cases > 0 || originals > 0 {
                tracing::info!(cases, originals, days, "pruned original emails");
            }
        }
        report.after = self.original_stats().await?;
        Ok(report)
    }

    /// How many originals are kept and what they take as received and as stored.
    pub async fn original_stats(&self) -> AppResult<OriginalStats> {
        self.store.original_stats().await.app_err("case")
    }
}

/// The stored form of an email's original (zstd), whose SHA-256 is `sha256`.
pub(crate) fn kept_original(raw: &[u8], sha256: &str) -> NewOriginal {
    let o = Original::keep(raw, sha256);
    NewOriginal {
        sha256: o.sha256,
        size: o.size,
        compression: o.compression,
        stored: o.stored,
    }
}

/// The routing of an existing case, as the skeleton a parse fills.
fn skeleton(row: &CaseRow) -> NewCase {
    NewCase {
        alias_id: row.alias_id,
        client_id: row.client_id,
        contact_id: row.contact_id,
        message_id: row.message_id.clone(),
        status: row.status,
        priority: row.priority,
        fields: row.fields.clone(),
        automatic: row.automatic.clone(),
        routing: row.routing.clone(),
        ..NewCase::routed(row.workspace_id, row.project_type_id)
    }
}

/// Whether a parse gives a case anything new.
fn differs(row: &CaseRow, c: &CaseContent) -> bool {
    use sha2::{Digest, Sha256};
    let before: Vec<(&str, &str, &str)> = row
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.content_type.as_str(), a.sha256.as_str()))
        .collect();
    let hashes: Vec<String> = c
        .attachments
        .iter()
        .map(|a| hex::encode(Sha256::digest(&a.bytes)))
        .collect();
    let after: Vec<(&str, &str, &str)> = c
        .attachments
        .iter()
        .zip(&hashes)
        .map(|(a, h)| (a.name.as_str(), a.content_type.as_str(), h.as_str()))
        .collect();
    row.subject != c.subject
        || row.issue != c.issue
        || row.issue_html != c.issue_html
        || row.sender != c.sender
        || row.sender_name != c.sender_name
        || row.recipients != c.recipients
        || row.sent_at != c.sent_at
        || before != after
}
