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
            "it is signed by an authority that is not trusted here (self-signed or a private CA)"
                .into()
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
            "the server presents a certificate authority's own (self-signed) certificate as its certificate".into()
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
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
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
        *self.seen.lock().expect("seen certificate") = Some(end_entity.clone().into_owned());
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

/// A connector for one attempt, and the slot where the presented certificate lands.
pub struct Connector {
    pub connector: tokio_rustls::TlsConnector,
    pub seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
    /// Certificates in the CA bundle that could not be used (reported, not fatal).
    pub bundle_problems: Vec<String>,
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
        if let Some(pem) = &trust.ca_bundle {
            let mut count = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                match cert {
                    Ok(c) => match roots.add(c) {
                        Ok(()) => count += 1,
                        Err(e) => bundle_problems.push(format!("a CA bundle certificate: {e}")),
                    },
                    Err(e) => bundle_problems.push(format!("the CA bundle: {e}")),
                }
            }
            if count == 0 && bundle_problems.is_empty() {
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
        let seen = Arc::new(Mutex::new(None));
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
        })
    }

    /// The certificate the server presented in the last handshake, if any.
    pub fn presented(&self) -> Option<CertificateInfo> {
        self.seen
            .lock()
            .expect("seen certificate")
            .as_ref()
            .map(|c| CertificateInfo::from_der(c.as_ref()))
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
    let cert_text = cert.as_ref().map(|c| c.to_string()).unwrap_or_default();
    let trust_hint = |c: &Option<CertificateInfo>| {
        let pin = c
            .as_ref()
            .map(|c| c.sha256.clone())
            .unwrap_or_else(|| "the certificate's SHA-256".into());
        format!(
            "To trust this server, add the certificate of the authority that signed it as the credential's CA bundle, or pin this certificate's SHA-256 fingerprint ({pin}) on this credential. Verification is never turned off."
        )
    };
    match kind {
        HandshakeFailure::Expired => Fail::new(
            Category::CertificateExpired,
            format!("The certificate of {target} is expired or not yet valid ({text}): {cert_text}."),
        )
        .hint("Ask the mail provider to renew the certificate; pinning its SHA-256 fingerprint on this credential trusts exactly this certificate meanwhile."),
        HandshakeFailure::WrongName => Fail::new(
            Category::CertificateWrongName,
            format!("The certificate of {target} is for another name ({text}): {cert_text}."),
        )
        .hint(format!(
            "Enter the host name the certificate is issued for{} or pin this certificate's SHA-256 fingerprint.",
            cert.as_ref()
                .filter(|c| !c.names.is_empty())
                .map(|c| format!(" ({})", c.names.join(", ")))
                .unwrap_or_default()
        )),
        HandshakeFailure::Untrusted => Fail::new(
            Category::CertificateUntrusted,
            format!(
                "The certificate of {target} is not trusted ({text}): {cert_text}.{}",
                if conn.bundle_problems.is_empty() {
                    String::new()
                } else {
                    format!(" Problems with the CA bundle: {}.", conn.bundle_problems.join("; "))
                }
            ),
        )
        .hint(if text.contains("self-signed") {
            // rustls refuses a CA certificate used as the server's own (CaUsedAsEndEntity):
            // a CA bundle cannot help, only a pin can.
            format!(
                "This server presents a self-signed authority certificate as its own; a CA bundle cannot make that valid. Pin this certificate's SHA-256 fingerprint ({}) on this credential, or ask the provider for a properly issued certificate.",
                cert.as_ref().map(|c| c.sha256.as_str()).unwrap_or("the certificate's SHA-256")
            )
        } else {
            trust_hint(&cert)
        }),
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
