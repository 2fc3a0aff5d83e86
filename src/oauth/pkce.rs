//! PKCE (RFC 7636) with the S256 method, and the random `state` of an authorization request.
//!
//! Owns making verifiers, challenges and states. Must not keep a verifier anywhere but in a
//! `Secret`; the challenge and the state are not secret (they travel in the browser's URL).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroize as _;

use crate::domain::Secret;

/// A code verifier and its S256 challenge, made together for one authorization request.
#[derive(Debug)]
pub struct Pkce {
    /// Sent only to the token endpoint, with the code.
    pub verifier: Secret,
    /// Sent in the authorization URL (`code_challenge`).
    pub challenge: String,
}

impl Pkce {
    /// The `code_challenge_method` this crate uses.
    pub const METHOD: &'static str = "S256";

    /// A fresh verifier: 32 random bytes, base64url without padding (43 characters, inside the
    /// 43..=128 RFC 7636 allows).
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let verifier = Secret::new(URL_SAFE_NO_PAD.encode(bytes));
        bytes.zeroize();
        Self::from_verifier(verifier)
    }

    /// The pair for a verifier kept from earlier (the callback of the flow).
    pub fn from_verifier(verifier: Secret) -> Self {
        let challenge = challenge_of(verifier.expose());
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// `BASE64URL(SHA256(verifier))`, the S256 challenge.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An unguessable `state` (or any other one-time value): 32 random bytes, base64url.
pub fn random_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_gives_its_challenge() {
        // RFC 7636, Appendix B.
        let p = Pkce::from_verifier(Secret::new(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        ));
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_are_fresh_and_well_formed() {
        let (a, b) = (Pkce::new(), Pkce::new());
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_eq!(a.verifier.expose().len(), 43);
        assert!(
            a.verifier
                .expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.challenge, challenge_of(a.verifier.expose()));
        assert_eq!(format!("{:?}", a.verifier), "[redacted]");
        assert_ne!(random_state(), random_state());
    }
}
