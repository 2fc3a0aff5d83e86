//! A corpus of emails written by this code (nothing copied from elsewhere), one per MIME shape:
//! the ones issue 17 names and the usual real-world ones. Each sample is built from a tree whose
//! leaves say where they must end up — in the case body (with the text that must appear there),
//! as the body's HTML for display, or as an attachment — so the test walks the same tree it
//! sent. All of them are delivered to the test Dovecot and polled once; for each case: the
//! original round-trips byte for byte through `/original`, every body leaf's text is in the
//! body, and the attachments are exactly the leaves not in the body.

use serde_json::Value;

use crate::dovecot::{Dovecot, USER};
use crate::helpers::TestApp;
use crate::processing::{connect_mailbox, deliver};

/// Where a leaf must end up.
#[derive(Clone)]
pub enum Goes {
    /// In the body; the text must appear in the case's issue.
    Body(String),
    /// The HTML alternative of a text part: kept for display, neither text nor attachment.
    Display,
    /// An attachment.
    Attached,
}

/// A MIME tree as written on the wire.
#[derive(Clone)]
pub enum Node {
    Leaf {
        /// Header lines of the part, each ending in CRLF (may be empty).
        headers: String,
        /// The body as sent (already transfer-encoded).
        body: String,
        goes: Goes,
    },
    Multi {
        subtype: String,
        boundary: String,
        children: Vec<Node>,
    },
    /// An attached email (`message/rfc822`): one attachment.
    Email { headers: String, inner: Box<Sample> },
}

pub fn leaf(headers: &str, body: &str, goes: Goes) -> Node {
    Node::Leaf {
        headers: headers.to_string(),
        body: body.to_string(),
        goes,
    }
}

pub fn text(content_type: &str, words: &str) -> Node {
    leaf(
        &format!("Content-Type: {content_type}\r\n"),
        &format!("{words}\r\n"),
        Goes::Body(words.to_string()),
    )
}

pub fn multi(subtype: &str, children: Vec<Node>) -> Node {
    Node::Multi {
        subtype: subtype.to_string(),
        boundary: format!("=_{subtype}_{}", children.len()),
        children,
    }
}

fn body_of(text: &str) -> Goes {
    Goes::Body(text.to_string())
}

/// One sample email and its tree.
#[derive(Clone)]
pub struct Sample {
    pub name: String,
    pub subject: String,
    pub top: Node,
    /// Extra top-level header lines (each ending in CRLF).
    pub extra: String,
}

impl Sample {
    pub fn new(name: &str, top: Node) -> Self {
        Self {
            name: name.to_string(),
            subject: format!("Corpus {name}"),
            top,
            extra: String::new(),
        }
    }

    /// The bytes sent.
    pub fn raw(&self) -> Vec<u8> {
        let mut out = format!(
            "From: Corpus Sender <corpus@client.example>\r\nTo: {USER}\r\nSubject: {}\r\nMessage-ID: <{}@corpus.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{}",
            self.subject, self.name, self.extra
        )
        .into_bytes();
        render(&self.top, &mut out);
        out
    }

    /// (texts that must be in the body, number of attachments).
    pub fn expected(&self) -> (Vec<String>, usize) {
        let mut texts = Vec::new();
        let mut attachments = 0;
        walk(&self.top, &mut texts, &mut attachments);
        (texts, attachments)
    }
}

/// Headers of a node (Content-Type and friends) then a blank line and its body.
fn render(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Leaf { headers, body, .. } => {
            out.extend(headers.as_bytes());
            out.extend(b"\r\n");
            out.extend(body.as_bytes());
        }
        Node::Multi {
            subtype,
            boundary,
            children,
        } => {
            out.extend(
                format!(
                    "Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n"
                )
                .as_bytes(),
            );
            for c in children {
                out.extend(format!("\r\n--{boundary}\r\n").as_bytes());
                render(c, out);
            }
            out.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        }
        Node::Email { headers, inner } => {
            out.extend(headers.as_bytes());
            out.extend(b"\r\n");
            out.extend(inner.raw());
        }
    }
}

