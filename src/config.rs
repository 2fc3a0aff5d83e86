//! Settings: built-in defaults < `MAILROOM_*` environment < command-line flags.
//!
//! Owns the names and defaults of every setting. Must not open files or sockets.

use std::net::IpAddr;
use std::path::PathBuf;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "mailroom-data";
/// The environment variable that replaces the default deny-list of Test Connection.
pub const DENY_NETWORKS_ENV: &str = "MAILROOM_DENY_NETWORKS";
/// Link-local (cloud metadata on most clouds), "this network", and the metadata addresses of
/// clouds that use other ranges (Alibaba 100.100.100.200, AWS IPv6 fd00:ec2::254, Oracle
/// 192.0.0.192).
pub const DEFAULT_DENY_NETWORKS: &str =
    "169.254.0.0/16, fe80::/10, 0.0.0.0/8, 100.100.100.200/32, fd00:ec2::254/128, 192.0.0.192/32";

pub fn default_deny_networks() -> Vec<IpNetwork> {
    IpNetwork::parse_list(DEFAULT_DENY_NETWORKS).expect("the default deny-list parses")
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

    /// Whether `ip` is in this range; IPv4-mapped IPv6 addresses count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
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
    /// Address ranges Test Connection never connects to (`MAILROOM_DENY_NETWORKS`, comma
    /// separated CIDRs; empty = none). An invalid value is kept as an error for `App::open`.
    pub deny_networks: Result<Vec<IpNetwork>, String>,
}

impl Settings {
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Self {
            data_dir,
            database_url: database_url.filter(|u| !u.trim().is_empty()),
            deny_networks: match std::env::var(DENY_NETWORKS_ENV) {
                Ok(v) => IpNetwork::parse_list(&v).map_err(|e| format!("{DENY_NETWORKS_ENV}: {e}")),
                Err(_) => Ok(default_deny_networks()),
            },
        }
    }

    /// The SQLite file of the embedded default.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("mailroom.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
