//! The DNS wire format (RFC 1035) for the two questions Mailroom asks: building an MX or SRV
//! query and reading the answer (with name compression, RFC 2782 SRV data).
//!
//! Owns bytes only: no sockets, no retries. Every malformed answer is an error in words, never
//! a panic or an endless loop (compression pointers are bounded).

use std::fmt;

pub const TYPE_MX: u16 = 15;
pub const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// The UDP payload size announced with EDNS(0) (the size DNS operators agree is safe).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Compression pointers followed in one name before it is called a loop.
const MAX_JUMPS: usize = 64;

/// A mail exchanger of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// Lower case, without the trailing dot.
    pub exchange: String,
}

/// A service record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Lower case, without the trailing dot; empty (`.`) means "no such service here".
    pub target: String,
}

/// The records of the asked type in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Mx(Mx),
    Srv(Srv),
}

impl Record {
    pub fn mx(self) -> Option<Mx> {
        match self {
            Self::Mx(m) => Some(m),
            Self::Srv(_) => None,
        }
    }

    pub fn srv(self) -> Option<Srv> {
        match self {
            Self::Srv(s) => Some(s),
            Self::Mx(_) => None,
        }
    }
}

/// What the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The records of the asked type (empty: the name exists without such records).
    Records(Vec<Record>),
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// FORMERR, SERVFAIL, REFUSED…: the server could not answer.
    Failed(u8),
}

/// Why bytes are not a usable DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

fn err<T>(why: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(why.into()))
}

