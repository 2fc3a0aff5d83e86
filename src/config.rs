//! Settings: built-in defaults < `MAILROOM_*` environment < command-line flags.
//!
//! Owns the names and defaults of every setting. Must not open files or sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "mailroom-data";
/// The environment variable that replaces the default deny-list of Test Connection.
pub const DENY_NETWORKS_ENV: &str = "MAILROOM_DENY_NETWORKS";
/// Link-local (cloud metadata on most clouds), "this network" (and `::`, which reaches this
/// machine like 0.0.0.0), and the metadata addresses of clouds that use other ranges (Alibaba
/// 100.100.100.200, AWS IPv6 fd00:ec2::254, Oracle 192.0.0.192, Azure's wire server
/// 168.63.129.16).
pub const DEFAULT_DENY_NETWORKS: &str = "169.254.0.0/16, fe80::/10, 0.0.0.0/8, ::/128, \
     100.100.100.200/32, fd00:ec2::254/128, 192.0.0.192/32, 168.63.129.16/32";
/// The environment variable that adds `PRIVATE_NETWORKS` to the deny-list (`1` = on).
pub const DENY_PRIVATE_ENV: &str = "MAILROOM_DENY_PRIVATE";
/// What `MAILROOM_DENY_PRIVATE=1` adds, for hosted deployments whose users must not reach the
/// network Mailroom runs in: RFC 1918, loopback, carrier-grade NAT (100.64.0.0/10), IPv6
/// loopback, unique local (fc00::/7) and the old site-local range (fec0::/10).
pub const PRIVATE_NETWORKS: &str = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.0/8, \
     100.64.0.0/10, ::1/128, fc00::/7, fec0::/10";

pub fn default_deny_networks() -> Vec<IpNetwork> {
    IpNetwork::parse_list(DEFAULT_DENY_NETWORKS).expect("the default deny-list parses")
}

/// The deny-list from the values of `MAILROOM_DENY_NETWORKS` (unset: the default list; empty:
/// none) and `MAILROOM_DENY_PRIVATE` (`1`/`true`/`yes`/`on` adds `PRIVATE_NETWORKS`;
/// `0`/`false`/`no`/`off`/empty/unset adds nothing).
pub fn deny_list(networks: Option<&str>, private: Option<&str>) -> Result<Vec<IpNetwork>, String> {
    let mut list = match networks {
        Some(v) => IpNetwork::parse_list(v).map_err(|e| format!("{DENY_NETWORKS_ENV}: {e}"))?,
        None => default_deny_networks(),
    };
    let private = match private.map(|p| p.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "0" | "false" | "no" | "off") => false,
        Some("1" | "true" | "yes" | "on") => true,
        Some(other) => {
            return Err(format!(
                "{DENY_PRIVATE_ENV}: {other:?} is not 1 or 0. Set it to 1 to keep Test \
                 Connection and processing away from private, loopback and unique local \
                 addresses (hosted deployments), or leave it unset."
            ));
        }
    };
    if private {
        for net in IpNetwork::parse_list(PRIVATE_NETWORKS).expect("the private ranges parse") {
            if !list.contains(&net) {
                list.push(net);
            }
        }
    }
    Ok(list)
}

/// Every IPv4 address an IPv6 address stands for, so that a denied IPv4 address cannot be
/// reached through one of its IPv6 forms: IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
/// `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d` (not `::1`), NAT64 (the well-known
/// `64:ff9b::/96` and every RFC 6052 layout inside the local-use `64:ff9b:1::/48`), 6to4
/// (`2002:AABB:CCDD::/48`), Teredo (`2001:0::/32`: its server, and its client address, stored
/// inverted) and ISATAP interface ids (`…:0:5efe:a.b.c.d`, `…:200:5efe:a.b.c.d`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let b = ip.octets();
    let v4 = |i: [usize; 4]| Ipv4Addr::new(b[i[0]], b[i[1]], b[i[2]], b[i[3]]);
    let zero = |r: std::ops::Range<usize>| b[r].iter().all(|x| *x == 0);
    let last = v4([12, 13, 14, 15]);
    let seg = ip.segments();
    let mut out = Vec::new();
    // Mapped (::ffff:0:0/96) and translated (::ffff:0:0:0/96).
    if zero(0..10) && seg[5] == 0xffff || zero(0..8) && seg[4] == 0xffff && seg[5] == 0 {
        out.push(last);
    }
    // Compatible (::/96, deprecated); `::1` is IPv6 loopback, not 0.0.0.1.
    if zero(0..12) && ip != Ipv6Addr::LOCALHOST {
        out.push(last);
    }
    // NAT64, well-known prefix.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        out.push(last);
    }
    // NAT64, local-use prefix: an operator picks the prefix length (RFC 6052 §2.2), so every
    // layout whose reserved octet (bits 64–71) and suffix are zero counts.
    if seg[..3] == [0x64, 0xff9b, 1] {
        out.push(last);
        if b[8] == 0 {
            if zero(13..16) {
                out.push(v4([9, 10, 11, 12]));
            }
            if zero(12..16) {
                out.push(v4([7, 9, 10, 11]));
            }
            if zero(11..16) {
                out.push(v4([6, 7, 9, 10]));
            }
        }
    }
    // 6to4.
    if seg[0] == 0x2002 {
        out.push(v4([2, 3, 4, 5]));
    }
    // Teredo: server, and the client's public address (inverted).
    if seg[..2] == [0x2001, 0] {
        out.push(v4([4, 5, 6, 7]));
        out.push(Ipv4Addr::from(!u32::from(last)));
    }
    // ISATAP interface id.
    if (seg[4] & !0x0200) == 0 && seg[5] == 0x5efe {
        out.push(last);
    }
    out.dedup();
    out
}

