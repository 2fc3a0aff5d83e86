//! Mail provider presets (host, port, security, sign-in methods, advice in words) and the pure
//! rules that recognise a provider from a mailbox's domain or from its MX host names.
//!
//! Owns the preset table and which domains and MX hosts belong to whom. Must not do I/O: DNS
//! answers are looked up elsewhere (`crate::dns`) and handed in.

use super::credential::dns_name_to_ascii;
use super::{EmailAddress, Security, ValidationError};

/// How a user can sign in to a provider's IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The account's own password.
    Password,
    /// A separate password made for one app (most providers want two-step verification first).
    AppPassword,
    /// OAuth2 sign-in (SPEC §1.5).
    Oauth2,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::AppPassword => "app_password",
            Self::Oauth2 => "oauth2",
        }
    }
}

/// One provider's IMAP settings and what a user must know to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Stable machine name (`microsoft365`, `google`…).
    pub id: &'static str,
    pub name: &'static str,
    /// Empty for `other`: the user's provider says.
    pub host: &'static str,
    pub port: u16,
    pub security: Security,
    pub auth_methods: &'static [AuthMethod],
    pub hint: &'static str,
}

use AuthMethod::{AppPassword, Oauth2, Password};

/// Every preset, `other` last.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "microsoft365",
        name: "Microsoft 365",
        host: "outlook.office365.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Oauth2],
        hint: "Microsoft 365 turned password sign-in for IMAP off in every organisation (October 2022), and app passwords do not work either: sign in with OAuth2, through an OAuth app registered in your Microsoft Entra tenant. Multi-factor authentication can stay on.",
    },
    Preset {
        id: "outlook",
        name: "Outlook.com (Hotmail, Live)",
        host: "outlook.office365.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Oauth2],
        hint: "Microsoft requires OAuth2 sign-in (modern authentication) for IMAP on personal accounts (outlook.com, hotmail.com, live.com); passwords and app passwords are being refused. Sign in with OAuth2.",
    },
    Preset {
        id: "google",
        name: "Google (Gmail, Google Workspace)",
        host: "imap.gmail.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Oauth2, AppPassword],
        hint: "Google refuses the account's normal password for IMAP. Sign in with OAuth2, or use an app password: Google offers app passwords only once 2-Step Verification is on for the account (Google Account > Security > App passwords).",
    },
    Preset {
        id: "yahoo",
        name: "Yahoo Mail",
        host: "imap.mail.yahoo.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[AppPassword],
        hint: "Yahoo refuses the account's normal password for other mail programs: create an app password (Yahoo Account Security > Generate app password) and enter it as the password.",
    },
    Preset {
        id: "icloud",
        name: "iCloud Mail",
        host: "imap.mail.me.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[AppPassword],
        hint: "iCloud Mail needs an app-specific password (account.apple.com > Sign-In and Security, with two-factor authentication on). If the full address is refused as the login name, use the part before @.",
    },
    Preset {
        id: "fastmail",
        name: "Fastmail",
        host: "imap.fastmail.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[AppPassword],
        hint: "Fastmail needs an app password with IMAP access (Settings > Privacy & Security > App passwords); the account's own password is refused.",
    },
    Preset {
        id: "zoho",
        name: "Zoho Mail",
        host: "imap.zoho.com",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Password, AppPassword],
        hint: "Turn on IMAP access in Zoho Mail's settings first. With two-factor authentication on, use an app-specific password. Mailboxes on your own domain use imappro.zoho.com; accounts in the EU or India use imap.zoho.eu or imap.zoho.in.",
    },
    Preset {
        id: "gmx",
        name: "GMX",
        host: "imap.gmx.net",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Password, AppPassword],
        hint: "Allow IMAP access first (GMX settings > POP3 & IMAP). With two-factor authentication on, use an app password. gmx.com accounts use imap.gmx.com.",
    },
    Preset {
        id: "other",
        name: "Other provider",
        host: "",
        port: 993,
        security: Security::Tls,
        auth_methods: &[Password, AppPassword, Oauth2],
        hint: "Enter your provider's IMAP server (look for \"IMAP settings\" in its help pages). Most use port 993 with TLS. If the provider asks for two-step verification, an app password is usually what other mail programs need.",
    },
];

