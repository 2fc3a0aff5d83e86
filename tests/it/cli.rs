//! The CLI works directly on the data directory: credentials, tokens, users, JSON output,
//! passwords only from a prompt or standard input, errors on stderr with a non-zero exit.

use crate::helpers::{cli_stdout as ok, run_cli};

fn add_args(n: u32) -> Vec<String> {
    [
        "credential",
        "add",
        "--mailbox",
        &format!("hr{n}@example.com"),
        "--host",
        "imap.example.com",
        "--configuration-name",
        &format!("HR {n}"),
        "--description",
        "HR inbox",
        "--password-stdin",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn credential_lifecycle_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = add_args(1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let created: serde_json::Value =
        serde_json::from_str(&ok(&run_cli(&data, &args, Some("Cli-Pass-123\n")))).unwrap();
    assert_eq!(created["port"], 993);
    assert!(created["created_by"].as_str().unwrap().starts_with("cli:"));
    let id = created["id"].as_i64().unwrap().to_string();

    let listed: serde_json::Value = serde_json::from_str(&ok(&run_cli(
        &data,
        &["credential", "list", "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let table = ok(&run_cli(&data, &["credential", "list"], None));
    assert!(
        table.starts_with("ID")
            && table.contains("hr1@example.com")
            && table.contains("imap.example.com:993"),
        "{table}"
    );

    // A new port and security would send the stored password elsewhere: without a terminal
    // to ask at, the edit is refused and says how to give the password.
    let edit = [
        "credential",
        "edit",
        &id,
        "--port",
        "143",
        "--security",
        "starttls",
        "--disable",
        "--json",
    ];
    let out = run_cli(&data, &edit, None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("password again") && err.contains("--password-stdin"),
        "{err}"
    );
    let edit_with_password = [&edit[..], &["--password-stdin"]].concat();
    let edited: serde_json::Value = serde_json::from_str(&ok(&run_cli(
        &data,
        &edit_with_password,
        Some("Edited-Pass-143\n"),
    )))
    .unwrap();
    assert_eq!(
        (
            edited["port"].as_i64(),
            edited["security"].as_str(),
            edited["enabled"].as_bool()
        ),
        (Some(143), Some("starttls"), Some(false))
    );

    // Validation errors name the field and rule on stderr, exit non-zero, and store nothing.
    let out = run_cli(
        &data,
        &["credential", "edit", &id, "--host", "imaps://x:993"],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host:") && err.contains("host_only"), "{err}");

    // Change Password: mismatch is refused, a matching pair accepted.
    let out = run_cli(
        &data,
        &["credential", "set-password", &id, "--password-stdin"],
        Some("one\ntwo\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("confirm_password"));
    ok(&run_cli(
        &data,
        &["credential", "set-password", &id, "--password-stdin"],
        Some("New-Pass-456\nNew-Pass-456\n"),
    ));

    // Without a terminal and without --password-stdin, the CLI says how to pass a password.
    let out = run_cli(&data, &["credential", "set-password", &id], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));

    let out = run_cli(&data, &["credential", "show", "999"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("credential not found"));

    ok(&run_cli(&data, &["credential", "delete", &id], None));
    let listed: serde_json::Value = serde_json::from_str(&ok(&run_cli(
        &data,
        &["credential", "list", "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn there_is_no_password_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        &dir.path().join("data"),
        &[
            "credential",
            "add",
            "--mailbox",
            "a@example.com",
            "--password",
            "visible-in-ps",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"));
}

#[test]
fn tokens_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = ok(&run_cli(&data, &["token", "create", "--name", "ci"], None));
    assert!(token.trim().starts_with("mrt_"));
    let list = ok(&run_cli(&data, &["token", "list"], None));
    assert!(list.contains("ci") && list.contains("active"));
    assert!(
        !list.contains(token.trim()),
        "the token value is shown only once"
    );
    ok(&run_cli(&data, &["token", "revoke", "1"], None));
    let list: serde_json::Value =
        serde_json::from_str(&ok(&run_cli(&data, &["token", "list", "--json"], None))).unwrap();
    assert!(list[0]["revoked_at"].is_i64());

    ok(&run_cli(
        &data,
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some("a long admin password\n"),
    ));
    let out = run_cli(
        &data,
        &["user", "create", "--username", "ALICE", "--password-stdin"],
        Some("another long password\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run_cli(
        &data,
        &["user", "create", "--username", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
}
