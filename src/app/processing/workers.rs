//! The long-running side: a worker per enabled credential (poll, then IDLE up to the poll
//! interval, back off after failures, stop when paused), the back-off schedule, and the
//! retention of original emails (`MAILROOM_KEEP_ORIGINALS_DAYS`, applied hourly).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::ProcessingOptions;
use crate::app::{App, AppResult, StoreResultExt};
use crate::domain::HealthState;
use crate::store::{Health, now_ms};
/// Exponential back-off from how long a credential has been failing: 30 s doubling, capped at
/// 15 minutes.
pub fn backoff(failing_for_ms: i64) -> Duration {
    let steps = (failing_for_ms.max(0) / 30_000).max(1);
    let secs = 30u64.saturating_mul(1u64 << (63 - (steps as u64).leading_zeros()).min(5));
    Duration::from_secs(secs.min(900))
}

/// How often the retention of originals runs while the service runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs a worker per enabled credential until `shutdown` resolves: poll, then IDLE (or sleep)
/// up to the poll interval, then poll again; failures wait for their back-off. With a
/// retention for originals set, prunes them at start and then hourly.
pub async fn run_workers(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let opts = app.processing_options().clone();
    let mut workers: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut pruned_at: Option<std::time::Instant> = None;
    loop {
        if opts.keep_originals_days.is_some()
            && pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY)
        {
            pruned_at = Some(std::time::Instant::now());
            if let Err(e) = app.prune_originals(opts.keep_originals_days).await {
                tracing::warn!(error = %format_args!("{e:#}"), "pruning original emails failed");
            }
        }
        match app.list_credentials().await {
            Ok(list) => {
                for c in list {
                    let alive = workers.get(&c.id).is_some_and(|h| !h.is_finished());
                    if c.enabled && !c.health.state.is_paused() && !alive {
                        let app = app.clone();
                        let rx = shutdown.clone();
                        let opts = opts.clone();
                        workers.insert(
                            c.id,
                            tokio::spawn(async move { worker(app, c.id, opts, rx).await }),
                        );
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %format_args!("{e:#}"), "listing credentials for processing failed")
            }
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(opts.poll_interval) => {}
        }
    }
    for (_, h) in workers {
        h.abort();
    }
}

/// One credential's loop; ends when the credential is gone, disabled or paused.
async fn worker(
    app: Arc<App>,
    id: i64,
    opts: ProcessingOptions,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Ok(row) = app.credential_row(id).await else {
            return;
        };
        if !row.fields.enabled || row.health.state.is_paused() {
            return;
        }
        if let Some(next) = row.health.next_attempt_at {
            let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let Ok(mut session) = app.open_mail_session(&row, &opts).await else {
            continue;
        };
        loop {
            let started = std::time::Instant::now();
            match app
                .poll_session(&row, &mut session, &opts, started, |_, _| {})
                .await
            {
                Ok(r) if r.cases_created > 0 => {
                    tracing::info!(
                        credential = id,
                        cases = r.cases_created,
                        "processed new mail"
                    );
                }
                Ok(_) => {}
                Err(_) => break,
            }
            let idle = tokio::select! {
                _ = shutdown.changed() => return,
                r = session.idle(opts.poll_interval) => r,
            };
            match idle {
                Ok((s, _changed)) => session = s,
                Err(e) => {
                    tracing::info!(credential = id, error = %e, "IDLE ended; reconnecting");
                    break;
                }
            }
        }
    }
}

impl App {
    /// After an edit, a password change, a successful Test Connection or an edit of its OAuth
    /// app: a paused, failing or "sign in again" credential is tried again at once (once: a
    /// failure that needs a person puts it back, with no retry).
    pub(crate) async fn resume_processing(&self, id: i64) -> AppResult<()> {
        let row = self.credential_row(id).await?;
        if matches!(
            row.health.state,
            HealthState::PausedAuth | HealthState::Failing | HealthState::SignInAgain
        ) {
            let h = Health {
                state: HealthState::Idle,
                last_success_at: row.health.last_success_at,
                failing_since: None,
                last_error: None,
                next_attempt_at: None,
                backlog: None,
            };
            self.store
                .set_health(id, &h, 0)
                .await
                .app_err("credential")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn back_off_doubles_from_30_seconds_and_stops_at_15_minutes() {
        let minutes = |m: i64| backoff(m * 60_000);
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(minutes(1), Duration::from_secs(60));
        assert_eq!(minutes(2), Duration::from_secs(120));
        assert_eq!(minutes(4), Duration::from_secs(240));
        assert_eq!(minutes(8), Duration::from_secs(480));
        assert_eq!(minutes(60), Duration::from_secs(900));
        assert_eq!(minutes(60 * 24 * 30), Duration::from_secs(900));
    }
}
