//! Push notifications. Service writes record each change in the outbox (`store::outbox`) in their own
//! transaction; this module turns committed changes into notifications (`fanout`) and delivers them
//! (`webhook`) from a background worker that claims due notifications with a lease. Delivery state is in
//! the database, so a restart resumes it and several instances share it without sending anything twice.

pub mod fanout;
pub mod mqtt;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{Notify, Semaphore};

use crate::clock::SharedClock;
use crate::config::NotificationSettings;
use crate::store::Db;
use crate::store::outbox::{self, Claimed, Outcome};
use webhook::WebhookClient;

/// Wakes this instance's notification worker.
#[derive(Debug, Default)]
pub struct Notifier {
    wake: Notify,
    look: AtomicBool,
}

impl Notifier {
    /// A write committed changes: fan them out.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Notifications may have fallen due (a delivery finished, so the next of its object may go; or the
    /// clock moved): look for them now rather than at the next poll.
    pub fn check_due(&self) {
        self.look.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// When attempt `attempts` (1-based) failed, the next try: base × 2^(attempts−1), capped, ±20% jitter.
pub fn retry_delay(s: &NotificationSettings, attempts: u32, jitter: f64) -> Duration {
    let base = s.backoff_base_ms as f64 * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
    let capped = base.min(s.backoff_max_secs as f64 * 1000.0);
    let factor = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
    Duration::from_millis((capped * factor).max(1.0) as u64)
}

/// The outcome of one attempt, given how many attempts have been made.
pub fn outcome_of(
    s: &NotificationSettings,
    result: Result<Option<u16>, webhook::CallFailure>,
    attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Outcome {
    match result {
        Ok(status) => Outcome::Delivered {
            status: status.map(i32::from),
        },
        Err(f) => {
            let status = f.status.map(i32::from);
            let error = f.to_string();
            if attempts >= s.max_attempts {
                Outcome::Failed {
                    status,
                    error: format!("gave up after {attempts} attempts; last: {error}"),
                }
            } else {
                let delay = retry_delay(s, attempts, jitter);
                Outcome::Retry {
                    status,
                    error,
                    next_at: now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::seconds(1)),
                }
            }
        }
    }
}

/// Everything the worker needs.
#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub clock: SharedClock,
    pub client: WebhookClient,
    pub settings: NotificationSettings,
    pub notifier: Arc<Notifier>,
    /// Names this instance's leases.
    pub owner: String,
    /// Publishes the MQTT notifications (when the binding is enabled).
    pub mqtt: Option<mqtt::MqttBinding>,
}

impl Worker {
    /// Fans out and delivers until the process ends. Due notifications are looked for when there may be
    /// some: new ones were made, a delivery finished (the next of its object may go), or at each poll
    /// (retries falling due, other instances' work) — not on every write.
    pub async fn run(self) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let mut look = true;
        loop {
            look |= self.fan_out_all().await > 0;
            look |= self.notifier.look.swap(false, Ordering::AcqRel);
            if look && self.settings.deliver {
                let free = permits.available_permits();
                if free > 0 {
                    match self.claim(free as i64).await {
                        Ok(claimed) => {
                            for n in claimed {
                                let Ok(permit) = permits.clone().acquire_owned().await else {
                                    return;
                                };
                                let w = self.clone();
                                tokio::spawn(async move {
                                    w.deliver(n).await;
                                    drop(permit);
                                    w.notifier.check_due();
                                });
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "claiming notifications failed"),
                    }
                }
            }
            look = tokio::select! {
                _ = self.notifier.wake.notified() => false,
                _ = tokio::time::sleep(poll) => true,
            };
        }
    }

