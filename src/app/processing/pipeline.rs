//! The poll pipeline: one task fetches batches (BODY.PEEK[]), one parses and routes them, one
//! commits them in order, one transaction per batch; \Seen is set only after a batch's commit.
//! Must not decide routing (that is `router`) or hold SQL (that is `store`).

use std::collections::HashMap;

use serde_json::json;

use super::router::{Router, message_item, refresh_router};
use super::{INBOX, ProcessingOptions};
use crate::app::originals::kept_original;
use crate::app::{AppError, AppResult, StoreResultExt};
use crate::imap::{MailError, MailSession};
use crate::ingest::ParsedEmail;
use crate::ingest::sync::{FolderPlan, uid_sets};
use crate::store::{
    Batch, BatchItem, BatchOutcome, ExceptionEntry, ItemOutcome, MissingUid, Store,
    TOO_LARGE_KEY_PREFIX,
};
/// One batch as fetched: the bodies, the items already decided without fetching (oversized
/// mail), and the UIDs the server did not return.
pub(super) struct FetchedBatch {
    pub(super) bodies: Vec<(u32, Vec<u8>)>,
    pub(super) items: Vec<BatchItem>,
    pub(super) leave_unflagged: Vec<i64>,
    pub(super) fetched: u64,
    pub(super) too_large: u64,
    pub(super) missing: Vec<MissingUid>,
    /// Fetched UIDs that an earlier poll had recorded as missing.
    pub(super) resolved_missing: Vec<i64>,
    /// The connection broke while fetching: what arrived is here, the session is unusable.
    pub(super) broken: Option<MailError>,
}

