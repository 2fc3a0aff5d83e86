//! Crash safety: the real binary processing 2,000 emails is killed with SIGKILL at random
//! moments, at least ten times, and restarted each time. At the end there are exactly 2,000
//! cases: none lost, none twice, and every email flagged \Seen.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use crate::dovecot::{Dovecot, PASSWORD, USER};
use crate::processing::{deliver, email};

const EMAILS: usize = 2000;
const KILLS: usize = 12;

/// Starts `mailroom serve`; returns the child, its base URL and (on first start) the token.
/// The caller kills and waits for the child.
#[allow(clippy::zombie_processes)]
fn serve(data: &Path) -> (Child, String, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("MAILROOM_POLL_INTERVAL_SECS", "1")
        .env("MAILROOM_BATCH_SIZE", "5")
        .env("RUST_LOG", "warn")
        .env_remove("MAILROOM_MASTER_KEY")
        .env_remove("MAILROOM_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mailroom serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(t) = line.trim().strip_prefix("API token:") {
            token = Some(t.trim().to_string());
        }
        if let Some(a) = line.strip_prefix("Mailroom listening on ") {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, a.trim().to_string(), token);
        }
    }
}

/// Kills the server if the test stops early (a failed assertion), so no process outlives it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill9(&mut self.0);
    }
}

/// SIGKILL (std's `kill`), then reap. Safe to call twice: std never signals a reaped child.
fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn count_cases(data: &Path) -> (i64, i64) {
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        data.join("mailroom.db").display()
    ))
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&db)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT message_id) FROM cases")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    (n, distinct)
}

/// Waits (functional check, generous deadline) until the database holds at least `n` cases.
async fn wait_for_cases(data: &Path, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (have, _) = count_cases(data).await;
        if have >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {n} cases after the crashes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn killing_the_process_at_random_moments_loses_and_doubles_nothing() {
    let d = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, base, token) = serve(&data);
    let mut child = KillOnDrop(child);
    let token = token.expect("first start prints a token");
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let c: serde_json::Value = post(
        "/api/v1/credentials",
        json!({"mailbox": USER, "password": PASSWORD, "host": "127.0.0.1", "port": d.imap_port,
               "use_secure_connection": false, "configuration_name": "Crash", "description": "crash test"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let cred = c["id"].as_i64().unwrap();
    let w: serde_json::Value = post("/api/v1/workspaces", json!({"name": "W"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = post(
        &format!("/api/v1/credentials/{cred}/aliases"),
        json!({"email_alias": USER, "is_default": true, "workspace_id": w["id"], "project_type_id": 1, "reply_template_id": null}),
    )
    .await
    .unwrap();
    assert_eq!(a.status(), 201);
    // The first (empty) poll sets the checkpoint; from then on every email counts, read or not.
    let first = post(&format!("/api/v1/credentials/{cred}/poll"), json!({}))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    for i in 0..EMAILS {
        deliver(
            &d,
            &format!("crash{i:05}.mr"),
            &email(i, USER, "", &format!("body {i}")),
            i % 3 == 0,
        );
    }

    // Each kill lands after the running process has committed a random number of new cases
    // (observed in the database, not guessed from the clock), so it falls in the middle of work.
    let mut rng = rand::thread_rng();
    let mut kills_during_work = 0;
    for _ in 0..KILLS {
        let (before, _) = count_cases(&data).await;
        let target = before + rng.gen_range(1..40);
        wait_for_cases(&data, target.min(EMAILS as i64)).await;
        kill9(&mut child.0);
        let (n, _) = count_cases(&data).await;
        if (n as usize) < EMAILS {
            kills_during_work += 1;
        }
        child = KillOnDrop(serve(&data).0);
    }
    // The last process finishes the work.
    wait_for_cases(&data, EMAILS as i64).await;
    drop(child);
    // One more poll, run directly, finds nothing left to do.
    let out = crate::helpers::run_cli(
        &data,
        &["credential", "poll", &cred.to_string(), "--json"],
        None,
    );
    let poll: serde_json::Value = serde_json::from_str(&crate::helpers::cli_stdout(&out)).unwrap();
    assert_eq!(poll["cases_created"], 0, "{poll}");
    eprintln!("{kills_during_work} of {KILLS} kills landed while work was in progress");
    let (n, distinct) = count_cases(&data).await;
    assert_eq!(n as usize, EMAILS, "exactly one case per email");
    assert_eq!(distinct as usize, EMAILS, "no email twice");
    assert_eq!(d.seen_count(), EMAILS, "every email ends up \\Seen");
    assert!(
        kills_during_work >= 3,
        "the kills landed while work was in progress ({kills_during_work})"
    );
}
