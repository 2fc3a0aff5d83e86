//! OAuth2 logins (SPEC §1.5) against a real Dovecot whose `oauth2` passdb asks the test's
//! authorization server (`oauth_server`): Test Connection and processing with XOAUTH2 and
//! OAUTHBEARER, tokens for another user or expired, the probe's token step with a token
//! source, Microsoft 365's answers, and no token or secret anywhere it could leak.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom::domain::{Secret, Security};
use mailroom::imap::{
    AccessToken, Category, Credentials, Login, MailSession, MailTarget, ProbeOptions, ProbeReport,
    Target, TokenFailure, TokenFuture, TokenSource,
};
use mailroom::oauth::{OAuthClient, TokenClient};

use crate::dovecot::{Dovecot, DovecotOptions, OAuth2Passdb, USER};
use crate::fake_imap::{self, FakeServer, Script};
use crate::oauth_server::AuthServer;

const CLIENT_ID: &str = "mailroom-test-app";
const CLIENT_SECRET: &str = "Client-Secret-Otter-4471";

fn dovecot(auth: &AuthServer, mechanisms: &'static str) -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        oauth2: Some(OAuth2Passdb {
            mechanisms,
            ..OAuth2Passdb::new(auth.introspection_url())
        }),
        ..Default::default()
    })
}

/// The fixture's mailbox over implicit TLS, trusting the test CA.
fn target(d: &Dovecot) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: d.imaps_port,
        security: Security::Tls,
        login: USER.into(),
        ca_bundle: Some(d.ca.cert_pem.clone()),
        pinned_sha256: None,
    }
}

fn opts() -> ProbeOptions {
    ProbeOptions {
        step_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(20),
        ..ProbeOptions::default()
    }
}

fn mail_target(d: &Dovecot) -> MailTarget {
    MailTarget {
        target: target(d),
        timeout: Duration::from_secs(10),
        deny: Vec::new(),
    }
}

fn token(t: &str) -> Login {
    Login::Token {
        access_token: Secret::new(t.to_string()),
    }
}

fn names(r: &ProbeReport) -> Vec<&'static str> {
    r.steps.iter().map(|s| s.name).collect()
}

fn no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s} leaked into: {text}");
    }
}

#[tokio::test]
async fn test_connection_and_processing_log_in_with_xoauth2_and_with_oauthbearer() {
    let auth = AuthServer::start().await;
    // Both announced: XOAUTH2 is chosen. Only OAUTHBEARER announced: that one.
    for (mechanisms, expected) in [
        ("xoauth2 oauthbearer", "AUTHENTICATE XOAUTH2"),
        ("oauthbearer", "AUTHENTICATE OAUTHBEARER"),
    ] {
        let d = dovecot(&auth, mechanisms);
        d.seed(2, 1);
        let t = auth.issue_access_token(USER, Duration::from_secs(600));
        let report = mailroom::imap::probe(&target(&d), token(&t), &opts()).await;
        assert!(report.ok, "{mechanisms}: {report:#?}\n{}", d.log());
        let login = report.steps.iter().find(|s| s.name == "login").unwrap();
        assert!(login.detail.starts_with(expected), "{login:?}");
        assert_eq!(report.inbox.map(|i| (i.messages, i.unseen)), Some((3, 2)));
        assert!(
            report.capabilities.iter().any(|c| c.contains("AUTH=")),
            "{report:#?}"
        );
        no_secret(&serde_json::to_string(&report).unwrap(), &[&t]);

        // Processing logs in the same way and reads the folder.
        let mut session = MailSession::connect(&mail_target(&d), token(&t))
            .await
            .unwrap_or_else(|e| panic!("{mechanisms}: {e}\n{}", d.log()));
        let status = session.select("INBOX").await.unwrap();
        assert_eq!(status.exists, 3);
        assert_eq!(session.search("UNSEEN").await.unwrap().len(), 2);
        session.logout().await;
        assert!(
            auth.introspections() >= 2,
            "Dovecot asked the authorization server"
        );
        assert!(
            !d.log().contains(&t),
            "auth_debug is off: no token in Dovecot's log"
        );
    }
}

