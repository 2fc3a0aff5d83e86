//! Table-driven tests of the routing decision: `check(recipients, from, body, expected)`.

use proptest::prelude::*;

use super::*;

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn alias(id: i64, credential: i64, email: &str, ws: i64, pt: i64) -> AliasRule {
    AliasRule {
        id,
        credential_id: credential,
        email_alias: addr(email),
        is_default: false,
        workspace_id: ws,
        project_type_id: pt,
        client_id: None,
        always_use_default_workspace: false,
    }
}

/// Credential 1 (payroll@) has a default alias; credential 2 (hr@) has none; credential 3
/// (support@) has no alias at all.
fn book() -> RoutingBook {
    RoutingBook {
        aliases: vec![
            AliasRule {
                is_default: true,
                ..alias(10, 1, "payroll@example.com", 100, 1)
            },
            alias(11, 1, "payroll+newhire@example.com", 101, 2),
            AliasRule {
                client_id: Some(500),
                ..alias(12, 1, "Benefits@Example.com", 102, 1)
            },
            AliasRule {
                always_use_default_workspace: true,
                client_id: Some(501),
                ..alias(13, 1, "fixed@example.com", 103, 1)
            },
            alias(20, 2, "hr@example.com", 200, 3),
        ],
        mailboxes: vec![
            MailboxRule {
                credential_id: 1,
                mailbox: addr("payroll@example.com"),
            },
            MailboxRule {
                credential_id: 2,
                mailbox: addr("hr@example.com"),
            },
            MailboxRule {
                credential_id: 3,
                mailbox: addr("support@example.com"),
            },
        ],
        workspace_ids: vec![100, 101, 102, 103, 200, 300, 301],
        clients: vec![
            ClientRule {
                id: 500,
                client_number: Some("ACME01".into()),
                email_domains: vec!["acme.com".into()],
                default_workspace_id: 300,
            },
            ClientRule {
                id: 501,
                client_number: Some("GLOBEX".into()),
                email_domains: vec!["globex.example".into(), "xn--bcher-kva.example".into()],
                default_workspace_id: 301,
            },
        ],
        contacts: vec![
            ContactRule {
                id: 700,
                email: addr("Jane@Contoso.com"),
                client_id: Some(501),
                workspace_id: 301,
            },
            ContactRule {
                id: 701,
                email: addr("bob@acme.com"),
                client_id: None,
                workspace_id: 200,
            },
        ],
    }
}

/// `recipients`: space-separated `to:a`, `cc:a`, `dt:a` (Delivered-To), `xo:a`
/// (X-Original-To), and `cred:N` (the credential whose mailbox received it).
fn envelope(recipients: &str, from: &str, body: &str) -> Envelope {
    let mut e = Envelope {
        from: (!from.is_empty()).then(|| addr(from)),
        body: body.to_string(),
        ..Envelope::default()
    };
    for part in recipients.split_whitespace() {
        let (kind, value) = part.split_once(':').unwrap();
        match kind {
            "to" => e.to.push(addr(value)),
            "cc" => e.cc.push(addr(value)),
            "dt" => e.delivered_to.push(addr(value)),
            "xo" => e.x_original_to.push(addr(value)),
            "cred" => e.credential_id = Some(value.parse().unwrap()),
            other => panic!("unknown recipient kind {other}"),
        }
    }
    e
}