/// The presets as the OpenAPI document lists them (a test checks it names every preset).
pub const PRESETS_SUMMARY: &str = "Provider presets, each with id, name, host, port, security, auth_methods (password, app_password, oauth2) and hint: microsoft365 (Microsoft 365), outlook (Outlook.com), google (Google), yahoo (Yahoo Mail), icloud (iCloud Mail), fastmail (Fastmail), zoho (Zoho Mail), gmx (GMX), other (Other provider)";

/// The preset with this id.
pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

fn must(id: &str) -> &'static Preset {
    // Every id named in this file is in PRESETS (a test checks); `other` is the safe fallback.
    preset(id).unwrap_or(&PRESETS[PRESETS.len() - 1])
}

/// A provider recognised, and the server to use (which may differ from the preset's host, e.g.
/// Zoho's server for mailboxes on one's own domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub preset: &'static Preset,
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl Guess {
    fn of(id: &str, host: Option<&str>) -> Self {
        let preset = must(id);
        Self {
            preset,
            host: host.unwrap_or(preset.host).to_string(),
            port: preset.port,
            security: preset.security,
        }
    }
}

/// Mail domains of the providers, with the server when it is not the preset's.
const KNOWN_DOMAINS: &[(&str, &str, Option<&str>)] = &[
    ("gmail.com", "google", None),
    ("googlemail.com", "google", None),
    ("outlook.com", "outlook", None),
    ("hotmail.com", "outlook", None),
    ("live.com", "outlook", None),
    ("msn.com", "outlook", None),
    ("outlook.de", "outlook", None),
    ("outlook.fr", "outlook", None),
    ("hotmail.co.uk", "outlook", None),
    ("hotmail.de", "outlook", None),
    ("hotmail.fr", "outlook", None),
    ("hotmail.it", "outlook", None),
    ("live.co.uk", "outlook", None),
    ("live.de", "outlook", None),
    ("live.fr", "outlook", None),
    ("yahoo.com", "yahoo", None),
    ("ymail.com", "yahoo", None),
    ("rocketmail.com", "yahoo", None),
    ("yahoo.co.uk", "yahoo", None),
    ("yahoo.de", "yahoo", None),
    ("yahoo.fr", "yahoo", None),
    ("yahoo.ca", "yahoo", None),
    ("icloud.com", "icloud", None),
    ("me.com", "icloud", None),
    ("mac.com", "icloud", None),
    ("fastmail.com", "fastmail", None),
    ("fastmail.fm", "fastmail", None),
    ("zoho.com", "zoho", None),
    ("zohomail.com", "zoho", None),
    ("zoho.eu", "zoho", Some("imap.zoho.eu")),
    ("zohomail.eu", "zoho", Some("imap.zoho.eu")),
    ("zoho.in", "zoho", Some("imap.zoho.in")),
    ("zohomail.in", "zoho", Some("imap.zoho.in")),
    ("gmx.net", "gmx", None),
    ("gmx.de", "gmx", None),
    ("gmx.at", "gmx", None),
    ("gmx.ch", "gmx", None),
    ("gmx.com", "gmx", Some("imap.gmx.com")),
    ("gmx.us", "gmx", Some("imap.gmx.com")),
    ("gmx.co.uk", "gmx", Some("imap.gmx.com")),
];

