//! Routing during a poll: a snapshot of the aliases and mailboxes with the per-sender look-ups
//! (contacts, client domains, WSID=/CLID= ids) cached while it lives, the per-sender rate limit
//! (`ProcessingOptions::sender_limit_per_hour`), and turning one parsed email into a case or an
//! exception-log entry. Must not speak IMAP or commit anything.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::{MISSING_KEY_INFO, OWN_MESSAGE_ID_DOMAIN, message_key};
use crate::app::routing::{alias_rule, client_rule};
use crate::app::{AppResult, StoreResultExt};
use crate::domain::routing::{
    self, ClientRule, ContactRule, Decision, Envelope, MailboxRule, RoutingBook,
};
use crate::domain::{CasePriority, CaseStatus, EmailAddress};
use crate::ingest::{ParseError, ParsedEmail, automatic_reason};
use crate::store::NewOriginal;
use crate::store::{
    AliasRow, BatchItem, ExceptionEntry, ItemOutcome, NamedKind, NewAttachment, NewCase, Store,
    StoreError, now_ms,
};
pub(super) fn addresses(list: &[String]) -> Vec<EmailAddress> {
    list.iter()
        .filter_map(|a| EmailAddress::parse_mail(a).ok())
        .collect()
}

pub(super) fn summary(p: Option<&ParsedEmail>, uid: u32) -> serde_json::Value {
    match p {
        Some(p) => json!({
            "uid": uid, "message_id": p.message_id, "from": p.from, "to": p.to, "cc": p.cc,
            "subject": p.subject,
        }),
        None => json!({ "uid": uid }),
    }
}

/// The routing input of a parsed email received by `credential_id`.
pub(super) fn envelope_of(credential_id: i64, p: &ParsedEmail, body: String) -> Envelope {
    Envelope {
        credential_id: Some(credential_id),
        to: addresses(&p.to),
        cc: addresses(&p.cc),
        delivered_to: addresses(&p.delivered_to),
        x_original_to: addresses(&p.x_original_to),
        from: p
            .from
            .as_deref()
            .and_then(|f| EmailAddress::parse_mail(f).ok()),
        body,
    }
}

/// The skeleton of a case for a routing decision (None: unmatched).
pub(super) fn case_skeleton(d: &Decision) -> Option<NewCase> {
    let (Some(workspace_id), Some(project_type_id)) = (d.workspace_id, d.project_type_id) else {
        return None;
    };
    if !d.is_routed() {
        return None;
    }
    Some(NewCase {
        alias_id: d.alias_id,
        client_id: d.client_id,
        contact_id: d.contact_id,
        routing: serde_json::to_value(&d.reasons).unwrap_or_default(),
        ..NewCase::routed(workspace_id, project_type_id)
    })
}

/// How long a poll routes from one snapshot of the aliases and mailboxes (and remembers the
/// contacts, clients and workspaces it looked up) before reading them again. Routing one email
/// at a time read all of them from the store for every email.
pub(super) const ROUTING_SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(2);

/// More cases than this from one sender within an hour are marked automatic (never answered):
/// the last line of defence against two robots answering each other. The default of
/// `MAILROOM_SENDER_LIMIT_PER_HOUR`.
pub const SENDER_RATE_LIMIT_PER_HOUR: i64 = 20;

/// The reason stored on a case over the per-sender limit (shown as "not acknowledged: …").
pub fn sender_limit_reason(limit: i64, sender: &str) -> String {
    let emails = if limit == 1 { "email" } else { "emails" };
    format!("more than {limit} {emails} from {sender} this hour (per-sender rate limit)")
}