fn walk(node: &Node, texts: &mut Vec<String>, attachments: &mut usize) {
    match node {
        Node::Leaf { goes, .. } => match goes {
            Goes::Body(t) => texts.push(t.clone()),
            Goes::Display => {}
            Goes::Attached => *attachments += 1,
        },
        Node::Multi { children, .. } => {
            for c in children {
                walk(c, texts, attachments);
            }
        }
        Node::Email { .. } => *attachments += 1,
    }
}

fn email_part(disposition: bool, inner: Sample) -> Node {
    Node::Email {
        headers: if disposition {
            "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n".into()
        } else {
            "Content-Type: message/rfc822\r\n".into()
        },
        inner: Box::new(inner),
    }
}

fn digest_part(inner: Sample) -> Node {
    Node::Email {
        headers: String::new(),
        inner: Box::new(inner),
    }
}

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn image(name: &str, cid: &str) -> Node {
    leaf(
        &format!(
            "Content-Type: image/png; name=\"{name}\"\r\nContent-ID: <{cid}>\r\nContent-Disposition: inline; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n"
        ),
        &format!("{PNG_B64}\r\n"),
        Goes::Attached,
    )
}

fn pdf(name: &str) -> Node {
    leaf(
        &format!(
            "Content-Type: application/pdf; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n"
        ),
        "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\r\n",
        Goes::Attached,
    )
}

fn inner_email(name: &str, subject: &str, words: &str) -> Sample {
    let mut s = Sample::new(name, text("text/plain; charset=utf-8", words));
    s.subject = subject.to_string();
    s
}

