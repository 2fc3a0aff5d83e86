//! The sign-in throttle: attempts per username and client address, and per client address
//! alone. An attempt is counted *before* its password is checked, so a burst of parallel
//! guesses gets no more tries than a sequence would. The maps are bounded and forget attempts
//! older than the window.
//!
//! Must not know about HTTP (the caller says who the client is) or passwords.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Attempts allowed per username from one client address within `WINDOW`.
pub const MAX_PER_ACCOUNT: usize = 5;
/// Attempts allowed from one client address within `WINDOW`, whatever the usernames.
pub const MAX_PER_CLIENT: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept per map; past it, the key whose last attempt is oldest is forgotten.
const MAX_KEYS: usize = 10_000;

type AccountKey = (String, IpAddr);

/// A counted attempt, to hand back when its password was right.
#[derive(Debug)]
pub struct Attempt {
    account: AccountKey,
    at: Instant,
}

/// Attempt times per key, pruned as they leave the window.
struct Attempts<K> {
    map: HashMap<K, Vec<Instant>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Attempts<K> {
    fn new(max: usize) -> Self {
        Self {
            map: HashMap::new(),
            max,
        }
    }

    /// How long `key` must wait before its next attempt, if it has used up its allowance.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let list = self.map.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < WINDOW);
        (list.len() >= self.max).then(|| WINDOW.saturating_sub(now.duration_since(list[0])))
    }

    fn record(&mut self, key: K, now: Instant) {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_KEYS {
            self.map
                .retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if self.map.len() >= MAX_KEYS
                && let Some(oldest) = self
                    .map
                    .iter()
                    .min_by_key(|(_, l)| l.last().copied())
                    .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        self.map.entry(key).or_default().push(now);
    }

    fn forget(&mut self, key: &K, at: Option<Instant>) {
        match at {
            None => {
                self.map.remove(key);
            }
            Some(at) => {
                if let Some(list) = self.map.get_mut(key) {
                    list.retain(|t| *t != at);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

pub struct LoginThrottle {
    inner: Mutex<(Attempts<AccountKey>, Attempts<IpAddr>)>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            inner: Mutex::new((
                Attempts::new(MAX_PER_ACCOUNT),
                Attempts::new(MAX_PER_CLIENT),
            )),
        }
    }
}

impl LoginThrottle {
    /// Counts an attempt to sign in as `username` from `client`, or says how long to wait.
    pub fn begin(&self, username: &str, client: IpAddr) -> Result<Attempt, Duration> {
        let account = (
            username.trim().to_lowercase().chars().take(64).collect(),
            client,
        );
        let now = Instant::now();
        let mut guard = self.inner.lock().expect("throttle lock");
        let (accounts, clients) = &mut *guard;
        let wait = accounts
            .wait(&account, now)
            .into_iter()
            .chain(clients.wait(&client, now))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        accounts.record(account.clone(), now);
        clients.record(client, now);
        Ok(Attempt { account, at: now })
    }

    /// The password was right: this account's attempts from this client are forgotten, and
    /// this attempt no longer counts against the client.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut guard = self.inner.lock().expect("throttle lock");
        let (accounts, clients) = &mut *guard;
        accounts.forget(&attempt.account, None);
        clients.forget(&attempt.account.1, Some(attempt.at));
    }

    /// How many keys each map holds (for tests of the bound).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let guard = self.inner.lock().expect("throttle lock");
        (guard.0.len(), guard.1.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_account_gets_its_allowance_per_client_and_success_clears_it() {
        let t = LoginThrottle::default();
        let mut last = None;
        for _ in 0..MAX_PER_ACCOUNT {
            last = Some(t.begin("Alice", ip("192.0.2.1")).expect("allowed"));
        }
        assert!(t.begin("alice ", ip("192.0.2.1")).is_err(), "same account");
        // Another client is not locked out by this one's failures.
        assert!(t.begin("alice", ip("192.0.2.2")).is_ok());
        t.succeeded(last.unwrap());
        assert!(t.begin("alice", ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn one_client_cannot_spray_usernames() {
        let t = LoginThrottle::default();
        for n in 0..MAX_PER_CLIENT {
            assert!(t.begin(&format!("user{n}"), ip("192.0.2.9")).is_ok());
        }
        let wait = t.begin("someone-else", ip("192.0.2.9")).unwrap_err();
        assert!(wait > Duration::from_secs(14 * 60) && wait <= WINDOW);
    }

    #[test]
    fn the_maps_stay_bounded() {
        let t = LoginThrottle::default();
        for n in 0..(MAX_KEYS as u32 + 50) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            t.begin("x", addr).unwrap();
        }
        let (accounts, clients) = t.sizes();
        assert!(
            accounts <= MAX_KEYS && clients <= MAX_KEYS,
            "{accounts} {clients}"
        );
    }
}
