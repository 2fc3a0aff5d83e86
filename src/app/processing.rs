//! "Process Email Integration": one poll of one credential's INBOX (`poll_once`, which tests
//! drive directly) and the per-credential workers around it (poll, then IDLE; back off on
//! failure; pause after repeated login rejections).
//!
//! Exactly once: a fetched batch's cases, exceptions, de-duplication keys and the advanced
//! checkpoint commit in one transaction (`Store::commit_batch`); only then is the batch flagged
//! \Seen. A crash at any point re-fetches, and the keys stop a second case. Must not speak IMAP
//! itself (that is `imap`) or parse MIME (that is `ingest`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult};
use crate::domain::EmailAddress;
use crate::domain::routing::{self, Envelope};
use crate::imap::{MailSession, MailTarget, ensure_all_returned};
use crate::ingest::sync::{FolderPlan, plan, uid_sets};
use crate::ingest::{ParsedEmail, automatic_reason};
use crate::store::{
    TOO_LARGE_KEY_PREFIX,
    AliasRow, Batch, BatchItem, CredentialRow, ExceptionEntry, Health, ItemOutcome, NewAttachment,
    NewCase, now_ms,
};

pub const INBOX: &str = "INBOX";
/// Domain of the Message-IDs of our own replies (loop protection).
pub const OWN_MESSAGE_ID_DOMAIN: &str = "mailroom.invalid";
const MISSING_KEY_INFO: &str =
    "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0";

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
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize)]
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
    pub uidvalidity_changed: bool,
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

fn addresses(list: &[String]) -> Vec<EmailAddress> {
    list.iter()
        .filter_map(|a| EmailAddress::parse(a).ok())
        .collect()
}

fn summary(p: Option<&ParsedEmail>, uid: u32) -> serde_json::Value {
    match p {
        Some(p) => json!({
            "uid": uid, "message_id": p.message_id, "from": p.from, "to": p.to, "cc": p.cc,
            "subject": p.subject,
        }),
        None => json!({ "uid": uid }),
    }
}

impl App {
    fn mail_target(&self, row: &CredentialRow, opts: &ProcessingOptions) -> MailTarget {
        let f = &row.fields;
        MailTarget {
            host: f.host.as_str().to_string(),
            port: f.port.get(),
            security: f.security,
            login: f.login_name().to_string(),
            ca_bundle: f.ca_bundle.as_ref().map(|c| c.as_str().to_string()),
            pinned_sha256: f.pinned_sha256.as_ref().map(|p| p.as_str().to_string()),
            timeout: opts.step_timeout,
            deny: self.probe_options().deny,
        }
    }