/// A recursive query (RD) for `name` (ASCII) of `qtype`, with an EDNS(0) record when `edns`.
pub fn build_query(id: u16, name: &str, qtype: u16, edns: bool) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(name.len() + 30);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // standard query, recursion desired
    out.extend_from_slice(&1u16.to_be_bytes()); // one question
    out.extend_from_slice(&[0, 0, 0, 0]); // no answers, no authority
    out.extend_from_slice(&u16::from(edns).to_be_bytes());
    encode_name(name, &mut out)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        out.push(0); // root owner
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // extended rcode, version, flags, no data
    }
    Ok(out)
}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), WireError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.len() > 253 {
        return err(format!("the name {name:?} is longer than DNS allows"));
    }
    if !name.is_ascii() {
        return err(format!("the name {name:?} is not in ASCII form"));
    }
    for label in name.split('.').filter(|_| !name.is_empty()) {
        if label.is_empty() || label.len() > 63 {
            return err(format!("the name {name:?} has an empty or too long label"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// Reads a name at `*pos`, following compression pointers; moves `*pos` past the name as it
/// appears at that place. Lower case, without the trailing dot.
fn read_name(msg: &[u8], pos: &mut usize) -> Result<String, WireError> {
    let mut labels: Vec<String> = Vec::new();
    let mut at = *pos;
    let mut jumped = false;
    let mut jumps = 0;
    let mut length = 0usize;
    loop {
        let Some(&len) = msg.get(at) else {
            return err("a name runs past the end of the answer");
        };
        match len & 0xC0 {
            0x00 if len == 0 => {
                if !jumped {
                    *pos = at + 1;
                }
                break;
            }
            0x00 => {
                let label = msg
                    .get(at + 1..at + 1 + len as usize)
                    .ok_or_else(|| WireError("a name's label runs past the end".into()))?;
                length += label.len() + 1;
                if length > 255 {
                    return err("a name in the answer is longer than 255 bytes");
                }
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                at += 1 + len as usize;
            }
            0xC0 => {
                let Some(&low) = msg.get(at + 1) else {
                    return err("a compression pointer is cut off");
                };
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return err("the answer's name compression loops");
                }
                if !jumped {
                    *pos = at + 2;
                    jumped = true;
                }
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= at {
                    return err("a compression pointer points forward");
                }
                at = target;
            }
            _ => return err("a name uses an unknown label type"),
        }
    }
    Ok(labels.join("."))
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, WireError> {
    msg.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| WireError("the answer is cut off".into()))
}

/// Reads the answer to the query `id` for `name` of `qtype`. An answer to another question (a
/// stray or forged packet) is an error; records of other types (CNAMEs on the way) are skipped.
pub fn parse_answer(msg: &[u8], id: u16, name: &str, qtype: u16) -> Result<Answer, WireError> {
    if msg.len() < 12 {
        return err("the answer is shorter than a DNS header");
    }
    if u16_at(msg, 0)? != id {
        return err("the answer is for another query (id differs)");
    }
    let flags = u16_at(msg, 2)?;
    if flags & 0x8000 == 0 {
        return err("the message is a query, not an answer");
    }
    let rcode = (flags & 0x000F) as u8;
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut pos = 12;
    if questions != 1 {
        return err("the answer does not repeat the one question asked");
    }
    let asked = read_name(msg, &mut pos)?;
    let want = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if asked != want || u16_at(msg, pos)? != qtype {
        return err("the answer is for another question");
    }
    pos += 4;
    match rcode {
        0 => {}
        3 => return Ok(Answer::NoSuchName),
        other => return Ok(Answer::Failed(other)),
    }
    if flags & 0x0200 != 0 && answers == 0 {
        return err("the answer was cut off (too large for UDP)");
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        read_name(msg, &mut pos)?;
        let rtype = u16_at(msg, pos)?;
        let class = u16_at(msg, pos + 2)?;
        let len = usize::from(u16_at(msg, pos + 8)?);
        let start = pos + 10;
        let end = start + len;
        if end > msg.len() {
            return err("a record's data runs past the end of the answer");
        }
        pos = end;
        if class != CLASS_IN || rtype != qtype {
            continue;
        }
        let mut at = start;
        let record = match rtype {
            TYPE_MX => {
                let preference = u16_at(msg, at)?;
                at += 2;
                let exchange = read_name(msg, &mut at)?;
                Record::Mx(Mx {
                    preference,
                    exchange,
                })
            }
            _ => {
                let (priority, weight, port) =
                    (u16_at(msg, at)?, u16_at(msg, at + 2)?, u16_at(msg, at + 4)?);
                at += 6;
                let target = read_name(msg, &mut at)?;
                Record::Srv(Srv {
                    priority,
                    weight,
                    port,
                    target,
                })
            }
        };
        if at != end {
            return err("a record's data does not match its length");
        }
        records.push(record);
    }
    Ok(Answer::Records(records))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query` (its header and question copied) with the given answer bytes.
    fn answer_to(query: &[u8], rcode: u8, count: u16, records: &[u8]) -> Vec<u8> {
        let qend = 12 + query[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
        let mut m = query[..qend].to_vec();
        m[2] = 0x81; // answer, recursion desired
        m[3] = 0x80 | rcode; // recursion available
        m[6..8].copy_from_slice(&count.to_be_bytes());
        m[10..12].copy_from_slice(&[0, 0]); // no additional records
        m.extend_from_slice(records);
        m
    }

    #[test]
    fn builds_a_recursive_query_with_edns() {
        let q = build_query(0xBEEF, "_imaps._tcp.Example.com.", TYPE_SRV, true).unwrap();
        let mut expected = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        expected.extend_from_slice(b"\x06_imaps\x04_tcp\x07Example\x03com\x00");
        expected.extend_from_slice(&[0, 33, 0, 1]);
        expected.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(q, expected);
        let plain = build_query(1, "example.com", TYPE_MX, false).unwrap();
        assert_eq!(&plain[10..12], &[0, 0]);
        assert!(plain.ends_with(&[0, 15, 0, 1]));
    }

    #[test]
    fn refuses_names_dns_cannot_carry() {
        assert!(build_query(1, &"a".repeat(64), TYPE_MX, true).is_err());
        assert!(build_query(1, "a..b", TYPE_MX, true).is_err());
        assert!(build_query(1, "bücher.example", TYPE_MX, true).is_err());
        let long = vec!["abcdefghi"; 30].join(".");
        assert!(build_query(1, &long, TYPE_MX, true).is_err());
    }

    #[test]
    fn reads_mx_records_with_compressed_names() {
        let q = build_query(7, "contoso.com", TYPE_MX, false).unwrap();
        let mut rr = Vec::new();
        // contoso.com (pointer to the question's name at 12) MX 0 contoso-com.mail.protection.outlook.com
        rr.extend_from_slice(&[0xC0, 12, 0, 15, 0, 1, 0, 0, 0x0E, 0x10]);
        let mut data = vec![0, 0];
        data.extend_from_slice(b"\x0bcontoso-com\x04mail\x0aprotection\x07outlook\x03com\x00");
        rr.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rr.extend_from_slice(&data);
        let mut m = answer_to(&q, 0, 2, &rr);
        // A second MX whose exchange ends in a pointer into the first one's ("outlook.com").
        let outlook = m.windows(8).position(|w| w == b"\x07outlook").unwrap();
        let mut data2 = vec![0, 10];
        data2.extend_from_slice(b"\x06backup");
        data2.extend_from_slice(&[0xC0 | (outlook >> 8) as u8, outlook as u8]);
        m.extend_from_slice(&[0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(data2.len() as u16).to_be_bytes());
        m.extend_from_slice(&data2);
        assert_eq!(
            parse_answer(&m, 7, "Contoso.com.", TYPE_MX).unwrap(),
            Answer::Records(vec![
                Record::Mx(Mx {
                    preference: 0,
                    exchange: "contoso-com.mail.protection.outlook.com".into()
                }),
                Record::Mx(Mx {
                    preference: 10,
                    exchange: "backup.outlook.com".into()
                }),
            ])
        );
    }

    #[test]
    fn reads_srv_records_and_skips_other_types() {
        let q = build_query(9, "_imaps._tcp.example.org", TYPE_SRV, true).unwrap();
        let mut rr = Vec::new();
        // A CNAME on the way is skipped.
        rr.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, 12]);
        rr.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
        let mut data = vec![0, 5, 0, 10, 0x03, 0xE1];
        data.extend_from_slice(b"\x04mail\x07example\x03org\x00");
        rr.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rr.extend_from_slice(&data);
        let m = answer_to(&q, 0, 2, &rr);
        assert_eq!(
            parse_answer(&m, 9, "_imaps._tcp.example.org", TYPE_SRV).unwrap(),
            Answer::Records(vec![Record::Srv(Srv {
                priority: 5,
                weight: 10,
                port: 993,
                target: "mail.example.org".into()
            })])
        );
    }

    #[test]
    fn reads_nxdomain_empty_answers_and_server_failures() {
        let q = build_query(3, "nowhere.example", TYPE_MX, true).unwrap();
        let nx = answer_to(&q, 3, 0, &[]);
        assert_eq!(
            parse_answer(&nx, 3, "nowhere.example", TYPE_MX).unwrap(),
            Answer::NoSuchName
        );
        let empty = answer_to(&q, 0, 0, &[]);
        assert_eq!(
            parse_answer(&empty, 3, "nowhere.example", TYPE_MX).unwrap(),
            Answer::Records(vec![])
        );
        let servfail = answer_to(&q, 2, 0, &[]);
        assert_eq!(
            parse_answer(&servfail, 3, "nowhere.example", TYPE_MX).unwrap(),
            Answer::Failed(2)
        );
    }

    #[test]
    fn refuses_stray_truncated_looping_and_cut_off_answers() {
        let q = build_query(3, "example.com", TYPE_MX, true).unwrap();
        let ok = answer_to(&q, 0, 0, &[]);
        let mut truncated = ok.clone();
        truncated[2] |= 0x02;
        let at = ok.len() as u16;
        let mut looping = answer_to(&q, 0, 1, &[0xC0 | (at >> 8) as u8, at as u8]);
        looping.extend_from_slice(&[0, 15, 0, 1, 0, 0, 0, 0, 0, 0]);
        let cut = [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 0, 0, 40, 0, 1];
        let short = [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 0, 0, 3, 0, 1, 0xC0, 12];
        let refused: [(&str, &[u8], u16, &str, u16); 9] = [
            ("other id", &ok, 4, "example.com", TYPE_MX),
            ("other name", &ok, 3, "example.net", TYPE_MX),
            ("other type", &ok, 3, "example.com", TYPE_SRV),
            ("a query", &q, 3, "example.com", TYPE_MX),
            ("cut in the header", &ok[..8], 3, "example.com", TYPE_MX),
            ("truncated", &truncated, 3, "example.com", TYPE_MX),
            (
                "a name that points at itself",
                &looping,
                3,
                "example.com",
                TYPE_MX,
            ),
            (
                "data longer than the message",
                &answer_to(&q, 0, 1, &cut),
                3,
                "example.com",
                TYPE_MX,
            ),
            (
                "data shorter than its name",
                &answer_to(&q, 0, 1, &short),
                3,
                "example.com",
                TYPE_MX,
            ),
        ];
        for (what, answer, id, name, qtype) in refused {
            assert!(parse_answer(answer, id, name, qtype).is_err(), "{what}");
        }
    }
}
