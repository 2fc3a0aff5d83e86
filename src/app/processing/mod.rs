//! "Process Email Integration": one poll of one credential's INBOX (`poll_once`, which tests
//! drive directly) and the per-credential workers around it (poll, then IDLE; back off on
//! failure; pause after repeated login rejections).
//!
//! Exactly once: a fetched batch's cases, exceptions, de-duplication keys and the advanced
//! checkpoint commit in one transaction (`Store::commit_batch`); only then is the batch flagged
//! \Seen. A crash at any point re-fetches, and the keys stop a second case. A UID the server
//! leaves out of a FETCH answer never holds the mailbox up: it is recorded in that same
//! transaction and fetched again on its own by the next polls (`missing`). Must not speak IMAP
//! itself (that is `imap`) or parse MIME (that is `ingest`).

mod flags;
mod missing;
mod pipeline;
mod router;
mod workers;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::{App, AppError, AppResult, StoreResultExt};
use crate::domain::HealthState;
use crate::imap::{MailError, MailSession, MailTarget, Target};
use crate::ingest::ParsedEmail;
use crate::ingest::sync::{FolderPlan, plan, uid_sets};
use crate::store::{Batch, CredentialRow, Health, now_ms};

pub const INBOX: &str = "INBOX";
/// Domain of the Message-IDs of our own replies (loop protection).
pub const OWN_MESSAGE_ID_DOMAIN: &str = "mailroom.invalid";
/// The seed's exception text for mail no alias matched (one text, the routing decision's).
const MISSING_KEY_INFO: &str = crate::domain::routing::MISSING_KEY_INFORMATION;

/// Processing settings, from `MAILROOM_*` variables with these defaults.
#[derive(Debug, Clone)]
pub struct ProcessingOptions {
    /// Larger mail goes to the exception log, untouched on the server (default 35 MB).
    pub max_message_bytes: u64,
    /// Messages fetched and committed together (default 100).
    pub batch_size: usize,
    /// Time between polls, and the longest IDLE wait (default 60 s).
    pub poll_interval: Duration,
    /// Timeout of each IMAP step (default 30 s).
    pub step_timeout: Duration,
    /// Login rejections in a row that pause a credential (default 3).
    pub pause_after_rejections: i64,
    /// Polls in a row a UID may be missing from the server's FETCH answers before it is set
    /// aside as an exception-log entry (default 3, at least 1).
    pub missing_attempts: i64,
    /// Cases from one sender within an hour beyond which they are marked automatic and never
    /// acknowledged (loop protection; `MAILROOM_SENDER_LIMIT_PER_HOUR`, default 20, at least 1).
    pub sender_limit_per_hour: i64,
    /// Days a case keeps its original email (`MAILROOM_KEEP_ORIGINALS_DAYS`): `None` keeps it
    /// for ever (the default), `Some(0)` keeps none.
    pub keep_originals_days: Option<u64>,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

impl Default for ProcessingOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: env_u64("MAILROOM_MAX_MESSAGE_BYTES").unwrap_or(35_000_000),
            batch_size: env_u64("MAILROOM_BATCH_SIZE").map_or(100, |n| n.clamp(1, 1000) as usize),
            poll_interval: Duration::from_secs(
                env_u64("MAILROOM_POLL_INTERVAL_SECS").unwrap_or(60).max(1),
            ),
            step_timeout: Duration::from_secs(30),
            pause_after_rejections: 3,
            missing_attempts: 3,
            sender_limit_per_hour: env_u64("MAILROOM_SENDER_LIMIT_PER_HOUR")
                .map_or(router::SENDER_RATE_LIMIT_PER_HOUR, |n| {
                    n.clamp(1, i64::MAX as u64) as i64
                }),
            keep_originals_days: env_u64("MAILROOM_KEEP_ORIGINALS_DAYS"),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PollReport {
    pub credential_id: i64,
    pub uidvalidity: u32,
    /// Messages found to process this time (the backlog at the start).
    pub backlog: u64,
    pub fetched: u64,
    pub cases_created: u64,
    pub exceptions: u64,
    pub duplicates: u64,
    pub already_processed: u64,
    pub too_large: u64,
    /// UIDs the server did not return this time (fetched again by the next polls).
    pub not_returned: u64,
    pub uidvalidity_changed: bool,
}

/// A mail server step failed: a 502 with the words of `imap`.
pub(crate) fn upstream(e: MailError) -> AppError {
    AppError::Upstream(e.message)
}

/// The email's key for de-duplication across UIDs: Message-ID + content hash.
pub(crate) fn message_key(parsed: Option<&ParsedEmail>, raw: &[u8]) -> String {
    use sha2::Digest;
    match parsed {
        Some(p) => format!(
            "{}|{}",
            p.message_id.as_deref().unwrap_or(""),
            p.content_hash
        ),
        None => format!("|{}", hex::encode(sha2::Sha256::digest(raw))),
    }
}

impl App {
    fn mail_target(&self, row: &CredentialRow, opts: &ProcessingOptions) -> MailTarget {
        MailTarget {
            target: Target::from(&row.fields),
            timeout: opts.step_timeout,
            deny: self.probe_options().deny,
        }
    }