/// An address range in CIDR form (`169.254.0.0/16`, `fe80::/10`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a prefix length outside 0–{max}"))?,
            None => max,
        };
        // `::ffff:169.254.0.0/112` is the IPv4 range 169.254.0.0/16 written as IPv6.
        if let IpAddr::V6(v6) = addr
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Self {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { addr, prefix })
    }

    /// A comma-separated list; empty means no ranges.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, String> {
        input
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Whether `ip` is in this range; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as
    /// its IPv4 address. Exact on purpose: lists that grant trust (proxies) use it. A deny-list
    /// uses `denies`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.contains_exact(ip)
    }

    /// Whether this deny-list range refuses `ip`: `ip` itself or any IPv4 address it embeds
    /// (`embedded_ipv4`: NAT64, 6to4, Teredo…) is in the range. Broader than `contains`, so a
    /// denied IPv4 address cannot be reached through one of its IPv6 forms.
    pub fn denies(&self, ip: IpAddr) -> bool {
        self.matched_form(ip).is_some()
    }

    /// The form of `ip` that this deny-list range refuses: `ip` itself, or the IPv4 address
    /// embedded in it (for messages: "`::a9fe:a9fe` stands for 169.254.169.254").
    pub fn matched_form(&self, ip: IpAddr) -> Option<IpAddr> {
        if self.contains_exact(ip) {
            return Some(ip);
        }
        match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6)
                .into_iter()
                .map(IpAddr::V4)
                .find(|v4| self.contains_exact(*v4)),
            IpAddr::V4(_) => None,
        }
    }

    fn contains_exact(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Holds the SQLite database and the master key file of the embedded default.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in the data directory.
    pub database_url: Option<String>,
    /// Address ranges Test Connection and processing never connect to
    /// (`MAILROOM_DENY_NETWORKS`, comma separated CIDRs, empty = none; plus the private ranges
    /// with `MAILROOM_DENY_PRIVATE=1`). An invalid value is kept as an error for `App::open`.
    pub deny_networks: Result<Vec<IpNetwork>, String>,
    /// The web edge's public address and trusted proxies (`MAILROOM_PUBLIC_URL`,
    /// `MAILROOM_TRUSTED_PROXIES`). An invalid value is kept as an error for `App::open`.
    pub web: Result<WebSettings, String>,
}

impl Settings {
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Self {
            web: WebSettings::from_values(
                std::env::var(PUBLIC_URL_ENV).ok().as_deref(),
                std::env::var(TRUSTED_PROXIES_ENV).ok().as_deref(),
            ),
            data_dir,
            database_url: database_url.filter(|u| !u.trim().is_empty()),
            deny_networks: deny_list(
                std::env::var(DENY_NETWORKS_ENV).ok().as_deref(),
                std::env::var(DENY_PRIVATE_ENV).ok().as_deref(),
            ),
        }
    }

    /// The SQLite file of the embedded default.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("mailroom.db")
    }

    /// The web settings (`App::open` refuses to start when they are invalid, so the defaults
    /// stand in only for an app built without it).
    pub fn web(&self) -> &WebSettings {
        static DEFAULT: WebSettings = WebSettings {
            public_url: None,
            trusted_proxies: Vec::new(),
        };
        self.web.as_ref().unwrap_or(&DEFAULT)
    }
}

/// The environment variable with the address people and browsers use to reach Mailroom.
pub const PUBLIC_URL_ENV: &str = "MAILROOM_PUBLIC_URL";
/// The environment variable with the proxies whose `X-Forwarded-For` names the client.
pub const TRUSTED_PROXIES_ENV: &str = "MAILROOM_TRUSTED_PROXIES";

