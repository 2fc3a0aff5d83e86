//! The routing decision of SPEC §2.1 (which alias) and §2.2 (which workspace), as a pure
//! function over an `Envelope` (recipients, sender, body) and a `RoutingBook` (the aliases and
//! reference data that matter for this email).
//!
//! Owns: recipient order, plus-addressing, case-insensitive matching, the default alias, the
//! `WSID=`/`CLID=` tokens, contact and client-domain matching, and the reasons for each choice.
//! Must not do I/O: callers load the book (`scan_tokens` says which ids and numbers to load).

use std::fmt;

use super::credential::dns_name_to_ascii;
use super::email::EmailAddress;

/// The exception-log message when an email matches no alias and its credential has no default.
pub const MISSING_KEY_INFORMATION: &str =
    "Email Contains Missing or Invalid Key Information - Workspace ID: # Project Type ID: 0";

/// An alias as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRule {
    pub id: i64,
    pub credential_id: i64,
    pub email_alias: EmailAddress,
    pub is_default: bool,
    pub workspace_id: i64,
    pub project_type_id: i64,
    pub client_id: Option<i64>,
    pub always_use_default_workspace: bool,
}

/// A client as routing sees it; `email_domains` are lower-case ASCII (IDN in punycode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRule {
    pub id: i64,
    pub client_number: Option<String>,
    pub email_domains: Vec<String>,
    pub default_workspace_id: i64,
}

/// A contact as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRule {
    pub id: i64,
    pub email: EmailAddress,
    pub client_id: Option<i64>,
    pub workspace_id: i64,
}

/// A credential's own mailbox address (finds the credential of a dry run with no credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRule {
    pub credential_id: i64,
    pub mailbox: EmailAddress,
}

/// The configuration routing decides from. Entries the email cannot match may be left out.
#[derive(Debug, Clone, Default)]
pub struct RoutingBook {
    pub aliases: Vec<AliasRule>,
    pub mailboxes: Vec<MailboxRule>,
    /// Workspaces that exist (for `WSID=`).
    pub workspace_ids: Vec<i64>,
    pub clients: Vec<ClientRule>,
    pub contacts: Vec<ContactRule>,
}

/// The header a recipient came from, in the order they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    To,
    Cc,
    DeliveredTo,
    XOriginalTo,
}

impl Header {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::To => "To",
            Self::Cc => "Cc",
            Self::DeliveredTo => "Delivered-To",
            Self::XOriginalTo => "X-Original-To",
        }
    }
}

/// What routing reads from one email.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// The credential whose mailbox received the email; `None` in a dry run means "any".
    pub credential_id: Option<i64>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub delivered_to: Vec<EmailAddress>,
    pub x_original_to: Vec<EmailAddress>,
    pub from: Option<EmailAddress>,
    pub body: String,
}

impl Envelope {
    /// Every recipient in reading order: To, Cc, Delivered-To, X-Original-To.
    pub fn recipients(&self) -> impl Iterator<Item = (Header, &EmailAddress)> {
        [
            (Header::To, &self.to),
            (Header::Cc, &self.cc),
            (Header::DeliveredTo, &self.delivered_to),
            (Header::XOriginalTo, &self.x_original_to),
        ]
        .into_iter()
        .flat_map(|(h, v)| v.iter().map(move |a| (h, a)))
    }
}

/// One step of the decision: what it decided (`alias`, `workspace`, `client`, `contact`,
/// `project_type`), the rule's stable name, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Reason {
    pub decides: &'static str,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.decides, self.rule, self.message)
    }
}

/// Where an email goes. `alias_id` is `None` when it matches nothing: then `exception` holds
/// the exception-log message and no case is created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub credential_id: Option<i64>,
    pub alias_id: Option<i64>,
    pub workspace_id: Option<i64>,
    pub project_type_id: Option<i64>,
    pub client_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub exception: Option<&'static str>,
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub fn is_routed(&self) -> bool {
        self.alias_id.is_some()
    }

    fn note(&mut self, decides: &'static str, rule: &'static str, message: String) {
        self.reasons.push(Reason {
            decides,
            rule,
            message,
        });
    }
}

