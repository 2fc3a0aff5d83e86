//! The MIME walk on hand-written shapes: every text part in the body, the rest attached.

use crate::ingest::{ParseError, ParsedEmail};

fn parse(raw: &str) -> ParsedEmail {
    ParsedEmail::parse(raw.as_bytes()).expect("parses")
}

const HEAD: &str =
    "From: a@client.example\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n";

#[test]
fn every_inline_text_part_of_a_mixed_message_is_in_the_body_in_order() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nFirst part.\r\n--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b\r\nContent-Type: text/plain\r\n\r\nSecond part.\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThird part, gr=FC=DFe.\r\n--b--\r\n"
    ));
    assert_eq!(
        p.text,
        "First part.\n\n---\n\nSecond part.\n\n---\n\nThird part, grüße."
    );
    assert_eq!(p.attachments.len(), 1);
    assert_eq!(p.attachments[0].content_type, "image/png");
    assert_eq!(p.attachments[0].name, "part-1.png");
}

#[test]
fn the_rfc_2046_example_keeps_both_paragraphs() {
    // RFC 2046 §5.1.1: an implicitly typed part, then an explicit text/plain one.
    let p = parse(
        "From: Nathaniel Borenstein <nsb@bellcore.com>\r\nTo: Ned Freed <ned@innosoft.com>\r\nDate: Sun, 21 Mar 1993 23:56:48 -0800 (PST)\r\nSubject: Sample message\r\nMIME-Version: 1.0\r\nContent-type: multipart/mixed; boundary=\"simple boundary\"\r\n\r\nThis is the preamble.  It is to be ignored, though it\r\nis a handy place for composition agents to include an\r\nexplanatory note to non-MIME conformant readers.\r\n\r\n--simple boundary\r\n\r\nThis is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.\r\n--simple boundary\r\nContent-type: text/plain; charset=us-ascii\r\n\r\nThis is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n\r\n--simple boundary--\r\n\r\nThis is the epilogue.  It is also to be ignored.\r\n",
    );
    assert!(p.text.contains("This is implicitly typed"), "{}", p.text);
    assert!(p.text.contains("This is explicitly typed"), "{}", p.text);
    assert!(!p.text.contains("preamble") && !p.text.contains("epilogue"));
    assert!(p.attachments.is_empty());
}

#[test]
fn html_only_mail_with_an_unclosed_head_still_has_its_text() {
    let p = parse(&format!(
        "{HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>Notice</title><style>p {{ color: red }}</style><body><p>Your payslip is <b>ready</b>.</p><p>Second paragraph &amp; more.</p></body></html>\r\n"
    ));
    assert!(p.text.contains("Your payslip is ready."), "{}", p.text);
    assert!(p.text.contains("Second paragraph & more."), "{}", p.text);
    assert!(!p.text.contains("color"), "{}", p.text);
    assert!(p.html.as_deref().unwrap().contains("<b>ready</b>"));
    assert!(p.attachments.is_empty());
}

#[test]
fn html_becomes_text_only_where_no_text_alternative_exists() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nPlain version.\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>HTML version.</p>\r\n--a--\r\n"
    ));
    assert_eq!(p.text, "Plain version.");
    assert_eq!(p.html.as_deref(), Some("<p>HTML version.</p>"));
    assert!(
        p.attachments.is_empty(),
        "the HTML alternative is the body's, not a file"
    );
}

#[test]
fn text_with_no_subtype_and_unknown_text_subtypes_read_as_plain_text() {
    let p = parse(&format!(
        "{HEAD}Content-Type: text\r\n\r\nNo subtype here.\r\n"
    ));
    assert_eq!(p.text, "No subtype here.");
    assert!(p.attachments.is_empty());
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/x-unheard-of\r\n\r\nUnknown subtype.\r\n--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n"
    ));
    assert_eq!(p.text, "Unknown subtype.");
    assert_eq!(p.attachments.len(), 1, "a calendar is data, not prose");
    assert_eq!(p.attachments[0].content_type, "text/calendar");
    assert_eq!(p.attachments[0].name, "part-1.ics");
}

#[test]
fn a_multipart_whose_boundary_never_matches_is_read_as_text() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=NOPE\r\n\r\n--WRONG\r\nContent-Type: text/plain\r\n\r\nThe words are still here.\r\n--WRONG--\r\n"
    ));
    assert!(p.text.contains("The words are still here."), "{}", p.text);
    assert!(p.attachments.is_empty(), "{:?}", p.attachments);
}

#[test]
fn parts_of_a_digest_default_to_attached_emails() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: x@example.org\r\nSubject: Digest one\r\n\r\nFirst.\r\n--d\r\n\r\nFrom: y@example.org\r\nSubject: Digest two\r\n\r\nSecond.\r\n--d--\r\n"
    ));
    assert_eq!(p.attachments.len(), 2, "{:?}", p.attachments);
    for (a, subject, body) in [
        (&p.attachments[0], "Digest one", "First."),
        (&p.attachments[1], "Digest two", "Second."),
    ] {
        assert_eq!(a.content_type, "message/rfc822");
        assert_eq!(a.name, format!("{subject}.eml"));
        let inner = String::from_utf8(a.bytes.clone()).unwrap();
        assert!(
            inner.starts_with("From: ") && inner.trim_end().ends_with(body),
            "{inner:?}"
        );
    }
}