/// How the web edge knows its own name and its clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// When set: the session cookie is `Secure` for an https URL, and admin pages answer only
    /// requests that name this host (and form posts only from this origin).
    pub public_url: Option<PublicUrl>,
    /// Requests from these addresses may name the client in `X-Forwarded-For`; from anyone
    /// else that header is ignored.
    pub trusted_proxies: Vec<IpNetwork>,
}

impl WebSettings {
    pub fn from_values(public_url: Option<&str>, trusted: Option<&str>) -> Result<Self, String> {
        let public_url = match public_url.map(str::trim).filter(|s| !s.is_empty()) {
            Some(u) => Some(PublicUrl::parse(u).map_err(|e| format!("{PUBLIC_URL_ENV}: {e}"))?),
            None => None,
        };
        let trusted_proxies = IpNetwork::parse_list(trusted.unwrap_or(""))
            .map_err(|e| format!("{TRUSTED_PROXIES_ENV}: {e}"))?;
        Ok(Self {
            public_url,
            trusted_proxies,
        })
    }
}

/// `https://mailroom.example.com` (scheme and host, optional port, no path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, lower case, without a default port: what browsers send as Origin.
    pub origin: String,
    /// `host[:port]`: what browsers send as Host.
    pub host: String,
    pub https: bool,
}

