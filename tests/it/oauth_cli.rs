//! OAuth2 from the command line: `mailroom oauth-app add|list|show|edit|delete` (the client
//! secret from standard input, shown only as "set") and `mailroom credential sign-in ID`, which
//! prints the authorization URL and finishes with the address the browser was sent back to.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{TestApp, cli_stdout};
use crate::oauth_server::AuthServer;

pub const CLIENT_ID: &str = "mailroom-cli-app";
pub const CLIENT_SECRET: &str = "Client-Secret-Kestrel-7710";

/// Runs `credential sign-in ID` on the app's data: reads the printed authorization URL, lets
/// the test server consent, pastes the address it redirects to; returns (stdout, stderr).
pub async fn cli_sign_in(app: &TestApp, cred: i64) -> (String, String, bool) {
    let redirect = format!("{}/admin/oauth/callback", app.base);
    let id = cred.to_string();
    let mut args: Vec<String> = vec!["--data-dir".into(), app.data_path().display().to_string()];
    if let Some(url) = &app.database_url {
        args.extend(["--database-url".into(), url.clone()]);
    }
    args.extend(["credential", "sign-in", &id, "--redirect-uri", &redirect].map(String::from));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(&args)
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailroom");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "no URL: {printed}");
        printed.push_str(&line);
        if line.starts_with("http") {
            break line.trim().to_string();
        }
    };
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );
    let consent = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&redirect), "{back}");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{back}").unwrap();
    drop(stdin);
    let done = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let o = child.wait_with_output().unwrap();
        (
            rest,
            String::from_utf8_lossy(&o.stderr).to_string(),
            o.status.success(),
        )
    })
    .await
    .unwrap();
    (printed + &done.0, done.1, done.2)
}

#[tokio::test]
async fn oauth_apps_and_sign_in_from_the_command_line() {
    let auth = AuthServer::start().await;
    auth.register_client(CLIENT_ID, Some(CLIENT_SECRET), None);
    let app = TestApp::spawn().await;
    let mut outputs = Vec::new();
    let (token_url, authorize_url) = (auth.token_url(), auth.authorize_url());
    let add = app.cli(
        &[
            "oauth-app",
            "add",
            "--name",
            "Delegated",
            "--provider",
            "custom",
            "--client-id",
            CLIENT_ID,
            "--token-url",
            &token_url,
            "--authorize-url",
            &authorize_url,
            "--scopes",
            "mail offline_access",
            "--client-secret-stdin",
            "--json",
        ],
        Some(&format!("{CLIENT_SECRET}\n")),
    );
    let added: Value = serde_json::from_str(&cli_stdout(&add)).unwrap();
    assert_eq!(added["has_client_secret"], true);
    let app_id = added["id"].as_i64().unwrap().to_string();
    outputs.push(cli_stdout(&add));
    let list = cli_stdout(&app.cli(&["oauth-app", "list"], None));
    assert!(
        list.contains("Delegated") && list.contains(" set"),
        "{list}"
    );
    let show = cli_stdout(&app.cli(&["oauth-app", "show", &app_id], None));
    assert!(show.contains("Client secret   set"), "{show}");
    let edit = app.cli(&["oauth-app", "edit", &app_id, "--name", "Renamed"], None);
    assert!(cli_stdout(&edit).contains("Renamed"));
    outputs.extend([list, show, cli_stdout(&edit)]);

    // No secret flag exists: a secret is never on the command line.
    let flag = app.cli(&["oauth-app", "add", "--client-secret", "x"], None);
    assert!(!flag.status.success());

    let cred = app.cli(
        &[
            "credential",
            "add",
            "--mailbox",
            "payroll@example.com",
            "--host",
            "127.0.0.1",
            "--port",
            "9",
            "--name",
            "Payroll",
            "--description",
            "OAuth mailbox",
            "--auth-method",
            "oauth2",
            "--oauth-app",
            &app_id,
            "--json",
        ],
        None,
    );
    let cred: Value = serde_json::from_str(&cli_stdout(&cred)).unwrap();
    assert_eq!(cred["auth_method"], "oauth2");
    let cred_id = cred["id"].as_i64().unwrap();

    let (stdout, stderr, ok) = cli_sign_in(&app, cred_id).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("Signed in"), "{stdout}");
    let view = app.get(&format!("/api/v1/credentials/{cred_id}")).await;
    assert_eq!(view.body["has_refresh_token"], true, "{}", view.text);
    let show = cli_stdout(&app.cli(&["credential", "show", &cred_id.to_string()], None));
    assert!(show.contains("signed in"), "{show}");
    outputs.extend([stdout, stderr, show]);

    let refused = app.cli(&["oauth-app", "delete", &app_id], None);
    assert!(!refused.status.success(), "in use");
    let tokens = auth.refresh_tokens();
    assert!(!tokens.is_empty());
    for text in &outputs {
        assert!(!text.contains(CLIENT_SECRET), "{text}");
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "refresh token in CLI output: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_secret_that_cannot_be_read_names_the_client_secret_flag() {
    let app = TestApp::spawn().await;
    let add = [
        "oauth-app",
        "add",
        "--name",
        "No terminal",
        "--provider",
        "google",
        "--client-id",
        CLIENT_ID,
    ];
    // No terminal to prompt at (standard input is a pipe).
    let out = app.cli(&add, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no terminal to ask for the client secret")
            && err.contains("--client-secret-stdin")
            && !err.contains("--password-stdin"),
        "{err}"
    );
    // The flag given, but standard input holds nothing.
    let out = app.cli(&[&add[..], &["--client-secret-stdin"]].concat(), Some(""));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("standard input held no client secret"),
        "{err}"
    );
    let list = cli_stdout(&app.cli(&["oauth-app", "list"], None));
    assert!(!list.contains("No terminal"), "nothing added: {list}");
}