#[tokio::test]
async fn a_token_for_another_user_or_an_expired_one_is_refused_in_words() {
    let auth = AuthServer::start().await;
    for mechanisms in ["xoauth2 oauthbearer", "oauthbearer"] {
        let d = dovecot(&auth, mechanisms);
        let bob = auth.issue_access_token("bob@example.com", Duration::from_secs(600));
        let r = mailroom::imap::probe(&target(&d), token(&bob), &opts()).await;
        assert_eq!(r.category, Category::AuthTokenRejected, "{r:#?}");
        assert_eq!(r.category.as_str(), "auth_token_rejected");
        assert!(
            r.message.contains("refused the access token") && r.message.contains("another account"),
            "{}",
            r.message
        );
        let server = r.server_response.clone().unwrap();
        let challenge = if mechanisms.starts_with("xoauth2") {
            r#""status":"401""#
        } else {
            r#""status":"invalid_token""#
        };
        assert!(server.contains(challenge), "{mechanisms}: {server}");
        assert!(server.contains("AUTHENTICATIONFAILED"), "{server}");
        assert!(!r.message.contains("Bad username or password"));
        no_secret(&serde_json::to_string(&r).unwrap(), &[&bob]);

        // Processing: a rejection (counts towards pausing), in words, without the token.
        let e = MailSession::connect(&mail_target(&d), token(&bob))
            .await
            .err()
            .expect("refused");
        assert!(e.rejected, "{e}");
        assert_eq!(e.category, Category::AuthTokenRejected);
        assert!(
            e.message.contains("Logging in to") && e.message.contains("another account"),
            "{e}"
        );
        no_secret(&e.message, &[&bob]);

        // Expired between issue and use: Dovecot ignores `exp`, introspection says inactive.
        let late = auth.issue_access_token(USER, Duration::from_secs(600));
        auth.expire_access_tokens();
        let r = mailroom::imap::probe(&target(&d), token(&late), &opts()).await;
        assert_eq!(r.category, Category::AuthTokenRejected, "{r:#?}");
        assert!(r.message.contains("expired"), "{}", r.message);
    }
}

/// A token source over the token client: the refresh-token grant, keeping the rotated token.
struct Refreshing {
    client: TokenClient,
    app: OAuthClient,
    refresh: Mutex<Secret>,
}

impl TokenSource for Refreshing {
    fn access_token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let current = self.refresh.lock().unwrap().clone();
            let t = self
                .client
                .refresh(&self.app, &current, "mail")
                .await
                .map_err(|e| TokenFailure {
                    message: e.message.clone(),
                    hint: Some(e.hint.clone()),
                    needs_person: e.needs_person(),
                })?;
            if let Some(rotated) = t.refresh_token {
                *self.refresh.lock().unwrap() = rotated;
            }
            Ok(AccessToken {
                token: t.access_token,
                detail: format!(
                    "refresh_token grant; valid for {} s",
                    t.expires_in.map_or(0, |d| d.as_secs())
                ),
            })
        })
    }
}

fn refreshing(auth: &AuthServer, refresh: &str) -> Arc<Refreshing> {
    Arc::new(Refreshing {
        client: TokenClient::new(Duration::from_secs(5)).unwrap(),
        app: OAuthClient {
            token_url: auth.token_url(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(Secret::new(CLIENT_SECRET.into())),
        },
        refresh: Mutex::new(Secret::new(refresh.into())),
    })
}

#[tokio::test]
async fn test_connection_shows_a_token_step_when_given_a_token_source() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), None);
    let d = dovecot(&auth, "xoauth2 oauthbearer");
    let first = auth.issue_refresh_token(USER, CLIENT_ID);
    let source = refreshing(&auth, &first);
    let creds = Credentials::TokenSource(source.clone());
    let r = mailroom::imap::probe(&target(&d), &creds, &opts()).await;
    assert!(r.ok, "{r:#?}");
    assert_eq!(
        names(&r),
        [
            "dns",
            "tcp",
            "tls",
            "greeting",
            "capability",
            "token",
            "login",
            "examine",
            "logout"
        ]
    );
    let step = r.steps.iter().find(|s| s.name == "token").unwrap();
    assert!(
        step.ok && step.detail.contains("refresh_token grant"),
        "{step:?}"
    );
    // The grant rotated the refresh token; the source kept the new one.
    let rotated = source.refresh.lock().unwrap().expose().to_string();
    assert_ne!(rotated, first);
    assert!(!auth.is_active(&first) && auth.is_active(&rotated));
    no_secret(
        &serde_json::to_string(&r).unwrap(),
        &[&first, &rotated, CLIENT_SECRET],
    );

    // Processing takes the same source.
    let session = MailSession::connect(&mail_target(&d), &creds)
        .await
        .unwrap();
    session.logout().await;

    // A spent refresh token: the token step fails in words, and nothing is sent to IMAP.
    let spent = refreshing(&auth, &first);
    let r = mailroom::imap::probe(&target(&d), Credentials::TokenSource(spent), &opts()).await;
    assert_eq!(r.category, Category::TokenFailed, "{r:#?}");
    assert_eq!(r.category.as_str(), "token_failed");
    assert!(r.message.contains("invalid_grant"), "{}", r.message);
    assert!(
        r.hint.as_deref().unwrap().contains("Sign in again"),
        "{r:#?}"
    );
    assert_eq!(names(&r).last(), Some(&"token"));
    no_secret(
        &serde_json::to_string(&r).unwrap(),
        &[&first, CLIENT_SECRET],
    );

    // A server without OAuth2: no token is fetched (no refresh token spent) and it says so.
    let plain = Dovecot::start();
    let grants = auth.state.lock().unwrap().grants.len();
    let r = mailroom::imap::probe(&target(&plain), &creds, &opts()).await;
    assert_eq!(r.category, Category::OauthUnsupported, "{r:#?}");
    assert!(
        r.message.contains("offers no OAuth2 sign-in"),
        "{}",
        r.message
    );
    assert!(!names(&r).contains(&"token"));
    assert_eq!(auth.state.lock().unwrap().grants.len(), grants);
}

