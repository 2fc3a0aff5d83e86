//! Sealed passwords and master keys: rotation keeps data intact, a sealed value moved to another
//! row or altered does not open, and a wrong or missing key stops the start with a clear error.

use mailroom::app::App;
use mailroom::config::Settings;
use serde_json::json;

use crate::helpers::{run_cli, valid_credential, with};

/// A data directory with three credentials created through the real app.
async fn data_dir_with_credentials() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = App::open(Settings::new(data.clone(), None)).await.unwrap();
    for n in 1..=3 {
        let raw = serde_json::from_value(with(
            valid_credential(n),
            json!({"password": format!("secret-{n}")}),
        ))
        .unwrap();
        app.create_credential("test", &raw).await.unwrap();
    }
    app.close().await;
    (dir, data)
}

async fn open(data: &std::path::Path) -> App {
    App::open(Settings::new(data.to_path_buf(), None))
        .await
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test]
async fn rotation_reseals_everything_and_retires_the_old_key() {
    let (_dir, data) = data_dir_with_credentials().await;
    let before = run_cli(&data, &["keys", "status", "--json"], None);
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    let old_key = before["keys"][0]["key_id"].as_str().unwrap().to_string();
    assert_eq!(before["keys"][0]["secrets"], 3);
    let key_file_before = std::fs::read_to_string(data.join("master.key")).unwrap();

    let out = run_cli(&data, &["keys", "rotate"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Re-sealed 3 secret(s)"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&format!("Retired key {old_key}")));

    let after = run_cli(&data, &["keys", "status", "--json"], None);
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    let keys = after["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{after}");
    assert_ne!(keys[0]["key_id"], old_key.as_str());
    assert_eq!(keys[0]["secrets"], 3);
    assert_ne!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        key_file_before
    );

    let app = open(&data).await;
    for n in 1..=3 {
        assert_eq!(
            app.credential_password(n).await.unwrap().expose(),
            format!("secret-{n}")
        );
    }
    let audit = app.list_audit(10, None).await.unwrap();
    assert_eq!(audit[0].action, "keys.rotate");
}

#[tokio::test]
async fn a_sealed_password_copied_to_another_row_does_not_open() {
    let (_dir, data) = data_dir_with_credentials().await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("mailroom.db").display()))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE credentials SET password_key_id = (SELECT password_key_id FROM credentials WHERE id = 1), \
         password_nonce = (SELECT password_nonce FROM credentials WHERE id = 1), \
         password_sealed = (SELECT password_sealed FROM credentials WHERE id = 1) WHERE id = 2",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let app = open(&data).await;
    let err = app.credential_password(2).await.unwrap_err().to_string();
    assert!(
        err.contains("credential 2") && err.contains("sealed for another record"),
        "{err}"
    );
    assert_eq!(
        app.credential_password(1).await.unwrap().expose(),
        "secret-1"
    );
}

#[tokio::test]
async fn a_tampered_sealed_password_does_not_open() {
    let (_dir, data) = data_dir_with_credentials().await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("mailroom.db").display()))
        .await
        .unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT password_sealed FROM credentials WHERE id = 3")
            .fetch_one(&db)
            .await
            .unwrap();
    let mut tampered = sealed.clone();
    tampered[0] ^= 0x01;
    sqlx::query("UPDATE credentials SET password_sealed = $1 WHERE id = 3")
        .bind(tampered)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let app = open(&data).await;
    let err = app.credential_password(3).await.unwrap_err().to_string();
    assert!(err.contains("altered"), "{err}");
}

#[tokio::test]
async fn starting_with_a_wrong_or_missing_key_fails_clearly() {
    let (_dir, data) = data_dir_with_credentials().await;
    // A different key in the environment.
    let (_, other_key) = {
        let out = run_cli(&data, &["keys", "generate"], None);
        assert!(out.status.success());
        ((), stdout(&out).trim().to_string())
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["credential", "list", "--data-dir"])
        .arg(&data)
        .env("MAILROOM_MASTER_KEY", &other_key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("master key does not match"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    // Not a key at all.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["credential", "list", "--data-dir"])
        .arg(&data)
        .env("MAILROOM_MASTER_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("32 bytes in base64"),
        "{}",
        stderr(&out)
    );
    // The right key in the environment works (the file's content is the same key).
    let file_key = std::fs::read_to_string(data.join("master.key")).unwrap();
    let key_line = file_key.lines().find(|l| !l.starts_with('#')).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["credential", "list", "--data-dir"])
        .arg(&data)
        .env("MAILROOM_MASTER_KEY", key_line)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The key file gone: an error, never a fresh key that cannot open anything.
    std::fs::remove_file(data.join("master.key")).unwrap();
    let out = run_cli(&data, &["credential", "list"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no master key"), "{}", stderr(&out));
    assert!(!data.join("master.key").exists());
}