#[test]
fn three_attached_emails_are_three_attachments_with_exactly_their_bytes() {
    let inner = |n: usize| {
        format!(
            "From: node{n}@pve.example\r\nSubject: Backup report {n}\r\nContent-Type: multipart/alternative; boundary=in{n}\r\n\r\n--in{n}\r\nContent-Type: text/plain\r\n\r\nJob {n} finished.\r\n--in{n}\r\nContent-Type: text/html\r\n\r\n<p>Job {n} finished.</p>\r\n--in{n}--\r\n"
        )
    };
    let raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: text/plain\r\n\r\nThree reports attached.\r\n--out\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--out\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{}\r\n--out\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--out--\r\n",
        inner(1),
        inner(2),
        inner(3)
    );
    let p = parse(&raw);
    assert_eq!(p.text, "Three reports attached.");
    assert_eq!(p.attachments.len(), 3, "{:?}", p.attachments);
    for (i, a) in p.attachments.iter().enumerate() {
        let n = i + 1;
        assert_eq!(a.name, format!("Backup report {n}.eml"));
        assert_eq!(a.content_type, "message/rfc822");
        assert_eq!(String::from_utf8(a.bytes.clone()).unwrap(), inner(n));
    }
}

#[test]
fn a_calendar_invite_keeps_its_text_and_attaches_the_invitation() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nYou are invited.\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>You are invited.</p>\r\n--a\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--a--\r\n--m\r\nContent-Type: application/ics; name=invite.ics\r\nContent-Disposition: attachment; filename=invite.ics\r\nContent-Transfer-Encoding: base64\r\n\r\nQkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n--m--\r\n"
    ));
    assert_eq!(p.text, "You are invited.");
    let names: Vec<&str> = p.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["part-1.ics", "invite.ics"]);
}

#[test]
fn related_html_with_an_inline_image_and_an_alternative() {
    let p = parse(&format!(
        "{HEAD}Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nLogo below.\r\n--a\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p>Logo below.<img src=\"cid:logo\"></p>\r\n--r\r\nContent-Type: image/gif\r\nContent-ID: <logo>\r\nContent-Disposition: inline; filename=logo.gif\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n--r--\r\n--a--\r\n"
    ));
    assert_eq!(p.text, "Logo below.");
    assert!(p.html.as_deref().unwrap().contains("cid:logo"));
    assert_eq!(p.attachments.len(), 1);
    assert_eq!(p.attachments[0].name, "logo.gif");
}

#[test]
fn binary_content_with_no_header_block_is_not_an_email() {
    // The start of an OLE compound file, as an Outlook .msg begins.
    let mut msg = vec![0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
    msg.extend((0..20_000u32).map(|i| (i % 251) as u8));
    assert!(matches!(
        ParsedEmail::parse(&msg),
        Err(ParseError::NotAnEmail)
    ));
    assert!(
        ParseError::NotAnEmail
            .to_string()
            .starts_with("not an email")
    );
    assert!(matches!(
        ParsedEmail::parse(b"Just some text pasted in,\r\nno headers at all.\r\n"),
        Err(ParseError::NotAnEmail)
    ));
    assert!(matches!(
        ParsedEmail::parse(b"X-Thing: 1\r\nOther: 2\r\n\r\nno email header"),
        Err(ParseError::NotAnEmail)
    ));
    // An mbox separator line before the headers is fine; so are LF-only headers.
    assert!(ParsedEmail::parse(b"From a@example.com Mon Nov  2 10:00:00 2026\nFrom: a@example.com\nSubject: x\n\nbody\n").is_ok());
}

#[test]
fn deeply_nested_html_and_multiparts_do_not_overflow() {
    let html = format!(
        "{}deep{}",
        "<div><span>".repeat(20_000),
        "</span></div>".repeat(20_000)
    );
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let p = parse(&format!("{HEAD}Content-Type: text/html\r\n\r\n{html}\r\n"));
            assert!(p.text.contains("deep"), "{}", p.text.len());
            let mut raw = HEAD.to_string();
            for i in 0..200 {
                raw.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
                ));
            }
            raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
            let p = parse(&raw);
            assert!(p.text.contains("bottom") || !p.attachments.is_empty());
        })
        .unwrap();
    handle.join().expect("no overflow");
}

#[test]
fn html_depth_counts_nesting_not_line_breaks() {
    use super::html_depth;
    let flat = format!(
        "<html><body>{}</body></html>",
        "<p>line<br>more &amp; more\n".repeat(5_000)
    );
    assert_eq!(html_depth(&flat), 2);
    // Such HTML still goes through the real parser (entities decoded, tags gone).
    let text = super::html_to_text(&flat);
    assert!(text.contains("line\nmore & more"), "{}", &text[..200]);
    assert_eq!(
        html_depth("<div><div><span>x</span></div><div>y</div></div>"),
        3
    );
    assert_eq!(html_depth(&"<div>".repeat(3_000)), 3_000);
    // Too deep for the parser: the text between the tags.
    let deep = format!(
        "{}a &amp; b{}",
        "<div>".repeat(3_000),
        "</div>".repeat(3_000)
    );
    assert_eq!(super::html_to_text(&deep), "a &amp; b");
}
