//! The OAuth2 token client (`mailroom::oauth`) against the test authorization server: refresh
//! with rotation, client credentials, the authorization code with PKCE, and provider error
//! bodies (Microsoft's AADSTS codes) in words.

use std::time::Duration;

use mailroom::domain::Secret;
use mailroom::oauth::{
    AuthorizationRequest, OAuthClient, Pkce, TokenClient, TokenErrorKind, random_state,
};
use serde_json::json;

use crate::dovecot::USER;
use crate::oauth_server::AuthServer;

const CLIENT_ID: &str = "token-client-test";
const CLIENT_SECRET: &str = "Secret-Heron-5521";

fn app(auth: &AuthServer, secret: Option<&str>) -> OAuthClient {
    OAuthClient {
        token_url: auth.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: secret.map(|s| Secret::new(s.into())),
    }
}

fn client() -> TokenClient {
    TokenClient::new(Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_old_one_stops_working() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), None);
    auth.set_access_ttl(Duration::from_secs(900));
    let first = auth.issue_refresh_token(USER, CLIENT_ID);
    let app = app(&auth, Some(CLIENT_SECRET));
    let t = client()
        .refresh(&app, &Secret::new(first.clone()), "mail")
        .await
        .unwrap();
    assert_eq!(t.expires_in, Some(Duration::from_secs(900)));
    assert!(!t.expires_within(Duration::from_secs(60)));
    assert!(t.expires_within(Duration::from_secs(901)));
    assert!(auth.is_active(t.access_token.expose()));
    let second = t.refresh_token.expect("rotated").expose().to_string();
    assert_ne!(second, first);

    // The old one is spent: "sign in again", in words, without the token.
    let e = client()
        .refresh(&app, &Secret::new(first.clone()), "mail")
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::SignInAgain, "{e:?}");
    assert_eq!(e.code.as_deref(), Some("invalid_grant"));
    assert_eq!(e.status, Some(400));
    assert!(e.needs_person());
    assert!(e.hint.contains("Sign in again"), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(&first));

    // The new one works (and rotates again).
    let t = client()
        .refresh(&app, &Secret::new(second.clone()), "mail")
        .await
        .unwrap();
    assert!(t.refresh_token.is_some());
    assert!(!auth.is_active(&second));

    // A wrong client secret is the app's configuration, not the sign-in.
    let third = auth.issue_refresh_token(USER, CLIENT_ID);
    let e = client()
        .refresh(
            &app_with_secret(&auth, "wrong"),
            &Secret::new(third),
            "mail",
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::Configuration, "{e:?}");
    assert!(e.message.contains("invalid_client"), "{e:?}");
}

fn app_with_secret(auth: &AuthServer, secret: &str) -> OAuthClient {
    app(auth, Some(secret))
}

#[tokio::test]
async fn client_credentials_get_an_app_only_token() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), Some(USER));
    let t = client()
        .client_credentials(
            &app(&auth, Some(CLIENT_SECRET)),
            "https://outlook.office365.com/.default",
        )
        .await
        .unwrap();
    assert!(auth.is_active(t.access_token.expose()));
    assert!(t.refresh_token.is_none());
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(auth.state.lock().unwrap().grants, ["client_credentials"]);

    // A client without app-only access is refused as the app's configuration.
    auth.register_client("public", None, None);
    let public = OAuthClient {
        client_id: "public".into(),
        ..app(&auth, None)
    };
    let e = client()
        .client_credentials(&public, "mail")
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::Configuration, "{e:?}");
}

/// Runs `/authorize` as a browser would (the server consents at once) and returns the code.
async fn authorize(auth: &AuthServer, pkce: &Pkce, state: &str, redirect: &str) -> String {
    let url = AuthorizationRequest {
        authorize_url: &auth.authorize_url(),
        client_id: CLIENT_ID,
        redirect_uri: redirect,
        scopes: "mail offline_access",
        state,
        code_challenge: &pkce.challenge,
        extra: &[("prompt", "consent")],
    }
    .url()
    .unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        !url.contains(pkce.verifier.expose()),
        "the verifier stays here"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(redirect), "{location}");
    assert!(location.ends_with(&format!("&state={state}")), "{location}");
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    code.to_string()
}

