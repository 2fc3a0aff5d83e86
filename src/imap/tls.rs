//! TLS for IMAP connections: the trust roots (system roots, plus a credential's CA bundle), the
//! pinned-fingerprint verifier, what a presented certificate says, what a failed handshake
//! means in words (`handshake_failure`), and whether a port speaks TLS at all (`speaks_tls`).
//! Must not turn verification off: a pin accepts exactly one certificate, and the
//! handshake signature is still checked against it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use super::probe::Category;
use super::steps::Fail;
use super::wire::{self, FirstLine};

/// What a server's certificate says, for the report (also when it was rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER certificate, lowercase hex: what `pinned_sha256` takes.
    pub sha256: String,
    /// DNS names and IP addresses the certificate is valid for.
    pub names: Vec<String>,
}

impl CertificateInfo {
    pub fn from_der(der: &[u8]) -> Self {
        let sha256 = hex::encode(Sha256::digest(der));
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let mut names = Vec::new();
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    for n in &san.value.general_names {
                        match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => {
                                names.push(d.to_string())
                            }
                            x509_parser::extensions::GeneralName::IPAddress(b) => {
                                if let Ok(a) = <[u8; 4]>::try_from(*b) {
                                    names.push(std::net::Ipv4Addr::from(a).to_string());
                                } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                                    names.push(std::net::Ipv6Addr::from(a).to_string());
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Self {
                    subject: cert.subject().to_string(),
                    issuer: cert.issuer().to_string(),
                    not_before: asn1_time(cert.validity().not_before.timestamp()),
                    not_after: asn1_time(cert.validity().not_after.timestamp()),
                    sha256,
                    names,
                }
            }
            Err(_) => Self {
                subject: "(unreadable certificate)".into(),
                issuer: String::new(),
                not_before: String::new(),
                not_after: String::new(),
                sha256,
                names: Vec::new(),
            },
        }
    }
}

fn asn1_time(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

impl fmt::Display for CertificateInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subject {}; issuer {}; valid until {}; SHA-256 {}",
            self.subject, self.issuer, self.not_after, self.sha256
        )
    }
}

/// Why a handshake failed, in the kinds the report distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    Expired,
    Untrusted,
    WrongName,
    /// The server answered with something that is not TLS at all.
    NotTls,
    Other,
}

pub fn classify(e: &std::io::Error) -> (HandshakeFailure, String) {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<TlsError>()) else {
        return (HandshakeFailure::Other, e.to_string());
    };
    let text = match tls {
        TlsError::InvalidCertificate(c) => describe_certificate_error(c),
        other => other.to_string(),
    };
    let kind = match tls {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => HandshakeFailure::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                HandshakeFailure::WrongName
            }
            _ => HandshakeFailure::Untrusted,
        },
        TlsError::InvalidMessage(_) => HandshakeFailure::NotTls,
        _ => HandshakeFailure::Other,
    };
    (kind, text)
}

/// A certificate problem in words an administrator can act on.
fn describe_certificate_error(e: &CertificateError) -> String {
    match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the certificate is not valid yet (check the clocks)".into()
        }
        CertificateError::UnknownIssuer => {
            "it is signed by an authority that is not trusted here".into()
        }
        CertificateError::NotValidForName => "it is issued for another name".into(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "it is issued for {} and not for {}",
            presented.join(", "),
            expected.to_str()
        ),
        CertificateError::BadSignature => "its signature does not verify".into(),
        CertificateError::Revoked => "it has been revoked".into(),
        CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
            "the server presents an authority's own certificate as its certificate".into()
        }
        other => format!("{other:?}"),
    }
}

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(ring::default_provider())).clone()
}

/// The system's trust roots, read once. Empty when the system has none.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// How to trust a server: the system roots, plus a CA bundle, plus an optional pin.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub ca_bundle: Option<String>,
    /// Lowercase hex SHA-256 of the one certificate to accept.
    pub pinned_sha256: Option<String>,
}

