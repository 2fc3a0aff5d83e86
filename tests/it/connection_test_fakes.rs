//! Test Connection (SPEC §1.3) against scripted fake servers, through the probe with short
//! timeouts: AUTHENTICATE PLAIN where LOGIN is not offered, and every fault (not IMAP, no TLS,
//! silence, a dropped connection…) ends in its category within the timeout.

use std::time::{Duration, Instant};

use mailroom::domain::{Secret, Security};
use mailroom::imap::{ProbeOptions, ProbeReport, ProbeRequest};

use crate::fake_imap::{self, FakeServer, Script};

fn quick() -> ProbeOptions {
    ProbeOptions {
        step_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(6),
        ..ProbeOptions::default()
    }
}

async fn probe_fake(script: Script, security: Security) -> (ProbeReport, Duration) {
    let server = FakeServer::start(script).await;
    let req = ProbeRequest {
        host: "127.0.0.1".into(),
        port: server.port(),
        security,
        login: fake_imap::PLAIN_USER.into(),
        ca_bundle: None,
        pinned_sha256: None,
    };
    let started = Instant::now();
    let report =
        mailroom::imap::probe(&req, &Secret::new(fake_imap::PLAIN_PASS.into()), &quick()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "took {took:?}: {report:?}");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(fake_imap::PLAIN_PASS), "{json}");
    (report, took)
}

#[tokio::test]
async fn authenticate_plain_is_used_where_login_is_not_offered() {
    let (report, _) = probe_fake(Script::SaslIrOnly, Security::None).await;
    assert!(report.ok, "{report:#?}");
    let login = report.steps.iter().find(|s| s.name == "login").unwrap();
    assert!(login.detail.starts_with("AUTHENTICATE PLAIN"), "{login:?}");
    assert_eq!(
        report.inbox,
        Some(mailroom::imap::InboxCounts {
            messages: 5,
            unseen: 2
        })
    );
}

#[tokio::test]
async fn fake_servers_end_in_their_category_within_the_timeout() {
    use mailroom::imap::Category::*;
    let cases = [
        (
            Script::Banner(fake_imap::SMTP_BANNER),
            Security::None,
            NotImap,
            Some("220 mx.example.com"),
        ),
        (
            Script::Banner(fake_imap::SMTP_BANNER),
            Security::Tls,
            NotImap,
            Some("220 mx.example.com"),
        ),
        (
            Script::Banner(fake_imap::HTTP_BANNER),
            Security::None,
            NotImap,
            Some("HTTP/1.1 400"),
        ),
        (Script::Silence, Security::None, Timeout, None),
        (Script::Silence, Security::Tls, Timeout, None),
        (
            Script::Banner(fake_imap::HALF_LINE),
            Security::None,
            Timeout,
            Some("* OK [CAPABILITY"),
        ),
        (
            Script::Banner(fake_imap::BYE),
            Security::None,
            ProtocolError,
            Some("* BYE Too many"),
        ),
        (
            Script::Banner(fake_imap::GARBAGE),
            Security::None,
            NotImap,
            Some("garbage"),
        ),
        (Script::StallInCapability, Security::None, Timeout, None),
        (
            Script::GmailAppPassword,
            Security::None,
            AuthAppPasswordRequired,
            Some("Application-specific password required"),
        ),
        (
            Script::MicrosoftAuthenticateFailed,
            Security::None,
            AuthOauthRequired,
            Some("NO AUTHENTICATE failed."),
        ),
    ];
    let mut set = tokio::task::JoinSet::new();
    for (i, (script, security, category, server)) in cases.into_iter().enumerate() {
        set.spawn(async move {
            let (report, _) = probe_fake(script, security).await;
            assert_eq!(
                report.category, category,
                "case {i} {script:?}: {report:#?}"
            );
            assert!(!report.ok);
            assert!(!report.message.is_empty());
            if let Some(s) = server {
                let got = report.server_response.clone().unwrap_or_default();
                assert!(got.contains(s), "case {i}: {got:?}");
            }
            if matches!(category, AuthAppPasswordRequired) {
                let hint = report.hint.clone().unwrap();
                assert!(
                    hint.contains("app password") && hint.contains("ulti-factor"),
                    "{hint}"
                );
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}