fn opt(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The decision in one line: `alias=ID via=RULE workspace=ID by=RULE client=ID contact=ID`,
/// or `unrouted via=RULE` with the exception message checked.
fn render(d: &Decision) -> String {
    let last = |what: &str| {
        d.reasons
            .iter()
            .rev()
            .find(|r| r.decides == what)
            .map_or("-", |r| r.rule)
    };
    if !d.is_routed() {
        assert_eq!(d.exception, Some(MISSING_KEY_INFORMATION));
        return format!("unrouted via={}", last("alias"));
    }
    assert!(d.exception.is_none());
    format!(
        "alias={} via={} workspace={} by={} client={} contact={}",
        opt(d.alias_id),
        last("alias"),
        opt(d.workspace_id),
        last("workspace"),
        opt(d.client_id),
        opt(d.contact_id)
    )
}

#[track_caller]
fn check(recipients: &str, from: &str, body: &str, expected: &str) {
    let d = decide(&envelope(recipients, from, body), &book());
    assert_eq!(
        render(&d),
        expected,
        "\nrecipients: {recipients}\nfrom: {from}\nbody: {body}\nreasons: {:#?}",
        d.reasons
    );
}

#[test]
fn alias_matching_spec_2_1() {
    let table: &[(&str, &str, &str, &str)] = &[
        // exact match on To
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        // case-insensitive
        (
            "to:PAYROLL@EXAMPLE.COM",
            "x@nowhere.example",
            "",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:benefits@example.com",
            "x@nowhere.example",
            "",
            "alias=12 via=recipient workspace=102 by=alias_workspace client=500 contact=-",
        ),
        // plus-addressing: the exact plus alias first
        (
            "to:payroll+newhire@example.com",
            "x@nowhere.example",
            "",
            "alias=11 via=recipient workspace=101 by=alias_workspace client=- contact=-",
        ),
        (
            "to:Payroll+NewHire@example.com",
            "x@nowhere.example",
            "",
            "alias=11 via=recipient workspace=101 by=alias_workspace client=- contact=-",
        ),
        // else the alias for local@domain
        (
            "to:payroll+other@example.com",
            "x@nowhere.example",
            "",
            "alias=10 via=plus_address workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:hr+2024@example.com",
            "x@nowhere.example",
            "",
            "alias=20 via=plus_address workspace=200 by=alias_workspace client=- contact=-",
        ),
        // Cc-only and Delivered-To-only / X-Original-To-only mail
        (
            "cc:hr@example.com",
            "x@nowhere.example",
            "",
            "alias=20 via=recipient workspace=200 by=alias_workspace client=- contact=-",
        ),
        (
            "dt:hr@example.com",
            "x@nowhere.example",
            "",
            "alias=20 via=recipient workspace=200 by=alias_workspace client=- contact=-",
        ),
        (
            "xo:Benefits@example.com",
            "x@nowhere.example",
            "",
            "alias=12 via=recipient workspace=102 by=alias_workspace client=500 contact=-",
        ),
        // two matching recipients: the first in reading order wins
        (
            "to:hr@example.com to:payroll@example.com",
            "x@nowhere.example",
            "",
            "alias=20 via=recipient workspace=200 by=alias_workspace client=- contact=-",
        ),
        (
            "to:someone@else.example cc:hr@example.com to:benefits@example.com",
            "x@nowhere.example",
            "",
            "alias=12 via=recipient workspace=102 by=alias_workspace client=500 contact=-",
        ),
        // To beats Cc beats Delivered-To beats X-Original-To, whatever the argument order
        (
            "xo:payroll@example.com dt:benefits@example.com cc:hr@example.com",
            "x@nowhere.example",
            "",
            "alias=20 via=recipient workspace=200 by=alias_workspace client=- contact=-",
        ),
        (
            "xo:payroll@example.com dt:benefits@example.com",
            "x@nowhere.example",
            "",
            "alias=12 via=recipient workspace=102 by=alias_workspace client=500 contact=-",
        ),
        // a plus address of the first recipient beats an exact match of a later one
        (
            "to:payroll+x@example.com cc:hr@example.com",
            "x@nowhere.example",
            "",
            "alias=10 via=plus_address workspace=100 by=alias_workspace client=- contact=-",
        ),
        // no alias matches: the credential's default alias
        (
            "cred:1 to:list@lists.example",
            "x@nowhere.example",
            "",
            "alias=10 via=default_alias workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:other@example.com dt:payroll+zzz@example.com",
            "x@nowhere.example",
            "",
            "alias=10 via=plus_address workspace=100 by=alias_workspace client=- contact=-",
        ),
        // with a credential in scope, another credential's alias does not match
        (
            "cred:1 to:hr@example.com",
            "x@nowhere.example",
            "",
            "alias=10 via=default_alias workspace=100 by=alias_workspace client=- contact=-",
        ),
        // no default alias: nothing matches at all
        (
            "cred:2 to:list@lists.example",
            "x@nowhere.example",
            "",
            "unrouted via=no_default_alias",
        ),
        (
            "cred:3 to:support@example.com",
            "x@nowhere.example",
            "",
            "unrouted via=no_default_alias",
        ),
        (
            "to:support@example.com",
            "x@nowhere.example",
            "",
            "unrouted via=no_default_alias",
        ),
        (
            "to:nobody@nowhere.example cc:other@nowhere.example",
            "x@nowhere.example",
            "WSID=100",
            "unrouted via=no_match",
        ),
        ("", "x@nowhere.example", "", "unrouted via=no_match"),
    ];
    for (recipients, from, body, expected) in table {
        check(recipients, from, body, expected);
    }
}

#[test]
fn workspace_choice_spec_2_2() {
    let table: &[(&str, &str, &str, &str)] = &[
        // 1. Always use Default Workspace beats every token, contact and domain
        (
            "to:fixed@example.com",
            "jane@contoso.com",
            "WSID=200 CLID=ACME01",
            "alias=13 via=recipient workspace=103 by=always_use_default_workspace client=501 contact=-",
        ),
        // 2. WSID token
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "Please file under WSID=200 thanks",
            "alias=10 via=recipient workspace=200 by=wsid_token client=- contact=-",
        ),
        (
            "to:benefits@example.com",
            "x@nowhere.example",
            "WSID=101",
            "alias=12 via=recipient workspace=101 by=wsid_token client=500 contact=-",
        ),
        // WSID beats CLID, contact and domain
        (
            "to:payroll@example.com",
            "jane@contoso.com",
            "CLID=ACME01\nWSID=200",
            "alias=10 via=recipient workspace=200 by=wsid_token client=- contact=-",
        ),
        // unknown WSID is ignored: the next rule decides
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID=999",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID=999 WSID=300",
            "alias=10 via=recipient workspace=300 by=wsid_token client=- contact=-",
        ),
        // malformed WSID tokens do not count
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID= 200",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID=200abc",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "XWSID=200",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "wsid=200",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID=",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "WSID=-3",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "(WSID=200)",
            "alias=10 via=recipient workspace=200 by=wsid_token client=- contact=-",
        ),
        // 3. CLID token: the client's default workspace, and the client
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "Re: CLID=ACME01.",
            "alias=10 via=recipient workspace=300 by=clid_token client=500 contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "CLID=acme01",
            "alias=10 via=recipient workspace=300 by=clid_token client=500 contact=-",
        ),
        // CLID beats contact and domain
        (
            "to:payroll@example.com",
            "jane@contoso.com",
            "CLID=ACME01",
            "alias=10 via=recipient workspace=300 by=clid_token client=500 contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "CLID= ACME01",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "CLID=NOPE",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        (
            "to:payroll@example.com",
            "x@nowhere.example",
            "CLID=NOPE CLID=GLOBEX",
            "alias=10 via=recipient workspace=301 by=clid_token client=501 contact=-",
        ),
        // 4. the sender is a contact: its workspace and client, and the contact
        (
            "to:payroll@example.com",
            "JANE@contoso.COM",
            "",
            "alias=10 via=recipient workspace=301 by=contact client=501 contact=700",
        ),
        // contact without a client keeps the alias's default client; contact beats domain
        (
            "to:benefits@example.com",
            "bob@acme.com",
            "",
            "alias=12 via=recipient workspace=200 by=contact client=500 contact=701",
        ),
        // 5. the sender's domain belongs to a client
        (
            "to:payroll@example.com",
            "alice@ACME.com",
            "",
            "alias=10 via=recipient workspace=300 by=client_domain client=500 contact=-",
        ),
        (
            "to:payroll@example.com",
            "kurt@bücher.example",
            "",
            "alias=10 via=recipient workspace=301 by=client_domain client=501 contact=-",
        ),
        // a subdomain is a different domain
        (
            "to:payroll@example.com",
            "alice@mail.acme.com",
            "",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        // 6. otherwise the alias's workspace (no sender at all too)
        (
            "to:payroll@example.com",
            "",
            "",
            "alias=10 via=recipient workspace=100 by=alias_workspace client=- contact=-",
        ),
        // the default alias goes through the same workspace rules
        (
            "cred:1 to:list@lists.example",
            "alice@acme.com",
            "",
            "alias=10 via=default_alias workspace=300 by=client_domain client=500 contact=-",
        ),
    ];
    for (recipients, from, body, expected) in table {
        check(recipients, from, body, expected);
    }
}

