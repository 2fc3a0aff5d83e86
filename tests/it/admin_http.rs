//! The admin pages over plain HTTP: sign-in required everywhere, CSRF on every form, the login
//! throttle, security headers, and no password on any page.

use reqwest::redirect::Policy;

use crate::helpers::{TestApp, valid_credential};

pub const ADMIN_USER: &str = "alice";
pub const ADMIN_PASSWORD: &str = "a long admin password";

/// A browser-like client without automatic redirects, with the app's admin user created.
pub async fn admin_app() -> (TestApp, reqwest::Client) {
    admin_app_on(TestApp::spawn().await).await
}

/// The same, with these web settings (public URL, trusted proxies).
pub async fn admin_app_with_web(web: mailroom::config::WebSettings) -> (TestApp, reqwest::Client) {
    admin_app_on(TestApp::spawn_with_web(web).await).await
}

async fn admin_app_on(app: TestApp) -> (TestApp, reqwest::Client) {
    app.app
        .create_user(
            "test",
            ADMIN_USER,
            &mailroom::domain::Secret::new(ADMIN_PASSWORD.into()),
        )
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    (app, client)
}

/// Signs in and returns the session cookie (`name=value`).
pub async fn sign_in(app: &TestApp, client: &reqwest::Client) -> String {
    let r = client
        .post(format!("{}/admin/login", app.base))
        .header("origin", &app.base)
        .form(&[
            ("username", ADMIN_USER),
            ("password", ADMIN_PASSWORD),
            ("next", "/admin/email-integration"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in redirects");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token embedded in a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("page has a csrf field")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

async fn get(
    app: &TestApp,
    client: &reqwest::Client,
    cookie: Option<&str>,
    path: &str,
) -> reqwest::Response {
    let mut req = client.get(format!("{}{}", app.base, path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn every_admin_page_requires_sign_in() {
    let (app, client) = admin_app().await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    for path in [
        "/admin/email-integration".to_string(),
        "/admin/email-integration/new".to_string(),
        format!("/admin/email-integration/{id}"),
        format!("/admin/email-integration/{id}/delete"),
        "/admin/audit".to_string(),
    ] {
        let r = get(&app, &client, None, &path).await;
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/admin/login?next="), "{path} → {to}");
        let r = get(&app, &client, Some("mailroom_session=forged"), &path).await;
        assert_eq!(r.status(), 303, "{path} with a forged cookie");
    }
    for path in [
        format!("/admin/email-integration/{id}/delete"),
        format!("/admin/email-integration/{id}/password"),
    ] {
        let r = client
            .post(format!("{}{}", app.base, path))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "POST {path}");
    }
    // Nothing was deleted by the anonymous posts.
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        200
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let (app, client) = admin_app().await;
    let cookie = sign_in(&app, &client).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let req = client
            .post(format!("{}{}", app.base, path))
            .header("cookie", cookie.clone())
            .form(&form);
        async move { req.send().await.unwrap() }
    };
    let r = post(format!("/admin/email-integration/{id}/delete"), vec![]).await;
    assert_eq!(r.status(), 403);
    let r = post(
        format!("/admin/email-integration/{id}/delete"),
        vec![("csrf", "wrong".into())],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        format!("/admin/email-integration/{id}/password"),
        vec![
            ("new_password", "abc".into()),
            ("confirm_password", "abc".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        "/admin/email-integration/new".into(),
        vec![("mailbox", "x@example.com".into())],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        200
    );
    assert_eq!(
        app.app.credential_password(id).await.unwrap().expose(),
        "Correct horse battery staple"
    );
    // A cross-site post is refused even with the right token.
    let page = get(
        &app,
        &client,
        Some(&cookie),
        &format!("/admin/email-integration/{id}/delete"),
    )
    .await
    .text()
    .await
    .unwrap();
    let r = client
        .post(format!("{}/admin/email-integration/{id}/delete", app.base))
        .header("cookie", cookie.clone())
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // With the token, from the page itself, it works.
    let r = post(
        format!("/admin/email-integration/{id}/delete"),
        vec![("csrf", csrf_of(&page))],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.get(&format!("/api/v1/credentials/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled() {
    let (app, client) = admin_app().await;
    for attempt in 1..=5 {
        let r = client
            .post(format!("{}/admin/login", app.base))
            .header("origin", &app.base)
            .form(&[("username", ADMIN_USER), ("password", "wrong password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "attempt {attempt}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Wrong username or password.")
        );
    }
    // Now even the right password waits.
    let r = client
        .post(format!("{}/admin/login", app.base))
        .header("origin", &app.base)
        .form(&[("username", ADMIN_USER), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    let audit = app.get("/api/v1/audit").await;
    assert!(audit.text.contains("user.login_failed"));
}

#[tokio::test]
async fn pages_carry_security_headers_and_never_the_password() {
    let (app, client) = admin_app().await;
    let cookie = sign_in(&app, &client).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    for path in [
        "/admin/login".to_string(),
        "/admin/email-integration".into(),
        format!("/admin/email-integration/{id}"),
    ] {
        let r = get(&app, &client, Some(&cookie), &path).await;
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("Correct horse battery staple"),
            "{path} shows the password"
        );
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
    // Sign out ends the session.
    let page = get(&app, &client, Some(&cookie), "/admin/email-integration")
        .await
        .text()
        .await
        .unwrap();
    let r = client
        .post(format!("{}/admin/logout", app.base))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = get(&app, &client, Some(&cookie), "/admin/email-integration").await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn the_form_reports_each_field_error_and_saves_nothing() {
    let (app, client) = admin_app().await;
    let cookie = sign_in(&app, &client).await;
    let page = get(&app, &client, Some(&cookie), "/admin/email-integration/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"993\""), "port defaults to 993");
    assert!(page.contains(
        "id=\"use_secure_connection\" name=\"use_secure_connection\" type=\"checkbox\" checked"
    ));
    let r = client
        .post(format!("{}/admin/email-integration/new", app.base))
        .header("cookie", cookie.clone())
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("mailbox", "not an address"),
            ("password", "Typed-Secret-123"),
            ("host", "imaps://imap.example.com:993"),
            ("port", "993"),
            ("use_secure_connection", "on"),
            ("configuration_name", ""),
            ("description", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"mailbox-error\""));
    assert!(html.contains("id=\"host-error\"") && html.contains("host name alone"));
    assert!(html.contains("id=\"configuration_name-error\""));
    assert!(
        !html.contains("Typed-Secret-123"),
        "the typed password is not sent back"
    );
    assert!(
        html.contains("id=\"password-retype\"") && html.contains("type it again"),
        "the form says the password must be typed again"
    );
    assert!(
        html.contains("value=\"x\"") || html.contains(">x</textarea>"),
        "other values are kept"
    );
    assert_eq!(
        app.get("/api/v1/credentials").await.body["items"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_name_already_used_is_a_conflict_on_new_and_on_details_and_saves_nothing() {
    let (app, client) = admin_app().await;
    let cookie = sign_in(&app, &client).await;
    app.create_credential(&valid_credential(1)).await;
    let second = app.create_credential(&valid_credential(2)).await;
    let id = second["id"].as_i64().unwrap();
    let post = |path: String, page: String, fields: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        let cookie = cookie.clone();
        let url = format!("{}{}", app.base, path);
        async move {
            let mut form = vec![("csrf", csrf_of(&page))];
            form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
            let r = client
                .post(url)
                .header("cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let fields = |mailbox: &'static str, name: &'static str| {
        vec![
            ("mailbox", mailbox),
            ("password", "Another-Secret-123"),
            ("host", "imap.example.com"),
            ("port", "993"),
            ("use_secure_connection", "on"),
            ("configuration_name", name),
            ("description", "x"),
        ]
    };

    // New, with the mailbox of the first credential (in other case).
    let new = get(&app, &client, Some(&cookie), "/admin/email-integration/new")
        .await
        .text()
        .await
        .unwrap();
    let (status, html) = post(
        "/admin/email-integration/new".into(),
        new,
        fields("PAYROLL1@example.com", "Payroll 3"),
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("id=\"mailbox-error\"") && html.contains("already exists"));

    // Details of the second, renamed to the first's Configuration Name: the same answer.
    let path = format!("/admin/email-integration/{id}");
    let details = get(&app, &client, Some(&cookie), &path)
        .await
        .text()
        .await
        .unwrap();
    let (status, html) = post(
        path.clone(),
        details,
        fields("payroll2@example.com", "payroll 1"),
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("id=\"configuration_name-error\"") && html.contains("already exists"));
    let list = app.get("/api/v1/credentials").await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["configuration_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{}", list.text);
    assert!(names.contains(&"Payroll 2"), "nothing was saved: {names:?}");
}

#[tokio::test]
async fn every_admin_post_route_refuses_a_form_without_the_sessions_csrf_token() {
    let (app, client) = admin_app().await;
    let cookie = sign_in(&app, &client).await;
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let paths = mailroom::web::admin_paths();
    assert!(paths.len() > 20, "{paths:?}");
    for path in paths.iter().filter(|p| p.as_str() != "/admin/login") {
        // Every `{…}` parameter becomes the credential's id (the check comes before routing).
        let mut url = String::new();
        let mut rest = path.as_str();
        while let Some((before, after)) = rest.split_once('{') {
            url.push_str(before);
            url.push_str(&id.to_string());
            rest = after.split_once('}').map_or("", |(_, a)| a);
        }
        url.push_str(rest);
        for form in [
            vec![("description", "x")],
            vec![("csrf", "wrong"), ("description", "x")],
        ] {
            let r = client
                .post(format!("{}{url}", app.base))
                .header("cookie", &cookie)
                .header("origin", &app.base)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "POST {url} with {form:?}");
        }
    }
    let still = app.get(&format!("/api/v1/credentials/{id}")).await;
    assert_eq!(still.body["description"], "Payroll mailbox for new hires");
}

#[tokio::test]
async fn every_page_has_a_title_and_the_favicon_it_links_is_served() {
    let (app, client) = admin_app().await;
    let login = client
        .get(format!("{}/admin/login", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("<title>Sign in · Mailroom</title>"),
        "{login}"
    );
    assert!(
        login
            .contains(r#"<link rel="icon" href="/admin/static/favicon.svg" type="image/svg+xml">"#),
        "{login}"
    );
    let icon = client
        .get(format!("{}/admin/static/favicon.svg", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
}