/// MX host suffixes (whole labels) of the providers, with the server for a mailbox on one's own
/// domain when it is not the preset's.
const KNOWN_MX: &[(&str, &str, Option<&str>)] = &[
    ("mail.protection.outlook.com", "microsoft365", None),
    ("mx.microsoft", "microsoft365", None),
    ("olc.protection.outlook.com", "outlook", None),
    ("google.com", "google", None),
    ("googlemail.com", "google", None),
    ("yahoodns.net", "yahoo", None),
    ("mail.icloud.com", "icloud", None),
    ("messagingengine.com", "fastmail", None),
    ("zoho.com", "zoho", Some("imappro.zoho.com")),
    ("zoho.eu", "zoho", Some("imappro.zoho.eu")),
    ("zoho.in", "zoho", Some("imappro.zoho.in")),
    ("zoho.com.au", "zoho", Some("imappro.zoho.com.au")),
    ("gmx.net", "gmx", None),
    ("gmx.com", "gmx", Some("imap.gmx.com")),
];

/// IMAP servers of the presets, to name the provider an SRV record points to.
const KNOWN_IMAP_HOSTS: &[(&str, &str)] = &[
    ("outlook.office365.com", "microsoft365"),
    ("imap.gmail.com", "google"),
    ("imap.mail.yahoo.com", "yahoo"),
    ("imap.mail.me.com", "icloud"),
    ("imap.fastmail.com", "fastmail"),
    ("zoho.com", "zoho"),
    ("zoho.eu", "zoho"),
    ("zoho.in", "zoho"),
    ("gmx.net", "gmx"),
    ("gmx.com", "gmx"),
];

