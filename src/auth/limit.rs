//! Rate limits of the token endpoint (and of logins): a generic cell rate algorithm per key — a client
//! id, a source address — so one key's burst never slows another's. Per instance, in memory: a client
//! spreading its attempts over several instances gets each instance's allowance, which still bounds it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before those whose allowance has fully recovered are dropped.
const TRACKED: usize = 100_000;

/// At most `per_minute` attempts a minute per key, in bursts of up to `per_minute`.
#[derive(Debug)]
pub struct Limiter {
    /// The time one attempt's allowance takes to recover.
    interval: Duration,
    /// How far ahead of now a key's theoretical arrival time may run (the burst).
    tolerance: Duration,
    /// Each key's theoretical arrival time.
    keys: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    /// `per_minute` at least 1.
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        Self {
            interval,
            tolerance: interval * (per_minute - 1),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt of `key` at `now`: `Err(wait)` when it is over its allowance (the attempt is
    /// not counted), with how long until the next one would be admitted.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = keys.get(key).copied().map_or(now, |t| t.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if keys.len() >= TRACKED && !keys.contains_key(key) {
            keys.retain(|_, t| *t > now);
        }
        keys.insert(key.to_owned(), tat + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_one_attempt_per_interval_and_other_keys_are_untouched() {
        let limiter = Limiter::per_minute(6);
        let t0 = Instant::now();
        for _ in 0..6 {
            assert!(limiter.check("a", t0).is_ok());
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10), "one attempt every ten seconds");
        assert!(limiter.check("b", t0).is_ok(), "another key keeps its allowance");
        assert!(limiter.check("a", t0 + Duration::from_secs(9)).is_err());
        assert!(limiter.check("a", t0 + Duration::from_secs(10)).is_ok());
        assert!(limiter.check("a", t0 + Duration::from_secs(10)).is_err());
    }
}
