//! A small OAuth2 authorization server for tests, on 127.0.0.1 port 0 (axum): `/authorize`
//! (auto-consent: redirects with a code and the state), `/token` (authorization code with a
//! PKCE S256 check, refresh token with rotation — the old one revoked —, client credentials),
//! `/introspect` (RFC 7662, what Dovecot's `oauth2` passdb asks; an expired or revoked token is
//! inactive) and `/revoke`. Tokens are issued per user with a lifetime the test controls; the
//! test reads and changes the state directly.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A registered app.
#[derive(Clone, Debug)]
pub struct TestClient {
    /// `None`: a public client (PKCE only).
    pub secret: Option<String>,
    /// The mailbox a client-credentials token is for (the app's service principal was granted
    /// it); `None`: the grant is refused.
    pub app_user: Option<String>,
}

#[derive(Clone, Debug)]
struct Issued {
    user: String,
    expires: Instant,
    revoked: bool,
}

#[derive(Clone, Debug)]
struct RefreshEntry {
    user: String,
    client_id: String,
    revoked: bool,
}

#[derive(Clone, Debug)]
struct CodeEntry {
    user: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    used: bool,
}

#[derive(Debug)]
pub struct AuthState {
    pub clients: HashMap<String, TestClient>,
    access: HashMap<String, Issued>,
    refresh: HashMap<String, RefreshEntry>,
    codes: HashMap<String, CodeEntry>,
    /// The lifetime of access tokens issued from now on.
    pub access_ttl: Duration,
    /// Who "signs in" at `/authorize`.
    pub consent_user: String,
    /// Introspection requests served (Dovecot asks once per login).
    pub introspections: usize,
    /// Every `/token` request's grant type, in order.
    pub grants: Vec<String>,
    /// The next `/token` request is answered with this status and JSON body.
    pub next_token_answer: Option<(u16, Value)>,
    /// Refresh tokens presented after they were spent (rotated away or revoked).
    pub spent_refresh_presented: usize,
    /// The next `/token` request is recorded in `grants`, then waits for this before it is
    /// answered.
    held_token_request: Option<tokio::sync::oneshot::Receiver<()>>,
}

pub struct AuthServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<AuthState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random(prefix: &str) -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}-{}", hex::encode(b))
}

/// `a=b&c=d%20e` → map (form bodies; `+` is a space).
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

impl AuthServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(AuthState {
            clients: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            access_ttl: Duration::from_secs(3600),
            consent_user: crate::dovecot::USER.to_string(),
            introspections: 0,
            grants: Vec::new(),
            next_token_answer: None,
            spent_refresh_presented: 0,
            held_token_request: None,
        }));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .route("/revoke", post(revoke))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token_url(&self) -> String {
        self.url("/token")
    }

    pub fn introspection_url(&self) -> String {
        self.url("/introspect")
    }

    pub fn authorize_url(&self) -> String {
        self.url("/authorize")
    }

    pub fn register_client(&self, id: &str, secret: Option<&str>, app_user: Option<&str>) {
        self.state.lock().unwrap().clients.insert(
            id.to_string(),
            TestClient {
                secret: secret.map(str::to_string),
                app_user: app_user.map(str::to_string),
            },
        );
    }

    /// An access token for `user` that lives `ttl`.
    pub fn issue_access_token(&self, user: &str, ttl: Duration) -> String {
        let t = random("at");
        self.state.lock().unwrap().access.insert(
            t.clone(),
            Issued {
                user: user.to_string(),
                expires: Instant::now() + ttl,
                revoked: false,
            },
        );
        t
    }

    /// A refresh token for `user`, as a sign-in through `client_id` would have left.
    pub fn issue_refresh_token(&self, user: &str, client_id: &str) -> String {
        let t = random("rt");
        self.state.lock().unwrap().refresh.insert(
            t.clone(),
            RefreshEntry {
                user: user.to_string(),
                client_id: client_id.to_string(),
                revoked: false,
            },
        );
        t
    }

    /// Every access token issued so far expires now.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for t in self.state.lock().unwrap().access.values_mut() {
            t.expires = now;
        }
    }

    pub fn set_access_ttl(&self, ttl: Duration) {
        self.state.lock().unwrap().access_ttl = ttl;
    }

    /// The next `/token` request gets this answer instead.
    pub fn answer_next_token_request(&self, status: u16, body: Value) {
        self.state.lock().unwrap().next_token_answer = Some((status, body));
    }

    /// Whether `token` (access or refresh) is still good.
    /// Every refresh token issued so far (revoked ones too), for leak searches.
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().refresh.keys().cloned().collect()
    }

    pub fn is_active(&self, token: &str) -> bool {
        let st = self.state.lock().unwrap();
        st.access
            .get(token)
            .is_some_and(|t| !t.revoked && t.expires > Instant::now())
            || st.refresh.get(token).is_some_and(|r| !r.revoked)
    }

    /// The next `/token` request waits (after it is counted in `grants`) until the returned
    /// sender is used or dropped.
    pub fn hold_next_token_request(&self) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.state.lock().unwrap().held_token_request = Some(rx);
        tx
    }

    /// How many `/token` requests arrived.
    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().grants.len()
    }

    /// How many times a spent (rotated or revoked) refresh token was presented.
    pub fn spent_refresh_presented(&self) -> usize {
        self.state.lock().unwrap().spent_refresh_presented
    }

    pub fn introspections(&self) -> usize {
        self.state.lock().unwrap().introspections
    }
}

