//! Provider presets and detection: the list of presets, and the guess of a mailbox's provider
//! from its domain (a provider's own domain, then MX records, then RFC 6186 `_imaps._tcp` SRV).
//!
//! Owns the order of the steps and the answer in words. Must not fail because DNS did:
//! detection answers `found_by: none` with the reason. The rules are `domain::providers`; the
//! lookups go through `dns::Resolver`.

use serde::Serialize;

use super::{App, AppResult};
use crate::dns::{DnsError, Mx, Resolver, Srv, SystemResolver};
use crate::domain::providers::{self, Guess, PRESETS, Preset};

/// A preset as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: &'static str,
    pub name: &'static str,
    /// Empty for `other`.
    pub host: &'static str,
    pub port: u16,
    pub security: &'static str,
    /// `password`, `app_password`, `oauth2`.
    pub auth_methods: Vec<&'static str>,
    pub hint: &'static str,
}

impl From<&Preset> for ProviderView {
    fn from(p: &Preset) -> Self {
        Self {
            id: p.id,
            name: p.name,
            host: p.host,
            port: p.port,
            security: p.security.as_str(),
            auth_methods: p.auth_methods.iter().map(|m| m.as_str()).collect(),
            hint: p.hint,
        }
    }
}

/// The guess for one mailbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DetectionView {
    /// The mailbox's domain, in ASCII.
    pub domain: String,
    /// `domain`, `mx`, `srv` or `none`.
    pub found_by: &'static str,
    /// The preset guessed (`other` for an SRV record of an unknown server); null when none.
    pub provider: Option<ProviderView>,
    /// The server to use (may differ from the preset's, e.g. Zoho for one's own domain).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<&'static str>,
    /// What decided: the MX host or the SRV record.
    pub evidence: Option<String>,
    /// How the guess was made, or why there is none, in words.
    pub reason: String,
}

impl DetectionView {
    fn found(
        domain: String,
        found_by: &'static str,
        g: Guess,
        evidence: Option<String>,
        reason: String,
    ) -> Self {
        Self {
            domain,
            found_by,
            provider: Some(g.preset.into()),
            host: Some(g.host),
            port: Some(g.port),
            security: Some(g.security.as_str()),
            evidence,
            reason,
        }
    }
}

/// Every preset, `other` last.
pub fn provider_presets() -> Vec<ProviderView> {
    PRESETS.iter().map(ProviderView::from).collect()
}

/// Guesses the provider of `mailbox`; only an invalid or missing mailbox is an error.
pub async fn detect<R: Resolver>(resolver: &R, mailbox: Option<&str>) -> AppResult<DetectionView> {
    let domain = providers::mailbox_domain(mailbox)?;
    if let Some(g) = providers::by_domain(&domain) {
        let reason = format!("{domain} is a {} address.", g.preset.name);
        return Ok(DetectionView::found(
            domain.clone(),
            "domain",
            g,
            Some(domain),
            reason,
        ));
    }
    let srv_name = format!("_imaps._tcp.{domain}");
    let (mx, srv) = tokio::join!(resolver.mx(&domain), resolver.srv(&srv_name));
    if let Ok(list) = &mx {
        for m in list {
            if let Some(g) = providers::by_mx(&m.exchange) {
                let reason = format!(
                    "Mail for {domain} is received by {}, a {} server.",
                    m.exchange, g.preset.name
                );
                return Ok(DetectionView::found(
                    domain,
                    "mx",
                    g,
                    Some(m.exchange.clone()),
                    reason,
                ));
            }
        }
    }
    if let Ok(list) = &srv
        && let Some(s) = usable_srv(list)
    {
        let g = providers::by_srv(&s.target, s.port);
        let evidence = format!(
            "{srv_name} SRV {} {} {} {}",
            s.priority, s.weight, s.port, s.target
        );
        let reason = format!(
            "{domain} names its IMAP server in DNS ({srv_name}): {}, port {}, TLS.",
            g.host, g.port
        );
        return Ok(DetectionView::found(
            domain,
            "srv",
            g,
            Some(evidence),
            reason,
        ));
    }
    if let Err(e) = &mx {
        tracing::debug!(domain, error = %e, "MX lookup failed");
    }
    if let Err(e) = &srv {
        tracing::debug!(domain, error = %e, "SRV lookup failed");
    }
    let reason = format!(
        "No provider recognised for {domain}: {}, and {}. Enter the IMAP server your provider gives.",
        mx_words(&mx),
        srv_words(&srv_name, &srv)
    );
    Ok(DetectionView {
        domain,
        found_by: "none",
        provider: None,
        host: None,
        port: None,
        security: None,
        evidence: None,
        reason,
    })
}