/// A verifier that remembers the certificate it was shown, accepts a pinned certificate, and
/// otherwise verifies the chain and name against the roots.
#[derive(Debug)]
struct ProbeVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Option<Vec<u8>>,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for ProbeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        *self.seen.lock().expect("seen certificate") = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Some(pin) = &self.pinned
            && Sha256::digest(end_entity.as_ref()).as_slice() == pin.as_slice()
        {
            // Exactly the certificate the administrator pinned; the handshake signature is
            // still checked below, so the server must hold its key.
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A connector for one attempt, and the slot where the presented chain lands.
pub struct Connector {
    pub connector: tokio_rustls::TlsConnector,
    /// The server's certificate, then the intermediates it sent (empty before a handshake).
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    /// Certificates in the CA bundle that could not be used (reported, not fatal).
    pub bundle_problems: Vec<String>,
    /// How many CA bundle certificates were added to the trust store.
    bundle_certificates: usize,
}

impl Connector {
    pub fn new(trust: &Trust) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if roots.is_empty() {
            // No system roots (a bare container): the Mozilla set that ships with us.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let mut bundle_problems = Vec::new();
        let mut bundle_certificates = 0;
        if let Some(pem) = &trust.ca_bundle {
            let count = &mut bundle_certificates;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                match cert {
                    Ok(c) => match roots.add(c) {
                        Ok(()) => *count += 1,
                        Err(e) => bundle_problems.push(format!("a CA bundle certificate: {e}")),
                    },
                    Err(e) => bundle_problems.push(format!("the CA bundle: {e}")),
                }
            }
            if *count == 0 && bundle_problems.is_empty() {
                bundle_problems.push("the CA bundle holds no certificate".into());
            }
        }
        let pinned = match &trust.pinned_sha256 {
            Some(p) => Some(hex::decode(p).map_err(|_| "the pinned SHA-256 is not hex")?),
            None => None,
        };
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let verifier = ProbeVerifier {
            inner,
            pinned,
            seen: seen.clone(),
        };
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            seen,
            bundle_problems,
            bundle_certificates,
        })
    }

    /// The certificate the server presented in the last handshake, if any.
    pub fn presented(&self) -> Option<CertificateInfo> {
        self.seen
            .lock()
            .expect("seen certificate")
            .first()
            .map(|c| CertificateInfo::from_der(c.as_ref()))
    }

    /// The chain the server presented in the last handshake: its certificate first.
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.seen.lock().expect("seen certificate").clone()
    }
}

/// The name to verify the certificate against: an IP literal or a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host} is not a valid TLS name: {e}"))
}

/// "TLSv1.3, TLS13_AES_256_GCM_SHA384".
pub fn describe_session(conn: &rustls::ClientConnection) -> (String, Option<CertificateInfo>) {
    let version = conn
        .protocol_version()
        .map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_else(|| "TLS".into());
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| CertificateInfo::from_der(c.as_ref()));
    (format!("{version}, {suite}"), cert)
}

/// Why a chain was not trusted, from the certificates the server sent: what fixes it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Untrusted {
    /// The certificate signs itself: only a pin can trust it.
    SelfSigned,
    /// Signed by an authority that is not in the trust store: its certificate is the fix.
    PrivateCa { issuer: String },
    /// Issued by a public-style authority (it says where its issuer is published), but the
    /// server left out the intermediate certificate.
    IncompleteChain { issuer: String },
    /// Anything else (a bad signature, a revoked certificate).
    Other,
}

/// The name of a certificate's issuer a person recognises: its common name, else the whole name.
fn issuer_name(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    cert.issuer()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| cert.issuer().to_string())
}