fn issue(st: &mut AuthState, user: &str, client_id: &str, with_refresh: bool) -> Value {
    let ttl = st.access_ttl;
    let access = random("at");
    st.access.insert(
        access.clone(),
        Issued {
            user: user.to_string(),
            expires: Instant::now() + ttl,
            revoked: false,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "scope": "mail",
    });
    if with_refresh {
        let refresh = random("rt");
        st.refresh.insert(
            refresh.clone(),
            RefreshEntry {
                user: user.to_string(),
                client_id: client_id.to_string(),
                revoked: false,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    body
}

async fn authorize(
    State(state): State<Arc<Mutex<AuthState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = state.lock().unwrap();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || !st.clients.contains_key(&get("client_id"))
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("redirect_uri").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = random("code");
    let user = st.consent_user.clone();
    st.codes.insert(
        code.clone(),
        CodeEntry {
            user,
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            challenge: get("code_challenge"),
            used: false,
        },
    );
    let sep = if get("redirect_uri").contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "{}{sep}code={code}&state={}",
        get("redirect_uri"),
        get("state")
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn token(State(state): State<Arc<Mutex<AuthState>>>, body: axum::body::Bytes) -> Response {
    let f = parse_form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let hold = {
        let mut st = state.lock().unwrap();
        st.grants.push(get("grant_type"));
        st.held_token_request.take()
    };
    if let Some(release) = hold {
        let _ = release.await;
    }
    let mut st = state.lock().unwrap();
    if let Some((status, body)) = st.next_token_answer.take() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let client_id = get("client_id");
    let Some(client) = st.clients.get(&client_id).cloned() else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    if let Some(secret) = &client.secret
        && f.get("client_secret") != Some(secret)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "wrong client secret",
        );
    }
    let body = match get("grant_type").as_str() {
        "authorization_code" => {
            let Some(entry) = st.codes.get_mut(&get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
            };
            if entry.used || entry.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code already used",
                );
            }
            entry.used = true;
            if entry.redirect_uri != get("redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri does not match",
                );
            }
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(get("code_verifier").as_bytes()));
            if challenge != entry.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE verification failed",
                );
            }
            let user = entry.user.clone();
            issue(&mut st, &user, &client_id, true)
        }
        "refresh_token" => {
            let presented = get("refresh_token");
            let Some(entry) = st.refresh.get_mut(&presented) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown refresh token",
                );
            };
            if entry.revoked {
                st.spent_refresh_presented += 1;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token revoked",
                );
            }
            if entry.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token of another client",
                );
            }
            // Rotation: the presented token is spent.
            entry.revoked = true;
            let user = entry.user.clone();
            issue(&mut st, &user, &client_id, true)
        }
        "client_credentials" => {
            let (Some(_), Some(user)) = (client.secret, client.app_user) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "no app-only access for this client",
                );
            };
            issue(&mut st, &user, &client_id, false)
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant {other:?}"),
            );
        }
    };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

async fn introspect(
    State(state): State<Arc<Mutex<AuthState>>>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let f = parse_form(&body);
    let mut st = state.lock().unwrap();
    st.introspections += 1;
    let token = f.get("token").cloned().unwrap_or_default();
    match st.access.get(&token) {
        // Dovecot ignores `exp`: an expired token must be answered inactive.
        Some(t) if !t.revoked && t.expires > Instant::now() => {
            axum::Json(json!({"active": true, "username": t.user}))
        }
        _ => axum::Json(json!({"active": false})),
    }
}

async fn revoke(State(state): State<Arc<Mutex<AuthState>>>, body: axum::body::Bytes) -> StatusCode {
    let f = parse_form(&body);
    let token = f.get("token").cloned().unwrap_or_default();
    let mut st = state.lock().unwrap();
    if let Some(t) = st.access.get_mut(&token) {
        t.revoked = true;
    }
    if let Some(r) = st.refresh.get_mut(&token) {
        r.revoked = true;
    }
    StatusCode::OK
}