    /// Connects and logs in for processing, recording failures in the credential's health.
    async fn open_mail_session(
        &self,
        row: &CredentialRow,
        opts: &ProcessingOptions,
    ) -> AppResult<MailSession> {
        let password = self.credential_password(row.id).await?;
        match MailSession::connect(&self.mail_target(row, opts), &password).await {
            Ok(s) => Ok(s),
            Err(e) => {
                self.record_failure(row, &e.message, e.rejected, opts).await;
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
        let opts = ProcessingOptions::default();
        let row = self.credential_row(credential_id).await?;
        let started = std::time::Instant::now();
        let mut session = match self.open_mail_session(&row, &opts).await {
            Ok(s) => s,
            Err(e) => {
                crate::metrics::record_poll(
                    row.id,
                    false,
                    started.elapsed().as_micros() as u64,
                    0,
                    0,
                    0,
                    0,
                );
                return Err(e);
            }
        };
        let result = self
            .process_inbox(&row, &mut session, &opts, progress)
            .await;
        let micros = started.elapsed().as_micros() as u64;
        match &result {
            Ok(r) => crate::metrics::record_poll(
                row.id,
                true,
                micros,
                r.fetched,
                r.cases_created,
                r.exceptions,
                0,
            ),
            Err(_) => crate::metrics::record_poll(row.id, false, micros, 0, 0, 0, 0),
        }
        match &result {
            Ok(_) => {
                self.record_success(&row).await;
                session.logout().await;
            }
            Err(e) => {
                self.record_failure(&row, &e.to_string(), false, &opts)
                    .await
            }
        }
        result
    }

    /// Processes every new message of INBOX over an open session.
    pub(crate) async fn process_inbox(
        &self,
        row: &CredentialRow,
        session: &mut MailSession,
        opts: &ProcessingOptions,
        mut progress: impl FnMut(u64, u64),
    ) -> AppResult<PollReport> {
        let status = session.select(INBOX).await?;
        let checkpoint = self
            .store
            .checkpoint(row.id, INBOX)
            .await
            .map_err(|e| AppError::from_store(e, "checkpoint"))?;
        let folder_plan = plan(checkpoint, status.uidvalidity);
        // Messages committed by a run that stopped before flagging them: flag them now.
        let unflagged: Vec<u32> = self
            .store
            .unflagged_uids(row.id, INBOX, i64::from(status.uidvalidity))
            .await
            .map_err(|e| AppError::from_store(e, "checkpoint"))?
            .into_iter()
            .filter_map(|u| u32::try_from(u).ok())
            .collect();
        self.flag_seen(row.id, status.uidvalidity, session, &unflagged).await?;
        let mut report = PollReport {
            credential_id: row.id,
            uidvalidity: status.uidvalidity,
            ..PollReport::default()
        };
        let uids: Vec<u32> = match folder_plan {
            FolderPlan::FirstSight => session.search("UNSEEN").await?,
            FolderPlan::After { after_uid } => session
                .search(&format!("UID {}:*", after_uid.saturating_add(1)))
                .await?
                .into_iter()
                .filter(|u| *u > after_uid)
                .collect(),
            FolderPlan::UidValidityChanged { previous } => {
                tracing::warn!(
                    credential = row.id,
                    previous,
                    now = status.uidvalidity,
                    "UIDVALIDITY changed: re-reading the folder; duplicates are skipped"
                );
                report.uidvalidity_changed = true;
                session.search("ALL").await?
            }
        };
        report.backlog = uids.len() as u64;
        // Where the checkpoint ends: past every message that existed at SELECT (on first
        // sight the read ones are left alone, as the original product did).
        let highest_seen = status.uidnext.map_or(0, |n| n.saturating_sub(1));
        let final_checkpoint = i64::from(highest_seen.max(uids.last().copied().unwrap_or(0)));
        let aliases: HashMap<i64, AliasRow> = self
            .store
            .list_aliases(Some(row.id))
            .await
            .map_err(|e| AppError::from_store(e, "alias"))?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();

        // Sizes first: oversized mail is never downloaded.
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        for set in uid_sets(&uids, 4000) {
            for (uid, size) in session.sizes(&set).await? {
                sizes.insert(uid, size);
            }
        }
        let total = uids.len() as u64;
        let mut done = 0u64;
        for chunk in uids.chunks(opts.batch_size) {
            let mut items = Vec::with_capacity(chunk.len());
            let mut to_fetch = Vec::with_capacity(chunk.len());
            let mut leave_unflagged = Vec::new();
            for uid in chunk {
                match sizes.get(uid) {
                    Some(size) if *size > opts.max_message_bytes => {
                        report.too_large += 1;
                        leave_unflagged.push(i64::from(*uid));
                        items.push(BatchItem {
                            uid: i64::from(*uid),
                            message_key: format!("{TOO_LARGE_KEY_PREFIX}{}|{uid}", status.uidvalidity),
                            outcome: ItemOutcome::Exception {
                                entry: ExceptionEntry {
                                    credential_id: Some(row.id),
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
            let mut fetched = Vec::new();
            for set in uid_sets(&to_fetch, 4000) {
                fetched.extend(session.bodies(&set).await?);
            }
            let got: Vec<u32> = fetched.iter().map(|(u, _)| *u).collect();
            ensure_all_returned(&to_fetch, &got)?;
            report.fetched += fetched.len() as u64;
            for (uid, raw) in fetched {
                items.push(self.message_item(row, &aliases, uid, raw).await?);
            }
            items.sort_by_key(|i| i.uid);
            let is_last = done + chunk.len() as u64 >= total;
            let advance_to = match folder_plan {
                FolderPlan::FirstSight if !is_last => checkpoint_floor(checkpoint),
                _ if is_last => final_checkpoint,
                _ => i64::from(*chunk.last().expect("chunks are never empty")),
            };
            let outcome = self
                .store
                .commit_batch(&Batch {
                    credential_id: row.id,
                    folder: INBOX.to_string(),
                    uidvalidity: i64::from(status.uidvalidity),
                    advance_to,
                    items,
                    keep_checkpoint: matches!(folder_plan, FolderPlan::FirstSight) && !is_last,
                })
                .await
                .map_err(|e| AppError::from_store(e, "case"))?;
            report.cases_created += outcome.created_case_ids.len() as u64;
            report.exceptions += outcome.exceptions;
            report.duplicates += outcome.duplicates;
            report.already_processed += outcome.already_processed;
            let flag: Vec<u32> = outcome
                .committed_uids
                .iter()
                .filter(|u| !leave_unflagged.contains(u))
                .filter_map(|u| u32::try_from(*u).ok())
                .collect();
            self.flag_seen(row.id, status.uidvalidity, session, &flag).await?;
            done += chunk.len() as u64;
            progress(done, total);
        }
        if uids.is_empty()
            && checkpoint.is_none_or(|(v, last)| {
                v != i64::from(status.uidvalidity) || last < final_checkpoint
            })
        {
            // Nothing to process, but remember where the folder stands.
            self.store
                .commit_batch(&Batch {
                    credential_id: row.id,
                    folder: INBOX.to_string(),
                    uidvalidity: i64::from(status.uidvalidity),
                    advance_to: final_checkpoint,
                    items: Vec::new(),
                    keep_checkpoint: false,
                })
                .await
                .map_err(|e| AppError::from_store(e, "checkpoint"))?;
        }
        Ok(report)
    }

    /// Sets \Seen on committed UIDs (one command per compact set) and records that it is done.
    async fn flag_seen(&self, credential_id: i64, uidvalidity: u32, session: &mut MailSession, uids: &[u32]) -> AppResult<()> {
        if uids.is_empty() {
            return Ok(());
        }
        for set in uid_sets(uids, 4000) {
            session.mark_seen(&set).await?;
        }
        let (first, last) = (uids.iter().min().copied().unwrap_or(0), uids.iter().max().copied().unwrap_or(0));
        self.store
            .mark_flagged(credential_id, INBOX, i64::from(uidvalidity), i64::from(first), i64::from(last))
            .await
            .map_err(|e| AppError::from_store(e, "checkpoint"))
    }

    /// Turns one fetched message into a case or an exception-log entry.
    async fn message_item(
        &self,
        row: &CredentialRow,
        aliases: &HashMap<i64, AliasRow>,
        uid: u32,
        raw: Vec<u8>,
    ) -> AppResult<BatchItem> {
        let parsed = ParsedEmail::parse(&raw);
        let key = message_key(parsed.as_ref().ok(), &raw);
        let exception = |message: String, details: serde_json::Value, raw: Vec<u8>| BatchItem {
            uid: i64::from(uid),
            message_key: key.clone(),
            outcome: ItemOutcome::Exception {
                entry: ExceptionEntry {
                    credential_id: Some(row.id),
                    alias_id: None,
                    source: "processing",
                    message,
                    details,
                },
                raw: Some(raw),
            },
        };
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                return Ok(exception(
                    format!("The email could not be read: {e}."),
                    summary(None, uid),
                    raw,
                ));
            }
        };
        match self.route_parsed(row.id, &p).await? {
            Some(case) => {
                let case = self.case_from(&p, case, aliases);
                Ok(BatchItem {
                    uid: i64::from(uid),
                    message_key: key,
                    outcome: ItemOutcome::Case(Box::new(case)),
                })
            }
            None => Ok(exception(
                MISSING_KEY_INFO.to_string(),
                summary(Some(&p), uid),
                raw,
            )),
        }
    }

    /// The routing decision for a parsed email, as the skeleton of a case (None: unmatched).
    pub(crate) async fn route_parsed(
        &self,
        credential_id: i64,
        p: &ParsedEmail,
    ) -> AppResult<Option<NewCase>> {
        let envelope = Envelope {
            credential_id: Some(credential_id),
            to: addresses(&p.to),
            cc: addresses(&p.cc),
            delivered_to: addresses(&p.delivered_to),
            x_original_to: addresses(&p.x_original_to),
            from: p.from.as_deref().and_then(|f| EmailAddress::parse(f).ok()),
            body: p.text.clone(),
        };
        let book = self.routing_book(&envelope).await?;
        let d = routing::decide(&envelope, &book);
        let (Some(workspace_id), Some(project_type_id)) = (d.workspace_id, d.project_type_id)
        else {
            return Ok(None);
        };
        if !d.is_routed() {
            return Ok(None);
        }
        Ok(Some(NewCase {
            alias_id: d.alias_id,
            workspace_id,
            project_type_id,
            client_id: d.client_id,
            contact_id: d.contact_id,
            message_id: None,
            subject: String::new(),
            issue: String::new(),
            sender: None,
            sender_name: None,
            recipients: json!({}),
            sent_at: None,
            status: "New".into(),
            priority: "Medium".into(),
            fields: json!({}),
            automatic: None,
            routing: serde_json::to_value(&d.reasons).unwrap_or_default(),
            attachments: Vec::new(),
        }))
    }

    /// Fills a routed case skeleton with the email's fields, the alias's field mappings, and the
    /// attachments when the alias includes them.
    pub(crate) fn case_from(
        &self,
        p: &ParsedEmail,
        mut c: NewCase,
        aliases: &HashMap<i64, AliasRow>,
    ) -> NewCase {
        c.message_id = p.message_id.clone();
        c.subject = if p.subject.is_empty() {
            "(no subject)".into()
        } else {
            p.subject.clone()
        };
        c.issue = p.text.clone();
        c.sender = p.from.clone();
        c.sender_name = p.from_name.clone();
        c.recipients = json!({
            "to": p.to, "cc": p.cc, "delivered_to": p.delivered_to, "x_original_to": p.x_original_to,
        });
        c.sent_at = p.date;
        c.automatic = automatic_reason(p, OWN_MESSAGE_ID_DOMAIN);
        let mut fields = serde_json::Map::new();
        fields.insert("communication_method".into(), json!("Email Integration"));
        if let Some(alias) = c.alias_id.and_then(|id| aliases.get(&id)) {
            for (k, v) in alias.fields.field_mappings.as_map() {
                match k.as_str() {
                    "status" => c.status = v.clone(),
                    "priority" => c.priority = v.clone(),
                    _ => {
                        fields.insert(k.clone(), json!(v));
                    }
                }
            }
        }
        c.fields = serde_json::Value::Object(fields);
        let include_attachments = c
            .alias_id
            .and_then(|id| aliases.get(&id))
            .is_none_or(|a| a.fields.include_attachments);
        if include_attachments {
            c.attachments = p
                .attachments
                .iter()
                .map(|a| NewAttachment {
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    bytes: a.bytes.clone(),
                })
                .collect();
        }
        c
    }

    async fn record_success(&self, row: &CredentialRow) {
        let h = Health {
            state: "healthy".into(),
            last_success_at: Some(now_ms()),
            failing_since: None,
            last_error: None,
            next_attempt_at: None,
        };
        if let Err(e) = self.store.set_health(row.id, &h, 0).await {
            tracing::warn!(credential = row.id, error = %e, "could not record health");
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
            state: if paused { "paused_auth" } else { "failing" }.into(),
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
        };
        tracing::warn!(credential = row.id, state = %h.state, error, "processing failed");
        if let Err(e) = self.store.set_health(row.id, &h, failures).await {
            tracing::warn!(credential = row.id, error = %e, "could not record health");
        }
    }
}

/// Exponential back-off from how long a credential has been failing: 30 s doubling, capped at
/// 15 minutes.
pub fn backoff(failing_for_ms: i64) -> Duration {
    let steps = (failing_for_ms.max(0) / 30_000).max(1);
    let secs = 30u64.saturating_mul(1u64 << (63 - (steps as u64).leading_zeros()).min(5));
    Duration::from_secs(secs.min(900))
}

fn checkpoint_floor(checkpoint: Option<(i64, i64)>) -> i64 {
    checkpoint.map_or(0, |(_, last)| last)
}

/// Runs a worker per enabled credential until `shutdown` resolves: poll, then IDLE (or sleep)
/// up to the poll interval, then poll again; failures wait for their back-off.
pub async fn run_workers(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let opts = ProcessingOptions::default();
    let mut workers: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        match app.list_credentials().await {
            Ok(list) => {
                for c in list {
                    let alive = workers.get(&c.id).is_some_and(|h| !h.is_finished());
                    if c.enabled && c.health.state != "paused_auth" && !alive {
                        let app = app.clone();
                        let rx = shutdown.clone();
                        let opts = opts.clone();
                        workers.insert(
                            c.id,
                            tokio::spawn(async move { worker(app, c.id, opts, rx).await }),
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing credentials for processing failed"),
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(opts.poll_interval) => {}
        }
    }
    for (_, h) in workers {
        h.abort();
    }
}

/// One credential's loop; ends when the credential is gone, disabled or paused.
async fn worker(
    app: Arc<App>,
    id: i64,
    opts: ProcessingOptions,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Ok(row) = app.credential_row(id).await else {
            return;
        };
        if !row.fields.enabled || row.health.state == "paused_auth" {
            return;
        }
        if let Some(next) = row.health.next_attempt_at {
            let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let Ok(mut session) = app.open_mail_session(&row, &opts).await else {
            continue;
        };
        loop {
            let started = std::time::Instant::now();
            let result = app
                .process_inbox(&row, &mut session, &opts, |_, _| {})
                .await;
            let micros = started.elapsed().as_micros() as u64;
            match result {
                Ok(r) => {
                    crate::metrics::record_poll(
                        id,
                        true,
                        micros,
                        r.fetched,
                        r.cases_created,
                        r.exceptions,
                        0,
                    );
                    app.record_success(&row).await;
                    if r.cases_created > 0 {
                        tracing::info!(
                            credential = id,
                            cases = r.cases_created,
                            "processed new mail"
                        );
                    }
                }
                Err(e) => {
                    crate::metrics::record_poll(id, false, micros, 0, 0, 0, 0);
                    app.record_failure(&row, &e.to_string(), false, &opts).await;
                    break;
                }
            }
            let idle = tokio::select! {
                _ = shutdown.changed() => return,
                r = session.idle(opts.poll_interval) => r,
            };
            match idle {
                Ok((s, _changed)) => session = s,
                Err(e) => {
                    tracing::info!(credential = id, error = %e, "IDLE ended; reconnecting");
                    break;
                }
            }
        }
    }
}

impl App {
    /// After an edit, a password change or a successful Test Connection: a paused or failing
    /// credential is tried again at once.
    pub(crate) async fn resume_processing(&self, id: i64) -> AppResult<()> {
        let row = self.credential_row(id).await?;
        if matches!(row.health.state.as_str(), "paused_auth" | "failing") {
            let h = Health {
                state: "idle".into(),
                last_success_at: row.health.last_success_at,
                failing_since: None,
                last_error: None,
                next_attempt_at: None,
            };
            self.store
                .set_health(id, &h, 0)
                .await
                .map_err(|e| AppError::from_store(e, "credential"))?;
        }
        Ok(())
    }
}
