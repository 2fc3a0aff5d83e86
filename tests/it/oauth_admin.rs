//! OAuth2 in the admin pages over plain HTTP (SPEC §1.5): the OAuth apps pages (list with the
//! redirect URI and checklists, New / Edit / Delete, the client secret write-only), the
//! credential form's sign-in method, and "Sign in with …" / "Reconnect": the POST redirects to
//! the test authorization server with PKCE and state, and the redirect chain lands back on the
//! credential, signed in. The client secret appears on no page.

use serde_json::json;

use crate::admin_http::admin_app;
use crate::admin_pages::Admin;
use crate::dovecot::{Dovecot, DovecotOptions, OAuth2Passdb, USER};
use crate::helpers::TestApp;
use crate::oauth_server::AuthServer;

const CLIENT_ID: &str = "mailroom-admin-pages";
const CLIENT_SECRET: &str = "Client-Secret-Osprey-5521";

/// Every page seen, to check the secret is on none.
struct Seen(Vec<String>);

impl Seen {
    fn add(&mut self, html: &str) -> String {
        self.0.push(html.to_string());
        html.to_string()
    }
}

/// An oauth2 credential for the Dovecot fixture's mailbox.
pub async fn credential_on_app(app: &TestApp, d: &Dovecot, app_id: i64) -> i64 {
    let c = app
        .post(
            "/api/v1/credentials",
            &json!({
                "mailbox": USER, "host": "127.0.0.1", "port": d.imaps_port, "security": "tls",
                "ca_bundle": d.ca.cert_pem, "configuration_name": "Payroll",
                "description": "OAuth mailbox", "auth_method": "oauth2", "oauth_app_id": app_id,
            }),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    c.body["id"].as_i64().unwrap()
}

/// A delegated (authorization-code) set-up: the test authorization server with a client, a
/// Dovecot that checks its tokens, a signed-in-capable admin app, an OAuth app on that server
/// and an oauth2 credential on it, not signed in yet. `created` is the OAuth app's API answer.
pub struct Delegated {
    pub auth: AuthServer,
    pub d: Dovecot,
    pub app: TestApp,
    pub client: reqwest::Client,
    pub created: crate::helpers::Resp,
    pub cred: i64,
}

pub async fn delegated(client_id: &str, client_secret: &str) -> Delegated {
    let auth = AuthServer::start().await;
    auth.register_client(client_id, Some(client_secret), None);
    let d = Dovecot::start_with(DovecotOptions {
        oauth2: Some(OAuth2Passdb::new(auth.introspection_url())),
        ..Default::default()
    });
    let (app, client) = admin_app().await;
    let created = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Delegated", "provider": "custom", "client_id": client_id,
                    "client_secret": client_secret, "token_url": auth.token_url(),
                    "authorize_url": auth.authorize_url(), "scopes": "mail offline_access"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cred = credential_on_app(&app, &d, created.body["id"].as_i64().unwrap()).await;
    Delegated {
        auth,
        d,
        app,
        client,
        created,
        cred,
    }
}

/// A workspace and a default alias for the fixture's mailbox, so its mail becomes cases.
pub async fn route_to_cases(app: &TestApp, cred: i64) {
    let w = app
        .post("/api/v1/workspaces", &json!({"name": "Payroll"}))
        .await;
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": w.body["id"],
                    "project_type_id": 1, "reply_template_id": null, "field_mappings": {}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The test provider consents at once: the address it sends the browser back to.
pub async fn consent(authorization_url: &str) -> String {
    let r = no_redirects().get(authorization_url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Opens the address the provider sent the browser back to (no cookies: an API-started
/// sign-in); the answer.
pub async fn call_back(back: &str) -> reqwest::Response {
    no_redirects().get(back).send().await.unwrap()
}

/// Starts a sign-in over the API (bound to the bearer principal): the authorization URL.
pub async fn authorization_url(app: &TestApp, cred: i64) -> String {
    let start = app
        .post(
            &format!("/api/v1/credentials/{cred}/oauth/authorize"),
            &json!({}),
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    start.body["authorization_url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs the credential in over the API through the callback; the callback's status (303
/// when signed in).
pub async fn sign_in(app: &TestApp, cred: i64) -> u16 {
    let back = consent(&authorization_url(app, cred).await).await;
    call_back(&back).await.status().as_u16()
}

#[tokio::test]
async fn oauth_app_pages_add_edit_delete_and_never_show_the_client_secret() {
    let auth = AuthServer::start().await;
    let (app, client) = admin_app().await;
    let admin = Admin::new(&app, client).await;
    let mut seen = Seen(Vec::new());

    let list = seen.add(&admin.open("/admin/oauth-apps").await);
    let callback = format!("{}/admin/oauth/callback", app.base);
    assert!(list.contains(&callback), "redirect URI shown: {list}");
    assert!(list.contains("App registrations"), "Microsoft checklist");
    assert!(list.contains("Google Cloud console"), "Google checklist");
    assert!(list.contains("No OAuth apps yet"));
    let nav = seen.add(&admin.open("/admin/email-integration").await);
    assert!(nav.contains("href=\"/admin/oauth-apps\""), "nav link");
    seen.add(&admin.open("/admin/oauth-apps/new").await);

    // An invalid form keeps its values (never the secret) and names the field.
    let (token_url, authorize_url) = (auth.token_url(), auth.authorize_url());
    let form = |name: &'static str| {
        vec![
            ("name", name),
            ("provider", "custom"),
            ("flow", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("tenant", ""),
            ("authorize_url", authorize_url.as_str()),
            ("token_url", token_url.as_str()),
            ("scopes", "mail offline_access"),
        ]
    };
    let bad = admin
        .post("/admin/oauth-apps/new", "/admin/oauth-apps/new", &form(""))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(seen.add(&bad.html).contains("id=\"name-error\""));

    let created = admin
        .post(
            "/admin/oauth-apps/new",
            "/admin/oauth-apps/new",
            &form("Delegated"),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let edit_path = created.location.split('?').next().unwrap().to_string();
    let app_id: i64 = edit_path.rsplit('/').next().unwrap().parse().unwrap();
    let edit = seen.add(&admin.follow(&created).await);
    assert!(edit.contains("OAuth app saved."), "{edit}");
    assert!(edit.contains("id=\"client-secret-state\">set<"), "{edit}");
    assert!(
        edit.contains(&callback) && edit.contains("<ol>"),
        "checklist"
    );
    let api = app.get(&format!("/api/v1/oauth-apps/{app_id}")).await;
    assert_eq!(api.body["has_client_secret"], true);
    assert_eq!(api.body["authorize_url"], auth.authorize_url().as_str());

    // Edit with the secret field empty: renamed, the secret kept.
    let mut renamed = form("Delegated (renamed)");
    renamed.retain(|(k, _)| *k != "client_secret");
    let saved = admin.post(&edit_path, &edit_path, &renamed).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    seen.add(&admin.follow(&saved).await);
    let api = app.get(&format!("/api/v1/oauth-apps/{app_id}")).await;
    assert_eq!(api.body["name"], "Delegated (renamed)");
    assert_eq!(api.body["has_client_secret"], true, "secret kept");
    let list = seen.add(&admin.open("/admin/oauth-apps").await);
    assert!(list.contains("Delegated (renamed)") && list.contains(">set<"));

    // The credential form picks the sign-in method and the app.
    let new_cred = seen.add(&admin.open("/admin/email-integration/new").await);
    assert!(new_cred.contains("name=\"auth_method\" value=\"oauth2\""));
    assert!(new_cred.contains("Delegated (renamed) (custom, authorization_code)"));
    let app_id_text = app_id.to_string();
    let made = admin
        .post(
            "/admin/email-integration/new",
            "/admin/email-integration/new",
            &[
                ("mailbox", "payroll@example.com"),
                ("host", "127.0.0.1"),
                ("port", "9"),
                ("use_secure_connection", "on"),
                ("secure_mode", "tls"),
                ("configuration_name", "Payroll"),
                ("description", "Signs in with OAuth2"),
                ("auth_method", "oauth2"),
                ("oauth_app_id", &app_id_text),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.html);
    let page = seen.add(&admin.follow(&made).await);
    assert!(page.contains("Sign in with the provider"), "{page}");
    assert!(page.contains("Not signed in yet."));
    let cred = app.get("/api/v1/credentials").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(view.body["auth_method"], "oauth2");
    assert_eq!(view.body["oauth_app_id"], app_id);

    // An app in use cannot be deleted; an unused one can.
    let del_path = format!("/admin/oauth-apps/{app_id}/delete");
    seen.add(&admin.open(&del_path).await);
    let refused = admin.post(&del_path, &del_path, &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.html);
    seen.add(&refused.html);
    let other = app
        .post(
            "/api/v1/oauth-apps",
            &json!({"name": "Unused", "provider": "google", "client_id": "g",
                    "client_secret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let other_del = format!("/admin/oauth-apps/{}/delete", other.body["id"]);
    let gone = admin.post(&other_del, &other_del, &[]).await;
    assert_eq!(gone.location, "/admin/oauth-apps?flash=app-deleted");
    let list = seen.add(&admin.follow(&gone).await);
    assert!(list.contains("OAuth app deleted.") && !list.contains("Unused"));

    for html in &seen.0 {
        assert!(!html.contains(CLIENT_SECRET), "secret on a page: {html}");
    }
}

#[tokio::test]
async fn reconnect_then_sign_in_button_runs_the_flow_and_lands_back_signed_in() {
    let Delegated {
        auth,
        d: _d,
        app,
        client,
        cred,
        ..
    } = delegated(CLIENT_ID, CLIENT_SECRET).await;
    let admin = Admin::new(&app, client.clone()).await;
    let cred_path = format!("/admin/email-integration/{cred}");

    // Not signed in: a poll puts it in "sign in again" → the button says Reconnect, with why.
    let polled = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(polled.status, 502, "{}", polled.text);
    let page = admin.open(&cred_path).await;
    assert!(page.contains(">Reconnect</button>"), "{page}");
    assert!(page.contains("id=\"sign-in-reason\""), "{page}");

    // The button's POST redirects to /authorize with PKCE S256 and a state.
    let sign_in_path = format!("{cred_path}/oauth/sign-in");
    let go = admin.post(&sign_in_path, &cred_path, &[]).await;
    // A page that sends the browser on (a redirect would break the page's CSP form-action).
    assert_eq!(go.status, 200, "{}", go.html);
    assert!(go.html.contains("id=\"continue-sign-in\""), "{}", go.html);
    assert!(
        go.location.starts_with(&auth.authorize_url()),
        "{}",
        go.location
    );
    for part in ["code_challenge_method=S256", "code_challenge=", "state="] {
        assert!(go.location.contains(part), "{part} in {}", go.location);
    }
    assert!(go.location.contains(&format!(
        "redirect_uri={}",
        urlencode(&format!("{}/admin/oauth/callback", app.base))
    )));

    // The server consents and sends the browser back to the callback, which (with the same
    // session) stores the refresh token and returns to the credential: "Signed in".
    let consent = client.get(&go.location).send().await.unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    let back_path = back.strip_prefix(&app.base).expect("back to this service");
    let done = admin.get(back_path).await;
    assert_eq!(done.status, 303, "{}", done.html);
    let landed = admin.follow(&done).await;
    assert!(landed.contains("Signed in"), "{landed}");
    assert!(
        landed.contains("Signed in (a refresh token is stored)."),
        "{landed}"
    );
    assert!(!landed.contains(">Reconnect</button>"));
    let view = app.get(&format!("/api/v1/credentials/{cred}")).await;
    assert_eq!(view.body["has_refresh_token"], true, "{}", view.text);
    assert!(!landed.contains(CLIENT_SECRET));

    // Another session cannot finish a sign-in started here.
    let go = admin.post(&sign_in_path, &cred_path, &[]).await;
    let consent = client.get(&go.location).send().await.unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    let stranger = client.get(&back).send().await.unwrap();
    assert_eq!(stranger.status(), 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn signing_in_with_the_provider_in_a_browser_turns_mail_into_cases() {
    use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER};
    use crate::browser::Browser;
    let Delegated {
        auth: _auth,
        d,
        app,
        cred,
        ..
    } = delegated(CLIENT_ID, CLIENT_SECRET).await;
    d.seed(2, 0);
    route_to_cases(&app, cred).await;

    // Sign in to the admin pages, open the credential, click "Sign in with …": the provider
    // consents and sends the browser back, signed in.
    let b = Browser::start().await;
    b.goto(&format!("{}/admin/email-integration/{cred}", app.base))
        .await;
    b.fill("#username", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("h1", "Email Integration").await;
    b.click("#oauth-sign-in button").await;
    b.wait_text(".flash", "Signed in").await;
    assert!(
        b.url()
            .await
            .contains(&format!("/admin/email-integration/{cred}"))
    );
    assert!(!b.source().await.contains(CLIENT_SECRET));
    b.screenshot("credential-oauth-signed-in").await;
    b.close().await;

    // With the stored sign-in, the mailbox's mail becomes cases.
    let polled = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(polled.status, 200, "{}", polled.text);
    assert_eq!(polled.body["cases_created"], 2, "{}", polled.text);
}
