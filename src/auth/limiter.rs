//! Attempt limits for logins and second factors: failures are counted per key (an account
//! name, an address) in a fixed window; at the limit the key is locked until the window
//! ends, and the caller learns how long to wait. Success clears the count. It lives in
//! memory: a restart forgets counts, which costs an attacker a restart they cannot cause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LimitPolicy {
    /// Failures allowed within `window` before the key is locked.
    pub max_failures: u32,
    pub window: Duration,
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    since: Instant,
}

/// One set of counters under one policy.
#[derive(Debug)]
pub struct AttemptLimiter {
    policy: LimitPolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl AttemptLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` while `key` is locked.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut entries = self.entries();
        match entries.get(key) {
            Some(e) if now.duration_since(e.since) >= self.policy.window => {
                entries.remove(key);
                Ok(())
            }
            Some(e) if e.failures >= self.policy.max_failures => Err(self.policy.window - now.duration_since(e.since)),
            _ => Ok(()),
        }
    }

    /// Counts a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() > 100_000 {
            // Bounded memory under a spray of distinct keys: forget finished windows.
            entries.retain(|_, e| now.duration_since(e.since) < self.policy.window);
        }
        let e = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            since: now,
        });
        if now.duration_since(e.since) >= self.policy.window {
            *e = Entry {
                failures: 0,
                since: now,
            };
        }
        e.failures += 1;
    }

    pub fn clear(&self, key: &str) {
        self.entries().remove(key);
    }
}

/// The limits sh0 applies: per account (email) and per client address, for password
/// logins and for second-factor codes.
#[derive(Debug)]
pub struct Limiters {
    pub login_account: AttemptLimiter,
    pub login_address: AttemptLimiter,
    pub second_factor: AttemptLimiter,
    /// Requests `domain_verify` makes from the server, per user.
    pub domain_verify: AttemptLimiter,
}

impl Default for Limiters {
    fn default() -> Self {
        let fifteen_minutes = Duration::from_secs(15 * 60);
        Self {
            // Five wrong passwords lock the account for what is left of 15 minutes.
            login_account: AttemptLimiter::new(LimitPolicy {
                max_failures: 5,
                window: fifteen_minutes,
            }),
            // An address may fail more (a shared NAT), but not spray many accounts.
            login_address: AttemptLimiter::new(LimitPolicy {
                max_failures: 20,
                window: fifteen_minutes,
            }),
            second_factor: AttemptLimiter::new(LimitPolicy {
                max_failures: 5,
                window: fifteen_minutes,
            }),
            // Each check is counted as an attempt: ten a minute.
            domain_verify: AttemptLimiter::new(LimitPolicy {
                max_failures: 10,
                window: Duration::from_secs(60),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_at_the_limit_and_clears_on_success() {
        let l = AttemptLimiter::new(LimitPolicy {
            max_failures: 2,
            window: Duration::from_secs(60),
        });
        assert!(l.check("a").is_ok());
        l.fail("a");
        assert!(l.check("a").is_ok());
        l.fail("a");
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(58));
        assert!(l.check("b").is_ok(), "keys are independent");
        l.clear("a");
        assert!(l.check("a").is_ok());
    }
}