/// A DNS name in the form compared here: ASCII, lower case, no trailing dot.
fn normal(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` is `suffix` or ends with `.suffix` (whole labels only).
fn under(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The domain of a mailbox address, in ASCII (IDN converted) and lower case, for DNS.
pub fn mailbox_domain(mailbox: Option<&str>) -> Result<String, ValidationError> {
    let raw = mailbox.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ValidationError::required("mailbox", "Mailbox"));
    }
    let invalid = |why: &str| {
        ValidationError::new(
            "mailbox",
            "invalid_email",
            format!("Mailbox must be a valid email address: it {why}."),
        )
    };
    let address = EmailAddress::parse(raw).map_err(|e| invalid(e.0))?;
    let domain = address.as_str().rsplit_once('@').map_or("", |(_, d)| d);
    let ascii = dns_name_to_ascii(domain)
        .map_err(|_| invalid("has a domain after @ that is not a valid domain name"))?;
    Ok(normal(&ascii))
}

/// A provider whose own mail domain this is (gmail.com, outlook.com…).
pub fn by_domain(domain: &str) -> Option<Guess> {
    let domain = normal(domain);
    KNOWN_DOMAINS
        .iter()
        .find(|(d, ..)| *d == domain)
        .map(|(_, id, host)| Guess::of(id, *host))
}

/// A provider that receives mail for a domain whose MX host is `mx` (`*.mail.protection.outlook.com`
/// is Microsoft 365, `aspmx.l.google.com` is Google…).
pub fn by_mx(mx: &str) -> Option<Guess> {
    let mx = normal(mx);
    KNOWN_MX
        .iter()
        .find(|(suffix, ..)| under(&mx, suffix))
        .map(|(_, id, host)| Guess::of(id, *host))
}

/// The settings an RFC 6186 `_imaps._tcp` record gives (implicit TLS), named after the provider
/// whose server it is when known, else `other`.
pub fn by_srv(target: &str, port: u16) -> Guess {
    let target = normal(target);
    let id = KNOWN_IMAP_HOSTS
        .iter()
        .find(|(suffix, _)| under(&target, suffix))
        .map_or("other", |(_, id)| id);
    Guess {
        preset: must(id),
        host: target,
        port,
        security: Security::Tls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_named_in_the_rules_is_a_preset_and_ids_are_unique() {
        let named = KNOWN_DOMAINS
            .iter()
            .map(|(_, id, _)| *id)
            .chain(KNOWN_MX.iter().map(|(_, id, _)| *id))
            .chain(KNOWN_IMAP_HOSTS.iter().map(|(_, id)| *id));
        for id in named {
            assert!(preset(id).is_some(), "{id} is not a preset");
        }
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[i + 1..].iter().all(|q| q.id != p.id),
                "{} twice",
                p.id
            );
            assert!(!p.auth_methods.is_empty() && !p.hint.is_empty(), "{}", p.id);
        }
        assert_eq!(PRESETS.last().map(|p| p.id), Some("other"));
    }

    #[test]
    fn the_openapi_summary_names_every_preset() {
        for p in PRESETS {
            let short = p.name.split(" (").next().unwrap_or(p.name);
            assert!(
                PRESETS_SUMMARY.contains(&format!("{} ({short}", p.id)),
                "{} missing from PRESETS_SUMMARY",
                p.id
            );
        }
    }

    #[test]
    fn known_domains_are_recognised_case_and_dot_insensitively() {
        assert_eq!(by_domain("Gmail.com.").unwrap().preset.id, "google");
        assert_eq!(by_domain("googlemail.com").unwrap().host, "imap.gmail.com");
        assert_eq!(by_domain("hotmail.com").unwrap().preset.id, "outlook");
        assert_eq!(by_domain("me.com").unwrap().host, "imap.mail.me.com");
        let gmx = by_domain("gmx.com").unwrap();
        assert_eq!((gmx.preset.id, gmx.host.as_str()), ("gmx", "imap.gmx.com"));
        assert!(by_domain("example.com").is_none());
        assert!(by_domain("notgmail.com").is_none());
    }

    #[test]
    fn mx_hosts_match_on_whole_labels() {
        let m = by_mx("contoso-com.mail.protection.outlook.com.").unwrap();
        assert_eq!(
            (m.preset.id, m.host.as_str()),
            ("microsoft365", "outlook.office365.com")
        );
        assert_eq!(
            by_mx("contoso-com.o-v1.mx.microsoft").unwrap().preset.id,
            "microsoft365"
        );
        assert_eq!(by_mx("ASPMX.L.GOOGLE.COM").unwrap().preset.id, "google");
        assert_eq!(by_mx("alt1.aspmx.l.google.com").unwrap().port, 993);
        assert_eq!(by_mx("aspmx2.googlemail.com").unwrap().preset.id, "google");
        assert_eq!(by_mx("smtp.google.com").unwrap().preset.id, "google");
        assert_eq!(by_mx("mx.zoho.eu").unwrap().host, "imappro.zoho.eu");
        assert_eq!(
            by_mx("in1-smtp.messagingengine.com").unwrap().preset.id,
            "fastmail"
        );
        assert!(by_mx("evilgoogle.com").is_none());
        assert!(by_mx("google.com.evil.example").is_none());
        assert!(by_mx("mx.example.net").is_none());
    }

    #[test]
    fn srv_targets_keep_their_host_and_port() {
        let g = by_srv("imap.fastmail.com.", 993);
        assert_eq!(
            (g.preset.id, g.host.as_str()),
            ("fastmail", "imap.fastmail.com")
        );
        let other = by_srv("Mail.Example.NET", 10993);
        assert_eq!(other.preset.id, "other");
        assert_eq!(
            (other.host.as_str(), other.port),
            ("mail.example.net", 10993)
        );
        assert_eq!(other.security, Security::Tls);
    }

    #[test]
    fn mailbox_domain_names_the_field_and_rule() {
        assert_eq!(
            mailbox_domain(Some(" Ann@Bücher.Example ")).unwrap(),
            "xn--bcher-kva.example"
        );
        let missing = mailbox_domain(None).unwrap_err();
        assert_eq!((missing.field, missing.rule), ("mailbox", "required"));
        let blank = mailbox_domain(Some("  ")).unwrap_err();
        assert_eq!(blank.rule, "required");
        let bad = mailbox_domain(Some("not-an-address")).unwrap_err();
        assert_eq!((bad.field, bad.rule), ("mailbox", "invalid_email"));
        assert!(bad.message.contains("local@domain"), "{}", bad.message);
    }
}
