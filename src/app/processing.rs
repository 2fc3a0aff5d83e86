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
use crate::domain::routing::{
    self, AliasRule, ClientRule, ContactRule, Decision, Envelope, MailboxRule, RoutingBook,
};
use crate::imap::{MailSession, MailTarget, ensure_all_returned};
use crate::ingest::sync::{FolderPlan, plan, uid_sets};
use crate::ingest::{ParseError, ParsedEmail, automatic_reason};
use crate::store::{
    AliasRow, Batch, BatchItem, BatchOutcome, ClientRow, CredentialRow, ExceptionEntry, Health,
    ItemOutcome, NamedKind, NewAttachment, NewCase, Store, StoreError, TOO_LARGE_KEY_PREFIX,
    now_ms,
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

/// The routing input of a parsed email received by `credential_id`.
fn envelope_of(credential_id: i64, p: &ParsedEmail, body: String) -> Envelope {
    Envelope {
        credential_id: Some(credential_id),
        to: addresses(&p.to),
        cc: addresses(&p.cc),
        delivered_to: addresses(&p.delivered_to),
        x_original_to: addresses(&p.x_original_to),
        from: p.from.as_deref().and_then(|f| EmailAddress::parse(f).ok()),
        body,
    }
}

/// The skeleton of a case for a routing decision (None: unmatched).
fn case_skeleton(d: &Decision) -> Option<NewCase> {
    let (Some(workspace_id), Some(project_type_id)) = (d.workspace_id, d.project_type_id) else {
        return None;
    };
    if !d.is_routed() {
        return None;
    }
    Some(NewCase {
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
    })
}

/// The same rules `App::routing_book` builds (src/app/routing.rs).
fn alias_rule(a: &AliasRow) -> AliasRule {
    AliasRule {
        id: a.id,
        credential_id: a.credential_id,
        email_alias: a.fields.email_alias.clone(),
        is_default: a.fields.is_default,
        workspace_id: a.fields.workspace_id,
        project_type_id: a.fields.project_type_id,
        client_id: a.fields.client_id,
        always_use_default_workspace: a.fields.always_use_default_workspace,
    }
}

fn client_rule(c: &ClientRow) -> ClientRule {
    ClientRule {
        id: c.id,
        client_number: c.client_number.clone(),
        email_domains: c.email_domains.clone(),
        default_workspace_id: c.default_workspace_id,
    }
}

/// How long a poll routes from one snapshot of the aliases and mailboxes (and remembers the
/// contacts, clients and workspaces it looked up) before reading them again. Routing one email
/// at a time read all of them from the store for every email.
const ROUTING_SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(2);

/// More cases than this from one sender within an hour are marked automatic (never answered):
/// the last line of defence against two robots answering each other.
pub const SENDER_RATE_LIMIT_PER_HOUR: i64 = 20;

/// Committed UIDs flagged \Seen together (at the latest at the end of a poll).
const FLAG_GROUP: usize = 1000;

/// The routing configuration of one poll: a snapshot of the aliases and mailboxes, and the
/// per-sender look-ups made so far.
struct Router {
    credential_id: i64,
    loaded_at: Option<std::time::Instant>,
    /// Aliases and mailboxes; the per-email entries are filled before each decision.
    book: RoutingBook,
    /// This credential's aliases (field mappings, attachments).
    own_aliases: HashMap<i64, AliasRow>,
    workspaces: HashMap<i64, bool>,
    clients_by_number: HashMap<String, Option<ClientRule>>,
    contacts: HashMap<String, Option<ContactRule>>,
    clients_by_domain: HashMap<String, Option<ClientRule>>,
    /// Cases per sender (lower-cased) within the last hour, counted from the store on first
    /// sight and then in memory.
    sender_counts: HashMap<String, i64>,
}

impl Router {
    fn new(credential_id: i64) -> Self {
        Self {
            credential_id,
            loaded_at: None,
            book: RoutingBook::default(),
            own_aliases: HashMap::new(),
            workspaces: HashMap::new(),
            clients_by_number: HashMap::new(),
            contacts: HashMap::new(),
            clients_by_domain: HashMap::new(),
            sender_counts: HashMap::new(),
        }
    }
}

/// One batch as fetched: the bodies, and the items already decided without fetching
/// (oversized mail).
struct FetchedBatch {
    bodies: Vec<(u32, Vec<u8>)>,
    items: Vec<BatchItem>,
    leave_unflagged: Vec<i64>,
    fetched: u64,
    too_large: u64,
}

/// Fetches the bodies of one batch with BODY.PEEK[]; oversized mail becomes an exception
/// without being downloaded.
async fn fetch_batch(
    session: &mut MailSession,
    plan: &BatchPlan,
    chunk: &[u32],
    sizes: &HashMap<u32, u64>,
    opts: &ProcessingOptions,
) -> AppResult<FetchedBatch> {
    let mut items = Vec::new();
    let mut to_fetch = Vec::with_capacity(chunk.len());
    let mut leave_unflagged = Vec::new();
    for uid in chunk {
        match sizes.get(uid) {
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
async fn store_seen(session: &mut MailSession, uids: &[u32]) -> AppResult<Option<(u32, u32)>> {
    let (Some(first), Some(last)) = (uids.iter().min(), uids.iter().max()) else {
        return Ok(None);
    };
    for set in uid_sets(uids, 4000) {
        session.mark_seen(&set).await?;
    }
    Ok(Some((*first, *last)))
}

/// What every batch of one poll shares.
struct BatchPlan {
    credential_id: i64,
    uidvalidity: u32,
    folder_plan: FolderPlan,
    checkpoint: Option<(i64, i64)>,
    final_checkpoint: i64,
    total: u64,
}

/// A fetched batch on its way to the prepare stage.
struct Fetched {
    batch: FetchedBatch,
    advance_to: i64,
    keep_checkpoint: bool,
    count: u64,
}

/// A batch ready to commit.
struct Prepared {
    batch: Batch,
    leave_unflagged: Vec<i64>,
    count: u64,
}

/// A committed batch, back to be flagged.
struct Committed {
    outcome: BatchOutcome,
    leave_unflagged: Vec<i64>,
    count: u64,
}

/// A pipeline stage that stops when the poll is dropped half-way.
struct AbortOnDrop(tokio::task::JoinHandle<AppResult<()>>);

impl AbortOnDrop {
    async fn join(mut self) -> AppResult<()> {
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
async fn prepare_stage(
    store: Store,
    credential_id: i64,
    mut rx: tokio::sync::mpsc::Receiver<Fetched>,
    tx: tokio::sync::mpsc::Sender<Prepared>,
) -> AppResult<()> {
    let mut router = Router::new(credential_id);
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
                credential_id,
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
async fn commit_stage(
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
            .commit_batch(&p.batch)
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

/// Turns one fetched and parsed message into a case or an exception-log entry.
async fn message_item(
    store: &Store,
    router: &mut Router,
    uid: u32,
    raw: Vec<u8>,
    parsed: Result<ParsedEmail, ParseError>,
) -> AppResult<BatchItem> {
    let credential_id = router.credential_id;
    let key = message_key(parsed.as_ref().ok(), &raw);
    let exception = |message: String, details: serde_json::Value, raw: Vec<u8>| BatchItem {
        uid: i64::from(uid),
        message_key: key.clone(),
        outcome: ItemOutcome::Exception {
            entry: ExceptionEntry {
                credential_id: Some(credential_id),
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
    let mut p = p;
    // The body goes to routing and comes back (no copy of the largest field).
    let body = std::mem::take(&mut p.text);
    let mut envelope = envelope_of(credential_id, &p, body);
    let decision = decide_cached(store, router, &envelope).await?;
    p.text = std::mem::take(&mut envelope.body);
    match case_skeleton(&decision) {
        Some(case) => {
            let mut case = fill_case(p, case, &router.own_aliases);
            if case.automatic.is_none()
                && let Some(sender) = case.sender.as_deref().map(str::to_lowercase)
            {
                let count = match router.sender_counts.get(&sender) {
                    Some(n) => *n,
                    None => store
                        .recent_cases_from(credential_id, &sender, now_ms() - 3_600_000)
                        .await
                        .map_err(|e| AppError::from_store(e, "case"))?,
                };
                if count >= SENDER_RATE_LIMIT_PER_HOUR {
                    case.automatic = Some(format!(
                        "more than {SENDER_RATE_LIMIT_PER_HOUR} emails from {sender} within an hour (rate limit)"
                    ));
                }
                router.sender_counts.insert(sender, count + 1);
            }
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

/// Reloads the aliases and mailboxes when the snapshot is older than
/// `ROUTING_SNAPSHOT_MAX_AGE` (and forgets the per-sender look-ups with them).
async fn refresh_router(store: &Store, r: &mut Router) -> AppResult<()> {
    if r.loaded_at
        .is_some_and(|t| t.elapsed() < ROUTING_SNAPSHOT_MAX_AGE)
    {
        return Ok(());
    }
    let err = |e| AppError::from_store(e, "routing data");
    let aliases = store.list_aliases(None).await.map_err(err)?;
    r.book.aliases = aliases.iter().map(alias_rule).collect();
    r.own_aliases = aliases
        .into_iter()
        .filter(|a| a.credential_id == r.credential_id)
        .map(|a| (a.id, a))
        .collect();
    r.book.mailboxes = store
        .credential_mailboxes()
        .await
        .map_err(err)?
        .into_iter()
        .filter_map(|(id, m)| {
            EmailAddress::parse(&m).ok().map(|mailbox| MailboxRule {
                credential_id: id,
                mailbox,
            })
        })
        .collect();
    r.workspaces.clear();
    r.clients_by_number.clear();
    r.contacts.clear();
    r.clients_by_domain.clear();
    r.loaded_at = Some(std::time::Instant::now());
    Ok(())
}

/// `routing::decide` over the router's snapshot: the same book `App::routing_book` builds for
/// this envelope, with the per-email look-ups (workspaces of `WSID=`, clients of `CLID=`, the
/// sender's contact and client domain) remembered for the snapshot's lifetime.
async fn decide_cached(store: &Store, r: &mut Router, envelope: &Envelope) -> AppResult<Decision> {
    let err = |e| AppError::from_store(e, "routing data");
    let tokens = routing::scan_tokens(&envelope.body);
    let mut workspace_ids = Vec::new();
    for id in tokens.workspace_ids() {
        let exists = match r.workspaces.get(&id) {
            Some(e) => *e,
            None => {
                let e = match store.get_named(NamedKind::Workspace, id).await {
                    Ok(_) => true,
                    Err(StoreError::NotFound) => false,
                    Err(e) => return Err(err(e)),
                };
                r.workspaces.insert(id, e);
                e
            }
        };
        if exists {
            workspace_ids.push(id);
        }
    }
    let mut clients: Vec<ClientRule> = Vec::new();
    for number in tokens.client_numbers() {
        let found = match r.clients_by_number.get(&number) {
            Some(c) => c.clone(),
            None => {
                let c = store
                    .client_by_number(&number)
                    .await
                    .map_err(err)?
                    .map(|c| client_rule(&c));
                r.clients_by_number.insert(number, c.clone());
                c
            }
        };
        clients.extend(found);
    }
    let mut contacts = Vec::new();
    if let Some(from) = &envelope.from {
        let contact = match r.contacts.get(from.key()) {
            Some(c) => c.clone(),
            None => {
                let c = store
                    .contact_by_email(from.key())
                    .await
                    .map_err(err)?
                    .and_then(|c| {
                        EmailAddress::parse(&c.email).ok().map(|email| ContactRule {
                            id: c.id,
                            email,
                            client_id: c.client_id,
                            workspace_id: c.workspace_id,
                        })
                    });
                r.contacts.insert(from.key().to_string(), c.clone());
                c
            }
        };
        contacts.extend(contact);
        if let Some(domain) = routing::sender_domain(from) {
            let client = match r.clients_by_domain.get(&domain) {
                Some(c) => c.clone(),
                None => {
                    let c = store
                        .client_by_domain(&domain)
                        .await
                        .map_err(err)?
                        .map(|c| client_rule(&c));
                    r.clients_by_domain.insert(domain, c.clone());
                    c
                }
            };
            clients.extend(client);
        }
    }
    r.book.workspace_ids = workspace_ids;
    r.book.clients = clients;
    r.book.contacts = contacts;
    Ok(routing::decide(envelope, &r.book))
}

/// Fills a routed case skeleton with the email's fields, the alias's field mappings, and the
/// attachments when the alias includes them.
fn fill_case(p: ParsedEmail, mut c: NewCase, aliases: &HashMap<i64, AliasRow>) -> NewCase {
    c.sent_at = p.date;
    c.automatic = automatic_reason(&p, OWN_MESSAGE_ID_DOMAIN);
    c.recipients = json!({
        "to": p.to, "cc": p.cc, "delivered_to": p.delivered_to, "x_original_to": p.x_original_to,
    });
    c.message_id = p.message_id;
    c.subject = if p.subject.is_empty() {
        "(no subject)".into()
    } else {
        p.subject
    };
    c.issue = p.text;
    c.sender = p.from;
    c.sender_name = p.from_name;
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
            .into_iter()
            .map(|a| NewAttachment {
                name: a.name,
                content_type: a.content_type,
                bytes: a.bytes,
            })
            .collect();
    }
    c
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
        self.flag_seen(row.id, status.uidvalidity, session, &unflagged)
            .await?;
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
        // Sizes first: oversized mail is never downloaded.
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        for set in uid_sets(&uids, 4000) {
            for (uid, size) in session.sizes(&set).await? {
                sizes.insert(uid, size);
            }
        }
        let total = uids.len() as u64;
        if total > 0 {
            let plan = BatchPlan {
                credential_id: row.id,
                uidvalidity: status.uidvalidity,
                folder_plan,
                checkpoint,
                final_checkpoint,
                total,
            };
            self.run_pipeline(
                &plan,
                session,
                opts,
                &uids,
                &sizes,
                &mut report,
                &mut progress,
            )
            .await?;
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
    async fn flag_seen(
        &self,
        credential_id: i64,
        uidvalidity: u32,
        session: &mut MailSession,
        uids: &[u32],
    ) -> AppResult<()> {
        if let Some((first, last)) = store_seen(session, uids).await? {
            self.record_flagged(credential_id, uidvalidity, first, last)
                .await?;
        }
        Ok(())
    }

    /// Records that the committed UIDs `first..=last` carry \Seen on the server.
    async fn record_flagged(
        &self,
        credential_id: i64,
        uidvalidity: u32,
        first: u32,
        last: u32,
    ) -> AppResult<()> {
        self.store
            .mark_flagged(
                credential_id,
                INBOX,
                i64::from(uidvalidity),
                i64::from(first),
                i64::from(last),
            )
            .await
            .map_err(|e| AppError::from_store(e, "checkpoint"))
    }

    /// Fetches, parses, routes, commits and flags the batches of `uids` as a pipeline: this
    /// future fetches (and flags), one task parses and routes, another commits; so fetching the
    /// next batches overlaps the work on the previous ones. Batches commit in order, each in one
    /// transaction, and a batch is flagged \Seen only after its commit.
    #[allow(clippy::too_many_arguments)]
    async fn run_pipeline(
        &self,
        plan: &BatchPlan,
        session: &mut MailSession,
        opts: &ProcessingOptions,
        uids: &[u32],
        sizes: &HashMap<u32, u64>,
        report: &mut PollReport,
        progress: &mut impl FnMut(u64, u64),
    ) -> AppResult<()> {
        // Bounded: at most a few batches are in memory at once.
        let (fetched_tx, fetched_rx) = tokio::sync::mpsc::channel::<Fetched>(1);
        let (prepared_tx, prepared_rx) = tokio::sync::mpsc::channel::<Prepared>(1);
        let (committed_tx, mut committed_rx) = tokio::sync::mpsc::unbounded_channel::<Committed>();
        let (flagged_tx, flagged_rx) = tokio::sync::mpsc::unbounded_channel::<(u32, u32)>();
        let prepare = AbortOnDrop(tokio::spawn(prepare_stage(
            self.store.clone(),
            plan.credential_id,
            fetched_rx,
            prepared_tx,
        )));
        let commit = AbortOnDrop(tokio::spawn(commit_stage(
            self.store.clone(),
            plan.credential_id,
            plan.uidvalidity,
            prepared_rx,
            flagged_rx,
            committed_tx,
        )));

        let mut sent = 0usize;
        let mut received = 0usize;
        let mut done = 0u64;
        let mut handled = 0u64;
        let mut fetch_error = None;
        // Committed, not yet flagged: flagged in groups, since every flag change makes a
        // Maildir server such as Dovecot rescan the folder.
        let mut to_flag: Vec<u32> = Vec::new();
        // Everything flagged in this poll (recorded at the end, whatever the commit stage
        // recorded on the way).
        let mut flagged_span: Option<(u32, u32)> = None;
        let mut span = |(first, last): (u32, u32)| {
            flagged_span =
                Some(flagged_span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        };
        let mut take = |c: Committed, report: &mut PollReport, to_flag: &mut Vec<u32>| {
            report.cases_created += c.outcome.created_case_ids.len() as u64;
            report.exceptions += c.outcome.exceptions;
            report.duplicates += c.outcome.duplicates;
            report.already_processed += c.outcome.already_processed;
            done += c.count;
            progress(done, plan.total);
            to_flag.extend(
                c.outcome
                    .committed_uids
                    .iter()
                    .filter(|u| !c.leave_unflagged.contains(u))
                    .filter_map(|u| u32::try_from(*u).ok()),
            );
        };
        for chunk in uids.chunks(opts.batch_size) {
            let fetched = match fetch_batch(session, plan, chunk, sizes, opts).await {
                Ok(f) => f,
                Err(e) => {
                    fetch_error = Some(e);
                    break;
                }
            };
            report.too_large += fetched.too_large;
            report.fetched += fetched.fetched;
            handled += chunk.len() as u64;
            let is_last = handled >= plan.total;
            let advance_to = match plan.folder_plan {
                FolderPlan::FirstSight if !is_last => checkpoint_floor(plan.checkpoint),
                _ if is_last => plan.final_checkpoint,
                _ => i64::from(*chunk.last().expect("chunks are never empty")),
            };
            let keep_checkpoint = matches!(plan.folder_plan, FolderPlan::FirstSight) && !is_last;
            while let Ok(c) = committed_rx.try_recv() {
                received += 1;
                take(c, report, &mut to_flag);
            }
            if to_flag.len() >= FLAG_GROUP {
                if let Some(range) = store_seen(session, &to_flag).await? {
                    let _ = flagged_tx.send(range);
                    span(range);
                }
                to_flag.clear();
            }
            let batch = Fetched {
                batch: fetched,
                advance_to,
                keep_checkpoint,
                count: chunk.len() as u64,
            };
            if fetched_tx.send(batch).await.is_err() {
                break; // a stage failed; its error is returned below
            }
            sent += 1;
        }
        drop(fetched_tx);
        while received < sent {
            let Some(c) = committed_rx.recv().await else {
                break; // a stage failed
            };
            received += 1;
            take(c, report, &mut to_flag);
        }
        drop(flagged_tx);
        let stages = (prepare.join().await, commit.join().await);
        if let Some(e) = fetch_error {
            // The session is unusable; what committed is flagged by the next poll.
            return Err(e);
        }
        // Whatever committed is flagged, even when a stage failed after it.
        if let Some(range) = store_seen(session, &to_flag).await? {
            span(range);
        }
        stages.0?;
        stages.1?;
        // The commit stage records the flags it hears of before each commit; some may come
        // after its last commit. Every UID of the span committed in this poll (in order).
        if let Some((first, last)) = flagged_span {
            self.record_flagged(plan.credential_id, plan.uidvalidity, first, last)
                .await?;
        }
        Ok(())
    }

    /// The routing decision for a parsed email, as the skeleton of a case (None: unmatched).
    pub(crate) async fn route_parsed(
        &self,
        credential_id: i64,
        p: &ParsedEmail,
    ) -> AppResult<Option<NewCase>> {
        let envelope = envelope_of(credential_id, p, p.text.clone());
        let book = self.routing_book(&envelope).await?;
        Ok(case_skeleton(&routing::decide(&envelope, &book)))
    }

    /// Fills a routed case skeleton with the email's fields, the alias's field mappings, and the
    /// attachments when the alias includes them.
    pub(crate) fn case_from(
        &self,
        p: &ParsedEmail,
        c: NewCase,
        aliases: &HashMap<i64, AliasRow>,
    ) -> NewCase {
        fill_case(p.clone(), c, aliases)
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