/// Every shape of the corpus.
pub fn corpus() -> Vec<Sample> {
    let mut v = vec![
        Sample::new(
            "plain",
            text("text/plain; charset=us-ascii", "Just one plain paragraph."),
        ),
        Sample::new(
            "four-inline-parts",
            multi(
                "mixed",
                vec![
                    text("text/plain", "Part one of four."),
                    text("text/plain", "Part two of four."),
                    text(
                        "text/plain; charset=utf-8",
                        "Part three of four, with ümlauts.",
                    ),
                    text("text/plain", "Part four of four."),
                ],
            ),
        ),
        Sample::new(
            "rfc2046-example",
            multi(
                "mixed",
                vec![
                    leaf(
                        "",
                        "This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.",
                        body_of("This is implicitly typed plain US-ASCII text."),
                    ),
                    leaf(
                        "Content-type: text/plain; charset=us-ascii\r\n",
                        "This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n",
                        body_of("This is explicitly typed plain US-ASCII text."),
                    ),
                ],
            ),
        ),
        Sample::new(
            "html-unclosed-head",
            leaf(
                "Content-Type: text/html; charset=utf-8\r\n",
                "<html><head><title>Notice</title><style>p { color: red }</style><body><p>The payroll run is <b>done</b>.</p></body></html>\r\n",
                body_of("The payroll run is done."),
            ),
        ),
        Sample::new(
            "text-without-subtype",
            leaf(
                "Content-Type: text\r\n",
                "A text with no subtype.\r\n",
                body_of("A text with no subtype."),
            ),
        ),
        Sample::new(
            "unknown-text-subtype",
            multi(
                "mixed",
                vec![
                    text("text/plain", "Before the odd part."),
                    text("text/x-markdown", "An *odd* text subtype."),
                ],
            ),
        ),
        Sample::new(
            "three-attached-emails",
            multi(
                "mixed",
                vec![
                    text("text/plain", "Three backup reports attached."),
                    email_part(
                        false,
                        inner_email("pve1", "Backup of vm 101 ok", "vzdump 101 finished."),
                    ),
                    email_part(
                        true,
                        inner_email("pve2", "Backup of vm 102 ok", "vzdump 102 finished."),
                    ),
                    email_part(
                        false,
                        inner_email("pve3", "Backup of vm 103 failed", "vzdump 103 failed."),
                    ),
                ],
            ),
        ),
        Sample::new(
            "digest",
            multi(
                "digest",
                vec![
                    digest_part(inner_email("d1", "Digest item one", "First digest item.")),
                    digest_part(inner_email("d2", "Digest item two", "Second digest item.")),
                ],
            ),
        ),
        Sample::new(
            "nested-multiparts",
            multi(
                "mixed",
                vec![
                    multi(
                        "alternative",
                        vec![
                            text("text/plain", "Nested plain body."),
                            multi(
                                "related",
                                vec![
                                    leaf(
                                        "Content-Type: text/html\r\n",
                                        "<p>Nested <i>HTML</i> body.<img src=\"cid:logo\"></p>\r\n",
                                        Goes::Display,
                                    ),
                                    image("logo.png", "logo"),
                                ],
                            ),
                        ],
                    ),
                    pdf("statement.pdf"),
                ],
            ),
        ),
        Sample::new(
            "forwarded-inline",
            multi(
                "mixed",
                vec![
                    text("text/plain", "See the message below."),
                    Node::Email {
                        headers: "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n"
                            .into(),
                        inner: Box::new(inner_email(
                            "fwd",
                            "Original question",
                            "Can you check my payslip?",
                        )),
                    },
                ],
            ),
        ),
        Sample::new(
            "forwarded-as-text",
            text(
                "text/plain",
                "FYI.\r\n\r\n---------- Forwarded message ---------\r\nFrom: Ann <ann@client.example>\r\nSubject: Tax form\r\n\r\nPlease find the form.",
            ),
        ),
        Sample::new(
            "inline-images-html-only",
            multi(
                "related",
                vec![
                    leaf(
                        "Content-Type: text/html; charset=utf-8\r\n",
                        "<html><body><p>Chart one, then chart two.</p><img src=\"cid:a\"><img src=\"cid:b\"></body></html>\r\n",
                        body_of("Chart one, then chart two."),
                    ),
                    image("a.png", "a"),
                    image("b.png", "b"),
                ],
            ),
        ),
        Sample::new(
            "calendar-invite",
            multi(
                "mixed",
                vec![
                    multi(
                        "alternative",
                        vec![
                            text("text/plain", "You are invited to the payroll review."),
                            leaf(
                                "Content-Type: text/html\r\n",
                                "<p>You are invited to the payroll review.</p>\r\n",
                                Goes::Display,
                            ),
                            leaf(
                                "Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n",
                                "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Payroll review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                                Goes::Attached,
                            ),
                        ],
                    ),
                    leaf(
                        "Content-Type: application/ics; name=\"invite.ics\"\r\nContent-Disposition: attachment; filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64\r\n",
                        "QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n",
                        Goes::Attached,
                    ),
                ],
            ),
        ),
        Sample::new(
            "bounce",
            multi(
                "report",
                vec![
                    text(
                        "text/plain",
                        "Your message could not be delivered to nobody@nowhere.example.",
                    ),
                    leaf(
                        "Content-Type: message/delivery-status\r\n",
                        "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; nobody@nowhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n",
                        Goes::Attached,
                    ),
                    leaf(
                        "Content-Type: text/rfc822-headers\r\n",
                        "From: payroll@example.com\r\nSubject: Your payslip\r\n",
                        body_of("Subject: Your payslip"),
                    ),
                ],
            ),
        ),
        Sample::new(
            "encoded-text-parts",
            multi(
                "mixed",
                vec![
                    leaf(
                        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n",
                        "Gr=FC=DFe aus M=FCnchen.\r\n",
                        body_of("Grüße aus München."),
                    ),
                    leaf(
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
                        "QmFzZTY0IHRleHQgcGFydC4=\r\n",
                        body_of("Base64 text part."),
                    ),
                ],
            ),
        ),
        Sample::new(
            "attached-text-file",
            multi(
                "mixed",
                vec![
                    text("text/plain", "The log is attached."),
                    leaf(
                        "Content-Type: text/plain; name=\"server.log\"\r\nContent-Disposition: attachment; filename=\"server.log\"\r\n",
                        "12:00 started\r\n12:01 stopped\r\n",
                        Goes::Attached,
                    ),
                ],
            ),
        ),
        Sample::new(
            "signed",
            multi(
                "signed",
                vec![
                    text("text/plain", "This message is signed."),
                    leaf(
                        "Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n",
                        "-----BEGIN PGP SIGNATURE-----\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n",
                        Goes::Attached,
                    ),
                ],
            ),
        ),
        Sample::new(
            "text-image-text",
            multi(
                "mixed",
                vec![
                    text("text/plain", "Above the picture."),
                    image("photo.png", "photo"),
                    text("text/plain", "Below the picture."),
                ],
            ),
        ),
        Sample::new(
            "text-and-html-in-mixed",
            multi(
                "mixed",
                vec![
                    text("text/plain", "A plain paragraph."),
                    leaf(
                        "Content-Type: text/html\r\n",
                        "<div>An <u>HTML</u> paragraph &amp; more.</div>\r\n",
                        body_of("An HTML paragraph & more."),
                    ),
                ],
            ),
        ),
        Sample::new(
            "html-only-alternative",
            multi(
                "alternative",
                vec![leaf(
                    "Content-Type: text/html\r\n",
                    "<table><tr><td>Cell A</td><td>Cell B</td></tr></table>\r\n",
                    body_of("Cell A"),
                )],
            ),
        ),
        Sample::new(
            "empty-text-part",
            multi(
                "mixed",
                vec![
                    leaf(
                        "Content-Type: text/plain\r\n",
                        "",
                        Goes::Body(String::new()),
                    ),
                    pdf("empty-body.pdf"),
                ],
            ),
        ),
    ];
    // A multipart whose boundary never appears: its content is read as text.
    let broken = Sample::new(
        "broken-boundary",
        leaf(
            "Content-Type: multipart/mixed; boundary=\"NOT-THERE\"\r\n",
            "--SOMETHING-ELSE\r\nContent-Type: text/plain\r\n\r\nThe words survive a broken boundary.\r\n--SOMETHING-ELSE--\r\n",
            body_of("The words survive a broken boundary."),
        ),
    );
    v.push(broken);
    v
}