/// Fetches the bodies of one batch with BODY.PEEK[]; oversized mail (the server's `LARGER`
/// search found it, with its size in `oversized_sizes` when the server sent it) becomes an
/// exception without being downloaded. UIDs the server leaves out of the answer (or refuses)
/// are fetched again one at a time; those still missing are recorded with the server's words,
/// and set aside as an exception-log entry after `missing_attempts` polls. With `one_by_one`
/// (UIDs earlier polls did not get) every UID is fetched on its own.
pub(super) async fn fetch_batch(
    session: &mut MailSession,
    plan: &BatchPlan,
    chunk: &[u32],
    oversized_sizes: &HashMap<u32, Option<u64>>,
    opts: &ProcessingOptions,
    one_by_one: bool,
) -> FetchedBatch {
    let mut items = Vec::new();
    let mut to_fetch = Vec::with_capacity(chunk.len());
    let mut leave_unflagged = Vec::new();
    for uid in chunk {
        match oversized_sizes.get(uid) {
            Some(size) => {
                leave_unflagged.push(i64::from(*uid));
                let limit = opts.max_message_bytes;
                let message = match size {
                    Some(size) => format!(
                        "The email is {size} bytes, more than the limit of {limit} bytes; it was left untouched on the server."
                    ),
                    None => format!(
                        "The email is larger than the limit of {limit} bytes (the server did not say by how much); it was left untouched on the server."
                    ),
                };
                items.push(BatchItem {
                    uid: i64::from(*uid),
                    message_key: format!("{TOO_LARGE_KEY_PREFIX}{}|{uid}", plan.uidvalidity),
                    outcome: ItemOutcome::Exception {
                        entry: ExceptionEntry {
                            credential_id: Some(plan.credential_id),
                            alias_id: None,
                            source: "processing",
                            message,
                            details: json!({ "uid": uid, "size": size }),
                        },
                        raw: None,
                    },
                });
            }
            None => to_fetch.push(*uid),
        }
    }
    let mut bodies: Vec<(u32, Vec<u8>)> = Vec::with_capacity(to_fetch.len());
    // Why a UID did not come back, as far as the server said.
    let mut reasons: HashMap<u32, String> = HashMap::new();
    let mut broken: Option<MailError> = None;
    if !one_by_one {
        for set in uid_sets(&to_fetch, 4000) {
            let f = session.bodies(&set).await;
            bodies.extend(f.bodies);
            if let Some(said) = f.server_said {
                for u in &to_fetch {
                    reasons.entry(*u).or_insert_with(|| said.clone());
                }
            }
            if f.broken.is_some() {
                broken = f.broken;
                break;
            }
        }
    }
    let got: std::collections::HashSet<u32> = bodies.iter().map(|(u, _)| *u).collect();
    let mut missing_uids: Vec<u32> = to_fetch
        .iter()
        .copied()
        .filter(|u| !got.contains(u))
        .collect();
    // One at a time: a server that drops messages from a long answer often sends them alone,
    // and one that cannot send a message then says so about that message only.
    let mut untried: Vec<u32> = Vec::new();
    if broken.is_none() {
        let mut still = Vec::new();
        for (i, uid) in missing_uids.iter().enumerate() {
            let f = session.bodies(&uid.to_string()).await;
            let came = f.bodies.into_iter().find(|(u, _)| u == uid);
            match came {
                Some(b) => bodies.push(b),
                None => {
                    still.push(*uid);
                    let reason = match (&f.broken, f.server_said) {
                        (Some(e), _) => e.message.clone(),
                        (None, Some(said)) => format!("the server answered {said}"),
                        (None, None) => reasons.remove(uid).map_or_else(
                            || "the server answered OK but did not send it".to_string(),
                            |said| format!("the server answered {said}"),
                        ),
                    };
                    reasons.insert(*uid, reason);
                }
            }
            if f.broken.is_some() {
                broken = f.broken;
                untried = missing_uids[i + 1..].to_vec();
                break;
            }
        }
        if one_by_one {
            // UIDs not reached before the connection broke keep their count.
            missing_uids = still;
        } else {
            still.extend(&untried);
            missing_uids = still;
        }
    } else if !one_by_one {
        let why = broken
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        for u in &missing_uids {
            reasons.entry(*u).or_insert_with(|| why.clone());
        }
    }
    bodies.sort_by_key(|(u, _)| *u);
    let missing = missing_uids
        .into_iter()
        .map(|uid| {
            let reason = reasons
                .remove(&uid)
                .unwrap_or_else(|| "the server did not send it".to_string());
            missing_uid(plan, opts, uid, reason)
        })
        .collect();
    let resolved_missing = bodies
        .iter()
        .filter(|(u, _)| plan.pending.contains_key(u))
        .map(|(u, _)| i64::from(*u))
        .collect();
    FetchedBatch {
        fetched: bodies.len() as u64,
        too_large: items.len() as u64,
        bodies,
        items,
        leave_unflagged,
        missing,
        resolved_missing,
        broken,
    }
}

/// A UID the server did not return, with the entry that sets it aside on its last allowed miss.
fn missing_uid(plan: &BatchPlan, opts: &ProcessingOptions, uid: u32, reason: String) -> MissingUid {
    let misses = plan.pending.get(&uid).copied().unwrap_or(0) + 1;
    let give_up = (misses >= opts.missing_attempts.max(1)).then(|| ExceptionEntry {
        credential_id: Some(plan.credential_id),
        alias_id: None,
        source: "processing",
        message: format!(
            "The server did not return the email with UID {uid} in {misses} polls in a row ({reason}), so it was set aside; it is still on the server, unread. Retry fetches it again."
        ),
        details: json!({
            "uid": uid, "uidvalidity": plan.uidvalidity, "folder": INBOX, "attempts": misses,
            "server_response": reason,
        }),
    });
    tracing::warn!(
        credential = plan.credential_id,
        uid,
        misses,
        reason = %reason,
        "the server did not return an email"
    );
    MissingUid {
        uid: i64::from(uid),
        reason,
        give_up,
    }
}

