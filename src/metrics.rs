//! Counters for `/metrics` (Prometheus text format), one set per `App`. Counts only: never
//! addresses, subjects or secrets. Kept in atomics so recording costs nothing on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    emails_processed: AtomicU64,
    cases_created: AtomicU64,
    exceptions: AtomicU64,
    polls: AtomicU64,
    poll_failures: AtomicU64,
    poll_micros: AtomicU64,
    password_checks: AtomicU64,
    /// OAuth2 sign-ins that failed for good (a person must sign in again).
    oauth_sign_in_again: AtomicU64,
    /// Messages found by a credential's current or last poll and not committed yet.
    backlog: Mutex<BTreeMap<i64, u64>>,
}

impl Metrics {
    /// Records one finished poll of a credential.
    pub fn record_poll(&self, ok: bool, micros: u64, emails: u64, cases: u64, exceptions: u64) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.poll_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.poll_micros.fetch_add(micros, Ordering::Relaxed);
        self.emails_processed.fetch_add(emails, Ordering::Relaxed);
        self.cases_created.fetch_add(cases, Ordering::Relaxed);
        self.exceptions.fetch_add(exceptions, Ordering::Relaxed);
    }

    /// Counts one Argon2 check (a sign-in, or a new administrator's password).
    pub fn record_password_check(&self) {
        self.password_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one credential put in "sign in again" by a token request that failed for good.
    pub fn record_sign_in_again(&self) {
        self.oauth_sign_in_again.fetch_add(1, Ordering::Relaxed);
    }

    /// How many messages of a credential's poll are still to be committed.
    pub fn set_backlog(&self, credential_id: i64, messages: u64) {
        self.backlog
            .lock()
            .expect("backlog")
            .insert(credential_id, messages);
    }

    pub fn backlog(&self, credential_id: i64) -> Option<u64> {
        self.backlog
            .lock()
            .expect("backlog")
            .get(&credential_id)
            .copied()
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let v = v.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "mailroom_emails_processed_total",
            "Emails fetched and processed.",
            &self.emails_processed,
        );
        counter(
            &mut out,
            "mailroom_cases_created_total",
            "Cases created from email.",
            &self.cases_created,
        );
        counter(
            &mut out,
            "mailroom_exceptions_total",
            "Exception-log entries written by processing.",
            &self.exceptions,
        );
        counter(
            &mut out,
            "mailroom_poll_failures_total",
            "Polls that failed.",
            &self.poll_failures,
        );
        counter(
            &mut out,
            "mailroom_password_checks_total",
            "Administrator passwords checked (Argon2), after the sign-in throttle.",
            &self.password_checks,
        );
        counter(
            &mut out,
            "mailroom_oauth_sign_in_again_total",
            "OAuth2 credentials put in \"sign in again\" by a token request that failed for good.",
            &self.oauth_sign_in_again,
        );
        let polls = self.polls.load(Ordering::Relaxed);
        let secs = self.poll_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP mailroom_poll_duration_seconds Time spent per poll.\n# TYPE mailroom_poll_duration_seconds summary\nmailroom_poll_duration_seconds_sum {secs}\nmailroom_poll_duration_seconds_count {polls}"
        );
        let _ = writeln!(
            out,
            "# HELP mailroom_backlog_messages Messages found by the credential's current or last poll and not processed yet.\n# TYPE mailroom_backlog_messages gauge"
        );
        for (id, n) in self.backlog.lock().expect("backlog").iter() {
            let _ = writeln!(
                out,
                "mailroom_backlog_messages{{credential_id=\"{id}\"}} {n}"
            );
        }
        out
    }
}
