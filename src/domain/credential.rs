//! The fields of a credential (SPEC §1.1) and the forms that create, edit and re-password one.
//!
//! Every type here is made by `parse`, so code that holds one never checks it again. Must not
//! know where the values came from (JSON, CLI, HTML form) or where they go.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use super::email::EmailAddress;
use super::oauth_app::AuthMethod;
use super::secret::Secret;
use super::validation::{Collector, Text, ValidationError, ValidationErrors};

pub const DEFAULT_PORT: u16 = 993;
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_LOGIN_CHARS: usize = 255;
pub const MAX_CA_BUNDLE_BYTES: usize = 256 * 1024;

/// Turns a DNS name (Unicode allowed) into its ASCII form, or says it is not one.
pub(crate) fn dns_name_to_ascii(input: &str) -> Result<String, ()> {
    let name = input.strip_suffix('.').unwrap_or(input);
    if name.is_empty() {
        return Err(());
    }
    let ascii = idna::domain_to_ascii_strict(name).map_err(|_| ())?;
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(());
    }
    for label in ascii.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(());
        }
    }
    if ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(()); // looks like a broken IPv4 address, not a name
    }
    Ok(ascii)
}

/// An IMAP server's address: a DNS name (stored in ASCII form) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host(String);

impl Host {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const F: &str = "host";
        let s = input.trim();
        if s.is_empty() {
            return Err(ValidationError::required(F, "Host"));
        }
        let alone = "Enter the host name alone (such as imap.example.com), without imaps://, a path or a port: the port goes in Port.";
        if s.contains("://") || s.contains('/') || s.contains('@') {
            return Err(ValidationError::new(F, "host_only", alone));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return match inner.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => Ok(Self(ip.to_string())),
                Err(_) => Err(ValidationError::new(
                    F,
                    "invalid_format",
                    "Host is not a valid IPv6 address.",
                )),
            };
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self(ip.to_string()));
        }
        if s.contains(':') {
            return Err(ValidationError::new(F, "host_only", alone));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(ValidationError::new(
                F,
                "invalid_format",
                "Host must not contain spaces.",
            ));
        }
        dns_name_to_ascii(s).map(Self).map_err(|_| {
            ValidationError::new(
                F,
                "invalid_format",
                "Host must be a DNS name (such as imap.example.com) or an IP address.",
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An IP literal, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.parse().ok()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TCP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(u16);

impl Port {
    pub fn parse(value: i64) -> Result<Self, ValidationError> {
        match u16::try_from(value) {
            Ok(p) if p >= 1 => Ok(Self(p)),
            _ => Err(ValidationError::new(
                "port",
                "out_of_range",
                "Port must be a whole number from 1 to 65535.",
            )),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for Port {
    fn default() -> Self {
        Self(DEFAULT_PORT)
    }
}

/// How the connection is protected. `Tls` (implicit TLS) is "Use Secure Connection" on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    #[default]
    Tls,
    Starttls,
    None,
}

impl Security {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "tls" => Ok(Self::Tls),
            "starttls" => Ok(Self::Starttls),
            "none" => Ok(Self::None),
            _ => Err(ValidationError::new(
                "security",
                "invalid_choice",
                "Security must be one of tls, starttls or none.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Starttls => "starttls",
            Self::None => "none",
        }
    }

    /// "Use Secure Connection": on for implicit TLS and STARTTLS.
    pub fn is_secure(self) -> bool {
        self != Self::None
    }

    /// Combines the simple checkbox and the advanced choice; they must agree when both are given.
    pub fn from_inputs(
        use_secure_connection: Option<bool>,
        security: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let chosen = security.map(Self::parse).transpose()?;
        match (use_secure_connection, chosen) {
            (None, None) => Ok(Self::Tls),
            (Some(true), None) => Ok(Self::Tls),
            (Some(false), None) => Ok(Self::None),
            (None, Some(s)) => Ok(s),
            (Some(on), Some(s)) if on == s.is_secure() => Ok(s),
            (Some(_), Some(_)) => Err(ValidationError::new(
                "use_secure_connection",
                "conflict",
                "Use Secure Connection disagrees with security: leave one out or make them match (off = none).",
            )),
        }
    }
}

/// The name shown in lists: 1–100 characters, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationName(String);

impl ConfigurationName {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let rule = Text::line("configuration_name", "Configuration Name", MAX_NAME_CHARS);
        rule.required(Some(input)).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// 1–1,000 characters of free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let rule = Text::lines("description", "Description", MAX_DESCRIPTION_CHARS);
        rule.required(Some(input)).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A separate IMAP login name, when it differs from the mailbox address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginName(String);

impl LoginName {
    /// Empty input means "no separate login".
    pub fn parse_optional(input: &str) -> Result<Option<Self>, ValidationError> {
        let rule = Text::line("username", "Username", MAX_LOGIN_CHARS);
        Ok(rule.optional(Some(input))?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// PEM certificates to trust for this credential's server, beside the system roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle(String);

impl CaBundle {
    pub fn parse_optional(input: &str) -> Result<Option<Self>, ValidationError> {
        let s = input.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.len() > MAX_CA_BUNDLE_BYTES {
            return Err(ValidationError::new(
                "ca_bundle",
                "too_long",
                "CA bundle must be at most 256 KiB of PEM text.",
            ));
        }
        let begins = s.matches("-----BEGIN CERTIFICATE-----").count();
        let ends = s.matches("-----END CERTIFICATE-----").count();
        if begins == 0 || begins != ends {
            return Err(ValidationError::new(
                "ca_bundle",
                "invalid_format",
                "CA bundle must be PEM text with one or more -----BEGIN CERTIFICATE----- blocks.",
            ));
        }
        Ok(Some(Self(format!("{s}\n"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 fingerprint of the one server certificate to accept (64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSha256(String);

impl PinnedSha256 {
    pub fn parse_optional(input: &str) -> Result<Option<Self>, ValidationError> {
        let compact: String = input
            .chars()
            .filter(|c| !matches!(c, ':' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.is_empty() {
            return Ok(None);
        }
        if compact.len() != 64 || !compact.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError::new(
                "pinned_sha256",
                "invalid_format",
                "Pinned SHA-256 must be 64 hexadecimal digits (colons allowed between pairs).",
            ));
        }
        Ok(Some(Self(compact)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A credential form as it arrives: every field optional, nothing checked yet.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CredentialPatch)]
pub struct RawCredential {
    pub mailbox: Option<String>,
    pub username: Option<String>,
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub password: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub use_secure_connection: Option<bool>,
    pub security: Option<String>,
    pub configuration_name: Option<String>,
    pub description: Option<String>,
    pub ca_bundle: Option<String>,
    pub pinned_sha256: Option<String>,
    pub enabled: Option<bool>,
    /// `password` (the default) or `oauth2`.
    pub auth_method: Option<String>,
    /// The OAuth app an `oauth2` credential signs in through.
    pub oauth_app_id: Option<i64>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Every field of a credential but its password, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFields {
    pub mailbox: EmailAddress,
    pub username: Option<LoginName>,
    pub host: Host,
    pub port: Port,
    pub security: Security,
    pub configuration_name: ConfigurationName,
    pub description: Description,
    pub ca_bundle: Option<CaBundle>,
    pub pinned_sha256: Option<PinnedSha256>,
    pub enabled: bool,
    pub auth_method: AuthMethod,
    /// Present exactly when `auth_method` is `oauth2`.
    pub oauth_app_id: Option<i64>,
}

fn required<'a>(
    value: &'a Option<String>,
    field: &'static str,
    label: &str,
) -> Result<&'a str, ValidationError> {
    match value.as_deref() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ValidationError::required(field, label)),
    }
}

impl CredentialFields {
    /// Checks every field but the password; reports every broken rule.
    pub fn parse(raw: &RawCredential) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let mailbox = c.take(required(&raw.mailbox, "mailbox", "Mailbox").and_then(|s| {
            EmailAddress::parse(s).map_err(|e| {
                ValidationError::new(
                    "mailbox",
                    "invalid_email",
                    format!("Mailbox must be a valid email address: it {}.", e.0),
                )
            })
        }));
        let username = c.take(LoginName::parse_optional(
            raw.username.as_deref().unwrap_or(""),
        ));
        let host = c.take(required(&raw.host, "host", "Host").and_then(Host::parse));
        let port = c.take(raw.port.map(Port::parse).unwrap_or(Ok(Port::default())));
        let security = c.take(Security::from_inputs(
            raw.use_secure_connection,
            raw.security.as_deref(),
        ));
        let configuration_name = c.take(
            required(
                &raw.configuration_name,
                "configuration_name",
                "Configuration Name",
            )
            .and_then(ConfigurationName::parse),
        );
        let description = c.take(
            required(&raw.description, "description", "Description").and_then(Description::parse),
        );
        let ca_bundle = c.take(CaBundle::parse_optional(
            raw.ca_bundle.as_deref().unwrap_or(""),
        ));
        let pinned_sha256 = c.take(PinnedSha256::parse_optional(
            raw.pinned_sha256.as_deref().unwrap_or(""),
        ));
        let auth_method = c.take(AuthMethod::parse(raw.auth_method.as_deref().unwrap_or("")));
        let oauth_app_id = match auth_method {
            Some(AuthMethod::OAuth2) => c.take(match raw.oauth_app_id {
                Some(id) if id > 0 => Ok(Some(id)),
                Some(_) => Err(ValidationError::new(
                    "oauth_app_id",
                    "invalid_id",
                    "OAuth app must be the id of an existing OAuth app.",
                )),
                None => Err(ValidationError::new(
                    "oauth_app_id",
                    "required",
                    "OAuth app is required when the sign-in method is oauth2.",
                )),
            }),
            _ => Some(None),
        };
        c.finish()?;
        // Every `take` above succeeded, so each value is present.
        Ok(Self {
            mailbox: mailbox.expect("checked"),
            username: username.expect("checked"),
            host: host.expect("checked"),
            port: port.expect("checked"),
            security: security.expect("checked"),
            configuration_name: configuration_name.expect("checked"),
            description: description.expect("checked"),
            ca_bundle: ca_bundle.expect("checked"),
            pinned_sha256: pinned_sha256.expect("checked"),
            enabled: raw.enabled.unwrap_or(true),
            auth_method: auth_method.expect("checked"),
            oauth_app_id: oauth_app_id.expect("checked"),
        })
    }

    /// Whether a password saved with `self` may be sent with `other`'s settings: the same
    /// server, port, security, login name and trust (SPEC §1.3).
    pub fn same_destination(&self, other: &Self) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.security == other.security
            && self.login_name() == other.login_name()
            && self.ca_bundle == other.ca_bundle
            && self.pinned_sha256 == other.pinned_sha256
    }

    /// The name the IMAP server knows this account by.
    pub fn login_name(&self) -> &str {
        self.username
            .as_ref()
            .map_or(self.mailbox.as_str(), LoginName::as_str)
    }

    /// Back to a raw form, so an edit can be laid over it and checked whole.
    pub fn to_raw(&self) -> RawCredential {
        RawCredential {
            mailbox: Some(self.mailbox.as_str().to_string()),
            username: self.username.as_ref().map(|u| u.as_str().to_string()),
            password: None,
            host: Some(self.host.as_str().to_string()),
            port: Some(i64::from(self.port.get())),
            use_secure_connection: None,
            security: Some(self.security.as_str().to_string()),
            configuration_name: Some(self.configuration_name.as_str().to_string()),
            description: Some(self.description.as_str().to_string()),
            ca_bundle: self.ca_bundle.as_ref().map(|c| c.as_str().to_string()),
            pinned_sha256: self.pinned_sha256.as_ref().map(|p| p.as_str().to_string()),
            enabled: Some(self.enabled),
            auth_method: Some(self.auth_method.as_str().to_string()),
            oauth_app_id: self.oauth_app_id,
        }
    }

    /// Warnings that do not stop a save.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.security == Security::None {
            w.push("Use Secure Connection is off: the password will travel over the network in clear text.".to_string());
        }
        w
    }
}

/// Checks a password: required, any characters, case and spaces kept, at most 1,024 bytes.
pub fn parse_password(
    value: Option<&Secret>,
    field: &'static str,
    label: &str,
) -> Result<Secret, ValidationError> {
    match value {
        None => Err(ValidationError::required(field, label)),
        Some(p) if p.expose().is_empty() => Err(ValidationError::required(field, label)),
        Some(p) if p.len_bytes() > MAX_PASSWORD_BYTES => Err(ValidationError::new(
            field,
            "too_long",
            format!("{label} must be at most {MAX_PASSWORD_BYTES} bytes."),
        )),
        Some(p) => Ok(p.clone()),
    }
}

/// An `oauth2` credential signs in through its OAuth app and keeps no password.
fn no_password_for_oauth2(password: Option<&Secret>) -> Result<(), ValidationError> {
    match password {
        Some(p) if !p.expose().is_empty() => Err(ValidationError::new(
            "password",
            "not_allowed",
            "An oauth2 credential has no password: it signs in through its OAuth app. Leave Password empty.",
        )),
        _ => Ok(()),
    }
}

/// A new credential: every field valid and a password (empty for `oauth2`).
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub fields: CredentialFields,
    pub password: Secret,
}

impl NewCredential {
    pub fn parse(raw: &RawCredential) -> Result<Self, ValidationErrors> {
        let oauth2 = matches!(
            raw.auth_method.as_deref().map(AuthMethod::parse),
            Some(Ok(AuthMethod::OAuth2))
        );
        let password = if oauth2 {
            no_password_for_oauth2(raw.password.as_ref()).map(|()| Secret::new(String::new()))
        } else {
            parse_password(raw.password.as_ref(), "password", "Password")
        };
        match (CredentialFields::parse(raw), password) {
            (Ok(fields), Ok(password)) => Ok(Self { fields, password }),
            (Ok(_), Err(e)) => Err(e.into()),
            (Err(mut es), Ok(_)) => {
                es.0.sort_by_key(|e| field_order(e.field));
                Err(es)
            }
            (Err(mut es), Err(e)) => {
                es.0.push(e);
                es.0.sort_by_key(|e| field_order(e.field));
                Err(es)
            }
        }
    }
}

fn field_order(field: &str) -> usize {
    [
        "mailbox",
        "username",
        "password",
        "host",
        "port",
        "use_secure_connection",
        "security",
        "configuration_name",
        "description",
        "ca_bundle",
        "pinned_sha256",
    ]
    .iter()
    .position(|f| *f == field)
    .unwrap_or(usize::MAX)
}

/// Why a stored password may not be sent: the edit or test moves it to another destination.
pub fn password_required() -> ValidationError {
    ValidationError::new(
        "password",
        "password_required",
        "Enter the mailbox password again: a stored password is only ever sent to the server it was saved for, so changing the host, port, security, login name, trusted certificates or pinned fingerprint needs the password too.",
    )
}

/// An edit: any subset of the fields, laid over the stored values. The password may come with
/// it, and must when the edit changes where the password would be sent.
#[derive(Debug, Clone)]
pub struct CredentialPatch(RawCredential);

/// A checked edit: the new fields, and the password to seal with them (always present when the
/// destination changed).
#[derive(Debug, Clone)]
pub struct CredentialEdit {
    pub fields: CredentialFields,
    pub password: Option<Secret>,
    /// The stored OAuth2 sign-in (refresh token) no longer fits: it is cleared and the
    /// credential needs "Sign in" again.
    pub sign_in_again: bool,
}

impl CredentialPatch {
    pub fn new(raw: RawCredential) -> Self {
        Self(raw)
    }

    /// The edited credential, checked whole. Empty strings clear the optional fields; an empty
    /// password counts as none.
    pub fn apply(&self, current: &CredentialFields) -> Result<CredentialEdit, ValidationErrors> {
        let p = &self.0;
        let mut merged = current.to_raw();
        let overlay = |slot: &mut Option<String>, new: &Option<String>| {
            if let Some(v) = new {
                *slot = Some(v.clone());
            }
        };
        overlay(&mut merged.mailbox, &p.mailbox);
        overlay(&mut merged.username, &p.username);
        overlay(&mut merged.host, &p.host);
        overlay(&mut merged.configuration_name, &p.configuration_name);
        overlay(&mut merged.description, &p.description);
        overlay(&mut merged.ca_bundle, &p.ca_bundle);
        overlay(&mut merged.pinned_sha256, &p.pinned_sha256);
        if p.port.is_some() {
            merged.port = p.port;
        }
        if p.security.is_some() || p.use_secure_connection.is_some() {
            merged.security = p.security.clone();
            merged.use_secure_connection = p.use_secure_connection;
        }
        if p.enabled.is_some() {
            merged.enabled = p.enabled;
        }
        if p.auth_method.is_some() {
            merged.auth_method = p.auth_method.clone();
        }
        if p.oauth_app_id.is_some() {
            merged.oauth_app_id = p.oauth_app_id;
        }
        let fields = CredentialFields::parse(&merged)?;
        if fields.auth_method == AuthMethod::OAuth2 {
            no_password_for_oauth2(p.password.as_ref())?;
            // A sign-in holds for one server, login and app: a change needs a new one.
            let sign_in_again = current.auth_method != AuthMethod::OAuth2
                || current.oauth_app_id != fields.oauth_app_id
                || !fields.same_destination(current);
            return Ok(CredentialEdit {
                fields,
                password: None,
                sign_in_again,
            });
        }
        let was_oauth2 = current.auth_method == AuthMethod::OAuth2;
        let password = match p.password.as_ref().filter(|s| !s.expose().is_empty()) {
            Some(s) => Some(parse_password(Some(s), "password", "Password")?),
            None if was_oauth2 || !fields.same_destination(current) => {
                return Err(password_required().into());
            }
            None => None,
        };
        Ok(CredentialEdit {
            fields,
            password,
            sign_in_again: was_oauth2,
        })
    }
}

/// Change Password: New Password and Confirm Password, both required and equal.
#[derive(Debug)]
pub struct PasswordChange {
    pub password: Secret,
}

impl PasswordChange {
    pub fn parse(
        new_password: Option<&Secret>,
        confirm_password: Option<&Secret>,
    ) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let new = c.take(parse_password(new_password, "new_password", "New Password"));
        let confirm = c.take(parse_password(
            confirm_password,
            "confirm_password",
            "Confirm Password",
        ));
        c.finish()?;
        let (new, confirm) = (new.expect("checked"), confirm.expect("checked"));
        if new != confirm {
            return Err(ValidationError::new(
                "confirm_password",
                "mismatch",
                "New Password and Confirm Password do not match.",
            )
            .into());
        }
        Ok(Self { password: new })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_accepts_names_and_ip_literals() {
        for (input, stored) in [
            ("imap.example.com", "imap.example.com"),
            ("IMAP.Example.COM", "imap.example.com"),
            ("localhost", "localhost"),
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("bücher.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(Host::parse(input).unwrap().as_str(), stored, "{input}");
        }
    }

    #[test]
    fn host_rejects_urls_with_the_host_alone_hint() {
        for input in ["imaps://imap.example.com:993/", "imap.example.com:993"] {
            let e = Host::parse(input).unwrap_err();
            assert_eq!(e.rule, "host_only");
            assert!(e.message.contains("host name alone"));
        }
        assert_eq!(Host::parse("bad host").unwrap_err().rule, "invalid_format");
        assert_eq!(Host::parse("1.2.3.999").unwrap_err().rule, "invalid_format");
    }

    #[test]
    fn security_combines_checkbox_and_choice() {
        assert_eq!(Security::from_inputs(None, None).unwrap(), Security::Tls);
        assert_eq!(
            Security::from_inputs(Some(false), None).unwrap(),
            Security::None
        );
        assert_eq!(
            Security::from_inputs(Some(true), Some("starttls")).unwrap(),
            Security::Starttls
        );
        assert!(Security::from_inputs(Some(false), Some("tls")).is_err());
    }

    #[test]
    fn password_change_requires_equal_values() {
        let a = Secret::new("one".into());
        let b = Secret::new("two".into());
        let e = PasswordChange::parse(Some(&a), Some(&b)).unwrap_err();
        assert_eq!(e.first().rule, "mismatch");
        let e = PasswordChange::parse(None, Some(&b)).unwrap_err();
        assert_eq!(e.first().field, "new_password");
        assert!(PasswordChange::parse(Some(&a), Some(&a.clone())).is_ok());
    }
}