async fn case_by_subject(app: &TestApp, subject: &str) -> Value {
    let r = app.get("/api/v1/cases?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == subject)
        .unwrap_or_else(|| panic!("a case for {subject}"))
        .clone();
    let id = listed["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/cases/{id}")).await.body
}

pub async fn original_of(app: &TestApp, case_id: i64) -> (u16, String, Vec<u8>) {
    let r = app
        .client
        .get(format!("{}/api/v1/cases/{case_id}/original", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn every_shape_of_the_corpus_keeps_its_original_its_text_and_its_parts() {
    let d = Dovecot::start();
    let app = TestApp::spawn().await;
    let (cred, _, _) = connect_mailbox(&app, &d, true).await;
    app.app.poll_once(cred, |_, _| {}).await.unwrap();
    let samples = corpus();
    for s in &samples {
        deliver(&d, &format!("{}.corpus", s.name), &s.raw(), false);
    }
    let report = app.app.poll_once(cred, |_, _| {}).await.unwrap();
    assert_eq!(
        report.cases_created,
        samples.len() as u64,
        "every sample becomes a case: {report:?}"
    );
    for s in &samples {
        let case = case_by_subject(&app, &s.subject).await;
        let id = case["id"].as_i64().unwrap();
        let (status, ctype, bytes) = original_of(&app, id).await;
        assert_eq!(
            (status, ctype.as_str()),
            (200, "message/rfc822"),
            "{}",
            s.name
        );
        assert!(
            bytes == s.raw(),
            "{}: the original differs from what was sent",
            s.name
        );
        let issue = case["issue"].as_str().unwrap();
        let (texts, attachments) = s.expected();
        for t in texts {
            assert!(
                issue.contains(&t),
                "{}: {t:?} is missing from the body {issue:?}",
                s.name
            );
        }
        let names: Vec<&str> = case["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            attachments,
            "{}: attachments {names:?}, body {issue:?}",
            s.name
        );
        assert_eq!(case["attachment_count"], attachments as i64, "{}", s.name);
    }
    // The attached emails are one attachment each, named by their subjects.
    let three = case_by_subject(&app, "Corpus three-attached-emails").await;
    let names: Vec<&str> = three["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Backup of vm 101 ok.eml",
            "Backup of vm 102 ok.eml",
            "Backup of vm 103 failed.eml"
        ]
    );
    let digest = case_by_subject(&app, "Corpus digest").await;
    for a in digest["attachments"].as_array().unwrap() {
        assert_eq!(a["content_type"], "message/rfc822", "{a}");
    }
    // The HTML of a text/html alternative is kept for display.
    let nested = case_by_subject(&app, "Corpus nested-multiparts").await;
    assert!(
        nested["issue_html"]
            .as_str()
            .is_some_and(|h| h.contains("<i>HTML</i>")),
        "{nested}"
    );
    assert!(!nested["issue"].as_str().unwrap().contains("HTML body"));
}