/// Tells a self-signed certificate, a private authority and a missing intermediate apart.
fn why_untrusted(e: &CertificateError, chain: &[CertificateDer<'static>]) -> Untrusted {
    let is_unknown_issuer = matches!(e, CertificateError::UnknownIssuer);
    let ca_as_leaf =
        matches!(e, CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity"));
    if !is_unknown_issuer && !ca_as_leaf {
        return Untrusted::Other;
    }
    let Some(Ok((_, leaf))) = chain
        .first()
        .map(|c| x509_parser::parse_x509_certificate(c))
    else {
        return Untrusted::Other;
    };
    if ca_as_leaf || leaf.subject().as_raw() == leaf.issuer().as_raw() {
        return Untrusted::SelfSigned;
    }
    // The chain ends at the last certificate sent; its issuer is the one not trusted.
    let top = chain
        .iter()
        .skip(1)
        .rev()
        .find_map(|c| x509_parser::parse_x509_certificate(c).ok());
    match top {
        Some((_, top)) => Untrusted::PrivateCa {
            issuer: issuer_name(&top),
        },
        None => {
            let published = leaf.extensions().iter().any(|x| {
                matches!(
                    x.parsed_extension(),
                    x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(_)
                )
            });
            let issuer = issuer_name(&leaf);
            if published {
                Untrusted::IncompleteChain { issuer }
            } else {
                Untrusted::PrivateCa { issuer }
            }
        }
    }
}

/// Explains a failed TLS handshake, using what the server sent if it was not TLS.
pub fn handshake_failure(
    e: &std::io::Error,
    conn: &Connector,
    seen: &[u8],
    target: &str,
    implicit: bool,
) -> Fail {
    let (kind, text) = classify(e);
    let cert = conn.presented();
    let pin = cert
        .as_ref()
        .map(|c| c.sha256.clone())
        .unwrap_or_else(|| "shown under Certificate".into());
    let pin_it = format!(
        "pin exactly this certificate: put its SHA-256 fingerprint ({pin}) into Advanced › Pinned certificate SHA-256"
    );
    let bundle_problems = if conn.bundle_problems.is_empty() {
        String::new()
    } else {
        format!(
            " Problems with the Trusted CA certificates: {}.",
            conn.bundle_problems.join("; ")
        )
    };
    let cert_error = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<TlsError>())
        .and_then(|t| match t {
            TlsError::InvalidCertificate(c) => Some(c),
            _ => None,
        });
    match kind {
        HandshakeFailure::Expired => {
            let not_yet = matches!(
                cert_error,
                Some(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
            );
            let message = match (&cert, not_yet) {
                (Some(c), false) => {
                    format!("The certificate of {target} expired on {}.", c.not_after)
                }
                (Some(c), true) => format!(
                    "The certificate of {target} is not valid before {}.",
                    c.not_before
                ),
                (None, _) => format!("The certificate of {target} is not valid now: {text}."),
            };
            let ask = if not_yet {
                "Check the clock of this computer and of the mail server"
            } else {
                "Ask the mail provider to renew the certificate"
            };
            Fail::new(Category::CertificateExpired, message)
                .hint(format!("{ask}; meanwhile you can {pin_it}."))
                .fix("pinned_sha256")
        }
        HandshakeFailure::WrongName => {
            let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target);
            let names = cert
                .as_ref()
                .filter(|c| !c.names.is_empty())
                .map(|c| c.names.join(", "));
            let message = match &names {
                Some(n) => {
                    format!("The certificate of {target} is issued for {n}, not for {host}.")
                }
                None => format!("The certificate of {target} is not issued for {host} ({text})."),
            };
            Fail::new(Category::CertificateWrongName, message)
                .hint(match &names {
                    Some(n) => format!("Enter one of the names the certificate is issued for ({n}) as Host, or {pin_it}."),
                    None => format!("Enter the name the certificate is issued for as Host, or {pin_it}."),
                })
                .fix("host")
        }
        HandshakeFailure::Untrusted => {
            let chain = conn.chain();
            let why = cert_error
                .map(|c| why_untrusted(c, &chain))
                .unwrap_or(Untrusted::Other);
            let with_bundle = conn.bundle_certificates > 0;
            match why {
                Untrusted::SelfSigned => Fail::new(
                    Category::CertificateUntrusted,
                    format!("The certificate of {target} is self-signed: no authority vouches for it.{bundle_problems}"),
                )
                .hint(format!("If you know this server, {pin_it}. Only this exact certificate is then accepted; verification is never turned off."))
                .fix("pinned_sha256"),
                Untrusted::PrivateCa { issuer } => Fail::new(
                    Category::CertificateUntrusted,
                    format!(
                        "The certificate of {target} is signed by “{issuer}”, a private certificate authority that is not {}.{bundle_problems}",
                        if with_bundle { "among this credential's Trusted CA certificates" } else { "trusted here" }
                    ),
                )
                .hint(format!("Paste the certificate of “{issuer}” (PEM, from -----BEGIN CERTIFICATE-----) into Advanced › Trusted CA certificates; the mail server's administrator can give it to you. Pinning also works ({pin}), but must be redone whenever the server's certificate is renewed."))
                .fix("ca_bundle"),
                Untrusted::IncompleteChain { issuer } => Fail::new(
                    Category::CertificateUntrusted,
                    format!("{target} sent its certificate without the intermediate certificate of “{issuer}” that links it to a trusted authority.{bundle_problems}"),
                )
                .hint(format!("Ask the mail provider to send the full certificate chain. Meanwhile, paste the certificate of “{issuer}” (PEM) into Advanced › Trusted CA certificates."))
                .fix("ca_bundle"),
                Untrusted::Other => Fail::new(
                    Category::CertificateUntrusted,
                    format!("The certificate of {target} is not trusted: {text}.{bundle_problems}"),
                )
                .hint(format!("Ask the mail provider about its certificate, or {pin_it}. Verification is never turned off."))
                .fix("pinned_sha256"),
            }
        }
        HandshakeFailure::NotTls | HandshakeFailure::Other => {
            let shown = wire::printable(seen);
            match wire::classify_first_line(seen) {
                _ if seen.is_empty() => Fail::new(
                    Category::ProtocolError,
                    format!("The TLS handshake with {target} failed: {text}."),
                ),
                FirstLine::Ok | FirstLine::Preauth | FirstLine::Bye if implicit => Fail::new(
                    Category::TlsOnPlainPort,
                    format!("{target} speaks plain IMAP, but Use Secure Connection expects TLS from the first byte."),
                )
                .server(shown)
                .hint("Use STARTTLS on this port, or implicit TLS on port 993. Turning Use Secure Connection off would send the password in clear text."),
                FirstLine::NotImap(what) => Fail::new(
                    Category::NotImap,
                    format!("{target} is not an IMAP server: it answered like {what}."),
                )
                .server(shown)
                .hint("Check Host and Port: IMAP is usually 993 (TLS) or 143 (plain or STARTTLS)."),
                _ => Fail::new(
                    Category::ProtocolError,
                    format!("The TLS handshake with {target} failed: {text}."),
                )
                .server(shown),
            }
        }
    }
}

/// Whether `addr` completes (or clearly starts) a TLS handshake, on a separate connection.
pub async fn speaks_tls(addr: SocketAddr, host: &str, limit: Duration) -> bool {
    let attempt = async {
        let Ok(connector) = Connector::new(&Trust::default()) else {
            return false;
        };
        let Ok(name) = server_name(host) else {
            return false;
        };
        let Ok(tcp) = TcpStream::connect(addr).await else {
            return false;
        };
        match connector.connector.connect(name, tcp).await {
            Ok(_) => true,
            // It sent a certificate: that is TLS, whatever we think of the certificate.
            Err(_) => connector.presented().is_some(),
        }
    };
    tokio::time::timeout(limit, attempt).await.unwrap_or(false)
}