#[tokio::test]
async fn client_credentials_log_in_to_the_mailbox_granted_to_the_app() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), Some(USER));
    let d = dovecot(&auth, "xoauth2 oauthbearer");
    let client = TokenClient::new(Duration::from_secs(5)).unwrap();
    let app = OAuthClient {
        token_url: auth.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(Secret::new(CLIENT_SECRET.into())),
    };
    let t = client.client_credentials(&app, "mail").await.unwrap();
    assert!(t.refresh_token.is_none());
    let r = mailroom::imap::probe(
        &target(&d),
        Login::Token {
            access_token: t.access_token,
        },
        &opts(),
    )
    .await;
    assert!(r.ok, "{r:#?}");
}

#[tokio::test]
async fn microsoft_365_answers_get_the_oauth2_advice_not_bad_password() {
    let server = FakeServer::start(Script::Microsoft365).await;
    let req = Target {
        host: "127.0.0.1".into(),
        port: server.port(),
        security: Security::None,
        login: fake_imap::PLAIN_USER.into(),
        ca_bundle: None,
        pinned_sha256: None,
    };
    // A password: AUTHENTICATE PLAIN is offered, "AUTHENTICATE failed." comes back.
    let r = mailroom::imap::probe(&req, &Secret::new(fake_imap::PLAIN_PASS.into()), &opts()).await;
    assert_eq!(r.category, Category::AuthOauthRequired, "{r:#?}");
    assert!(r.message.contains("OAuth2"), "{}", r.message);
    assert_ne!(r.message, "Bad username or password");
    assert_eq!(
        r.server_response.as_deref(),
        Some("NO AUTHENTICATE failed.")
    );
    let login = r.steps.iter().find(|s| s.name == "login").unwrap();
    assert!(login.detail.contains("Microsoft 365"), "{login:?}");

    // A token: XOAUTH2's JSON challenge, then "AUTHENTICATE failed.".
    let secret_token = "eyJ0eXAiOiJKV1QiLCJub25jZSI6Ik1zLXRva2VuLTEyMyJ9.body.sig";
    let r = mailroom::imap::probe(&req, token(secret_token), &opts()).await;
    assert_eq!(r.category, Category::AuthTokenRejected, "{r:#?}");
    assert!(
        r.message.contains("Microsoft 365 refused the access token")
            && r.message.contains("another account"),
        "{}",
        r.message
    );
    let hint = r.hint.clone().unwrap();
    assert!(hint.contains("IMAP.AccessAsUser.All") && hint.contains("Add-MailboxPermission"));
    let said = r.server_response.clone().unwrap();
    assert!(
        said.contains(r#""scope":"mail""#) && said.contains("AUTHENTICATE failed."),
        "{said}"
    );
    no_secret(&serde_json::to_string(&r).unwrap(), &[secret_token]);
}

/// Collects every log line written while it is the thread's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_token_or_secret_reaches_reports_errors_or_trace_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), Some(USER));
    let d = dovecot(&auth, "xoauth2 oauthbearer");
    let refresh = auth.issue_refresh_token(USER, CLIENT_ID);
    let source = refreshing(&auth, &refresh);
    let mut seen = String::new();
    // A working sign-in, processing with its token, a refused token, a failing grant.
    let r = mailroom::imap::probe(
        &target(&d),
        Credentials::TokenSource(source.clone()),
        &opts(),
    )
    .await;
    assert!(r.ok, "{r:#?}");
    seen.push_str(&serde_json::to_string(&r).unwrap());
    let rotated = source.refresh.lock().unwrap().expose().to_string();
    let access = auth.issue_access_token(USER, Duration::from_secs(600));
    let session = MailSession::connect(&mail_target(&d), token(&access))
        .await
        .unwrap();
    session.logout().await;
    let other = auth.issue_access_token("bob@example.com", Duration::from_secs(600));
    let e = MailSession::connect(&mail_target(&d), token(&other))
        .await
        .err()
        .unwrap();
    seen.push_str(&format!("{e} {e:?}"));
    let client = TokenClient::new(Duration::from_secs(5)).unwrap();
    let app = OAuthClient {
        token_url: auth.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(Secret::new(CLIENT_SECRET.into())),
    };
    let e = client
        .refresh(&app, &Secret::new(refresh.clone()), "mail")
        .await
        .unwrap_err();
    seen.push_str(&format!("{e} {e:?}"));
    let t = client.client_credentials(&app, "mail").await.unwrap();
    seen.push_str(&format!("{t:?} {app:?} {client:?}"));
    let t_access = t.access_token.expose().to_string();
    drop(_guard);

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(!logged.is_empty(), "trace logging was captured");
    for secret in [
        refresh.as_str(),
        rotated.as_str(),
        access.as_str(),
        other.as_str(),
        t_access.as_str(),
        CLIENT_SECRET,
    ] {
        assert!(
            !seen.contains(secret),
            "{secret} in a report or error: {seen}"
        );
        assert!(!logged.contains(secret), "{secret} in the logs");
    }
}