#[tokio::test]
async fn the_authorization_code_is_traded_only_with_its_pkce_verifier() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, None, None); // a public client: PKCE is its proof
    let redirect = "http://127.0.0.1:9/oauth/callback";
    let app = app(&auth, None);

    let pkce = Pkce::new();
    let state = random_state();
    let code = authorize(&auth, &pkce, &state, redirect).await;
    let t = client()
        .exchange_code(
            &app,
            Secret::new(code.clone()),
            redirect,
            pkce.verifier.clone(),
            "mail offline_access",
        )
        .await
        .unwrap();
    assert!(auth.is_active(t.access_token.expose()));
    assert!(
        t.refresh_token.is_some(),
        "a first sign-in brings a refresh token"
    );
    // A code is single use.
    let e = client()
        .exchange_code(&app, Secret::new(code), redirect, pkce.verifier.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::SignInAgain, "{e:?}");

    // Another request's verifier does not fit this request's challenge.
    let pkce = Pkce::new();
    let code = authorize(&auth, &pkce, &random_state(), redirect).await;
    let wrong = Pkce::new().verifier;
    let e = client()
        .exchange_code(&app, Secret::new(code), redirect, wrong.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("invalid_grant"), "{e:?}");
    assert!(e.message.contains("PKCE"), "{e:?}");
    assert!(!format!("{e:?}").contains(wrong.expose()));
}

#[tokio::test]
async fn an_aadsts_error_body_is_put_into_words() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), None);
    let refresh = auth.issue_refresh_token(USER, CLIENT_ID);
    let app = app(&auth, Some(CLIENT_SECRET));
    auth.answer_next_token_request(
        400,
        json!({
            "error": "invalid_grant",
            "error_description": "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2026-01-01T00:00:00Z and was inactive for 90.00:00:00.\r\nTrace ID: 0b1c Correlation ID: 9f2e Timestamp: 2026-04-01 00:00:00Z",
            "error_codes": [700082],
            "timestamp": "2026-04-01 00:00:00Z",
        }),
    );
    let e = client()
        .refresh(&app, &Secret::new(refresh.clone()), "mail")
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::SignInAgain);
    assert_eq!(e.aadsts, Some(700082));
    assert!(e.message.contains("90 days"), "{e:?}");
    assert!(
        e.message
            .contains("AADSTS700082: The refresh token has expired"),
        "{e:?}"
    );
    assert!(!e.message.contains("Trace ID"), "{e:?}");
    assert!(e.hint.contains("Sign in again"));

    // The single-tenant app on /common, and an expired client secret.
    for (code, kind, words) in [
        (50194, TokenErrorKind::Configuration, "tenant"),
        (
            7000222,
            TokenErrorKind::Configuration,
            "client secret has expired",
        ),
        (65001, TokenErrorKind::Consent, "consent"),
    ] {
        auth.answer_next_token_request(
            400,
            json!({
                "error": "invalid_request",
                "error_description": format!("AADSTS{code}: refused."),
                "error_codes": [code],
            }),
        );
        let e = client()
            .refresh(&app, &Secret::new(refresh.clone()), "mail")
            .await
            .unwrap_err();
        assert_eq!((e.aadsts, e.kind), (Some(code), kind), "{e:?}");
        assert!(e.sentence().contains(words), "{}", e.sentence());
    }

    // Nothing listens: temporary, and said so.
    let gone = OAuthClient {
        token_url: "http://127.0.0.1:9/token".into(),
        ..app
    };
    let e = client()
        .refresh(&gone, &Secret::new(refresh.clone()), "mail")
        .await
        .unwrap_err();
    assert_eq!(e.kind, TokenErrorKind::Temporary, "{e:?}");
    assert!(!e.needs_person());
    assert!(e.message.contains("127.0.0.1:9"), "{e:?}");
}
