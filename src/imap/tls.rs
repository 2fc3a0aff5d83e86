//! TLS for IMAP connections: the trust roots (system roots, plus a credential's CA bundle), the
//! pinned-fingerprint verifier, what a presented certificate says, and what a handshake error
//! means. Must not turn verification off: a pin accepts exactly one certificate, and the
//! handshake signature is still checked against it.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a server's certificate says, for the report (also when it was rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
