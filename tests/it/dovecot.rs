//! A private Dovecot for tests: a generated config in a temp dir (passwd-file passdb, static
//! userdb, Maildir), a test CA and a leaf certificate made with rcgen, free ports for `imap`
//! and `imaps` on 127.0.0.1 and 127.0.0.2, started with `dovecot -F -c FILE`. As root (CI) the
//! whole instance runs as `nobody` (imap-login refuses root). On 127.0.0.2 TLS is off, so a
//! client from 127.0.0.1 sees neither STARTTLS nor plain-text login (LOGINDISABLED). With
//! `DovecotOptions::oauth2`, an `oauth2` passdb checks XOAUTH2 / OAUTHBEARER tokens against the
//! test's authorization server (`oauth_server`). The failed-login penalty of anvil is off.
//!
//! Panics with a clear message when Dovecot is not installed: these tests never skip.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

pub const USER: &str = "alice@example.com";
pub const PASSWORD: &str = "Dovecot pass 7!x";

/// A certificate authority for tests, and leaf certificates it signs.
pub struct TestCa {
    pub cert_pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self {
            cert_pem: issuer.pem(),
            issuer,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "imap.mailroom.test");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            sha256: hex::encode(Sha256::digest(cert.der().as_ref())),
        }
    }
}

/// A server certificate that signs itself (no authority), for `names`.
pub fn self_signed_leaf(names: &[&str]) -> Leaf {
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "imap.mailroom.test");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sha256: hex::encode(Sha256::digest(cert.der().as_ref())),
    }
}

#[derive(Default, Clone)]
pub struct DovecotOptions {
    /// Serve an expired certificate.
    pub expired_certificate: bool,
    /// Serve a self-signed certificate instead of one the test CA signed.
    pub self_signed_certificate: bool,
    /// Serve this certificate (its PEM may hold a chain) instead of one the test CA signed.
    pub certificate: Option<Leaf>,
    /// Check OAuth2 tokens (XOAUTH2, OAUTHBEARER) by RFC 7662 introspection.
    pub oauth2: Option<OAuth2Passdb>,
}

/// Dovecot's `oauth2` passdb as DESIGN §3 describes it: `introspection_mode = post` against
/// the test's authorization server, beside the passwd-file passdb (which then serves only
/// PLAIN and LOGIN). No auth cache, so a revoked or expired token stops working at once.
#[derive(Clone)]
pub struct OAuth2Passdb {
    /// `http://127.0.0.1:PORT/introspect` of `oauth_server::AuthServer`.
    pub introspection_url: String,
    /// The OAuth2 mechanisms announced (default both: `xoauth2 oauthbearer`).
    pub mechanisms: &'static str,
}

impl OAuth2Passdb {
    pub fn new(introspection_url: String) -> Self {
        Self {
            introspection_url,
            mechanisms: "xoauth2 oauthbearer",
        }
    }
}

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub ca: TestCa,
    pub leaf: Leaf,
    child: Child,
    owner: Option<(u32, u32)>,
}

fn find_dovecot() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
    {
        let p = Path::new(dir).join("dovecot");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "Dovecot is not installed: the connection tests need a real IMAP server. \
         Install it with `apt-get install -y --no-install-recommends dovecot-imapd` \
         (the test script does this in CI)."
    );
}

/// The uid of `name` in /etc/passwd, or the gid in /etc/group.
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let mut parts = l.split(':');
        (parts.next()? == name).then(|| parts.nth(1)?.parse().ok())?
    })
}

