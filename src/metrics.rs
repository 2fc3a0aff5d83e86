//! Process-wide counters for `/metrics` (Prometheus text format). Counts only: never
//! addresses, subjects or secrets. Kept in atomics so recording costs nothing on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static EMAILS_PROCESSED: AtomicU64 = AtomicU64::new(0);
static CASES_CREATED: AtomicU64 = AtomicU64::new(0);
static EXCEPTIONS: AtomicU64 = AtomicU64::new(0);
static POLLS: AtomicU64 = AtomicU64::new(0);
static POLL_FAILURES: AtomicU64 = AtomicU64::new(0);
static POLL_MICROS: AtomicU64 = AtomicU64::new(0);
static BACKLOG: Mutex<BTreeMap<i64, u64>> = Mutex::new(BTreeMap::new());

/// Records one finished poll of a credential.
pub fn record_poll(
    credential_id: i64,
    ok: bool,
    micros: u64,
    emails: u64,
    cases: u64,
    exceptions: u64,
    backlog_left: u64,
) {
    POLLS.fetch_add(1, Ordering::Relaxed);
    if !ok {
        POLL_FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    POLL_MICROS.fetch_add(micros, Ordering::Relaxed);
    EMAILS_PROCESSED.fetch_add(emails, Ordering::Relaxed);
    CASES_CREATED.fetch_add(cases, Ordering::Relaxed);
    EXCEPTIONS.fetch_add(exceptions, Ordering::Relaxed);
    if ok {
        BACKLOG
            .lock()
            .expect("backlog")
            .insert(credential_id, backlog_left);
    }
}

/// The Prometheus exposition text.
pub fn render() -> String {
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        &mut out,
        "mailroom_emails_processed_total",
        "Emails fetched and processed.",
        EMAILS_PROCESSED.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "mailroom_cases_created_total",
        "Cases created from email.",
        CASES_CREATED.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "mailroom_exceptions_total",
        "Exception-log entries written by processing.",
        EXCEPTIONS.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "mailroom_poll_failures_total",
        "Polls that failed.",
        POLL_FAILURES.load(Ordering::Relaxed),
    );
    let polls = POLLS.load(Ordering::Relaxed);
    let secs = POLL_MICROS.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP mailroom_poll_duration_seconds Time spent per poll.\n# TYPE mailroom_poll_duration_seconds summary\nmailroom_poll_duration_seconds_sum {secs}\nmailroom_poll_duration_seconds_count {polls}"
    );
    let _ = writeln!(
        out,
        "# HELP mailroom_backlog_messages Messages above the checkpoint after the last poll.\n# TYPE mailroom_backlog_messages gauge"
    );
    for (id, n) in BACKLOG.lock().expect("backlog").iter() {
        let _ = writeln!(
            out,
            "mailroom_backlog_messages{{credential_id=\"{id}\"}} {n}"
        );
    }
    out
}
