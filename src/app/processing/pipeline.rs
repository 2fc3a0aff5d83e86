//! The poll pipeline: one task fetches batches (BODY.PEEK[]), one parses and routes them, one
//! commits them in order, one transaction per batch; \Seen is set only after a batch's commit.
//! Must not decide routing (that is `router`) or hold SQL (that is `store`).

use super::*;
/// One batch as fetched: the bodies, and the items already decided without fetching
/// (oversized mail).
pub(super) struct FetchedBatch {
    pub(super) bodies: Vec<(u32, Vec<u8>)>,
    pub(super) items: Vec<BatchItem>,
    pub(super) leave_unflagged: Vec<i64>,
    pub(super) fetched: u64,
    pub(super) too_large: u64,
}

/// Fetches the bodies of one batch with BODY.PEEK[]; oversized mail (the server's `LARGER`
/// search found it, with its size in `oversized_sizes`) becomes an exception without being
/// downloaded.
pub(super) async fn fetch_batch(
    session: &mut MailSession,
    plan: &BatchPlan,
    chunk: &[u32],
    oversized_sizes: &HashMap<u32, u64>,
    opts: &ProcessingOptions,
) -> AppResult<FetchedBatch> {
    let mut items = Vec::new();
    let mut to_fetch = Vec::with_capacity(chunk.len());
    let mut leave_unflagged = Vec::new();
    for uid in chunk {
        match oversized_sizes.get(uid) {
            Some(size) if *size > opts.max_message_bytes => {
                leave_unflagged.push(i64::from(*uid));
                items.push(BatchItem {
                    uid: i64::from(*uid),
                    message_key: format!("{TOO_LARGE_KEY_PREFIX}{}|{uid}", plan.uidvalidity),
                    outcome: ItemOutcome::Exception {
                        entry: ExceptionEntry {
                            credential_id: Some(plan.credential_id),
                            alias_id: None,
                            source: "processing",
                            message: format!(
                                "The email is {size} bytes, more than the limit of {} bytes; it was left untouched on the server.",
                                opts.max_message_bytes
                            ),
                            details: json!({ "uid": uid, "size": size }),
                        },
                        raw: None,
                    },
                });
            }
            _ => to_fetch.push(*uid),
        }
    }
    let mut bodies = Vec::with_capacity(to_fetch.len());
    for set in uid_sets(&to_fetch, 4000) {
        bodies.extend(session.bodies(&set).await?);
    }
    let got: Vec<u32> = bodies.iter().map(|(u, _)| *u).collect();
    ensure_all_returned(&to_fetch, &got)?;
    Ok(FetchedBatch {
        fetched: bodies.len() as u64,
        too_large: items.len() as u64,
        bodies,
        items,
        leave_unflagged,
    })
}

/// Sets \Seen on committed UIDs, one command per compact set. Returns the range flagged.
pub(super) async fn store_seen(
    session: &mut MailSession,
    uids: &[u32],
) -> AppResult<Option<(u32, u32)>> {
    let (Some(first), Some(last)) = (uids.iter().min(), uids.iter().max()) else {
        return Ok(None);
    };
    for set in uid_sets(uids, 4000) {
        session.mark_seen(&set).await?;
    }
    Ok(Some((*first, *last)))
}

/// What every batch of one poll shares.
pub(super) struct BatchPlan {
    pub(super) credential_id: i64,
    pub(super) uidvalidity: u32,
    pub(super) folder_plan: FolderPlan,
    pub(super) checkpoint: Option<(i64, i64)>,
    pub(super) final_checkpoint: i64,
    pub(super) total: u64,
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

/// Pipeline stage: parses each fetched batch (on a blocking thread) and routes its emails.
pub(super) async fn prepare_stage(
    store: Store,
    mut router: Router,
    mut rx: tokio::sync::mpsc::Receiver<Fetched>,
    tx: tokio::sync::mpsc::Sender<Prepared>,
) -> AppResult<()> {
    while let Some(f) = rx.recv().await {
        let FetchedBatch {
            mut items,
            bodies,
            leave_unflagged,
            ..
        } = f.batch;
        let parsed = tokio::task::spawn_blocking(move || {
            bodies
                .into_iter()
                .map(|(uid, raw)| {
                    let parsed = ParsedEmail::parse(&raw);
                    (uid, raw, parsed)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| AppError::Other(anyhow::anyhow!("parsing a batch failed: {e}")))?;
        refresh_router(&store, &mut router).await?;
        for (uid, raw, parsed) in parsed {
            items.push(message_item(&store, &mut router, uid, raw, parsed).await?);
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

/// Pipeline stage: commits each prepared batch in its own transaction, in order, and records
/// the flags set meanwhile.
pub(super) async fn commit_stage(
    store: Store,
    credential_id: i64,
    uidvalidity: u32,
    mut rx: tokio::sync::mpsc::Receiver<Prepared>,
    mut flagged: tokio::sync::mpsc::UnboundedReceiver<(u32, u32)>,
    tx: tokio::sync::mpsc::UnboundedSender<Committed>,
) -> AppResult<()> {
    while let Some(mut p) = rx.recv().await {
        while let Ok((first, last)) = flagged.try_recv() {
            store
                .mark_flagged(
                    credential_id,
                    INBOX,
                    i64::from(uidvalidity),
                    i64::from(first),
                    i64::from(last),
                )
                .await
                .map_err(|e| AppError::from_store(e, "checkpoint"))?;
        }
        p.batch.uidvalidity = i64::from(uidvalidity);
        let outcome = store
            .commit_batch(p.batch)
            .await
            .map_err(|e| AppError::from_store(e, "case"))?;
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
