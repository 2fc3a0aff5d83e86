//! OAuth apps (SPEC §1.5): the app registration a credential signs in through — provider,
//! flow, client id, tenant, endpoints, scopes — with the presets that fill endpoints and scopes
//! for Microsoft 365 (delegated and app-only) and Google, and a credential's sign-in method.
//!
//! Checks the form only. Must not know whether an app id exists, and never holds the client
//! secret outside `Secret` (the app seals it; views say `has_client_secret`).

use serde::Deserialize;

use super::secret::Secret;
use super::validation::{Collector, Text, ValidationError, ValidationErrors};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_TEXT_CHARS: usize = 2000;
pub const MAX_CLIENT_ID_CHARS: usize = 500;
pub const MAX_CLIENT_SECRET_BYTES: usize = 1024;

/// Microsoft delegated access to IMAP (with a refresh token).
pub const MICROSOFT_DELEGATED_SCOPES: &str =
    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";
/// Microsoft app-only access (client credentials; the mailbox granted to the service principal).
pub const MICROSOFT_APP_ONLY_SCOPES: &str = "https://outlook.office365.com/.default";
pub const GOOGLE_SCOPES: &str = "https://mail.google.com/";
pub const GOOGLE_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Who runs the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Microsoft,
    Google,
    Custom,
}

impl Provider {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "microsoft" => Ok(Self::Microsoft),
            "google" => Ok(Self::Google),
            "custom" => Ok(Self::Custom),
            _ => Err(ValidationError::new(
                "provider",
                "invalid_choice",
                "Provider must be one of microsoft, google or custom.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft",
            Self::Google => "google",
            Self::Custom => "custom",
        }
    }

    /// For buttons: "Sign in with Microsoft".
    pub fn display(self) -> &'static str {
        match self {
            Self::Microsoft => "Microsoft",
            Self::Google => "Google",
            Self::Custom => "the provider",
        }
    }
}

/// How the app gets tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A person signs in once ("Sign in with …"); Mailroom keeps the refresh token.
    AuthorizationCode,
    /// App-only tokens with the client secret; no person, no refresh token.
    ClientCredentials,
}

