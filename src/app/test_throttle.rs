//! The Test Connection allowance: at most `limit` tests per actor (token or admin user) within
//! a sliding window, so Test Connection cannot be used as a port scanner of other networks.
//!
//! Owns the counting (a bounded map that forgets idle actors) and the wording of the refusal.
//! Must not know how a test runs, nor about HTTP (the edges map `AppError::TooManyRequests`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{App, AppError, AppResult};

/// Tests per actor and window by default: generous for a person trying settings, far too few
/// for scanning ports.
pub const DEFAULT_TESTS_PER_WINDOW: usize = 30;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Actors remembered at most; beyond it the longest idle is forgotten first.
const MAX_ACTORS: usize = 10_000;

/// How many connection tests each actor may start within a window.
#[derive(Debug)]
pub struct TestThrottle {
    limit: usize,
    window: Duration,
    /// Start times of each actor's tests within the window, oldest first.
    starts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for TestThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_TESTS_PER_WINDOW, DEFAULT_WINDOW)
    }
}

impl TestThrottle {
    /// `limit` tests per `window` for each actor (a limit of 0 is taken as 1).
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            starts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a test by `actor` now, or says how long until the next one is allowed.
    pub fn check(&self, actor: &str) -> Result<(), Duration> {
        self.check_at(actor, Instant::now())
    }

    fn check_at(&self, actor: &str, now: Instant) -> Result<(), Duration> {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window;
        let expired = |t: &Instant| now.saturating_duration_since(*t) >= window;
        if !starts.contains_key(actor) && starts.len() >= MAX_ACTORS {
            starts.retain(|_, q| q.back().is_some_and(|t| !expired(t)));
            if starts.len() >= MAX_ACTORS
                && let Some(idle) = starts
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(k, _)| k.clone())
            {
                starts.remove(&idle);
            }
        }
        let queue = starts.entry(actor.to_string()).or_default();
        while queue.front().is_some_and(expired) {
            queue.pop_front();
        }
        if queue.len() >= self.limit {
            let oldest = queue.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.saturating_duration_since(oldest)));
        }
        queue.push_back(now);
        Ok(())
    }

    /// The refusal for an actor over the allowance, with when to try again.
    fn refusal(&self, wait: Duration) -> AppError {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        AppError::TooManyRequests {
            message: format!(
                "Too many connection tests: each user or token may start {} within {}. \
                 Try again in {seconds} second{}.",
                self.limit,
                describe(self.window),
                if seconds == 1 { "" } else { "s" },
            ),
            retry_after: Duration::from_secs(seconds),
        }
    }
}

fn describe(d: Duration) -> String {
    match d.as_secs() {
        60 => "a minute".into(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "a second".into(),
        s => format!("{s} seconds"),
    }
}

impl App {
    /// Counts a connection test by `actor`; over the allowance it is refused with
    /// `AppError::TooManyRequests` saying when to try again.
    pub(crate) fn count_connection_test(&self, actor: &str) -> AppResult<()> {
        self.test_throttle
            .check(actor)
            .map_err(|wait| self.test_throttle.refusal(wait))
    }

    /// Replaces the Test Connection allowance (tests, embedding).
    pub fn with_test_throttle(mut self, throttle: TestThrottle) -> Self {
        self.test_throttle = throttle;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_per_actor_then_says_when_to_retry() {
        let t = TestThrottle::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(t.check_at("token:a#1", t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = t
            .check_at("token:a#1", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(50),
            "until the oldest test leaves the window"
        );
        // Another actor has its own allowance.
        assert!(t.check_at("user:ann", t0 + Duration::from_secs(10)).is_ok());
        // A refused attempt is not counted: the window moves on.
        assert!(
            t.check_at("token:a#1", t0 + Duration::from_secs(60))
                .is_ok()
        );
        assert!(
            t.check_at("token:a#1", t0 + Duration::from_secs(61))
                .is_ok()
        );
        assert!(
            t.check_at("token:a#1", t0 + Duration::from_secs(61))
                .is_err()
        );
    }

    #[test]
    fn the_refusal_says_what_happened_and_when_to_try_again() {
        let t = TestThrottle::default();
        match t.refusal(Duration::from_millis(12_300)) {
            AppError::TooManyRequests {
                message,
                retry_after,
            } => {
                assert_eq!(retry_after, Duration::from_secs(13));
                assert!(
                    message.contains("30 within a minute") && message.contains("in 13 seconds"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_map_stays_bounded() {
        let t = TestThrottle::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_ACTORS + 50 {
            assert!(t.check_at(&format!("token:{i}"), t0).is_ok());
        }
        assert!(t.starts.lock().unwrap().len() <= MAX_ACTORS);
        // Idle actors are forgotten once their window is over.
        let later = t0 + Duration::from_secs(61);
        assert!(t.check_at("token:new", later).is_ok());
        assert_eq!(t.starts.lock().unwrap().len(), 1);
    }
}