fn is_root() -> bool {
    // The owner of a file we just created is us.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::MetadataExt::uid(&f.as_file().metadata().unwrap()) == 0
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

impl Dovecot {
    pub fn start() -> Self {
        Self::start_with(DovecotOptions::default())
    }

    pub fn start_with(opts: DovecotOptions) -> Self {
        let binary = find_dovecot();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let ca = TestCa::new("Mailroom Test CA");
        let names = ["127.0.0.1", "imap.mailroom.test"];
        let leaf = match &opts.certificate {
            Some(given) => given.clone(),
            None if opts.self_signed_certificate => self_signed_leaf(&names),
            None => ca.leaf(&names, opts.expired_certificate),
        };
        std::fs::write(root.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(root.join("key.pem"), &leaf.key_pem).unwrap();
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let (imap_port, imaps_port) =
            (crate::helpers::unique_port(), crate::helpers::unique_port());
        let (run_user, run_group, owner) = if is_root() {
            let uid = lookup_id("/etc/passwd", "nobody").expect("user nobody");
            let (group, gid) = match lookup_id("/etc/group", "nogroup") {
                Some(g) => ("nogroup", g),
                None => (
                    "nobody",
                    lookup_id("/etc/group", "nobody").expect("group nobody"),
                ),
            };
            ("nobody".to_string(), group.to_string(), Some((uid, gid)))
        } else {
            let user = std::env::var("USER").expect("USER");
            let group = String::from_utf8(Command::new("id").arg("-gn").output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_string();
            (user, group, None)
        };
        let r = root.display();
        let (mechanisms, oauth_passdb) = match &opts.oauth2 {
            None => ("plain login".to_string(), String::new()),
            Some(o) => {
                std::fs::write(
                    root.join("dovecot-oauth2.conf.ext"),
                    format!(
                        "introspection_url = {}\nintrospection_mode = post\nusername_attribute = username\nactive_attribute = active\nactive_value = true\ntimeout_msecs = 5000\n",
                        o.introspection_url
                    ),
                )
                .unwrap();
                (
                    format!("plain login {}", o.mechanisms),
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = {}\n  args = {r}/dovecot-oauth2.conf.ext\n}}\n",
                        o.mechanisms
                    ),
                )
            }
        };
        let config = format!(
            r#"base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1, 127.0.0.2
default_internal_user = {run_user}
default_internal_group = {run_group}
default_login_user = {run_user}
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
mail_location = maildir:{r}/mail/%u
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {r}/passwd
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={run_user} gid={run_group} home={r}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
local 127.0.0.2 {{
  ssl = no
}}
"#
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
        let mut cmd = if let Some((uid, gid)) = owner {
            chown_tree(root, uid, gid);
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
            ])
            .arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        cmd.arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start dovecot");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let up = [
                ("127.0.0.1", imap_port),
                ("127.0.0.1", imaps_port),
                ("127.0.0.2", imap_port),
            ]
            .iter()
            .all(|(h, p)| TcpStream::connect((*h, *p)).is_ok());
            if up {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let log = std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default();
                panic!("dovecot exited at start ({status}): {err}\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen within 15 s: {}",
                std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            dir,
            imap_port,
            imaps_port,
            ca,
            leaf,
            child,
            owner,
        }
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join(USER)
    }

    fn own(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            chown_tree(path, uid, gid);
        }
    }

    /// Changes the account's password on the server (Dovecot re-reads the passwd file).
    pub fn set_password(&self, password: &str) {
        let path = self.dir.path().join("passwd");
        let tmp = self.dir.path().join("passwd.new");
        std::fs::write(&tmp, format!("{USER}:{{PLAIN}}{password}\n")).unwrap();
        self.own(&tmp);
        std::fs::rename(&tmp, &path).unwrap();
        // Dovecot checks a passwd-file for changes at most once per second of its clock
        // (passwd_file_sync); wait until the second in which the file changed is over.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        std::thread::sleep(Duration::from_nanos(
            1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
        ));
    }

    /// Puts `unseen` new messages and `seen` messages flagged \Seen into INBOX.
    pub fn seed(&self, unseen: usize, seen: usize) {
        let md = self.maildir();
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(d)).unwrap();
        }
        for i in 0..unseen + seen {
            let body = format!(
                "From: sender{i}@example.net\r\nTo: {USER}\r\nSubject: Test {i}\r\nMessage-ID: <{i}@example.net>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\r\nBody {i}\r\n"
            );
            let name = format!("1700000{i:03}.M{i}P1.mailroom");
            let path = if i < unseen {
                md.join("new").join(name)
            } else {
                md.join("cur").join(format!("{name}:2,S"))
            };
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(body.as_bytes()).unwrap();
        }
        self.own(&md);
    }

    /// How many messages in INBOX carry the \Seen flag, read from the Maildir file names.
    pub fn seen_count(&self) -> usize {
        let md = self.maildir();
        let mut n = 0;
        for d in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(md.join(d)) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if let Some((_, flags)) = name.rsplit_once(":2,")
                        && flags.contains('S')
                    {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Dovecot's own log (for assertions and failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