#[test]
fn reasons_explain_ignored_tokens_and_the_project_type() {
    let d = decide(
        &envelope(
            "to:payroll+newhire@example.com",
            "",
            "WSID= 12 and WSID=999",
        ),
        &book(),
    );
    let rules: Vec<&str> = d.reasons.iter().map(|r| r.rule).collect();
    assert_eq!(
        rules,
        [
            "recipient",
            "alias",
            "wsid_malformed",
            "wsid_unknown",
            "alias_workspace"
        ]
    );
    assert_eq!(d.project_type_id, Some(2));
    assert!(
        d.reasons[2].message.contains("WSID= 12"),
        "{}",
        d.reasons[2]
    );
    assert!(d.reasons[3].message.contains("999"));
}

#[test]
fn scan_tokens_finds_well_formed_and_malformed_tokens() {
    let t = scan_tokens("WSID=12, WSID= 13; WSID=14x CLID=AB-12_c. CLID=\n");
    assert_eq!(
        t.wsid,
        vec![
            Token::WellFormed(12),
            Token::Malformed("WSID= 13;".into()),
            Token::Malformed("WSID=14x".into()),
        ]
    );
    assert_eq!(
        t.clid,
        vec![
            Token::WellFormed("AB-12_c".into()),
            Token::Malformed("CLID=".into())
        ]
    );
    assert_eq!(t.workspace_ids(), vec![12]);
    assert_eq!(t.client_numbers(), vec!["AB-12_c".to_string()]);
}