    /// Waits for this credential's turn, held while the guard lives: a worker's poll, a "poll
    /// now" and a Retry that fetches never work on the same folder at once.
    async fn one_poll_at_a_time(&self, credential_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .poll_locks
            .lock()
            .expect("poll locks")
            .entry(credential_id)
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Connects and logs in for processing. Any failure — a password that cannot be opened,
    /// the connection, the login — is a failed poll: counted in the metrics and recorded in the
    /// credential's health with its back-off, so neither the workers nor "poll now" spin.
    async fn open_mail_session(
        &self,
        row: &CredentialRow,
        opts: &ProcessingOptions,
    ) -> AppResult<MailSession> {
        let started = std::time::Instant::now();
        let failed = |started: std::time::Instant| {
            self.metrics
                .record_poll(false, started.elapsed().as_micros() as u64, 0, 0, 0);
        };
        let password = match self.mail_credentials(row).await {
            Ok(p) => p,
            Err(AppError::Other(e)) => {
                failed(started);
                let words = format!(
                    "{}. Restore the master key that sealed it (MAILROOM_MASTER_KEY or the key file in the data directory), or enter the mailbox password again.",
                    capitalized(&format!("{e:#}"))
                );
                self.record_failure(row, &words, false, opts).await;
                return Err(AppError::Other(anyhow::anyhow!(words)));
            }
            Err(e) => return Err(e),
        };
        match self
            .connect_mail(&self.mail_target(row, opts), row, password)
            .await
        {
            Ok(s) => Ok(s),
            Err(e) => {
                failed(started);
                if !self.sign_in_needed(row, &e).await {
                    self.record_failure(row, &e.message, e.rejected, opts).await;
                }
                Err(AppError::Upstream(e.message))
            }
        }
    }

    /// One poll of one credential: connect, process every new message of INBOX, log out.
    pub async fn poll_once(
        &self,
        credential_id: i64,
        progress: impl FnMut(u64, u64),
    ) -> AppResult<PollReport> {
        let opts = self.processing.clone();
        let row = self.credential_row(credential_id).await?;
        let started = std::time::Instant::now();
        let mut session = self.open_mail_session(&row, &opts).await?;
        let result = self
            .poll_session(&row, &mut session, &opts, started, progress)
            .await;
        if result.is_ok() {
            session.logout().await;
        }
        result
    }

    /// Processes INBOX over an open session and records the outcome: the poll's metrics (timed
    /// from `started`) and the credential's health.
    pub(crate) async fn poll_session(
        &self,
        row: &CredentialRow,
        session: &mut MailSession,
        opts: &ProcessingOptions,
        started: std::time::Instant,
        progress: impl FnMut(u64, u64),
    ) -> AppResult<PollReport> {
        let result = self.process_inbox(row, session, opts, progress).await;
        let micros = started.elapsed().as_micros() as u64;
        match &result {
            Ok(r) => {
                self.metrics
                    .record_poll(true, micros, r.fetched, r.cases_created, r.exceptions);
                self.record_success(row).await;
            }
            Err(e) => {
                self.metrics.record_poll(false, micros, 0, 0, 0);
                // The whole chain of causes ("{e:#}"), not only the outermost context.
                self.record_failure(row, &format!("{e:#}"), false, opts)
                    .await;
            }
        }
        result
    }

    /// Processes every new message of INBOX over an open session.
    async fn process_inbox(
        &self,
        row: &CredentialRow,
        session: &mut MailSession,
        opts: &ProcessingOptions,
        mut progress: impl FnMut(u64, u64),
    ) -> AppResult<PollReport> {
        let _turn = self.one_poll_at_a_time(row.id).await;
        let status = session.select(INBOX).await.map_err(upstream)?;
        let checkpoint = self
            .store
            .checkpoint(row.id, INBOX)
            .await
            .app_err("checkpoint")?;
        let folder_plan = plan(checkpoint, status.uidvalidity);
        // Messages committed by a run that stopped before flagging them: flag them now.
        let mut flags = SeenFlags::new(&self.store, row.id, INBOX, status.uidvalidity);
        flags.recover().await?;
        flags.flag_now(session).await?;
        let mut report = PollReport {
            credential_id: row.id,
            uidvalidity: status.uidvalidity,
            ..PollReport::default()
        };
        // (`UID n:*` always matches the last message, even below n: hence `after_uid`.)
        let (search, after_uid) = match folder_plan {
            FolderPlan::FirstSight => ("UNSEEN".to_string(), 0),
            FolderPlan::After { after_uid } => {
                (format!("UID {}:*", after_uid.saturating_add(1)), after_uid)
            }
            FolderPlan::UidValidityChanged { previous } => {
                tracing::warn!(
                    credential = row.id,
                    previous,
                    now = status.uidvalidity,
                    "UIDVALIDITY changed: re-reading the folder; duplicates are skipped"
                );
                report.uidvalidity_changed = true;
                ("ALL".to_string(), 0)
            }
        };
        let uids: Vec<u32> = session
            .search(&search)
            .await
            .map_err(upstream)?
            .into_iter()
            .filter(|u| *u > after_uid)
            .collect();
        report.backlog = uids.len() as u64;
        self.metrics.set_backlog(row.id, report.backlog);
        self.store
            .set_backlog(row.id, uids.len() as i64)
            .await
            .app_err("credential")?;
        // Where the checkpoint ends: past every message that existed at SELECT (on first
        // sight the read ones are left alone, as the original product did).
        let highest_seen = status.uidnext.map_or(0, |n| n.saturating_sub(1));
        let final_checkpoint = i64::from(highest_seen.max(uids.last().copied().unwrap_or(0)));
        // Oversized mail is never downloaded: the server finds it in one search (fetching the
        // size of every message cost a round of one response per message before any body),
        // and only its sizes are fetched, for the exception log (a size the server does not
        // send stays unknown: the email is still too large).
        let mut oversized_sizes: HashMap<u32, Option<u64>> = HashMap::new();
        if !uids.is_empty() {
            let oversized: Vec<u32> = session
                .search(&format!("{search} LARGER {}", opts.max_message_bytes))
                .await
                .map_err(upstream)?
                .into_iter()
                .filter(|u| uids.binary_search(u).is_ok())
                .collect();
            oversized_sizes.extend(oversized.iter().map(|u| (*u, None)));
            for set in uid_sets(&oversized, 4000) {
                let sizes = session.sizes(&set).await.map_err(upstream)?;
                oversized_sizes.extend(sizes.into_iter().map(|(u, size)| (u, Some(size))));
            }
        }
        // UIDs an earlier poll did not get: fetched again, one at a time, after the new mail.
        let (pending, retry) = self
            .pending_missing(row.id, status.uidvalidity, session, &uids)
            .await?;
        let total = uids.len() as u64;
        let nothing_new = uids.is_empty();
        if total > 0 || !retry.is_empty() {
            let plan = BatchPlan {
                credential_id: row.id,
                uidvalidity: status.uidvalidity,
                folder_plan,
                checkpoint,
                final_checkpoint,
                total,
                pending,
                uids,
                retry,
                oversized_sizes,
            };
            self.run_pipeline(&plan, session, &mut flags, opts, &mut report, &mut progress)
                .await?;
        }
        if nothing_new
            && checkpoint.is_none_or(|(v, last)| {
                v != i64::from(status.uidvalidity) || last < final_checkpoint
            })
        {
            // Nothing to process, but remember where the folder stands.
            self.store
                .commit_batch(Batch {
                    credential_id: row.id,
                    folder: INBOX.to_string(),
                    uidvalidity: i64::from(status.uidvalidity),
                    advance_to: final_checkpoint,
                    items: Vec::new(),
                    keep_checkpoint: false,
                    missing: Vec::new(),
                    resolved_missing: Vec::new(),
                    retried: None,
                })
                .await
                .app_err("checkpoint")?;
        }
        Ok(report)
    }

    /// Fetches, parses, routes, commits and flags the batches of `uids` as a pipeline: this
    /// future fetches (and flags, through `flags`), one task parses and routes, another
    /// commits; so fetching the next batches overlaps the work on the previous ones. Batches
    /// commit in order, each in one transaction, and a batch is flagged \Seen only after its
    /// commit. `uids` are the new mail (they move the checkpoint); `retry` the UIDs earlier
    /// polls did not get, fetched one at a time at the end (they leave the checkpoint alone).
    /// When the connection breaks in the middle of a batch, what arrived is committed, the
    /// rest recorded as missing, and the poll ends with the error.
    async fn run_pipeline(
        &self,
        plan: &BatchPlan,
        session: &mut MailSession,
        flags: &mut SeenFlags,
        opts: &ProcessingOptions,
        report: &mut PollReport,
        progress: &mut impl FnMut(u64, u64),
    ) -> AppResult<()> {
        // Bounded: at most a few batches are in memory at once.
        let (fetched_tx, fetched_rx) = tokio::sync::mpsc::channel::<Fetched>(1);
        let (prepared_tx, prepared_rx) = tokio::sync::mpsc::channel::<Prepared>(1);
        let (committed_tx, mut committed_rx) = tokio::sync::mpsc::unbounded_channel::<Committed>();
        let prepare = AbortOnDrop(tokio::spawn(prepare_stage(
            self.store.clone(),
            Router::new(plan.credential_id, opts.sender_limit_per_hour),
            opts.keep_originals_days != Some(0),
            fetched_rx,
            prepared_tx,
        )));
        let commit = AbortOnDrop(tokio::spawn(commit_stage(
            self.store.clone(),
            plan.uidvalidity,
            prepared_rx,
            committed_tx,
        )));

        let mut sent = 0usize;
        let mut received = 0usize;
        let mut done = 0u64;
        let mut handled = 0u64;
        let mut fetch_error = None;
        let mut take = |c: Committed, report: &mut PollReport, flags: &mut SeenFlags| {
            report.cases_created += c.outcome.created_case_ids.len() as u64;
            report.exceptions += c.outcome.exceptions;
            report.duplicates += c.outcome.duplicates;
            report.already_processed += c.outcome.already_processed;
            if c.count > 0 {
                done += c.count;
                self.metrics
                    .set_backlog(plan.credential_id, plan.total.saturating_sub(done));
                progress(done, plan.total);
            }
            flags.committed(&c.outcome.committed_uids, &c.leave_unflagged);
        };
        let chunks = plan
            .uids
            .chunks(opts.batch_size)
            .map(|c| (c, false))
            .chain(plan.retry.chunks(opts.batch_size).map(|c| (c, true)));
        for (chunk, is_retry) in chunks {
            let mut fetched =
                fetch_batch(session, plan, chunk, &plan.oversized_sizes, opts, is_retry).await;
            report.too_large += fetched.too_large;
            report.fetched += fetched.fetched;
            report.not_returned += fetched.missing.len() as u64;
            let broken = fetched.broken.take();
            let (advance_to, keep_checkpoint, count) = if is_retry {
                (0, true, 0)
            } else {
                handled += chunk.len() as u64;
                let is_last = handled >= plan.total;
                let advance_to = match plan.folder_plan {
                    FolderPlan::FirstSight if !is_last => checkpoint_floor(plan.checkpoint),
                    _ if is_last => plan.final_checkpoint,
                    _ => i64::from(*chunk.last().expect("chunks are never empty")),
                };
                let keep = matches!(plan.folder_plan, FolderPlan::FirstSight) && !is_last;
                (advance_to, keep, chunk.len() as u64)
            };
            while let Ok(c) = committed_rx.try_recv() {
                received += 1;
                take(c, report, flags);
            }
            if broken.is_none() {
                flags.flag_full_group(session).await?;
            }
            let batch = Fetched {
                batch: fetched,
                advance_to,
                keep_checkpoint,
                count,
            };
            if fetched_tx.send(batch).await.is_err() {
                break; // a stage failed; its error is returned below
            }
            sent += 1;
            if let Some(e) = broken {
                // What arrived is committed with this batch; the session is unusable.
                fetch_error = Some(upstream(e));
                break;
            }
        }
        drop(fetched_tx);
        while received < sent {
            let Some(c) = committed_rx.recv().await else {
                break; // a stage failed
            };
            received += 1;
            take(c, report, flags);
        }
        let stages = (prepare.join().await, commit.join().await);
        if let Some(e) = fetch_error {
            // The session is unusable; what committed is flagged by the next poll.
            return Err(e);
        }
        // Whatever committed is flagged, even when a stage failed after it.
        flags.flag_now(session).await?;
        stages.0?;
        stages.1?;
        Ok(())
    }

    async fn record_success(&self, row: &CredentialRow) {
        let h = Health {
            state: HealthState::Healthy,
            last_success_at: Some(now_ms()),
            failing_since: None,
            last_error: None,
            next_attempt_at: None,
            backlog: Some(0),
        };
        if let Err(e) = self.store.set_health(row.id, &h, 0).await {
            tracing::warn!(credential = row.id, error = %format_args!("{e:#}"), "could not record health");
        }
    }

    /// Records a failure; login rejections count towards pausing the credential.
    async fn record_failure(
        &self,
        row: &CredentialRow,
        error: &str,
        rejected: bool,
        opts: &ProcessingOptions,
    ) {
        let current = self
            .credential_row(row.id)
            .await
            .map(|r| r.health)
            .unwrap_or_else(|_| row.health.clone());
        let failures = if rejected {
            self.store.auth_failures(row.id).await.unwrap_or(0) + 1
        } else {
            0
        };
        let paused = rejected && failures >= opts.pause_after_rejections;
        let since = current.failing_since.unwrap_or_else(now_ms);
        let failing_for = now_ms() - since;
        let backoff_ms = backoff(failing_for).as_millis() as i64;
        let h = Health {
            state: if paused {
                HealthState::PausedAuth
            } else {
                HealthState::Failing
            },
            last_success_at: current.last_success_at,
            failing_since: Some(since),
            last_error: Some(if paused {
                format!(
                    "Paused after {failures} rejected logins in a row, so the provider does not lock the account. Test the connection or edit the credential to resume. Last error: {error}"
                )
            } else {
                error.to_string()
            }),
            next_attempt_at: (!paused).then(|| now_ms() + backoff_ms),
            backlog: None,
        };
        tracing::warn!(credential = row.id, state = %h.state, error, "processing failed");
        if let Err(e) = self.store.set_health(row.id, &h, failures).await {
            tracing::warn!(credential = row.id, error = %format_args!("{e:#}"), "could not record health");
        }
    }
}

use flags::SeenFlags;
use pipeline::{
    AbortOnDrop, BatchPlan, Committed, Fetched, Prepared, commit_stage, fetch_batch, prepare_stage,
};
pub(crate) use router::{Router, fill_case};
pub use workers::{backoff, run_workers};

fn checkpoint_floor(checkpoint: Option<(i64, i64)>) -> i64 {
    checkpoint.map_or(0, |(_, last)| last)
}

/// `text` with its first letter in upper case (an error message put at the start of a sentence).
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