    /// Fans out every committed change; returns how many notifications were made.
    async fn fan_out_all(&self) -> usize {
        let mut busy_elsewhere = 0;
        let mut made = 0;
        loop {
            let now = self.clock.now();
            let topics = self.mqtt.as_ref().map(|m| m.topics.clone());
            match self.db.write(move |c| fanout::fan_out(c, now, topics.as_deref())).await {
                Ok(Some(f)) => {
                    made += f.notifications;
                    if f.changes < fanout::FANOUT_BATCH as usize {
                        return made;
                    }
                }
                // Another instance holds the fan-out; it may have missed what this instance just wrote.
                Ok(None) if busy_elsewhere < 20 => {
                    busy_elsewhere += 1;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(None) => return made,
                Err(e) => {
                    tracing::warn!(error = %e, "fanning out changes failed; will retry");
                    return made;
                }
            }
        }
    }

    async fn claim(&self, limit: i64) -> crate::store::StoreResult<Vec<Claimed>> {
        let now = self.clock.now();
        let lease = now + chrono::Duration::seconds(self.settings.lease_secs as i64);
        let owner = self.owner.clone();
        self.db
            .write(move |c| outbox::claim_due(c, &owner, now, lease, limit.min(256)))
            .await
    }

    async fn deliver(&self, n: Claimed) {
        let mqtt = n.channel == "MQTT";
        let result = if mqtt {
            match &self.mqtt {
                Some(m) => m
                    .publisher
                    .publish(&n.callback_url, n.payload.into())
                    .await
                    .map(|()| None)
                    .map_err(|reason| webhook::CallFailure { status: None, reason }),
                None => Err(webhook::CallFailure {
                    status: None,
                    reason: "MQTT is not enabled on this instance".into(),
                }),
            }
        } else {
            self.client
                .post(&n.callback_url, n.bearer_token.as_deref(), n.payload, &n.id)
                .await
                .map(Some)
        };
        if let Err(f) = &result {
            tracing::info!(notification = %n.id, url = %n.callback_url, attempt = n.attempts, error = %f, "notification not delivered");
        }
        let now = self.clock.now();
        let jitter = rand::rng().random_range(-1.0..=1.0);
        let outcome = outcome_of(&self.settings, result, n.attempts.max(1) as u32, now, jitter);
        let owner = self.owner.clone();
        let broken_after = self.settings.broken_after as i32;
        // Callback health is tracked for webhook URLs, not for MQTT topics.
        let (id, url) = (n.id.clone(), if mqtt { String::new() } else { n.callback_url.clone() });
        match self
            .db
            .write(move |c| outbox::record_outcome(c, &id, &owner, &url, &outcome, now, broken_after))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(notification = %n.id, "lease lost before the outcome was recorded"),
            Err(e) => tracing::error!(notification = %n.id, error = %e, "recording a delivery outcome failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_with_bounded_jitter() {
        let s = NotificationSettings::default();
        assert_eq!(retry_delay(&s, 1, 0.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(&s, 4, 0.0), Duration::from_millis(8000));
        assert_eq!(retry_delay(&s, 20, 0.0), Duration::from_secs(300));
        assert_eq!(retry_delay(&s, 1, 1.0), Duration::from_millis(1200));
        assert_eq!(retry_delay(&s, 1, -1.0), Duration::from_millis(800));
    }

    #[test]
    fn the_last_failed_attempt_is_a_dead_letter_with_its_reason() {
        let s = NotificationSettings {
            max_attempts: 3,
            ..NotificationSettings::default()
        };
        let now = Utc::now();
        let fail = || {
            Err(webhook::CallFailure {
                status: Some(503),
                reason: "Service Unavailable".into(),
            })
        };
        assert!(matches!(outcome_of(&s, fail(), 2, now, 0.0), Outcome::Retry { .. }));
        match outcome_of(&s, fail(), 3, now, 0.0) {
            Outcome::Failed { status, error } => {
                assert_eq!(status, Some(503));
                assert!(error.contains("3 attempts") && error.contains("503"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            outcome_of(&s, Ok(Some(204)), 1, now, 0.0),
            Outcome::Delivered { status: Some(204) }
        );
    }
}