/// The routing configuration of one poll: a snapshot of the aliases and mailboxes, and the
/// per-sender look-ups made so far.
pub(crate) struct Router {
    pub(super) credential_id: i64,
    pub(super) loaded_at: Option<std::time::Instant>,
    /// Aliases and mailboxes; the per-email entries are filled before each decision.
    pub(super) book: RoutingBook,
    /// This credential's aliases (field mappings, attachments).
    pub(super) own_aliases: HashMap<i64, AliasRow>,
    pub(super) workspaces: HashMap<i64, bool>,
    pub(super) clients_by_number: HashMap<String, Option<ClientRule>>,
    pub(super) contacts: HashMap<String, Option<ContactRule>>,
    pub(super) clients_by_domain: HashMap<String, Option<ClientRule>>,
    /// Cases per sender (lower-cased) within the last hour, counted from the store on first
    /// sight and then in memory.
    pub(super) sender_counts: HashMap<String, i64>,
    /// Cases from one sender within an hour beyond which they are marked automatic.
    pub(super) sender_limit: i64,
}

impl Router {
    /// A router for mail received by `credential_id` (0 for the dry run's "any credential").
    pub(crate) fn new(credential_id: i64, sender_limit: i64) -> Self {
        Self {
            credential_id,
            sender_limit,
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

/// Turns one fetched and parsed message into a case (keeping `original`, its stored form) or
/// an exception-log entry (keeping `raw`).
pub(super) async fn message_item(
    store: &Store,
    router: &mut Router,
    uid: u32,
    raw: Vec<u8>,
    parsed: Result<ParsedEmail, ParseError>,
    original: Option<NewOriginal>,
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
    match router.route_email(store, p).await? {
        Ok(mut case) => {
            case.original = original;
            Ok(BatchItem {
                uid: i64::from(uid),
                message_key: key,
                outcome: ItemOutcome::Case(Box::new(case)),
            })
        }
        Err(p) => Ok(exception(
            MISSING_KEY_INFO.to_string(),
            summary(Some(&p), uid),
            raw,
        )),
    }
}

impl Router {
    /// The routing decision for `envelope` from this router's snapshot (read again when it is
    /// older than `ROUTING_SNAPSHOT_MAX_AGE`). The one source of routing data: polling, Retry
    /// and the dry run all decide here.
    pub(crate) async fn decide(
        &mut self,
        store: &Store,
        envelope: &Envelope,
    ) -> AppResult<Decision> {
        refresh_router(store, self).await?;
        decide_cached(store, self, envelope).await
    }

    /// What routing makes of one readable email: its case, filled from the email and its alias,
    /// with the per-sender limit applied; or the email back when nothing matched. The one
    /// routing path of polling and Retry.
    pub(crate) async fn route_email(
        &mut self,
        store: &Store,
        mut p: ParsedEmail,
    ) -> AppResult<Result<NewCase, ParsedEmail>> {
        // The body goes to routing and comes back (no copy of the largest field).
        let body = std::mem::take(&mut p.text);
        let mut envelope = envelope_of(self.credential_id, &p, body);
        let decision = self.decide(store, &envelope).await?;
        p.text = std::mem::take(&mut envelope.body);
        let Some(case) = case_skeleton(&decision) else {
            return Ok(Err(p));
        };
        let mut case = fill_case(p, case, &self.own_aliases);
        self.apply_sender_limit(store, &mut case).await?;
        Ok(Ok(case))
    }

    /// Marks the case automatic (never acknowledged) when its sender already had
    /// `sender_limit` cases within the hour: loop protection against two robots answering each
    /// other.
    async fn apply_sender_limit(&mut self, store: &Store, case: &mut NewCase) -> AppResult<()> {
        if case.automatic.is_some() {
            return Ok(());
        }
        let Some(shown) = case.sender.clone() else {
            return Ok(());
        };
        let sender = shown.to_lowercase();
        let count = match self.sender_counts.get(&sender) {
            Some(n) => *n,
            None => store
                .recent_cases_from(self.credential_id, &sender, now_ms() - 3_600_000)
                .await
                .app_err("case")?,
        };
        if count >= self.sender_limit {
            case.automatic = Some(sender_limit_reason(self.sender_limit, &shown));
        }
        self.sender_counts.insert(sender, count + 1);
        Ok(())
    }
}

/// Reloads the aliases and mailboxes when the snapshot is older than
/// `ROUTING_SNAPSHOT_MAX_AGE` (and forgets the per-sender look-ups with them).
pub(super) async fn refresh_router(store: &Store, r: &mut Router) -> AppResult<()> {
    if r.loaded_at
        .is_some_and(|t| t.elapsed() < ROUTING_SNAPSHOT_MAX_AGE)
    {
        return Ok(());
    }
    let aliases = store.list_aliases(None).await.app_err("routing data")?;
    r.book.aliases = aliases.iter().map(alias_rule).collect();
    r.own_aliases = aliases
        .into_iter()
        .filter(|a| a.credential_id == r.credential_id)
        .map(|a| (a.id, a))
        .collect();
    r.book.mailboxes = store
        .credential_mailboxes()
        .await
        .app_err("routing data")?
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
pub(super) async fn decide_cached(
    store: &Store,
    r: &mut Router,
    envelope: &Envelope,
) -> AppResult<Decision> {
    const WHAT: &str = "routing data";
    let tokens = routing::scan_tokens(&envelope.body);
    let mut workspace_ids = Vec::new();
    for id in tokens.workspace_ids() {
        let exists = cached(&mut r.workspaces, id, async {
            match store.get_named(NamedKind::Workspace, id).await {
                Ok(_) => Ok(true),
                Err(StoreError::NotFound) => Ok(false),
                Err(e) => Err(e).app_err(WHAT),
            }
        })
        .await?;
        if exists {
            workspace_ids.push(id);
        }
    }
    let mut clients: Vec<ClientRule> = Vec::new();
    for number in tokens.client_numbers() {
        let found = cached(&mut r.clients_by_number, number.clone(), async {
            let client = store.client_by_number(&number).await.app_err(WHAT)?;
            Ok(client.map(|c| client_rule(&c)))
        })
        .await?;
        clients.extend(found);
    }
    let mut contacts = Vec::new();
    if let Some(from) = &envelope.from {
        let contact = cached(&mut r.contacts, from.key().to_string(), async {
            let contact = store.contact_by_email(from.key()).await.app_err(WHAT)?;
            Ok(contact.and_then(|c| {
                EmailAddress::parse(&c.email).ok().map(|email| ContactRule {
                    id: c.id,
                    email,
                    client_id: c.client_id,
                    workspace_id: c.workspace_id,
                })
            }))
        })
        .await?;
        contacts.extend(contact);
        if let Some(domain) = routing::sender_domain(from) {
            let client = cached(&mut r.clients_by_domain, domain.clone(), async {
                let client = store.client_by_domain(&domain).await.app_err(WHAT)?;
                Ok(client.map(|c| client_rule(&c)))
            })
            .await?;
            clients.extend(client);
        }
    }
    r.book.workspace_ids = workspace_ids;
    r.book.clients = clients;
    r.book.contacts = contacts;
    Ok(routing::decide(envelope, &r.book))
}

/// The value remembered under `key`, else the one `fetch` finds, remembered from now on.
async fn cached<K, V>(
    cache: &mut HashMap<K, V>,
    key: K,
    fetch: impl Future<Output = AppResult<V>>,
) -> AppResult<V>
where
    K: Eq + std::hash::Hash,
    V: Clone,
{
    if let Some(v) = cache.get(&key) {
        return Ok(v.clone());
    }
    let v = fetch.await?;
    cache.insert(key, v.clone());
    Ok(v)
}

/// Fills a routed case skeleton with the email's fields, the alias's field mappings, and the
/// attachments when the alias includes them.
pub(crate) fn fill_case(
    p: ParsedEmail,
    mut c: NewCase,
    aliases: &HashMap<i64, AliasRow>,
) -> NewCase {
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
    c.issue_html = p.html;
    c.sender = p.from;
    c.sender_name = p.from_name;
    let mut fields = serde_json::Map::new();
    fields.insert("communication_method".into(), json!("Email Integration"));
    if let Some(alias) = c.alias_id.and_then(|id| aliases.get(&id)) {
        for (k, v) in alias.fields.field_mappings.as_map() {
            match k.as_str() {
                // Checked when the alias was saved (and read back as stored).
                "status" => c.status = CaseStatus::from_stored(v),
                "priority" => c.priority = CasePriority::from_stored(v),
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