impl Flow {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "client_credentials" => Ok(Self::ClientCredentials),
            _ => Err(ValidationError::new(
                "flow",
                "invalid_choice",
                "Flow must be authorization_code or client_credentials.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// An OAuth app form as it arrives.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OAuthAppPatch)]
pub struct RawOAuthApp {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub flow: Option<String>,
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub client_secret: Option<Secret>,
    pub tenant: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Option<String>,
}

/// Every field of an OAuth app but its secret, valid, with the presets applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAppFields {
    pub name: String,
    pub provider: Provider,
    pub flow: Flow,
    pub client_id: String,
    pub tenant: Option<String>,
    /// Present for the authorization-code flow.
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub scopes: String,
}

/// An endpoint: `https://…`, or `http://` to a loopback address (tests, local servers).
pub fn parse_endpoint(
    value: &str,
    field: &'static str,
    label: &str,
) -> Result<String, ValidationError> {
    let s = value.trim();
    let bad = |why: &str| {
        ValidationError::new(
            field,
            "invalid_url",
            format!(
                "{label} must be an https:// URL (http:// only to this machine: 127.0.0.1, [::1] or localhost); {why}."
            ),
        )
    };
    let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("it has no scheme"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if host.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it has no host or contains spaces"));
    }
    if authority.contains('@') {
        return Err(bad("it must not contain a user name or password"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(s.to_string()),
        "http"
            if matches!(
                host.to_ascii_lowercase().as_str(),
                "127.0.0.1" | "::1" | "localhost"
            ) =>
        {
            Ok(s.to_string())
        }
        "http" => Err(bad(
            "plain http would send the client secret and tokens in clear",
        )),
        _ => Err(bad("its scheme is neither https nor http")),
    }
}

/// A Microsoft tenant: its id (a GUID) or a domain; never `common`, `organizations` or
/// `consumers`, where single-tenant apps are refused (AADSTS50194).
fn parse_tenant(value: Option<&str>) -> Result<String, ValidationError> {
    let Some(t) = Text::line("tenant", "Tenant", 200).optional(value)? else {
        return Err(ValidationError::new(
            "tenant",
            "required",
            "Tenant is required for Microsoft: the directory (tenant) id or a verified domain such as contoso.onmicrosoft.com.",
        ));
    };
    if matches!(
        t.to_ascii_lowercase().as_str(),
        "common" | "organizations" | "consumers"
    ) {
        return Err(ValidationError::new(
            "tenant",
            "tenant_specific",
            "Tenant must be the directory's own id or domain, not common, organizations or consumers: single-tenant apps are refused there (AADSTS50194).",
        ));
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        return Err(ValidationError::new(
            "tenant",
            "invalid_format",
            "Tenant must be a directory id (GUID) or a domain name.",
        ));
    }
    Ok(t)
}

impl OAuthAppFields {
    /// Checks the form; the provider's presets fill the endpoints and scopes left empty.
    pub fn parse(raw: &RawOAuthApp) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let name = Text::line("name", "Name", MAX_NAME_CHARS);
        let name = c.take(name.required(raw.name.as_deref()));
        let provider = c.take(Provider::parse(raw.provider.as_deref().unwrap_or("")));
        let flow = c.take(Flow::parse(
            raw.flow.as_deref().unwrap_or("authorization_code"),
        ));
        let client_id = Text::line("client_id", "Client ID", MAX_CLIENT_ID_CHARS);
        let client_id = c.take(client_id.required(raw.client_id.as_deref()));
        let scopes = Text::line("scopes", "Scopes", MAX_TEXT_CHARS);
        let scopes = c.take(scopes.optional(raw.scopes.as_deref()));
        let given = |v: &Option<String>, f: &'static str, l: &str| {
            let url = Text::line(f, l, MAX_TEXT_CHARS).optional(v.as_deref())?;
            url.map(|u| parse_endpoint(&u, f, l)).transpose()
        };
        let authorize_url = c.take(given(&raw.authorize_url, "authorize_url", "Authorize URL"));
        let token_url = c.take(given(&raw.token_url, "token_url", "Token URL"));
        let (Some(provider), Some(flow)) = (provider, flow) else {
            c.finish()?;
            unreachable!("a missing value was collected as an error")
        };
        let tenant = match provider {
            Provider::Microsoft => c.take(parse_tenant(raw.tenant.as_deref())),
            _ => None,
        };
        if provider == Provider::Google && flow == Flow::ClientCredentials {
            c.take::<()>(Err(ValidationError::new(
                "flow",
                "unsupported",
                "Google does not offer the client-credentials flow for IMAP: use authorization_code (a person signs in once).",
            )));
        }
        let (preset_authorize, preset_token, preset_scopes) =
            presets(provider, flow, tenant.as_deref());
        let token_url = token_url.flatten().or(preset_token);
        let authorize_url = authorize_url.flatten().or(preset_authorize);
        if token_url.is_none() && provider == Provider::Custom {
            c.take::<()>(Err(ValidationError::required("token_url", "Token URL")));
        }
        if authorize_url.is_none()
            && provider == Provider::Custom
            && flow == Flow::AuthorizationCode
        {
            c.take::<()>(Err(ValidationError::new(
                "authorize_url",
                "required",
                "Authorize URL is required for the authorization-code flow of a custom provider.",
            )));
        }
        c.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            provider,
            flow,
            client_id: client_id.unwrap_or_default(),
            tenant,
            authorize_url: match flow {
                Flow::AuthorizationCode => authorize_url,
                Flow::ClientCredentials => None,
            },
            token_url: token_url.unwrap_or_default(),
            scopes: scopes
                .flatten()
                .or(preset_scopes.map(str::to_string))
                .unwrap_or_default(),
        })
    }

    /// Parameters the provider needs on the authorization URL (Google: a refresh token every
    /// time).
    pub fn extra_authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        match self.provider {
            Provider::Google => &[("access_type", "offline"), ("prompt", "consent")],
            _ => &[],
        }
    }

    /// Whether tokens from an app with `self`'s settings still fit `other`: the same
    /// authorization server, client and tenant (else the credential must sign in again).
    pub fn same_issuer(&self, other: &Self) -> bool {
        self.provider == other.provider
            && self.client_id == other.client_id
            && self.tenant == other.tenant
            && self.token_url == other.token_url
            && self.flow == other.flow
    }
}

