//! DNS lookups beyond addresses: MX and SRV records, for recognising a mailbox's provider.
//!
//! Owns the one `Resolver` trait (tests replace it with a stub) and `SystemResolver`, a small
//! client that asks the nameservers of `/etc/resolv.conf` over UDP, each under a timeout. Must
//! not retry forever or panic: every failure is a `DnsError` in words. Address lookups stay
//! with tokio (`lookup_host`); no TCP fallback (a truncated answer is an error).

pub mod wire;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use wire::{Answer, Record, TYPE_MX, TYPE_SRV};
pub use wire::{Mx, Srv};

/// Why a lookup gave no answer (not "the name has no such records", which is an empty list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnsError(pub String);

/// Looks up the records detection needs. Names are ASCII; an absent name or one without such
/// records is `Ok(vec![])`.
pub trait Resolver: Send + Sync {
    /// The domain's mail exchangers, most preferred first.
    fn mx(&self, domain: &str) -> impl Future<Output = Result<Vec<Mx>, DnsError>> + Send;
    /// The service records of `name` (such as `_imaps._tcp.example.com`), by priority, then
    /// heaviest weight first.
    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, DnsError>> + Send;
}

/// Asks the system's nameservers over UDP.
#[derive(Debug, Clone)]
pub struct SystemResolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

/// The time one nameserver gets to answer one question.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Nameservers asked at most (as the C library does).
const MAX_SERVERS: usize = 3;

impl SystemResolver {
    /// The nameservers of `/etc/resolv.conf` (the local one when it names none).
    pub fn from_system() -> Self {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Self::new(nameservers(&text), DEFAULT_TIMEOUT)
    }

    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Self { servers, timeout }
    }

    /// Asks each nameserver in turn until one answers; NXDOMAIN and "no records" are answers.
    async fn ask(&self, name: &str, qtype: u16) -> Result<Vec<Record>, DnsError> {
        let mut last = DnsError("no nameserver is configured".into());
        for server in self.servers.iter().take(MAX_SERVERS) {
            match self.ask_one(*server, name, qtype).await {
                Ok(records) => return Ok(records),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn ask_one(
        &self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
    ) -> Result<Vec<Record>, DnsError> {
        let mut answer = self.exchange(server, name, qtype, true).await?;
        if answer == Answer::Failed(1) {
            // FORMERR: an old server that does not know EDNS; ask plainly once.
            answer = self.exchange(server, name, qtype, false).await?;
        }
        match answer {
            Answer::Records(records) => Ok(records),
            Answer::NoSuchName => Ok(Vec::new()),
            Answer::Failed(code) => Err(DnsError(format!(
                "the DNS server {server} could not answer for {name} ({})",
                rcode_words(code)
            ))),
        }
    }

    /// One question and its answer over UDP, under the timeout.
    async fn exchange(
        &self,
        server: SocketAddr,
        name: &str,
        qtype: u16,
        edns: bool,
    ) -> Result<Answer, DnsError> {
        let id: u16 = rand::random();
        let query = wire::build_query(id, name, qtype, edns)
            .map_err(|e| DnsError(format!("cannot ask for {name}: {e}")))?;
        let io = async {
            let local: SocketAddr = match server.ip() {
                IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(server).await?;
            socket.send(&query).await?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = socket.recv(&mut buf).await?;
                // A packet for another question (late, stray or forged) is ignored.
                if let Ok(answer) = wire::parse_answer(&buf[..n], id, name, qtype) {
                    return Ok::<_, std::io::Error>(answer);
                }
            }
        };
        match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(DnsError(format!(
                "the DNS server {server} could not be reached: {e}"
            ))),
            Err(_) => Err(DnsError(format!(
                "the DNS server {server} did not answer within {} seconds",
                self.timeout.as_secs_f32()
            ))),
        }
    }
}

fn rcode_words(code: u8) -> String {
    match code {
        1 => "it called the question malformed".into(),
        2 => "server failure".into(),
        4 => "it does not support this question".into(),
        5 => "it refused to answer".into(),
        other => format!("error code {other}"),
    }
}

impl Resolver for SystemResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<Mx>, DnsError> {
        let answer = self.ask(domain, TYPE_MX).await?.into_iter();
        let mut mx: Vec<Mx> = answer.filter_map(Record::mx).collect();
        mx.sort_by_key(|m| m.preference);
        Ok(mx)
    }

    async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let answer = self.ask(name, TYPE_SRV).await?.into_iter();
        let mut srv: Vec<Srv> = answer.filter_map(Record::srv).collect();
        srv.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
        Ok(srv)
    }
}