impl PublicUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let lower = input.trim().to_ascii_lowercase();
        let (https, rest) = if let Some(r) = lower.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = lower.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!(
                "{input:?} must start with https:// (or http://), as in https://mailroom.example.com"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.contains(['/', '?', '#', '@', ' '])
            || authority.ends_with(':')
        {
            return Err(format!(
                "{input:?} must be the scheme and host alone (an optional port, no path), as in https://mailroom.example.com"
            ));
        }
        let default_port = if https { ":443" } else { ":80" };
        let host = authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_string();
        Ok(Self {
            origin: format!("{}://{host}", if https { "https" } else { "http" }),
            host,
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_is_scheme_and_host_alone() {
        let u = PublicUrl::parse("HTTPS://Mail.Example.com:443/").unwrap();
        assert_eq!(
            (u.origin.as_str(), u.host.as_str(), u.https),
            ("https://mail.example.com", "mail.example.com", true)
        );
        let u = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.https), ("127.0.0.1:8080", false));
        for bad in [
            "mail.example.com",
            "https://",
            "https://x/admin",
            "ftp://x",
            "https://a@b",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(WebSettings::from_values(None, Some("10.0.0.0/8, ::1")).is_ok());
        assert!(WebSettings::from_values(None, Some("proxy")).is_err());
    }

    #[test]
    fn deny_list_matches_ranges_and_mapped_addresses() {
        let list = default_deny_networks();
        let denied = |s: &str| list.iter().any(|n| n.contains(s.parse().unwrap()));
        assert!(denied("169.254.169.254"));
        assert!(denied("::ffff:169.254.169.254"));
        assert!(denied("fe80::1"));
        assert!(denied("100.100.100.200"));
        assert!(denied("fd00:ec2::254"));
        assert!(denied("0.0.0.0"));
        assert!(!denied("127.0.0.1"));
        assert!(!denied("100.100.100.201"));
        assert!(!denied("::1"));
        assert!(IpNetwork::parse("10.0.0.0/33").is_err());
        assert!(IpNetwork::parse_list("").unwrap().is_empty());
    }

    /// 169.254.169.254 (cloud metadata) written in every IPv6 form that reaches it.
    const METADATA_IN_IPV6: &[&str] = &[
        "::ffff:169.254.169.254",               // IPv4-mapped
        "::ffff:a9fe:a9fe",                     // IPv4-mapped, hex
        "::ffff:0:a9fe:a9fe",                   // IPv4-translated (SIIT)
        "::a9fe:a9fe",                          // IPv4-compatible
        "::169.254.169.254",                    // IPv4-compatible, dotted
        "64:ff9b::a9fe:a9fe",                   // NAT64 well-known prefix
        "64:ff9b::169.254.169.254",             // NAT64, dotted
        "64:ff9b:1::a9fe:a9fe",                 // NAT64 local-use prefix, /96 layout
        "64:ff9b:1:0:a9:fea9:fe00:0",           // local-use, /64 layout (reserved octet skipped)
        "64:ff9b:1:a9:fe:a9fe::",               // local-use, /56 layout
        "64:ff9b:1:a9fe:a9:fe00::",             // local-use, /48 layout
        "2002:a9fe:a9fe::1",                    // 6to4
        "2002:a9fe:a9fe:1234:5678:9abc:def0:1", // 6to4, any host
        "2001:0:4136:e378:8000:63bf:5601:5601", // Teredo, client inverted
        "2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2", // Teredo, server
        "2001:db8::5efe:a9fe:a9fe",             // ISATAP
        "2001:db8::200:5efe:a9fe:a9fe",         // ISATAP, universal
    ];

    #[test]
    fn every_ipv6_form_of_a_denied_ipv4_address_is_denied() {
        let list = default_deny_networks();
        let denied = |s: &str| list.iter().any(|n| n.denies(s.parse().unwrap()));
        for form in METADATA_IN_IPV6 {
            assert!(
                denied(form),
                "{form} reaches 169.254.169.254 and must be denied"
            );
        }
        // Other defaults, in IPv6 form.
        for form in [
            "::ffff:168.63.129.16",
            "64:ff9b::a83f:8110",
            "2002:a83f:8110::1",
            "::ffff:100.100.100.200",
            "64:ff9b::c000:c0",
            "::",
            "::ffff:0.0.0.0",
        ] {
            assert!(denied(form), "{form}");
        }
        let azure = list
            .iter()
            .find(|n| n.denies("168.63.129.16".parse().unwrap()))
            .unwrap();
        assert_eq!(azure.to_string(), "168.63.129.16/32");
        let net = IpNetwork::parse("169.254.0.0/16").unwrap();
        assert_eq!(
            net.matched_form("64:ff9b::a9fe:a9fe".parse().unwrap()),
            Some("169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            net.matched_form("169.254.1.1".parse().unwrap()),
            Some("169.254.1.1".parse().unwrap())
        );
    }

    #[test]
    fn ordinary_public_and_local_ipv6_addresses_are_allowed_by_default() {
        let list = default_deny_networks();
        let denied = |s: &str| list.iter().any(|n| n.denies(s.parse().unwrap()));
        for ok in [
            "2a00:1450:400c:c0a::6c",               // a public mail server
            "2606:4700:4700::1111",                 // public
            "2001:db8::1",                          // documentation, no embedded form
            "::1",                // IPv6 loopback (allowed unless MAILROOM_DENY_PRIVATE)
            "::ffff:8.8.8.8",     // mapped public IPv4
            "64:ff9b::808:808",   // NAT64 of a public IPv4
            "64:ff9b:1::808:808", // local-use NAT64 of a public IPv4
            "2002:808:808::1",    // 6to4 of a public IPv4
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo of public addresses
            "127.0.0.1",
            "10.1.2.3",
            "fd12:3456::1",
        ] {
            assert!(!denied(ok), "{ok} must stay reachable by default");
        }
    }

    #[test]
    fn ipv4_ranges_written_as_ipv6_cover_the_ipv4_addresses() {
        let net = IpNetwork::parse("::ffff:169.254.0.0/112").unwrap();
        assert_eq!(net.to_string(), "169.254.0.0/16");
        assert!(net.contains("169.254.169.254".parse().unwrap()));
        assert!(net.denies("::a9fe:a9fe".parse().unwrap()));
        assert!(
            !net.contains("::a9fe:a9fe".parse().unwrap()),
            "contains is exact"
        );
    }

    #[test]
    fn deny_private_adds_the_private_ranges_to_the_list() {
        let private = [
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "100.64.0.1",
            "::1",
            "fd12:3456::1",
            "fc00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "::7f00:1",
        ];
        let public = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2a00:1450::1"];
        for on in ["1", "true", "YES", " on "] {
            let list = deny_list(None, Some(on)).unwrap();
            let denied = |s: &str| list.iter().any(|n| n.denies(s.parse().unwrap()));
            for ip in private {
                assert!(denied(ip), "{ip} with {DENY_PRIVATE_ENV}={on}");
            }
            for ip in public {
                assert!(!denied(ip), "{ip}");
            }
            // The default list stays.
            assert!(denied("169.254.169.254") && denied("::a9fe:a9fe"));
        }
        for off in [
            None,
            Some(""),
            Some("0"),
            Some("false"),
            Some("no"),
            Some("off"),
        ] {
            let list = deny_list(None, off).unwrap();
            assert_eq!(list, default_deny_networks(), "{off:?}");
        }
        // Added to an explicit list too, even an empty one.
        let list = deny_list(Some(""), Some("1")).unwrap();
        assert!(list.iter().any(|n| n.denies("10.9.9.9".parse().unwrap())));
        assert!(
            !list
                .iter()
                .any(|n| n.denies("169.254.1.1".parse().unwrap()))
        );
        let list = deny_list(Some("10.0.0.0/8"), Some("1")).unwrap();
        assert_eq!(
            list.iter()
                .filter(|n| n.to_string() == "10.0.0.0/8")
                .count(),
            1
        );

        let e = deny_list(None, Some("maybe")).unwrap_err();
        assert!(
            e.contains(DENY_PRIVATE_ENV) && e.contains("\"maybe\""),
            "{e}"
        );
        let e = deny_list(Some("nonsense"), None).unwrap_err();
        assert!(e.contains(DENY_NETWORKS_ENV), "{e}");
    }
}