/// A `WSID=`/`CLID=` token found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<T> {
    WellFormed(T),
    /// The text as written (such as `WSID= 12`), for the reasons.
    Malformed(String),
}

/// Every `WSID=` and `CLID=` token of a body, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokens {
    pub wsid: Vec<Token<i64>>,
    pub clid: Vec<Token<String>>,
}

impl Tokens {
    /// The workspace ids a well-formed `WSID=` names.
    pub fn workspace_ids(&self) -> Vec<i64> {
        self.wsid
            .iter()
            .filter_map(|t| match t {
                Token::WellFormed(id) => Some(*id),
                Token::Malformed(_) => None,
            })
            .collect()
    }

    /// The client numbers a well-formed `CLID=` names.
    pub fn client_numbers(&self) -> Vec<String> {
        self.clid
            .iter()
            .filter_map(|t| match t {
                Token::WellFormed(n) => Some(n.clone()),
                Token::Malformed(_) => None,
            })
            .collect()
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The characters a client number is made of (see `ClientNumber`).
pub(crate) fn is_client_number_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Finds the tokens. They are upper case, start at a word boundary, and are well formed only
/// when the value follows `=` directly (`WSID=12`, not `WSID= 12`) and ends at a word boundary.
pub fn scan_tokens(body: &str) -> Tokens {
    static ID_EQUALS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("ID="));
    let mut tokens = Tokens::default();
    // One vectorised pass for the `ID=` both keywords end with: bodies are most of the bytes
    // of a poll, and tokens are rare in them.
    for id_at in ID_EQUALS.find_iter(body.as_bytes()) {
        let Some(at) = id_at.checked_sub(2) else {
            continue;
        };
        let (keyword, is_wsid) = match &body.as_bytes()[at..id_at] {
            b"WS" => ("WSID=", true),
            b"CL" => ("CLID=", false),
            _ => continue,
        };
        if body[..at].chars().next_back().is_some_and(is_word) {
            continue; // part of a longer word, such as XWSID=
        }
        let rest = &body[at + keyword.len()..];
        let value: String = if is_wsid {
            rest.chars().take_while(char::is_ascii_digit).collect()
        } else {
            rest.chars()
                .take_while(|c| is_client_number_char(*c))
                .collect()
        };
        let ends_cleanly = !rest[value.len()..].chars().next().is_some_and(is_word);
        let written = || {
            let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let word: String = rest[spaces..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .take(16)
                .collect();
            format!("{keyword}{}{word}", &rest[..spaces])
        };
        if is_wsid {
            match value.parse::<i64>() {
                Ok(id) if id > 0 && ends_cleanly => tokens.wsid.push(Token::WellFormed(id)),
                _ => tokens.wsid.push(Token::Malformed(written())),
            }
        } else if !value.is_empty() && value.len() <= 50 && ends_cleanly {
            tokens.clid.push(Token::WellFormed(value));
        } else {
            tokens.clid.push(Token::Malformed(written()));
        }
    }
    tokens
}

/// `local+tag@domain` → `local@domain` (lower case); `None` without a tag.
fn plus_base_key(address: &EmailAddress) -> Option<String> {
    let (local, domain) = address.key().rsplit_once('@')?;
    let (base, _) = local.split_once('+')?;
    (!base.is_empty()).then(|| format!("{base}@{domain}"))
}

/// The sender's domain, lower-case ASCII, to compare with client domains.
pub fn sender_domain(address: &EmailAddress) -> Option<String> {
    let (_, domain) = address.key().rsplit_once('@')?;
    Some(dns_name_to_ascii(domain).unwrap_or_else(|_| domain.to_string()))
}

/// The first recipient that matches `key_of` of a candidate: for each recipient in order,
/// the exact address first, then its plus-address base.
fn first_match<'a, T>(
    envelope: &Envelope,
    candidates: &'a [T],
    key_of: impl Fn(&T) -> &str,
) -> Option<(Header, &'a T, String, bool)> {
    for (header, r) in envelope.recipients() {
        if let Some(c) = candidates.iter().find(|c| key_of(c) == r.key()) {
            return Some((header, c, r.to_string(), false));
        }
        if let Some(base) = plus_base_key(r)
            && let Some(c) = candidates.iter().find(|c| key_of(c) == base)
        {
            return Some((header, c, r.to_string(), true));
        }
    }
    None
}

/// Decides where an email goes (SPEC §2.1 and §2.2) and why.
pub fn decide(envelope: &Envelope, book: &RoutingBook) -> Decision {
    let mut d = Decision::default();
    let in_scope: Vec<AliasRule> = book
        .aliases
        .iter()
        .filter(|a| envelope.credential_id.is_none_or(|c| a.credential_id == c))
        .cloned()
        .collect();
    let alias = match first_match(envelope, &in_scope, |a| a.email_alias.key()) {
        Some((header, alias, recipient, plus)) => {
            let (rule, how) = if plus {
                (
                    "plus_address",
                    "has no alias of its own; without its +tag it equals alias",
                )
            } else {
                ("recipient", "equals alias")
            };
            d.note(
                "alias",
                rule,
                format!(
                    "{} recipient {recipient} {how} {}",
                    header.as_str(),
                    alias.email_alias
                ),
            );
            alias.clone()
        }
        None => match default_alias(envelope, book, &mut d) {
            Some(a) => a,
            None => {
                d.exception = Some(MISSING_KEY_INFORMATION);
                return d;
            }
        },
    };
    d.credential_id = Some(alias.credential_id);
    d.alias_id = Some(alias.id);
    d.project_type_id = Some(alias.project_type_id);
    d.note(
        "project_type",
        "alias",
        format!(
            "project type {} of alias {}",
            alias.project_type_id, alias.email_alias
        ),
    );
    choose_workspace(envelope, book, &alias, &mut d);
    d
}

/// No recipient matched an alias: the default alias of the credential, if it has one.
fn default_alias(envelope: &Envelope, book: &RoutingBook, d: &mut Decision) -> Option<AliasRule> {
    let credential = match envelope.credential_id {
        Some(c) => c,
        None => match first_match(envelope, &book.mailboxes, |m| m.mailbox.key()) {
            Some((header, m, recipient, _)) => {
                d.note(
                    "alias",
                    "credential_mailbox",
                    format!(
                        "no recipient equals an alias; {} recipient {recipient} is delivered to the mailbox {} of credential {}",
                        header.as_str(),
                        m.mailbox,
                        m.credential_id
                    ),
                );
                m.credential_id
            }
            None => {
                d.note(
                    "alias",
                    "no_match",
                    "no recipient (To, Cc, Delivered-To, X-Original-To) equals an alias or a credential's mailbox".to_string(),
                );
                return None;
            }
        },
    };
    d.credential_id = Some(credential);
    match book
        .aliases
        .iter()
        .find(|a| a.credential_id == credential && a.is_default)
    {
        Some(a) => {
            d.note(
                "alias",
                "default_alias",
                format!(
                    "no recipient equals an alias of credential {credential}; its default alias {} applies",
                    a.email_alias
                ),
            );
            Some(a.clone())
        }
        None => {
            d.note(
                "alias",
                "no_default_alias",
                format!(
                    "no recipient equals an alias of credential {credential}, and it has no default alias: no case is created"
                ),
            );
            None
        }
    }
}

/// SPEC §2.2: the first rule that applies decides the workspace (and the client it brings).
fn choose_workspace(envelope: &Envelope, book: &RoutingBook, alias: &AliasRule, d: &mut Decision) {
    let alias_client = |d: &mut Decision| {
        if let Some(c) = alias.client_id {
            d.client_id = Some(c);
            d.note(
                "client",
                "alias_default_client",
                format!(
                    "client {c} is the default client of alias {}",
                    alias.email_alias
                ),
            );
        }
    };
    if alias.always_use_default_workspace {
        d.workspace_id = Some(alias.workspace_id);
        d.note(
            "workspace",
            "always_use_default_workspace",
            format!(
                "alias {} has Always use Default Workspace: workspace {}",
                alias.email_alias, alias.workspace_id
            ),
        );
        alias_client(d);
        return;
    }
    let tokens = scan_tokens(&envelope.body);
    for t in &tokens.wsid {
        match t {
            Token::Malformed(text) => d.note(
                "workspace",
                "wsid_malformed",
                format!("ignored {text:?}: a workspace token is WSID=<id>, with no space after ="),
            ),
            Token::WellFormed(id) if book.workspace_ids.contains(id) => {
                d.workspace_id = Some(*id);
                d.note(
                    "workspace",
                    "wsid_token",
                    format!("the body names workspace WSID={id}"),
                );
                alias_client(d);
                return;
            }
            Token::WellFormed(id) => d.note(
                "workspace",
                "wsid_unknown",
                format!("ignored WSID={id}: no workspace has id {id}"),
            ),
        }
    }
    for t in &tokens.clid {
        match t {
            Token::Malformed(text) => d.note(
                "workspace",
                "clid_malformed",
                format!(
                    "ignored {text:?}: a client token is CLID=<client number>, with no space after ="
                ),
            ),
            Token::WellFormed(number) => {
                let found = book.clients.iter().find(|c| {
                    c.client_number
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(number))
                });
                match found {
                    Some(c) => {
                        d.workspace_id = Some(c.default_workspace_id);
                        d.client_id = Some(c.id);
                        d.note(
                            "workspace",
                            "clid_token",
                            format!(
                                "the body names client CLID={number}: its default workspace {}",
                                c.default_workspace_id
                            ),
                        );
                        d.note(
                            "client",
                            "clid_token",
                            format!("client {} has client number {number}", c.id),
                        );
                        return;
                    }
                    None => d.note(
                        "workspace",
                        "clid_unknown",
                        format!("ignored CLID={number}: no client has that client number"),
                    ),
                }
            }
        }
    }
    if let Some(from) = &envelope.from {
        if let Some(contact) = book.contacts.iter().find(|c| c.email.key() == from.key()) {
            d.workspace_id = Some(contact.workspace_id);
            d.contact_id = Some(contact.id);
            d.note(
                "workspace",
                "contact",
                format!(
                    "the sender {from} is contact {}: its workspace {}",
                    contact.id, contact.workspace_id
                ),
            );
            d.note(
                "contact",
                "contact",
                format!("the sender {from} is contact {}", contact.id),
            );
            match contact.client_id {
                Some(c) => {
                    d.client_id = Some(c);
                    d.note(
                        "client",
                        "contact",
                        format!("contact {} belongs to client {c}", contact.id),
                    );
                }
                None => alias_client(d),
            }
            return;
        }
        if let Some(domain) = sender_domain(from)
            && let Some(c) = book
                .clients
                .iter()
                .find(|c| c.email_domains.contains(&domain))
        {
            d.workspace_id = Some(c.default_workspace_id);
            d.client_id = Some(c.id);
            d.note(
                "workspace",
                "client_domain",
                format!(
                    "the sender's domain {domain} belongs to client {}: its default workspace {}",
                    c.id, c.default_workspace_id
                ),
            );
            d.note(
                "client",
                "client_domain",
                format!("the sender's domain {domain} belongs to client {}", c.id),
            );
            return;
        }
    }
    d.workspace_id = Some(alias.workspace_id);
    d.note(
        "workspace",
        "alias_workspace",
        format!(
            "no token, contact or client domain applies: the workspace {} of alias {}",
            alias.workspace_id, alias.email_alias
        ),
    );
    alias_client(d);
}

#[cfg(test)]
mod tests;
