//! The timed steps of a connection and why one failed: `Steps` runs each step under its
//! timeout (and, for Test Connection, within what is left of the whole test) and records it;
//! `Fail` is a failure in words with its outcome category.
//!
//! Owns step timing and the shape of a failure. Must not do I/O of its own.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::probe::Category;
use super::words::Refusal;

/// One timed step.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub ms: u64,
    pub detail: String,
}

/// Why a connection stopped: the outcome kind, what happened, what to do, and what the server
/// said (redacted).
#[derive(Debug, Clone)]
pub struct Fail {
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
    pub server_response: Option<String>,
    /// The credential field that fixes this failure ("ca_bundle", "pinned_sha256", "host").
    pub fix_field: Option<&'static str>,
}

impl Fail {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            hint: None,
            server_response: None,
            fix_field: None,
        }
    }

    /// Names the credential field that fixes this failure.
    pub fn fix(mut self, field: &'static str) -> Self {
        self.fix_field = Some(field);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn server(mut self, text: impl Into<String>) -> Self {
        let t = text.into();
        if !t.is_empty() {
            self.server_response = Some(t);
        }
        self
    }

    /// One paragraph for a log or an error: the message, the server's words, the hint.
    pub fn sentence(&self) -> String {
        Refusal {
            category: self.category,
            message: self.message.clone(),
            hint: self.hint.clone(),
        }
        .sentence(self.server_response.as_deref())
    }
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        Self {
            category: r.category,
            message: r.message,
            hint: r.hint,
            server_response: None,
            fix_field: None,
        }
    }
}

impl From<super::reply::ReadFailure> for Fail {
    fn from(f: super::reply::ReadFailure) -> Self {
        let fail = Fail::new(Category::ProtocolError, f.message);
        match f.server {
            Some(s) => fail.server(s),
            None => fail,
        }
    }
}

/// "10 s", "2.5 s".
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Runs steps under their timeouts and keeps the record of each.
pub struct Steps {
    step_timeout: Duration,
    /// The limit of the whole run (Test Connection), when there is one.
    total: Option<Duration>,
    started: Instant,
    pub done: Vec<Step>,
}

impl Steps {
    pub fn new(step_timeout: Duration, total: Option<Duration>) -> Self {
        Self {
            step_timeout,
            total,
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// The time the next step may take: the step timeout, or what is left of the whole run.
    pub fn budget(&self) -> Duration {
        match self.total {
            Some(total) => self
                .step_timeout
                .min(total.saturating_sub(self.started.elapsed())),
            None => self.step_timeout,
        }
    }

    /// Records a step that was decided without waiting (ms 0).
    pub fn record(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.done.push(Step {
            name,
            ok,
            ms: 0,
            detail: detail.into(),
        });
    }

    /// Runs one step under its timeout and records it. `on_timeout` gets the limit in words
    /// ("10 s") and says what did not happen in time.
    pub async fn run<T>(
        &mut self,
        name: &'static str,
        on_timeout: impl FnOnce(&str) -> Fail,
        fut: impl Future<Output = Result<(T, String), Fail>>,
    ) -> Result<T, Fail> {
        let budget = self.budget();
        let start = Instant::now();
        let result = if budget.is_zero() {
            Err(Fail::new(
                Category::Timeout,
                format!(
                    "The whole test took longer than {}; it was stopped before the {name} step.",
                    secs(self.total.unwrap_or_default())
                ),
            ))
        } else {
            match tokio::time::timeout(budget, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let limit = if budget < self.step_timeout {
                        format!("{} (the limit for the whole test)", secs(budget))
                    } else {
                        secs(budget)
                    };
                    Err(on_timeout(&limit))
                }
            }
        };
        let ms = start.elapsed().as_millis() as u64;
        match result {
            Ok((v, detail)) => {
                self.done.push(Step {
                    name,
                    ok: true,
                    ms,
                    detail,
                });
                Ok(v)
            }
            Err(f) => {
                self.done.push(Step {
                    name,
                    ok: false,
                    ms,
                    detail: f.message.clone(),
                });
                Err(f)
            }
        }
    }

    /// The name of the step that failed last, if the last one failed.
    pub fn failed_step(&self) -> Option<&'static str> {
        self.done.last().filter(|s| !s.ok).map(|s| s.name)
    }
}