/// What a provider's preset gives: authorize URL, token URL, scopes (Microsoft: for `tenant`;
/// a custom provider: nothing).
fn presets(
    provider: Provider,
    flow: Flow,
    tenant: Option<&str>,
) -> (Option<String>, Option<String>, Option<&'static str>) {
    match (provider, tenant) {
        (Provider::Microsoft, Some(t)) => {
            let base = format!("https://login.microsoftonline.com/{t}/oauth2/v2.0");
            let scopes = match flow {
                Flow::AuthorizationCode => MICROSOFT_DELEGATED_SCOPES,
                Flow::ClientCredentials => MICROSOFT_APP_ONLY_SCOPES,
            };
            (
                Some(format!("{base}/authorize")),
                Some(format!("{base}/token")),
                Some(scopes),
            )
        }
        (Provider::Google, _) => (
            Some(GOOGLE_AUTHORIZE_URL.to_string()),
            Some(GOOGLE_TOKEN_URL.to_string()),
            Some(GOOGLE_SCOPES),
        ),
        (Provider::Microsoft | Provider::Custom, _) => (None, None, None),
    }
}

/// A client secret: at most 1,024 bytes; empty means none.
pub fn parse_client_secret(value: Option<&Secret>) -> Result<Option<Secret>, ValidationError> {
    match value {
        None => Ok(None),
        Some(s) if s.expose().trim().is_empty() => Ok(None),
        Some(s) if s.len_bytes() > MAX_CLIENT_SECRET_BYTES => Err(ValidationError::new(
            "client_secret",
            "too_long",
            format!("Client Secret must be at most {MAX_CLIENT_SECRET_BYTES} bytes."),
        )),
        Some(s) => Ok(Some(s.clone())),
    }
}

/// A checked new app or edit: the fields and the client secret to seal (none: keep / no
/// secret).
#[derive(Debug, Clone)]
pub struct OAuthAppEdit {
    pub fields: OAuthAppFields,
    pub client_secret: Option<Secret>,
}

impl OAuthAppEdit {
    pub fn new(raw: &RawOAuthApp) -> Result<Self, ValidationErrors> {
        let fields = OAuthAppFields::parse(raw);
        let secret = parse_client_secret(raw.client_secret.as_ref());
        let (fields, secret) = match (fields, secret) {
            (Ok(f), Ok(s)) => (f, s),
            (Err(mut es), Err(e)) => {
                es.0.push(e);
                return Err(es);
            }
            (Err(es), _) => return Err(es),
            (_, Err(e)) => return Err(e.into()),
        };
        Self::checked(fields, secret, false)
    }

    /// An edit laid over `current`: absent fields kept. An endpoint or the scopes not given
    /// and still equal to the current preset follow the preset of the edited provider, tenant
    /// and flow; a value set by hand stays.
    pub fn patch(
        current: &OAuthAppFields,
        has_secret: bool,
        p: &RawOAuthApp,
    ) -> Result<Self, ValidationErrors> {
        let keep =
            |new: &Option<String>, old: Option<&str>| new.clone().or(old.map(str::to_string));
        let (authorize, token, scopes) =
            presets(current.provider, current.flow, current.tenant.as_deref());
        let unless_preset = |new: &Option<String>, old: Option<&str>, preset: Option<&str>| {
            keep(new, old.filter(|old| Some(*old) != preset))
        };
        let merged = RawOAuthApp {
            name: keep(&p.name, Some(&current.name)),
            provider: keep(&p.provider, Some(current.provider.as_str())),
            flow: keep(&p.flow, Some(current.flow.as_str())),
            client_id: keep(&p.client_id, Some(&current.client_id)),
            client_secret: p.client_secret.clone(),
            tenant: keep(&p.tenant, current.tenant.as_deref()),
            authorize_url: unless_preset(
                &p.authorize_url,
                current.authorize_url.as_deref(),
                authorize.as_deref(),
            ),
            token_url: unless_preset(&p.token_url, Some(&current.token_url), token.as_deref()),
            scopes: unless_preset(&p.scopes, Some(&current.scopes), scopes),
        };
        let fields = OAuthAppFields::parse(&merged)?;
        let client_secret = parse_client_secret(p.client_secret.as_ref())?;
        Self::checked(fields, client_secret, has_secret)
    }

