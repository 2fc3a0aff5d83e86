//! The remaining admin pages over plain HTTP: aliases on the credential page (New / Edit /
//! Delete with inline errors and the duplicate conflict), the routing dry run, reference data
//! (add, edit, delete, refused delete naming who uses it). Every page needs a session; every
//! form its CSRF token. (The exception log, cases and health: `admin_daily`.)

use serde_json::json;

use crate::admin_http::{admin_app, csrf_of, sign_in};
use crate::helpers::{TestApp, valid_credential};

/// A signed-in browser: GETs and form POSTs carrying the session cookie.
pub struct Admin<'a> {
    app: &'a TestApp,
    pub client: reqwest::Client,
    pub cookie: String,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub html: String,
}

impl Admin<'_> {
    pub async fn new(app: &TestApp, client: reqwest::Client) -> Admin<'_> {
        let cookie = sign_in(app, &client).await;
        Admin {
            app,
            client,
            cookie,
        }
    }

    async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        // Where the page sends the browser: a redirect's Location, or a `Refresh: 0; url=…`.
        let location = r
            .headers()
            .get("location")
            .or_else(|| r.headers().get("refresh"))
            .map(|l| {
                let l = l.to_str().unwrap();
                l.split_once("url=").map_or(l, |(_, u)| u).to_string()
            })
            .unwrap_or_default();
        Page {
            status,
            location,
            html: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{}", self.app.base, path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }

    /// GETs `path` and expects a 200 page.
    pub async fn open(&self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(p.status, 200, "GET {path}: {}", p.html);
        p.html
    }

    /// Posts `form` with the session's CSRF token (taken from `from`).
    pub async fn post(&self, path: &str, from: &str, form: &[(&str, &str)]) -> Page {
        let csrf = csrf_of(&self.open(from).await);
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        fields.extend_from_slice(form);
        let r = self
            .client
            .post(format!("{}{}", self.app.base, path))
            .header("cookie", &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }

    /// Follows a 303 and returns the page it leads to.
    pub async fn follow(&self, p: &Page) -> String {
        assert_eq!(p.status, 303, "expected a redirect: {}", p.html);
        self.open(&p.location).await
    }
}

pub async fn workspace(app: &TestApp, name: &str) -> i64 {
    let r = app
        .post("/api/v1/workspaces", &json!({ "name": name }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

/// The text of the element with `id`, tags removed (enough for these flat elements).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find("</")? + start;
    Some(html[start..end].to_string())
}

#[tokio::test]
async fn every_new_page_renders_for_an_admin_and_needs_a_session() {
    let (app, client) = admin_app().await;
    let cred = app.create_credential(&valid_credential(1)).await["id"]
        .as_i64()
        .unwrap();
    let ws = workspace(&app, "Payroll").await;
    let alias = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": "alias1@example.com", "workspace_id": ws}),
        )
        .await;
    assert_eq!(alias.status, 201, "{}", alias.text);
    let alias = alias.body["id"].as_i64().unwrap();
    let client_row = app
        .post(
            "/api/v1/clients",
            &json!({"name": "Acme", "default_workspace_id": ws}),
        )
        .await;
    assert_eq!(client_row.status, 201, "{}", client_row.text);
    let client_id = client_row.body["id"].as_i64().unwrap();
    let pages = [
        ("/admin/workspaces".to_string(), "Workspaces"),
        (format!("/admin/workspaces/{ws}"), "Edit workspace"),
        ("/admin/project-types".to_string(), "Client Service Case"),
        ("/admin/clients".to_string(), "Acme"),
        (format!("/admin/clients/{client_id}"), "Edit client"),
        ("/admin/contacts".to_string(), "No contacts yet."),
        ("/admin/exceptions".to_string(), "Exception log"),
        ("/admin/cases".to_string(), "No cases."),
        ("/admin/routing".to_string(), "Where would mail go?"),
        (
            format!("/admin/email-integration/{cred}/aliases/new"),
            "New alias",
        ),
        (
            format!("/admin/email-integration/{cred}/aliases/{alias}"),
            "alias1@example.com",
        ),
        (
            format!("/admin/email-integration/{cred}/aliases/{alias}/delete"),
            "Delete alias",
        ),
    ];
    let anonymous = |path: String| {
        let req = client.get(format!("{}{}", app.base, path));
        async move { req.send().await.unwrap() }
    };
    for (path, _) in &pages {
        let r = anonymous(path.clone()).await;
        assert_eq!(r.status(), 303, "{path} without a session");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/admin/login?next="), "{path} → {to}");
    }
    for path in [
        "/admin/workspaces".to_string(),
        format!("/admin/workspaces/{ws}/delete"),
        format!("/admin/clients/{client_id}/delete"),
        "/admin/exceptions/1/retry".to_string(),
        format!("/admin/email-integration/{cred}/aliases/new"),
        format!("/admin/email-integration/{cred}/aliases/{alias}/delete"),
    ] {
        let r = client
            .post(format!("{}{}", app.base, path))
            .form(&[("csrf", "x"), ("name", "Sneaky")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "anonymous POST {path}");
    }
    let admin = Admin::new(&app, client.clone()).await;
    for (path, needle) in &pages {
        let html = admin.open(path).await;
        assert!(html.contains(needle), "{path} lacks {needle:?}");
        for nav in [
            "href=\"/admin/workspaces\"",
            "href=\"/admin/project-types\"",
            "href=\"/admin/clients\"",
            "href=\"/admin/contacts\"",
            "href=\"/admin/exceptions\"",
            "href=\"/admin/cases\"",
        ] {
            assert!(html.contains(nav), "{path} lacks the nav link {nav}");
        }
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
    // Nothing was changed by the anonymous posts.
    assert_eq!(
        app.get(&format!("/api/v1/aliases/{alias}")).await.status,
        200
    );
    assert!(!app.get("/api/v1/workspaces").await.text.contains("Sneaky"));
}

#[tokio::test]
async fn aliases_are_added_edited_and_deleted_on_the_credential_page() {
    let (app, client) = admin_app().await;
    let cred = app.create_credential(&valid_credential(1)).await;
    let (cred, mailbox) = (
        cred["id"].as_i64().unwrap(),
        cred["mailbox"].as_str().unwrap().to_string(),
    );
    let ws = workspace(&app, "Payroll").await;
    let admin = Admin::new(&app, client).await;
    let details = format!("/admin/email-integration/{cred}");

    let html = admin.open(&details).await;
    assert!(html.contains("id=\"aliases\"") && html.contains("No aliases yet"));
    assert!(html.contains(&format!(
        "href=\"/admin/email-integration/{cred}/aliases/new\""
    )));

    // The New form: the credential's mailbox proposed as the first (default) alias, pickers
    // filled from reference data, No Reply, the field mappings.
    let new = format!("/admin/email-integration/{cred}/aliases/new");
    let form = admin.open(&new).await;
    assert!(form.contains(&format!(
        "name=\"email_alias\" type=\"email\" required value=\"{mailbox}\""
    )));
    assert!(form.contains(&format!("<option value=\"{ws}\" >Payroll</option>")));
    assert!(
        form.contains(" selected>Client Service Case</option>"),
        "{form}"
    );
    assert!(form.contains(">No Reply</option>"));
    for m in [
        "fm_category",
        "fm_case_type",
        "fm_priority",
        "fm_status",
        "fm_communication_method",
    ] {
        assert!(form.contains(&format!("name=\"{m}\"")), "{m}");
    }

    // Errors are shown next to their fields; typed values stay; nothing is saved.
    let bad = admin
        .post(
            &new,
            &new,
            &[
                ("email_alias", "not an address"),
                ("workspace_id", ""),
                ("project_type_id", "1"),
                ("fm_category", "Kept value"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    let e = element_text(&bad.html, "email_alias-error").expect("email_alias error");
    assert!(e.contains("valid email address"), "{e}");
    let e = element_text(&bad.html, "workspace_id-error").expect("workspace error");
    assert!(e.contains("Workspace is required"), "{e}");
    assert!(bad.html.contains("value=\"Kept value\""));
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{cred}/aliases"))
            .await
            .body["items"],
        json!([])
    );

    // A good form saves and the alias is listed on the credential page.
    let saved = admin
        .post(
            &new,
            &new,
            &[
                ("email_alias", &mailbox),
                ("is_default", "on"),
                ("workspace_id", &ws.to_string()),
                ("project_type_id", "1"),
                ("client_id", ""),
                ("include_attachments", "on"),
                ("reply_template_id", ""),
                ("fm_category", "Payroll questions"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let html = admin.follow(&saved).await;
    let row_at = html.find("data-alias-id=").expect("an alias row");
    let row = &html[row_at..html[row_at..].find("</tr>").unwrap() + row_at];
    for needle in [
        mailbox.as_str(),
        "default",
        "Payroll",
        "Client Service Case",
        "Yes",
        "No Reply",
    ] {
        assert!(row.contains(needle), "row lacks {needle}: {row}");
    }
    let aliases = app
        .get(&format!("/api/v1/credentials/{cred}/aliases"))
        .await;
    let alias = aliases.body["items"][0].clone();
    assert_eq!(
        alias["field_mappings"],
        json!({"category": "Payroll questions"})
    );
    assert_eq!(alias["is_default"], true);
    let alias_id = alias["id"].as_i64().unwrap();

    // The same address (other case) on another credential: the conflict is shown at the field.
    let other = app.create_credential(&valid_credential(2)).await["id"]
        .as_i64()
        .unwrap();
    let other_new = format!("/admin/email-integration/{other}/aliases/new");
    let dup = admin
        .post(
            &other_new,
            &other_new,
            &[
                ("email_alias", &mailbox.to_uppercase()),
                ("workspace_id", &ws.to_string()),
                ("project_type_id", "1"),
            ],
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.html);
    let e = element_text(&dup.html, "email_alias-error").expect("conflict at the field");
    assert!(e.contains("already exists"), "{e}");

    // A second default alias on the same credential: refused at the Default Alias box.
    let two = admin
        .post(
            &new,
            &new,
            &[
                ("email_alias", "payroll+second@example.com"),
                ("is_default", "on"),
                ("workspace_id", &ws.to_string()),
                ("project_type_id", "1"),
            ],
        )
        .await;
    assert_eq!(two.status, 409, "{}", two.html);
    let e = element_text(&two.html, "is_default-error").expect("conflict at the checkbox");
    assert!(e.contains("already has a default alias"), "{e}");

    // Edit: the form shows the stored values; a change is saved.
    let edit = format!("/admin/email-integration/{cred}/aliases/{alias_id}");
    let form = admin.open(&edit).await;
    assert!(form.contains("value=\"Payroll questions\""));
    assert!(form.contains(&format!("<option value=\"{ws}\" selected>Payroll</option>")));
    let saved = admin
        .post(
            &edit,
            &edit,
            &[
                ("email_alias", &mailbox),
                ("is_default", "on"),
                ("workspace_id", &ws.to_string()),
                ("project_type_id", "1"),
                ("reply_template_id", ""),
                ("fm_category", "Payroll questions"),
                ("fm_priority", "High"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let html = admin.follow(&saved).await;
    assert!(
        html.contains(&format!("Alias {mailbox} saved. It is the default alias")),
        "says what was saved: {html}"
    );
    let alias = app.get(&format!("/api/v1/aliases/{alias_id}")).await.body;
    assert_eq!(alias["include_attachments"], false, "unticked box saved");
    assert_eq!(
        alias["field_mappings"],
        json!({"category": "Payroll questions", "priority": "High"})
    );

    // Without the CSRF token nothing happens.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{}/delete", app.base, edit))
        .header("cookie", &admin.cookie)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The credential cannot be deleted while the alias exists: its Delete page says so before
    // asking, offers the aliases instead of a Delete button, and a post is refused naming it.
    let delete_credential = format!("/admin/email-integration/{cred}/delete");
    let ask = admin.open(&delete_credential).await;
    assert!(ask.contains("id=\"delete-blocked\""), "{ask}");
    assert!(ask.contains("still has 1 alias, so it cannot be"), "{ask}");
    assert!(!ask.contains("id=\"confirm-delete\"") && !ask.contains("cannot be undone"));
    assert!(ask.contains("id=\"go-to-aliases\""));
    let refused = admin
        .post(&delete_credential, &delete_credential, &[])
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.html.contains(&mailbox), "{}", refused.html);

    // Delete the alias (confirmation page, then the post); then the credential goes.
    let delete_alias = format!("{edit}/delete");
    let confirm = admin.open(&delete_alias).await;
    assert!(confirm.contains(&mailbox) && confirm.contains("id=\"confirm-delete-alias\""));
    let done = admin.post(&delete_alias, &delete_alias, &[]).await;
    let html = admin.follow(&done).await;
    assert!(html.contains("No aliases yet"), "alias gone from the list");
    assert_eq!(
        app.get(&format!("/api/v1/aliases/{alias_id}")).await.status,
        404
    );
    let ask = admin.open(&delete_credential).await;
    assert!(ask.contains("id=\"confirm-delete\"") && ask.contains("cannot be undone"));
    assert!(!ask.contains("id=\"delete-blocked\""));
    let deleted = admin
        .post(&delete_credential, &delete_credential, &[])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.html);
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{cred}")).await.status,
        404
    );
}

#[tokio::test]
async fn the_routing_dry_run_form_shows_the_decision_and_its_reasons() {
    let (app, client) = admin_app().await;
    let cred = app.create_credential(&valid_credential(1)).await["id"]
        .as_i64()
        .unwrap();
    let ws = workspace(&app, "Payroll").await;
    let r = app
        .post(
            &format!("/api/v1/credentials/{cred}/aliases"),
            &json!({"email_alias": "payroll+newhire@example.com", "workspace_id": ws}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let admin = Admin::new(&app, client).await;

    // The credential page offers the dry run for its own aliases.
    let html = admin
        .open(&format!("/admin/email-integration/{cred}"))
        .await;
    assert!(html.contains("action=\"/admin/routing\""));
    assert!(html.contains(&format!("name=\"credential_id\" value=\"{cred}\"")));

    let html = admin
        .open(&format!(
            "/admin/routing?credential_id={cred}&from=jo%40client.example&to=Payroll%2Bnewhire%40example.com"
        ))
        .await;
    let summary = element_text(&html, "decision-summary").expect("a decision");
    assert_eq!(summary, "A case would be created");
    assert_eq!(
        element_text(&html, "decision-alias").unwrap(),
        "payroll+newhire@example.com"
    );
    assert_eq!(
        element_text(&html, "decision-workspace").unwrap(),
        "Payroll"
    );
    assert!(html.contains("<ol class=\"reasons\" id=\"reasons\">"));
    assert!(
        html[html.find("id=\"reasons\"").unwrap()..].contains("<li><strong>"),
        "reasons are listed"
    );

    // To an address no alias handles, and no default alias: the exception-log outcome.
    let html = admin
        .open(&format!(
            "/admin/routing?credential_id={cred}&from=jo%40client.example&to=someone%40example.com"
        ))
        .await;
    assert!(
        element_text(&html, "decision-summary")
            .unwrap()
            .starts_with("No case")
    );
    assert!(html.contains("Email Contains Missing or Invalid Key Information"));

    // A bad sender is shown at its field.
    let p = admin
        .get("/admin/routing?from=not+an+address&to=payroll%40example.com")
        .await;
    assert_eq!(p.status, 422);
    assert!(
        element_text(&p.html, "from-error")
            .unwrap()
            .contains("valid email address")
    );
}

#[tokio::test]
async fn reference_data_is_added_edited_and_deleted_and_deleting_in_use_is_refused() {
    let (app, client) = admin_app().await;
    let admin = Admin::new(&app, client).await;

    // Workspaces: add, the empty and duplicate names at the field, rename.
    let p = admin
        .post(
            "/admin/workspaces",
            "/admin/workspaces",
            &[("name", "Payroll")],
        )
        .await;
    let html = admin.follow(&p).await;
    assert!(html.contains("Workspace added.") && html.contains(">Payroll</a>"));
    let p = admin
        .post("/admin/workspaces", "/admin/workspaces", &[("name", "  ")])
        .await;
    assert_eq!(p.status, 422);
    assert!(
        element_text(&p.html, "name-error")
            .unwrap()
            .contains("required")
    );
    let p = admin
        .post(
            "/admin/workspaces",
            "/admin/workspaces",
            &[("name", "PAYROLL")],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(
        element_text(&p.html, "name-error")
            .unwrap()
            .contains("already exists")
    );
    let ws = app.get("/api/v1/workspaces").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let edit = format!("/admin/workspaces/{ws}");
    assert!(admin.open(&edit).await.contains("value=\"Payroll\""));
    let p = admin.post(&edit, &edit, &[("name", "Payroll EU")]).await;
    assert!(admin.follow(&p).await.contains(">Payroll EU</a>"));

    // Project types: add and delete.
    let p = admin
        .post(
            "/admin/project-types",
            "/admin/project-types",
            &[("name", "Onboarding")],
        )
        .await;
    assert!(admin.follow(&p).await.contains(">Onboarding</a>"));
    let pt = app.get("/api/v1/project-types").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Onboarding")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let p = admin
        .post(
            &format!("/admin/project-types/{pt}/delete"),
            "/admin/project-types",
            &[],
        )
        .await;
    let html = admin.follow(&p).await;
    assert!(html.contains("Project type deleted.") && !html.contains(">Onboarding</a>"));

    // Clients: a field error, then added with its domains and default workspace.
    let p = admin
        .post(
            "/admin/clients",
            "/admin/clients",
            &[
                ("name", "Acme"),
                ("client_number", "not a number!"),
                ("default_workspace_id", &ws.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(element_text(&p.html, "client_number-error").is_some());
    let p = admin
        .post(
            "/admin/clients",
            "/admin/clients",
            &[
                ("name", "Acme"),
                ("client_number", "A-1"),
                ("email_domains", "acme.example, acme.test"),
                ("default_workspace_id", &ws.to_string()),
            ],
        )
        .await;
    let html = admin.follow(&p).await;
    let row_at = html.find(">Acme</a>").expect("client listed");
    let row = &html[row_at..row_at + html[row_at..].find("</tr>").unwrap()];
    assert!(
        row.contains("A-1")
            && row.contains("acme.example, acme.test")
            && row.contains("Payroll EU"),
        "{row}"
    );
    let client_id = app.get("/api/v1/clients").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();

    // Contacts: added with client and workspace.
    let p = admin
        .post(
            "/admin/contacts",
            "/admin/contacts",
            &[
                ("email", "jo@acme.example"),
                ("name", "Jo Doe"),
                ("client_id", &client_id.to_string()),
                ("workspace_id", &ws.to_string()),
            ],
        )
        .await;
    let html = admin.follow(&p).await;
    assert!(html.contains(">jo@acme.example</a>") && html.contains("Jo Doe"));
    let contact = app.get("/api/v1/contacts").await.body["items"][0]["id"]
        .as_i64()
        .unwrap();

    // The workspace is in use: the refusal names the client and the contact; nothing goes.
    let p = admin
        .post(
            &format!("/admin/workspaces/{ws}/delete"),
            "/admin/workspaces",
            &[],
        )
        .await;
    assert_eq!(p.status, 409);
    let e = element_text(&p.html, "delete-error").expect("the refusal");
    assert!(
        e.contains("client Acme") && e.contains("contact jo@acme.example"),
        "{e}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/workspaces/{ws}")).await.status,
        200
    );

    // The client is used by the contact: refused and named too.
    let p = admin
        .post(
            &format!("/admin/clients/{client_id}/delete"),
            "/admin/clients",
            &[],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(
        element_text(&p.html, "delete-error")
            .unwrap()
            .contains("jo@acme.example")
    );

    // Delete in order: contact, client, workspace.
    for (path, back, flash) in [
        (
            format!("/admin/contacts/{contact}/delete"),
            "/admin/contacts",
            "Contact deleted.",
        ),
        (
            format!("/admin/clients/{client_id}/delete"),
            "/admin/clients",
            "Client deleted.",
        ),
        (
            format!("/admin/workspaces/{ws}/delete"),
            "/admin/workspaces",
            "Workspace deleted.",
        ),
    ] {
        let p = admin.post(&path, back, &[]).await;
        assert!(admin.follow(&p).await.contains(flash), "{path}");
    }
    assert_eq!(app.get("/api/v1/workspaces").await.body["items"], json!([]));
}