/// The first SRV record that names a server (target `.` means "not offered here").
fn usable_srv(list: &[Srv]) -> Option<&Srv> {
    list.iter().find(|s| !s.target.is_empty() && s.port != 0)
}

fn mx_words(mx: &Result<Vec<Mx>, DnsError>) -> String {
    match mx {
        Ok(list) if list.is_empty() => "it has no MX records".into(),
        Ok(list) => {
            let names: Vec<&str> = list.iter().take(3).map(|m| m.exchange.as_str()).collect();
            format!(
                "its mail servers ({}) are not a known provider's",
                names.join(", ")
            )
        }
        Err(e) => format!("the MX lookup failed ({e})"),
    }
}

fn srv_words(name: &str, srv: &Result<Vec<Srv>, DnsError>) -> String {
    match srv {
        Ok(list) if list.is_empty() => format!("it publishes no {name} record"),
        Ok(_) => format!("its {name} record says it offers no IMAP over TLS"),
        Err(e) => format!("the SRV lookup failed ({e})"),
    }
}

impl App {
    /// Every provider preset.
    pub fn provider_presets(&self) -> Vec<ProviderView> {
        provider_presets()
    }

    /// Guesses `mailbox`'s provider, asking the system's nameservers.
    pub async fn detect_provider(&self, mailbox: Option<&str>) -> AppResult<DetectionView> {
        detect(&SystemResolver::from_system(), mailbox).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::app::AppError;

    /// Answers from tables; a name in `fail` fails like an unreachable nameserver.
    #[derive(Default)]
    struct Stub {
        mx: Table,
        srv: Table,
        fail: Vec<&'static str>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    type Table = HashMap<&'static str, Vec<(u16, &'static str)>>;

    impl Stub {
        /// The rows `table` holds for `name`, or the failure `fail` asks for.
        fn look_up(&self, table: &Table, name: &str) -> Result<Vec<(u16, &'static str)>, DnsError> {
            self.asked.lock().unwrap().push(name.to_string());
            if self.fail.contains(&name) {
                return Err(DnsError(
                    "the DNS server 10.0.0.53:53 did not answer within 2 seconds".into(),
                ));
            }
            Ok(table.get(name).cloned().unwrap_or_default())
        }
    }

    impl Resolver for Stub {
        async fn mx(&self, domain: &str) -> Result<Vec<Mx>, DnsError> {
            let mx = |(preference, exchange): (u16, &str)| Mx {
                preference,
                exchange: exchange.into(),
            };
            Ok(self
                .look_up(&self.mx, domain)?
                .into_iter()
                .map(mx)
                .collect())
        }

        async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
            let srv = |(port, target): (u16, &str)| Srv {
                priority: 0,
                weight: 1,
                port,
                target: target.into(),
            };
            Ok(self
                .look_up(&self.srv, name)?
                .into_iter()
                .map(srv)
                .collect())
        }
    }

    /// `reason` holds every one of `parts`.
    fn says(reason: &str, parts: &[&str]) {
        for p in parts {
            assert!(reason.contains(p), "{p:?} is not in {reason:?}");
        }
    }

    async fn run(stub: &Stub, mailbox: &str) -> DetectionView {
        detect(stub, Some(mailbox)).await.unwrap()
    }

    #[tokio::test]
    async fn a_known_domain_needs_no_dns() {
        let stub = Stub::default();
        let d = run(&stub, "Payroll@GMail.com").await;
        assert_eq!((d.found_by, d.domain.as_str()), ("domain", "gmail.com"));
        assert_eq!(d.provider.unwrap().id, "google");
        assert_eq!(d.host.as_deref(), Some("imap.gmail.com"));
        assert_eq!((d.port, d.security), (Some(993), Some("tls")));
        assert!(stub.asked.lock().unwrap().is_empty(), "no lookup");
        let icloud = run(&stub, "ann@mac.com").await;
        assert_eq!(icloud.provider.unwrap().id, "icloud");
    }

    #[tokio::test]
    async fn mx_at_microsoft_protection_is_microsoft_365() {
        let mut stub = Stub::default();
        stub.mx.insert(
            "contoso.com",
            vec![(0, "contoso-com.mail.protection.outlook.com")],
        );
        let d = run(&stub, "payroll@contoso.com").await;
        assert_eq!(d.found_by, "mx");
        let p = d.provider.unwrap();
        assert_eq!((p.id, p.auth_methods), ("microsoft365", vec!["oauth2"]));
        assert_eq!(d.host.as_deref(), Some("outlook.office365.com"));
        assert_eq!(
            d.evidence.as_deref(),
            Some("contoso-com.mail.protection.outlook.com")
        );
        says(&d.reason, &["Microsoft 365"]);
    }

    #[tokio::test]
    async fn mx_at_google_is_google_even_behind_an_unknown_first_mx() {
        let mut stub = Stub::default();
        stub.mx.insert(
            "example.org",
            vec![(1, "filter.example.net"), (5, "alt1.aspmx.l.google.com")],
        );
        // An SRV record as well: MX comes first.
        stub.srv
            .insert("_imaps._tcp.example.org", vec![(993, "mail.example.org")]);
        let d = run(&stub, "hr@example.org").await;
        assert_eq!(d.found_by, "mx");
        assert_eq!(d.provider.unwrap().id, "google");
        assert_eq!(d.host.as_deref(), Some("imap.gmail.com"));
    }

    #[tokio::test]
    async fn srv_gives_host_and_port_when_mx_is_unknown() {
        let mut stub = Stub::default();
        stub.mx.insert("example.net", vec![(10, "mx.example.net")]);
        stub.srv.insert(
            "_imaps._tcp.example.net",
            vec![(10993, "imap.example.net.")],
        );
        let d = run(&stub, "benefits@example.net").await;
        assert_eq!(d.found_by, "srv");
        assert_eq!(d.provider.unwrap().id, "other");
        assert_eq!(d.host.as_deref(), Some("imap.example.net"));
        assert_eq!((d.port, d.security), (Some(10993), Some("tls")));
        assert!(d.evidence.unwrap().contains("10993 imap.example.net"));
        // An SRV pointing at a known provider's server names that provider.
        let mut stub = Stub::default();
        stub.srv
            .insert("_imaps._tcp.example.net", vec![(993, "imap.fastmail.com")]);
        let d = run(&stub, "benefits@example.net").await;
        assert_eq!(d.provider.unwrap().id, "fastmail");
    }

    #[tokio::test]
    async fn nothing_found_says_why() {
        let mut stub = Stub::default();
        stub.mx.insert("example.com", vec![(10, "mx.example.com")]);
        let d = run(&stub, "a@example.com").await;
        assert_eq!(d.found_by, "none");
        assert!(d.provider.is_none() && d.host.is_none() && d.port.is_none());
        says(
            &d.reason,
            &[
                "(mx.example.com) are not a known provider's",
                "no _imaps._tcp.example.com record",
            ],
        );
        // `.` as the SRV target: the domain says it offers no IMAP over TLS.
        let mut stub = Stub::default();
        stub.srv.insert("_imaps._tcp.example.com", vec![(0, "")]);
        let d = run(&stub, "a@example.com").await;
        assert_eq!(d.found_by, "none");
        says(&d.reason, &["no MX records"]);
        says(&d.reason, &["offers no IMAP"]);
    }

    #[tokio::test]
    async fn resolver_failure_is_none_with_the_reason() {
        let stub = Stub {
            fail: vec!["example.com", "_imaps._tcp.example.com"],
            ..Stub::default()
        };
        let d = run(&stub, "a@example.com").await;
        assert_eq!(d.found_by, "none");
        says(
            &d.reason,
            &[
                "the MX lookup failed (the DNS server 10.0.0.53:53 did not answer",
                "the SRV lookup failed",
            ],
        );
        // A failed MX lookup does not hide a working SRV record.
        let mut stub = Stub {
            fail: vec!["example.com"],
            ..Stub::default()
        };
        stub.srv
            .insert("_imaps._tcp.example.com", vec![(993, "imap.example.com")]);
        assert_eq!(run(&stub, "a@example.com").await.found_by, "srv");
    }

    #[tokio::test]
    async fn an_invalid_or_missing_mailbox_is_a_validation_error_on_mailbox() {
        let stub = Stub::default();
        for (input, rule) in [(None, "required"), (Some("nobody"), "invalid_email")] {
            match detect(&stub, input).await {
                Err(AppError::Validation(e)) => {
                    assert_eq!((e.first().field, e.first().rule), ("mailbox", rule));
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert!(stub.asked.lock().unwrap().is_empty());
    }

    #[test]
    fn presets_list_every_provider_with_other_last() {
        let ids: Vec<&str> = provider_presets().iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            [
                "microsoft365",
                "outlook",
                "google",
                "yahoo",
                "icloud",
                "fastmail",
                "zoho",
                "gmx",
                "other"
            ]
        );
        let google = &provider_presets()[2];
        assert_eq!(google.auth_methods, ["oauth2", "app_password"]);
        assert!(google.hint.contains("2-Step Verification"));
    }
}
