//! The OAuth2 leak search (issue 12): after an app is added, a credential signed in (admin
//! pages) and polled with a rotated refresh token (the real binary, RUST_LOG=trace), the client
//! secret and every refresh token issued are found in no API response, admin page, CLI output,
//! log line, or in the raw bytes of the data directory (the SQLite database and key file).

use std::process::{Command, Stdio};

use crate::admin_pages::Admin;
use crate::dovecot::USER;
use crate::helpers::{TestApp, all_file_bytes, contains_bytes};
use crate::processing::{deliver, email};

const CLIENT_ID: &str = "mailroom-leak-search";
const CLIENT_SECRET: &str = "Client-Secret-Plover-3318";

/// The real binary on the app's data with RUST_LOG=trace: stdout and stderr together (run
/// off the test's runtime, which serves the authorization server the binary calls).
async fn traced_cli(app: &TestApp, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("--data-dir").arg(app.data_path());
    if let Some(url) = &app.database_url {
        cmd.args(["--database-url", url]);
    }
    cmd.args(args)
        .env("RUST_LOG", "trace")
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .stdin(Stdio::null());
    let label = format!("{args:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run mailroom"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{label}: {text}");
    text
}

#[tokio::test]
async fn no_client_secret_or_refresh_token_in_responses_pages_cli_logs_or_the_database() {
    let crate::oauth_admin::Delegated {
        auth,
        d,
        app,
        client,
        created,
        cred,
    } = crate::oauth_admin::delegated(CLIENT_ID, CLIENT_SECRET).await;
    let admin = Admin::new(&app, client.clone()).await;
    let mut texts: Vec<(String, String)> = Vec::new();
    texts.push(("POST oauth-apps".into(), created.text.clone()));
    let app_id = created.body["id"].as_i64().unwrap();
    crate::oauth_admin::route_to_cases(&app, cred).await;

    // Sign in through the admin pages (the callback stores the first refresh token).
    let cred_path = format!("/admin/email-integration/{cred}");
    let go = admin
        .post(&format!("{cred_path}/oauth/sign-in"), &cred_path, &[])
        .await;
    assert_eq!(go.status, 200, "{}", go.html);
    let consent = client.get(&go.location).send().await.unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    let done = admin.get(back.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(done.status, 303, "{}", done.html);

    // The real binary polls with RUST_LOG=trace: a refresh-token grant that rotates the token.
    deliver(&d, "leak0", &email(0, USER, "", "Payslip"), false);
    texts.push((
        "credential poll (trace)".into(),
        traced_cli(&app, &["credential", "poll", &cred.to_string()]).await,
    ));
    auth.expire_access_tokens();
    deliver(&d, "leak1", &email(1, USER, "", "Second"), false);
    texts.push((
        "credential poll again (trace)".into(),
        traced_cli(&app, &["credential", "poll", &cred.to_string()]).await,
    ));
    let tokens = auth.refresh_tokens();
    assert!(tokens.len() >= 2, "the refresh token rotated: {tokens:?}");
    let cases = app.get("/api/v1/cases?limit=100").await;
    assert_eq!(
        cases.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        cases.text
    );

    for path in [
        "/api/v1/oauth-apps".to_string(),
        format!("/api/v1/oauth-apps/{app_id}"),
        "/api/v1/credentials".to_string(),
        format!("/api/v1/credentials/{cred}"),
        "/api/v1/exceptions".to_string(),
        "/api/v1/audit".to_string(),
        "/api/v1/cases?limit=100".to_string(),
    ] {
        texts.push((path.clone(), app.get(&path).await.text));
    }
    for path in [
        "/admin/oauth-apps".to_string(),
        format!("/admin/oauth-apps/{app_id}"),
        "/admin/email-integration".to_string(),
        cred_path.clone(),
        "/admin/audit".to_string(),
        "/admin/exceptions".to_string(),
    ] {
        texts.push((path.clone(), admin.open(&path).await));
    }
    for args in [
        vec!["oauth-app", "list", "--json"],
        vec!["oauth-app", "show", &app_id.to_string()],
        vec!["credential", "show", &cred.to_string(), "--json"],
        vec!["keys", "status"],
    ] {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        texts.push((format!("{args:?}"), traced_cli(&app, &args).await));
    }

    for (what, text) in &texts {
        assert!(
            !text.contains(CLIENT_SECRET),
            "client secret in {what}: {text}"
        );
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "refresh token in {what}: {text}"
            );
        }
    }
    for (path, bytes) in all_file_bytes(&app.data_path()) {
        assert!(
            !contains_bytes(&bytes, CLIENT_SECRET.as_bytes()),
            "client secret in {}",
            path.display()
        );
        for t in &tokens {
            assert!(
                !contains_bytes(&bytes, t.as_bytes()),
                "refresh token in {}",
                path.display()
            );
        }
    }
}