#[test]
fn scan_tokens_skips_longer_words_and_reads_after_any_text() {
    let t = scan_tokens("XWSID=1 éWSID=2 ID=3 é ID= WSID=4\nÜberCLID=5 (CLID=Z9) SID=6 WSID=7");
    assert_eq!(t.workspace_ids(), vec![4, 7]);
    assert_eq!(t.client_numbers(), vec!["Z9".to_string()]);
    assert_eq!(scan_tokens("ID=1 WSID").wsid, Vec::new());
}

/// Flips the case of the letters where `mask` says so.
fn recase(s: &str, mask: &[bool]) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask.get(i % mask.len().max(1)).copied().unwrap_or(false) {
                if c.is_lowercase() {
                    c.to_uppercase().next().unwrap()
                } else {
                    c.to_lowercase().next().unwrap()
                }
            } else {
                c
            }
        })
        .collect()
}

/// alias, workspace, project type, client, contact, and the rules of the reasons.
type Ids = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<&'static str>,
);

fn ids(d: &Decision) -> Ids {
    (
        d.alias_id,
        d.workspace_id,
        d.project_type_id,
        d.client_id,
        d.contact_id,
        d.reasons.iter().map(|r| r.rule).collect(),
    )
}

proptest! {
    #[test]
    fn case_changes_in_addresses_never_change_the_decision(
        to in prop::sample::select(vec![
            "payroll@example.com", "payroll+newhire@example.com", "payroll+x@example.com",
            "benefits@example.com", "hr@example.com", "nobody@nowhere.example", "support@example.com",
        ]),
        cc in prop::sample::select(vec!["hr@example.com", "fixed@example.com", "a@b.example"]),
        from in prop::sample::select(vec![
            "jane@contoso.com", "bob@acme.com", "alice@acme.com", "x@nowhere.example", "kurt@globex.example",
        ]),
        scoped in prop::option::of(1i64..=3),
        use_cc in any::<bool>(),
        mask in prop::collection::vec(any::<bool>(), 1..12),
    ) {
        let make = |m: &[bool]| {
            let mut e = Envelope {
                credential_id: scoped,
                to: vec![addr(&recase(to, m))],
                from: Some(addr(&recase(from, m))),
                body: "CLID=NOPE".into(),
                ..Envelope::default()
            };
            if use_cc {
                e.cc.push(addr(&recase(cc, m)));
            }
            e
        };
        let mut b = book();
        let recased = {
            for a in &mut b.aliases {
                a.email_alias = addr(&recase(a.email_alias.as_str(), &mask));
            }
            for c in &mut b.contacts {
                c.email = addr(&recase(c.email.as_str(), &mask));
            }
            for m in &mut b.mailboxes {
                m.mailbox = addr(&recase(m.mailbox.as_str(), &mask));
            }
            decide(&make(&mask), &b)
        };
        let plain = decide(&make(&[false]), &book());
        prop_assert_eq!(ids(&plain), ids(&recased));
    }
}