/// What every batch of one poll shares.
pub(super) struct BatchPlan {
    pub(super) credential_id: i64,
    pub(super) uidvalidity: u32,
    pub(super) folder_plan: FolderPlan,
    pub(super) checkpoint: Option<(i64, i64)>,
    pub(super) final_checkpoint: i64,
    pub(super) total: u64,
    /// UIDs earlier polls did not get, with how many times they were missed.
    pub(super) pending: HashMap<u32, i64>,
    /// The new mail's UIDs, in order.
    pub(super) uids: Vec<u32>,
    /// UIDs missed before, fetched one at a time after the new mail.
    pub(super) retry: Vec<u32>,
    /// Oversized mail (never downloaded), with its size when the server gave it.
    pub(super) oversized_sizes: HashMap<u32, Option<u64>>,
}

/// A fetched batch on its way to the prepare stage.
pub(super) struct Fetched {
    pub(super) batch: FetchedBatch,
    pub(super) advance_to: i64,
    pub(super) keep_checkpoint: bool,
    pub(super) count: u64,
}

/// A batch ready to commit.
pub(super) struct Prepared {
    pub(super) batch: Batch,
    pub(super) leave_unflagged: Vec<i64>,
    pub(super) count: u64,
}

/// A committed batch, back to be flagged.
pub(super) struct Committed {
    pub(super) outcome: BatchOutcome,
    pub(super) leave_unflagged: Vec<i64>,
    pub(super) count: u64,
}

/// A pipeline stage that stops when the poll is dropped half-way.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<AppResult<()>>);

impl AbortOnDrop {
    pub(super) async fn join(mut self) -> AppResult<()> {
        let handle = &mut self.0;
        handle
            .await
            .map_err(|e| AppError::Other(anyhow::anyhow!("a processing stage failed: {e}")))?
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pipeline stage: parses each fetched batch (on a blocking thread, which also compresses the
/// originals to keep) and routes its emails.
pub(super) async fn prepare_stage(
    store: Store,
    mut router: Router,
    keep_originals: bool,
    mut rx: tokio::sync::mpsc::Receiver<Fetched>,
    tx: tokio::sync::mpsc::Sender<Prepared>,
) -> AppResult<()> {
    while let Some(f) = rx.recv().await {
        let FetchedBatch {
            mut items,
            bodies,
            leave_unflagged,
            missing,
            resolved_missing,
            ..
        } = f.batch;
        let parsed = tokio::task::spawn_blocking(move || {
            bodies
                .into_iter()
                .map(|(uid, raw)| {
                    let parsed = ParsedEmail::parse(&raw);
                    let original = match &parsed {
                        Ok(p) if keep_originals => Some(kept_original(&raw, &p.content_hash)),
                        _ => None,
                    };
                    (uid, raw, parsed, original)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| AppError::Other(anyhow::anyhow!("parsing a batch failed: {e}")))?;
        refresh_router(&store, &mut router).await?;
        for (uid, raw, parsed, original) in parsed {
            items.push(message_item(&store, &mut router, uid, raw, parsed, original).await?);
        }
        items.sort_by_key(|i| i.uid);
        let prepared = Prepared {
            batch: Batch {
                credential_id: router.credential_id,
                folder: INBOX.to_string(),
                uidvalidity: 0, // set by the commit stage
                advance_to: f.advance_to,
                items,
                keep_checkpoint: f.keep_checkpoint,
                missing,
                resolved_missing,
                retried: None,
            },
            leave_unflagged,
            count: f.count,
        };
        if tx.send(prepared).await.is_err() {
            break; // the commit stage failed; it reports why
        }
    }
    Ok(())
}

/// Pipeline stage: commits each prepared batch in its own transaction, in order, and hands
/// it back to be flagged.
pub(super) async fn commit_stage(
    store: Store,
    uidvalidity: u32,
    mut rx: tokio::sync::mpsc::Receiver<Prepared>,
    tx: tokio::sync::mpsc::UnboundedSender<Committed>,
) -> AppResult<()> {
    while let Some(mut p) = rx.recv().await {
        p.batch.uidvalidity = i64::from(uidvalidity);
        let outcome = store.commit_batch(p.batch).await.app_err("case")?;
        let committed = Committed {
            outcome,
            leave_unflagged: p.leave_unflagged,
            count: p.count,
        };
        if tx.send(committed).is_err() {
            break;
        }
    }
    Ok(())
}