/// The `nameserver` lines of a resolv.conf, on port 53; `127.0.0.1` when there are none.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // An IPv6 zone (`fe80::1%eth0`) is not kept: the address alone is tried.
            let addr = words.next()?.split('%').next()?;
            addr.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 53));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers_from_resolv_conf() {
        let conf = "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver  2001:db8::1\n\
                    nameserver fe80::1%eth0\nnameserver not-an-ip\noptions ndots:2\n";
        assert_eq!(
            nameservers(conf),
            vec![
                "10.0.0.2:53".parse().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap(),
            ]
        );
        assert_eq!(nameservers(""), vec!["127.0.0.1:53".parse().unwrap()]);
    }

    /// A nameserver on a local UDP port that sends `reply(query)` (packets, in order) to each
    /// query.
    async fn fake_server(reply: fn(&[u8]) -> Vec<Vec<u8>>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                for packet in reply(&buf[..n]) {
                    let _ = socket.send_to(&packet, from).await;
                }
            }
        });
        addr
    }

    /// The query turned into an answer with `count` records `rr` and response code `rcode`.
    fn answer(query: &[u8], rcode: u8, count: u16, rr: &[u8]) -> Vec<u8> {
        let qend = 12 + query[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
        let mut m = query[..qend].to_vec();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&count.to_be_bytes());
        m[10..12].copy_from_slice(&[0, 0]);
        m.extend_from_slice(rr);
        m
    }

    #[tokio::test]
    async fn asks_over_udp_ignores_stray_packets_and_sorts_by_preference() {
        let server = fake_server(|q| {
            // First a packet for another query (id + 1), then the answer: two MX out of order.
            let mut stray = answer(q, 3, 0, &[]);
            stray[1] = stray[1].wrapping_add(1);
            let mut rr = Vec::new();
            for (pref, name) in [
                (20u16, &b"\x03alt\xc0\x0c"[..]),
                (10, &b"\x02mx\xc0\x0c"[..]),
            ] {
                rr.extend_from_slice(&[0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 60]);
                rr.extend_from_slice(&((name.len() + 2) as u16).to_be_bytes());
                rr.extend_from_slice(&pref.to_be_bytes());
                rr.extend_from_slice(name);
            }
            vec![stray, answer(q, 0, 2, &rr)]
        })
        .await;
        let r = SystemResolver::new(vec![server], Duration::from_secs(5));
        let mx = r.mx("example.com").await.unwrap();
        let names: Vec<&str> = mx.iter().map(|m| m.exchange.as_str()).collect();
        assert_eq!(names, ["mx.example.com", "alt.example.com"]);
    }

    #[tokio::test]
    async fn nxdomain_is_no_records_and_servfail_is_an_error_in_words() {
        let nx = fake_server(|q| vec![answer(q, 3, 0, &[])]).await;
        let r = SystemResolver::new(vec![nx], Duration::from_secs(5));
        assert_eq!(r.srv("_imaps._tcp.nowhere.example").await.unwrap(), vec![]);
        let fail = fake_server(|q| vec![answer(q, 2, 0, &[])]).await;
        let r = SystemResolver::new(vec![fail], Duration::from_secs(5));
        let e = r.mx("example.com").await.unwrap_err();
        assert!(e.0.contains("server failure"), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_the_next_one_is_asked() {
        let silent = fake_server(|_| vec![]).await;
        let r = SystemResolver::new(vec![silent], Duration::from_millis(200));
        let e = r.mx("example.com").await.unwrap_err();
        assert!(e.0.contains("did not answer within 0.2 seconds"), "{e}");
        let good = fake_server(|q| vec![answer(q, 0, 0, &[])]).await;
        let r = SystemResolver::new(vec![silent, good], Duration::from_millis(200));
        assert_eq!(r.mx("example.com").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn an_old_server_without_edns_is_asked_again_plainly() {
        let old = fake_server(|q| {
            let has_opt = q[11] == 1;
            vec![answer(q, if has_opt { 1 } else { 0 }, 0, &[])]
        })
        .await;
        let r = SystemResolver::new(vec![old], Duration::from_secs(5));
        assert_eq!(r.mx("example.com").await.unwrap(), vec![]);
    }
}
