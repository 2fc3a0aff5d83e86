//! Issue 10's hardening, as a hostile user would try it: a stored password cannot be sent to
//! another host, sign-in cannot be flooded or forged, keys rotated while serving lose nothing,
//! and files and inputs that used to leak or crash are handled.

use mailroom::app::App;
use mailroom::config::{Settings, WebSettings};
use serde_json::json;

use crate::admin_http::{ADMIN_PASSWORD, ADMIN_USER, admin_app, admin_app_with_web};
use crate::admin_pages::Admin;
use crate::helpers::{run_cli, valid_credential, with};
use crate::secrets::Server;

#[tokio::test]
async fn a_stored_password_is_never_sent_to_another_host() {
    let (app, client) = admin_app().await;
    // Where an attacker would like the password to go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let c = app.create_credential(&valid_credential(1)).await;
    let id = c["id"].as_i64().unwrap();
    let elsewhere =
        json!({"host": "127.0.0.1", "port": port.parse::<i64>().unwrap(), "security": "none"});

    // API: an edit, and a test of the saved credential, towards it.
    let r = app
        .patch(&format!("/api/v1/credentials/{id}"), &elsewhere)
        .await;
    assert_eq!((r.status, r.error_code()), (422, "password_required"));
    let r = app
        .post(
            &format!("/api/v1/credentials/{id}/connection-tests"),
            &elsewhere,
        )
        .await;
    assert_eq!(
        (r.status, r.error_code(), r.error_field()),
        (422, "password_required", "password")
    );

    // Admin pages: the details form has the password field, and Save and Test Connection with
    // a changed host and no password are refused with the reason on that field.
    let admin = Admin::new(&app, client).await;
    let details = format!("/admin/email-integration/{id}");
    let html = admin.open(&details).await;
    assert!(html.contains("id=\"password-again\""), "{html}");
    let form = [
        ("mailbox", "payroll1@example.com"),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("configuration_name", "Payroll 1"),
        ("description", "Payroll mailbox for new hires"),
        ("enabled", "on"),
    ];
    let saved = admin.post(&details, &details, &form).await;
    assert_eq!(saved.status, 422, "{}", saved.html);
    assert!(saved.html.contains("id=\"password-error\""));
    assert!(saved.html.contains("password again"));
    let tested = admin
        .post(&format!("{details}/connection-test"), &details, &form)
        .await;
    assert!(tested.html.contains("password again"), "{}", tested.html);

    // Nothing ever connected to it, and the credential still points at its own host.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the other host: {other:?}"),
    }
    let now = app.get(&format!("/api/v1/credentials/{id}")).await.body;
    assert_eq!(
        (now["host"].as_str(), now["port"].as_i64()),
        (Some("imap.example.com"), Some(993))
    );
}

/// Posts the login form with these headers.
async fn sign_in_with(
    client: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
    username: &str,
    password: &str,
) -> reqwest::Response {
    let mut req = client
        .post(format!("{base}/admin/login"))
        .form(&[("username", username), ("password", password)]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_login_form_only_accepts_posts_from_its_own_site() {
    let (app, client) = admin_app().await;
    let base = app.base.clone();
    let sign_in = |headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sign_in_with(&client, &base, &h, ADMIN_USER, ADMIN_PASSWORD).await
        }
    };
    // Neither Origin nor Sec-Fetch-Site: refused, whatever the password.
    let r = sign_in(vec![]).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("did not say which site"));
    // Another site, by either header: refused.
    let r = sign_in(vec![("origin", "https://evil.example".into())]).await;
    assert_eq!(r.status(), 403);
    let r = sign_in(vec![("sec-fetch-site", "cross-site".into())]).await;
    assert_eq!(r.status(), 403);
    // This site, by either header: signed in.
    let r = sign_in(vec![("origin", app.base.clone())]).await;
    assert_eq!(r.status(), 303);
    let r = sign_in(vec![("sec-fetch-site", "same-origin".into())]).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers().get("set-cookie").is_some());
}

/// The peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The value of one counter on `/metrics`.
async fn counter(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} on /metrics: {text}"))
        .parse()
        .unwrap()
}

