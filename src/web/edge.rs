//! Who is asking, and under which name: the client's address (the peer, or the address a
//! trusted proxy names in `X-Forwarded-For`), whether the browser reached us over HTTPS, and
//! whether a request names this service's public host and origin.
//!
//! Owns reading those headers; must not hold business rules or decide what a client may do.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

use crate::config::WebSettings;

/// The client's address: the peer's, unless the peer is a trusted proxy; then the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy (addresses further left
/// were written by the client and prove nothing).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, web: &WebSettings) -> IpAddr {
    let trusted = |ip: IpAddr| web.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_hop)
        .collect();
    hops.iter()
        .rev()
        .copied()
        .find(|ip| !trusted(*ip))
        .or_else(|| hops.first().copied())
        .unwrap_or(peer)
}

/// One `X-Forwarded-For` entry: an address, possibly with brackets or a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(inner) = hop.strip_prefix('[') {
        return inner.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// Whether the browser reached us over HTTPS: the public URL says so, or a trusted proxy does
/// with `X-Forwarded-Proto`.
pub fn is_https(peer: IpAddr, headers: &HeaderMap, web: &WebSettings) -> bool {
    if let Some(url) = &web.public_url {
        return url.https;
    }
    web.trusted_proxies.iter().any(|n| n.contains(peer))
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether the request names the public host (always, when no public URL is set).
pub fn names_public_host(headers: &HeaderMap, web: &WebSettings) -> bool {
    let Some(url) = &web.public_url else {
        return true;
    };
    headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| h.trim().eq_ignore_ascii_case(&url.host))
}

/// Where a browser says a form came from.
pub enum FormOrigin {
    /// `Origin` (or `Sec-Fetch-Site: same-origin`) shows this very site.
    SameOrigin,
    /// The browser named another site.
    CrossSite,
    /// Neither header: an old browser, or a script.
    Unknown,
}

/// Compares `Origin` with the public origin (or, without one, with the `Host` the request
/// names), and reads `Sec-Fetch-Site`.
pub fn form_origin(headers: &HeaderMap, web: &WebSettings) -> FormOrigin {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin = origin.trim().to_ascii_lowercase();
        let same = match &web.public_url {
            Some(url) => origin == url.origin,
            None => {
                let host = headers
                    .get(HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                origin != "null" && origin.split_once("://").is_some_and(|(_, h)| h == host)
            }
        };
        return if same {
            FormOrigin::SameOrigin
        } else {
            FormOrigin::CrossSite
        };
    }
    match fetch_site.as_deref() {
        Some("same-origin") => FormOrigin::SameOrigin,
        Some("cross-site" | "same-site") => FormOrigin::CrossSite,
        _ => FormOrigin::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn web(public: Option<&str>, trusted: &str) -> WebSettings {
        WebSettings::from_values(public, Some(trusted)).unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 198.51.100.2")]);
        assert_eq!(client_address(peer, &h, &web(None, "")), peer);
        let behind = web(None, "10.0.0.0/8");
        assert_eq!(
            client_address(peer, &h, &behind).to_string(),
            "198.51.100.2",
            "the right-most untrusted hop, not what the client wrote first"
        );
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711, 10.0.0.9")]);
        assert_eq!(client_address(peer, &h, &behind).to_string(), "2001:db8::1");
        assert_eq!(client_address(peer, &HeaderMap::new(), &behind), peer);
    }

    #[test]
    fn origins_are_compared_with_the_public_url_or_the_host() {
        let plain = web(None, "");
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(matches!(form_origin(&same, &plain), FormOrigin::SameOrigin));
        let evil = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(matches!(form_origin(&evil, &plain), FormOrigin::CrossSite));
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(matches!(form_origin(&none, &plain), FormOrigin::Unknown));
        let fetch = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(matches!(form_origin(&fetch, &plain), FormOrigin::CrossSite));
        let public = web(Some("https://mail.example.com"), "");
        let spoofed = headers(&[("host", "evil.example"), ("origin", "https://evil.example")]);
        assert!(matches!(
            form_origin(&spoofed, &public),
            FormOrigin::CrossSite
        ));
        assert!(!names_public_host(&spoofed, &public));
        let right = headers(&[
            ("host", "Mail.Example.com"),
            ("origin", "https://mail.example.com"),
        ]);
        assert!(matches!(
            form_origin(&right, &public),
            FormOrigin::SameOrigin
        ));
        assert!(names_public_host(&right, &public));
    }
}
