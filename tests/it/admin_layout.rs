//! The admin pages' layout in a real browser, at 1280 and 390 px wide: no page scrolls sideways,
//! no table, card or Test Connection result is wider than its box (a wide table scrolls inside its `.table-wrap`, which
//! itself stays on screen), times are `<time>` elements with the exact time in their title, the
//! current section is marked in the navigation, and the alias form ticks "Default Alias" only for
//! a credential's first alias. Screenshots of every page at both widths land in
//! `test-artifacts/layout-{width}-{page}.png`.

use serde_json::json;

use crate::admin_http::admin_app;
use crate::browser::Browser;
use crate::dovecot::{Dovecot, USER};
use crate::helpers::valid_credential;
use crate::processing::{connect_mailbox, deliver, email};

/// What overflows on the current page, in words (empty: nothing).
const OVERFLOW: &str = r#"
const out = [];
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth) {
  out.push(`page: scrollWidth ${doc.scrollWidth} > clientWidth ${doc.clientWidth}`);
}
const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');
document.querySelectorAll('table, .card, .test-result').forEach((e) => {
  const wrap = e.closest('.table-wrap');
  if (e.tagName === 'TABLE' && wrap) {
    const r = wrap.getBoundingClientRect();
    if (r.left < -1 || r.right > doc.clientWidth + 1) {
      out.push(`${name(wrap)} around ${name(e)} runs off the page: ${r.left}..${r.right}`);
    }
  } else if (e.scrollWidth > e.clientWidth + 1) {
    out.push(`${name(e)}: scrollWidth ${e.scrollWidth} > clientWidth ${e.clientWidth}`);
  }
});
return out;
"#;

#[tokio::test]
async fn every_admin_page_fits_at_1280_and_390_px() {
    let d = Dovecot::start();
    let (app, _) = admin_app().await;
    let (cred, _ws, _) = connect_mailbox(&app, &d, false).await;
    // Unmatched mail to a long address: an exception-log entry with details.
    deliver(
        &d,
        "lost.mr",
        &email(
            1,
            "alice.with.a.rather.long.name@example.com",
            "",
            "where do I go",
        ),
        false,
    );
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["exceptions"], 1, "{}", r.text);
    let ws = app
        .post("/api/v1/workspaces", &json!({"name": "Support"}))
        .await;
    let ws = ws.body["id"].as_i64().unwrap();
    let a = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": USER, "is_default": true, "workspace_id": ws, "project_type_id": 1}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let mut long = email(2, USER, "", "a case");
    let subject =
        "Request 2 about the invoice for October that was sent twice to the wrong address";
    long = String::from_utf8(long)
        .unwrap()
        .replace("Subject: Request 2", &format!("Subject: {subject}"))
        .into_bytes();
    deliver(&d, "case.mr", &long, false);
    let r = app
        .post(&format!("/api/v1/credentials/{cred}/poll"), &json!({}))
        .await;
    assert_eq!(r.body["cases_created"], 1, "{}", r.text);
    let case = app.get("/api/v1/cases").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let fresh = app.create_credential(&valid_credential(2)).await["id"]
        .as_i64()
        .unwrap();

    let pages = [
        ("credentials", "/admin/email-integration".to_string()),
        ("credential-new", "/admin/email-integration/new".to_string()),
        ("credential", format!("/admin/email-integration/{cred}")),
        (
            "alias-new",
            format!("/admin/email-integration/{cred}/aliases/new"),
        ),
        ("oauth-apps", "/admin/oauth-apps".to_string()),
        ("oauth-app-new", "/admin/oauth-apps/new".to_string()),
        ("routing", "/admin/routing".to_string()),
        ("workspaces", "/admin/workspaces".to_string()),
        ("project-types", "/admin/project-types".to_string()),
        ("clients", "/admin/clients".to_string()),
        ("contacts", "/admin/contacts".to_string()),
        ("exceptions", "/admin/exceptions".to_string()),
        ("cases", "/admin/cases".to_string()),
        ("case", format!("/admin/cases/{case}")),
        ("audit", "/admin/audit".to_string()),
    ];
    let b = Browser::start().await;
    b.sign_in_at(&format!("{}/admin/email-integration", app.base))
        .await;
    b.wait_text("h1", "Email Integration").await;
    let mut problems = Vec::new();
    for (width, height) in [(1280u32, 900u32), (390, 844)] {
        b.client.set_window_size(width, height).await.unwrap();
        let inner = b.eval("return window.innerWidth;").await;
        assert_eq!(inner, json!(width), "the window did not take the width");
        for (name, path) in &pages {
            b.goto(&format!("{}{path}", app.base)).await;
            b.css("main").await;
            if *name == "credential" {
                // The Test Connection result, with its steps table, inside the form.
                b.click("#test-connection").await;
                b.wait_text("#test-message", "Connected").await;
                b.scroll_to("#test-outcome").await;
            }
            let found = b.eval(OVERFLOW).await;
            for p in found.as_array().unwrap() {
                problems.push(format!("{width} px {path}: {}", p.as_str().unwrap()));
            }
            b.screenshot(&format!("layout-{width}-{name}")).await;
        }
    }
    assert!(problems.is_empty(), "overflow:\n{}", problems.join("\n"));

    // Times are <time> elements with the exact UTC time in their title, and say it in local
    // words; the navigation marks the current section.
    for path in ["/admin/exceptions", "/admin/cases", "/admin/audit"] {
        b.goto(&format!("{}{path}", app.base)).await;
        let times = b
            .eval(
                "return [...document.querySelectorAll('main td time')].map(t => \
                 [t.getAttribute('datetime'), t.title, t.textContent]);",
            )
            .await;
        let times = times.as_array().unwrap();
        assert!(!times.is_empty(), "{path} shows no <time>");
        for t in times {
            let (iso, title, text) = (
                t[0].as_str().unwrap(),
                t[1].as_str().unwrap(),
                t[2].as_str().unwrap(),
            );
            assert!(iso.ends_with('Z') && title.contains(iso), "{path}: {t}");
            assert!(!text.contains(iso), "{path}: the raw time is shown: {t}");
        }
        let current = b
            .eval("return document.querySelector('.topbar nav a[aria-current=page]').getAttribute('href');")
            .await;
        assert_eq!(current, json!(path));
        // At 390 px the navigation strip scrolls sideways: the current section is in view.
        let in_view = b
            .eval(
                "const r = document.querySelector('.topbar nav a[aria-current=page]')\
                 .getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth;",
            )
            .await;
        assert_eq!(
            in_view,
            json!(true),
            "{path}: the current section is off screen"
        );
    }

    // "Default Alias" is ticked for a credential's first alias only.
    let ticked = |id: i64| {
        let b = &b;
        let base = app.base.clone();
        async move {
            b.goto(&format!("{base}/admin/email-integration/{id}/aliases/new"))
                .await;
            b.css("#is_default").await.prop("checked").await.unwrap()
        }
    };
    assert_eq!(ticked(fresh).await.as_deref(), Some("true"));
    assert_eq!(ticked(cred).await.as_deref(), Some("false"));
    // The dashboard names the security as the form does.
    b.goto(&format!("{}/admin/email-integration", app.base))
        .await;
    let row = b
        .wait_text(&format!("#credentials tr[data-id='{fresh}']"), "SSL/TLS")
        .await;
    assert!(!row.contains("tls\t") && !row.contains(" tls "), "{row}");
    b.close().await;
}