    /// The client-credentials flow needs a secret: this one, or the one kept (`has_secret`).
    fn checked(
        fields: OAuthAppFields,
        client_secret: Option<Secret>,
        has_secret: bool,
    ) -> Result<Self, ValidationErrors> {
        if fields.flow == Flow::ClientCredentials && client_secret.is_none() && !has_secret {
            return Err(ValidationError::new(
                "client_secret",
                "required",
                "Client Secret is required for the client-credentials flow.",
            )
            .into());
        }
        Ok(Self {
            fields,
            client_secret,
        })
    }
}

/// How a credential proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Password,
    OAuth2,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "password" => Ok(Self::Password),
            "oauth2" => Ok(Self::OAuth2),
            _ => Err(ValidationError::new(
                "auth_method",
                "invalid_choice",
                "Auth method must be password or oauth2.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::OAuth2 => "oauth2",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(provider: &str, flow: &str) -> RawOAuthApp {
        RawOAuthApp {
            name: Some("App".into()),
            provider: Some(provider.into()),
            flow: Some(flow.into()),
            client_id: Some("client".into()),
            client_secret: Some(Secret::new("s".into())),
            tenant: Some("contoso.onmicrosoft.com".into()),
            ..RawOAuthApp::default()
        }
    }

    #[test]
    fn presets_fill_endpoints_and_scopes() {
        let m = OAuthAppFields::parse(&raw("microsoft", "authorization_code")).unwrap();
        assert_eq!(
            m.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(m.scopes, MICROSOFT_DELEGATED_SCOPES);
        let a = OAuthAppFields::parse(&raw("microsoft", "client_credentials")).unwrap();
        assert_eq!(a.scopes, MICROSOFT_APP_ONLY_SCOPES);
        assert_eq!(a.authorize_url, None);
        let g = OAuthAppFields::parse(&raw("google", "authorization_code")).unwrap();
        assert_eq!(g.token_url, GOOGLE_TOKEN_URL);
        assert_eq!(g.extra_authorize_params().len(), 2);
    }

    #[test]
    fn common_tenant_plain_http_and_missing_custom_endpoints_are_refused() {
        let mut r = raw("microsoft", "authorization_code");
        r.tenant = Some("common".into());
        let e = OAuthAppFields::parse(&r).unwrap_err();
        assert_eq!(e.first().rule, "tenant_specific");
        let mut r = raw("custom", "client_credentials");
        r.token_url = Some("http://auth.example.com/token".into());
        assert_eq!(
            OAuthAppFields::parse(&r).unwrap_err().first().field,
            "token_url"
        );
        r.token_url = Some("http://127.0.0.1:8080/token".into());
        assert!(OAuthAppFields::parse(&r).is_ok());
        let e = OAuthAppFields::parse(&raw("custom", "authorization_code")).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["token_url", "authorize_url"]);
        let e = OAuthAppFields::parse(&raw("google", "client_credentials")).unwrap_err();
        assert_eq!(e.first().rule, "unsupported");
    }

    #[test]
    fn a_client_credentials_app_needs_a_secret() {
        let mut r = raw("microsoft", "client_credentials");
        r.client_secret = None;
        assert_eq!(
            OAuthAppEdit::new(&r).unwrap_err().first().field,
            "client_secret"
        );
        r.flow = Some("authorization_code".into());
        assert!(OAuthAppEdit::new(&r).is_ok(), "a public client with PKCE");
    }

    #[test]
    fn a_patch_that_changes_the_tenant_takes_the_presets_again() {
        let cur = OAuthAppFields::parse(&raw("microsoft", "authorization_code")).unwrap();
        let p = RawOAuthApp {
            tenant: Some("fabrikam.com".into()),
            ..RawOAuthApp::default()
        };
        let e = OAuthAppEdit::patch(&cur, true, &p).unwrap();
        assert!(e.fields.token_url.contains("/fabrikam.com/"));
        assert!(!e.fields.same_issuer(&cur));
    }
}