/// Fires `n` sign-ins at once; returns how many were checked (401) and throttled (429).
async fn flood(
    client: &reqwest::Client,
    base: &str,
    usernames: impl Fn(usize) -> String,
    n: usize,
) -> (usize, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, base, username) = (client.clone(), base.to_string(), usernames(i));
        tasks.spawn(async move {
            sign_in_with(
                &client,
                &base,
                &[("origin", &base)],
                &username,
                &format!("wrong {i}"),
            )
            .await
            .status()
            .as_u16()
        });
    }
    let statuses = tasks.join_all().await;
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    assert_eq!(count(401) + count(429), n, "{statuses:?}");
    (count(401), count(429))
}

#[tokio::test]
async fn a_flood_of_wrong_sign_ins_is_counted_before_checking_and_stays_small() {
    use mailroom::web::{MAX_PER_ACCOUNT, MAX_PER_CLIENT};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let checks_at_start = counter(&client, &server.base, "mailroom_password_checks_total").await;

    // 60 wrong passwords for one account at once: only the account's allowance is checked.
    let (checked, throttled) = flood(&client, &server.base, |_| "admin".into(), 60).await;
    assert_eq!(
        (checked, throttled),
        (MAX_PER_ACCOUNT, 60 - MAX_PER_ACCOUNT)
    );
    // 60 different usernames from the same address: only the address's allowance.
    let (checked, _) = flood(&client, &server.base, |i| format!("user{i}"), 60).await;
    assert_eq!(checked, MAX_PER_CLIENT - MAX_PER_ACCOUNT);
    let checks = counter(&client, &server.base, "mailroom_password_checks_total").await;
    assert_eq!(checks - checks_at_start, MAX_PER_CLIENT as u64);

    let peak = peak_rss(server.child.id());
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MiB",
        peak / (1024 * 1024)
    );
    server.stop();
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_allowance() {
    let web = WebSettings::from_values(None, Some("127.0.0.0/8")).unwrap();
    let (app, client) = admin_app_with_web(web).await;
    let from = |client_ip: &'static str, password: &'static str| {
        let (client, base) = (client.clone(), app.base.clone());
        async move {
            sign_in_with(
                &client,
                &base,
                &[("origin", &base), ("x-forwarded-for", client_ip)],
                ADMIN_USER,
                password,
            )
            .await
            .status()
        }
    };
    for _ in 0..5 {
        assert_eq!(from("203.0.113.5", "wrong").await, 401);
    }
    assert_eq!(from("203.0.113.5", ADMIN_PASSWORD).await, 429);
    // Another client behind the same proxy is not locked out by the first one.
    assert_eq!(from("198.51.100.7", ADMIN_PASSWORD).await, 303);

    // Without trusted proxies the header is the client's own claim and changes nothing.
    let (plain, client) = admin_app().await;
    for n in 0..5 {
        let ip = format!("203.0.113.{n}");
        let r = sign_in_with(
            &client,
            &plain.base,
            &[("origin", &plain.base), ("x-forwarded-for", &ip)],
            ADMIN_USER,
            "wrong",
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = sign_in_with(
        &client,
        &plain.base,
        &[("origin", &plain.base), ("x-forwarded-for", "198.51.100.7")],
        ADMIN_USER,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn with_a_public_url_admin_pages_answer_only_to_its_host() {
    let web = WebSettings::from_values(Some("https://mailroom.example.test"), None).unwrap();
    let (app, client) = admin_app_with_web(web).await;
    let get = |host: &'static str| {
        client
            .get(format!("{}/admin/login", app.base))
            .header("host", host)
            .send()
    };
    let r = get("evil.example").await.unwrap();
    assert_eq!(r.status(), 421);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("https://mailroom.example.test/admin")
    );
    assert_eq!(get("mailroom.example.test").await.unwrap().status(), 200);
    // The origin must be the public one, and the cookie is Secure although this hop is HTTP.
    let host = [("host", "mailroom.example.test")];
    let r = sign_in_with(
        &client,
        &app.base,
        &[host[0], ("origin", &app.base)],
        ADMIN_USER,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = sign_in_with(
        &client,
        &app.base,
        &[host[0], ("origin", "https://mailroom.example.test")],
        ADMIN_USER,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // The API is not a page: it answers by token whatever the host.
    assert_eq!(app.get("/api/v1/credentials").await.status, 200);
}

#[tokio::test]
async fn keys_rotated_while_the_server_runs_lose_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let client = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{}/api/v1{path}", server.base))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
    };
    let create = |n: u32| {
        api(
            reqwest::Method::POST,
            "/credentials",
            with(
                valid_credential(n),
                json!({"password": format!("before-{n}")}),
            ),
        )
    };
    let id1 = create(1)
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // Another process rotates the keys while the server keeps serving.
    let out = run_cli(&data, &["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server seals what it stores from now on with the new key.
    let id2 = create(2)
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = api(
        reqwest::Method::POST,
        &format!("/credentials/{id1}/password"),
        json!({"new_password": "after-1", "confirm_password": "after-1"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = api(
        reqwest::Method::PATCH,
        &format!("/credentials/{id2}"),
        json!({"host": "imap2.example.com", "password": "after-2"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    server.stop();

    // A restart opens every password.
    let app = App::open(Settings::new(data.clone(), None))
        .await
        .expect("the server starts again with the rotated key file");
    assert_eq!(
        app.credential_password(id1).await.unwrap().expose(),
        "after-1"
    );
    assert_eq!(
        app.credential_password(id2).await.unwrap().expose(),
        "after-2"
    );
    let status = app.key_status().await.unwrap();
    assert!(status.keys.iter().all(|k| k.loaded), "{status:?}");
    assert_eq!(status.keys.len(), 1, "only the new key is left: {status:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_database_and_key_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An existing directory that others can read is tightened.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = App::open(Settings::new(data.clone(), None)).await.unwrap();
    let raw = serde_json::from_value(valid_credential(1)).unwrap();
    app.create_credential("test", &raw).await.unwrap();
    assert_eq!(mode(&data), 0o700);
    for f in ["mailroom.db", "mailroom.db-wal", "master.key"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    app.close().await;

    // A database file left readable by others is tightened at the next start.
    std::fs::set_permissions(
        data.join("mailroom.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    App::open(Settings::new(data.clone(), None))
        .await
        .unwrap()
        .close()
        .await;
    assert_eq!(mode(&data.join("mailroom.db")), 0o600);

    // A key file that others can read stops the start, with what to do.
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = run_cli(&data, &["credential", "list"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn inputs_that_used_to_leak_or_crash() {
    let (app, client) = admin_app().await;
    // A JSON type error names the field and the expected type, never the value sent.
    let r = app
        .post(
            "/api/v1/credentials",
            &with(valid_credential(1), json!({"password": 77310042})),
        )
        .await;
    assert_eq!((r.status, r.error_field()), (422, "password"));
    assert!(!r.text.contains("77310042"), "{}", r.text);
    assert!(r.text.contains("expected a string"), "{}", r.text);
    // A `next` with CR/LF is not followed (it used to answer 500).
    let r = client
        .post(format!("{}/admin/login", app.base))
        .header("origin", &app.base)
        .form(&[
            ("username", ADMIN_USER),
            ("password", ADMIN_PASSWORD),
            ("next", "/admin/cases\r\nSet-Cookie: x=y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/email-integration");
    let r = client
        .get(format!("{}/admin/login?next=%2Fadmin%0D%0Ax", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A password typed into the username field is not kept by the audit log.
    let r = client
        .post(format!("{}/admin/login", app.base))
        .header("origin", &app.base)
        .form(&[("username", "Typed-My-Password-Here-9"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{}/admin/login", app.base))
        .header("origin", &app.base)
        .form(&[("username", ADMIN_USER), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let audit = app.get("/api/v1/audit").await;
    assert!(
        !audit.text.contains("Typed-My-Password-Here-9"),
        "{}",
        audit.text
    );
    assert!(
        audit
            .text
            .contains("failed sign-in with an unknown username")
    );
    assert!(
        audit
            .text
            .contains(&format!("failed sign-in as \\\"{ADMIN_USER}\\\"")),
        "{}",
        audit.text
    );
}
