//! Push notifications. Service writes record each change in the outbox (`store::outbox`) in their own
//! transaction; this module turns committed changes into notifications (`fanout`) and delivers them
//! through the registered channels (`channel`: `webhook`, `mqtt`) from a background worker that claims
//! due notifications with a lease. Delivery state is in the database, so a restart resumes it and several
//! instances share it without sending anything twice.

pub mod channel;
pub mod fanout;
pub mod mqtt;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::NotificationSettings;
use crate::store::Db;
use crate::store::outbox::{self, Claimed, Outcome};
use channel::{Attempt, Channel, Channels, Pacing};

/// Wakes this instance's notification worker.
#[derive(Debug, Default)]
pub struct Notifier {
    wake: Notify,
    look: AtomicBool,
    wakes: AtomicU64,
}

impl Notifier {
    /// A write committed changes: fan them out.
    pub fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// How many times writes have woken the notifier since start.
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
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
    attempt: Attempt,
    attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Outcome {
    match attempt {
        Attempt::Delivered { status } => Outcome::Delivered {
            status: status.map(i32::from),
        },
        Attempt::Final(error) => Outcome::Failed { status: None, error },
        Attempt::Failed(f) => {
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

/// Each client's share of the delivery slots (`notifications.per_client_concurrency`).
#[derive(Debug)]
pub struct Shares {
    per_client: usize,
    shares: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
}

impl Shares {
    pub fn new(per_client: usize) -> Self {
        Self {
            per_client: per_client.max(1),
            shares: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<Semaphore>>> {
        self.shares.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn of(&self, client: &str) -> Arc<Semaphore> {
        let mut shares = self.lock();
        if shares.len() > 100_000 {
            // Idle shares hold nothing; those in use are kept by their deliveries.
            shares.retain(|_, s| s.available_permits() < self.per_client);
        }
        shares
            .entry(client.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
            .clone()
    }

    /// The clients with every slot of their share in flight.
    fn busy(&self) -> Vec<String> {
        let shares = self.lock();
        (shares.iter())
            .filter(|(_, s)| s.available_permits() == 0)
            .map(|(c, _)| c.clone())
            .collect()
    }
}

/// Everything the worker needs.
#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub clock: SharedClock,
    /// Plans and delivers the notifications (registered at start-up).
    pub channels: Channels,
    pub settings: NotificationSettings,
    pub notifier: Arc<Notifier>,
    /// Names this instance's leases.
    pub owner: String,
    /// Each client's share of the delivery slots.
    pub shares: Arc<Shares>,
}

/// Deletes the notifications that finished more than `retention_days` before `now`, a batch at a time so
/// that no transaction holds many rows; returns how many.
pub async fn prune(db: &Db, now: DateTime<Utc>, retention_days: u32) -> crate::store::StoreResult<usize> {
    const BATCH: i64 = 5_000;
    let before = now - chrono::Duration::days(i64::from(retention_days));
    let mut total = 0;
    loop {
        let n = db.write(move |c| outbox::prune_finished(c, before, BATCH)).await?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}

/// How often finished notifications past their retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// One finished attempt: notification id, address whose health is kept (empty: none), outcome.
type Finished = (String, String, Outcome);

/// The instance's delivery slots and where finished attempts go.
#[derive(Clone)]
struct Slots {
    /// One per concurrent delivery under way (`notifications.concurrency`).
    permits: Arc<Semaphore>,
    done: tokio::sync::mpsc::UnboundedSender<Finished>,
    /// Per channel (in registration order): whether a dispatcher is still handing out its last claim.
    dispatching: Arc<[AtomicBool]>,
    stop: CancellationToken,
}

impl Worker {
    /// Fans out and delivers until the process ends. Due notifications are looked for when there may be
    /// some: new ones were made, a delivery finished (the next of its object may go), or at each poll
    /// (retries falling due, other instances' work) — not on every write. Outcomes are recorded in
    /// batches by a recorder task, so a wave of 10,000 deliveries costs a handful of writes.
    ///
    /// When `stop` is cancelled it claims nothing more, lets the deliveries under way finish (up to
    /// `grace`), records their outcomes and returns. Notifications claimed but not yet sent stay claimed:
    /// another instance takes them over when their lease ends.
    pub async fn run(self, stop: CancellationToken, grace: Duration) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let (done, finished) = tokio::sync::mpsc::unbounded_channel::<Finished>();
        let drained = CancellationToken::new();
        let recorder = tokio::spawn(self.clone().record(finished, drained.clone()));
        self.spawn_pruning(stop.clone());
        let slots = Slots {
            permits: Arc::new(Semaphore::new(self.settings.concurrency)),
            done,
            dispatching: self.channels.iter().map(|_| AtomicBool::new(false)).collect(),
            stop: stop.clone(),
        };
        let mut look = true;
        loop {
            look |= self.fan_out_all().await > 0;
            look |= self.notifier.look.swap(false, Ordering::AcqRel);
            if look && self.settings.deliver {
                // The cheap inline sends first; the concurrent ones are only handed to a dispatcher.
                for channel in self.channels.iter() {
                    if let Pacing::Inline { batch } = channel.pacing() {
                        self.deliver_inline(channel, batch, &slots.done).await;
                    }
                }
                for (i, channel) in self.channels.iter().enumerate() {
                    if channel.pacing() == Pacing::Concurrent {
                        self.claim_concurrent(i, channel, &slots).await;
                    }
                }
            }
            look = tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.notifier.wake.notified() => false,
                _ = tokio::time::sleep(poll) => true,
            };
        }
        // Every delivery under way holds one of the instance's slots: all slots free means all done.
        let all = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, slots.permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.settings.concurrency - slots.permits.available_permits(),
                "deliveries still under way at shutdown are left claimed for another instance"
            );
        }
        drained.cancel();
        let _ = recorder.await;
    }

    /// Retention runs beside delivery: a backlog to delete never delays a notification.
    fn spawn_pruning(&self, stop: CancellationToken) {
        let (db, clock, days) = (self.db.clone(), self.clock.clone(), self.settings.retention_days);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match prune(&db, clock.now(), days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "finished notifications past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "pruning finished notifications failed; retrying later"),
                }
            }
        });
    }

    /// Delivers the due notifications of a channel whose deliveries are cheap, one after another.
    async fn deliver_inline(
        &self,
        channel: &Arc<dyn Channel>,
        batch: i64,
        done: &tokio::sync::mpsc::UnboundedSender<Finished>,
    ) {
        match self.claim(channel.name(), batch, Vec::new()).await {
            Ok(claimed) => {
                for n in claimed {
                    let (id, address) = (n.id.clone(), self.health_address(channel, &n));
                    let outcome = self.attempt(channel, n).await;
                    let _ = done.send((id, address, outcome));
                }
            }
            Err(e) => tracing::warn!(channel = channel.name(), error = %e, "claiming notifications failed"),
        }
    }

    /// A claim costs about as much for 1,000 rows as for 10: takes several rounds of free delivery slots
    /// at once (as many as surely finish within the lease, even if every delivery times out) and hands
    /// them out from a dispatcher as slots free up; the channel's next claim waits until that dispatcher
    /// is done.
    async fn claim_concurrent(&self, i: usize, channel: &Arc<dyn Channel>, slots: &Slots) {
        let free = slots.permits.available_permits();
        if free == 0 || slots.dispatching[i].load(Ordering::Acquire) {
            return;
        }
        let rounds = (self.settings.lease_secs / (2 * self.settings.timeout_secs)).clamp(1, 4) as usize;
        let busy = self.shares.busy();
        match self.claim(channel.name(), (free * rounds).min(1024) as i64, busy).await {
            Ok(claimed) if !claimed.is_empty() => {
                slots.dispatching[i].store(true, Ordering::Release);
                tokio::spawn(self.clone().hand_out(i, channel.clone(), claimed, slots.clone()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(channel = channel.name(), error = %e, "claiming notifications failed"),
        }
    }

    /// Starts each claimed delivery as a slot of its client and one of the instance's free up. Shutting
    /// down, it stops: the rest stay claimed, for takeover after their lease.
    async fn hand_out(self, i: usize, channel: Arc<dyn Channel>, claimed: Vec<Claimed>, slots: Slots) {
        for n in claimed {
            if slots.stop.is_cancelled() {
                break;
            }
            let share = self.shares.of(&n.client_id);
            match share.clone().try_acquire_owned() {
                // The client has a free slot: wait for one of the instance's.
                Ok(mine) => {
                    let permit = tokio::select! {
                        p = slots.permits.clone().acquire_owned() => p,
                        _ = slots.stop.cancelled() => break,
                    };
                    let Ok(permit) = permit else {
                        break;
                    };
                    tokio::spawn(
                        self.clone()
                            .deliver(channel.clone(), n, (mine, permit), slots.done.clone()),
                    );
                }
                // Its share is in flight (a slow receiver): this one waits on its own, holding none of
                // the slots other clients need.
                Err(_) => {
                    tokio::spawn(self.clone().deliver_when_free(
                        channel.clone(),
                        n,
                        share,
                        slots.permits.clone(),
                        slots.done.clone(),
                    ));
                }
            }
        }
        slots.dispatching[i].store(false, Ordering::Release);
        self.notifier.check_due();
    }

    /// Records finished attempts, as many per write as have finished meanwhile, then looks for what
    /// they unblocked. Once `drained` is cancelled (shutdown, nothing under way any more) it records what
    /// is left and returns.
    async fn record(self, mut finished: tokio::sync::mpsc::UnboundedReceiver<Finished>, drained: CancellationToken) {
        loop {
            let first = tokio::select! {
                biased;
                f = finished.recv() => f,
                _ = drained.cancelled() => finished.try_recv().ok(),
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while batch.len() < 4096 {
                match finished.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            let now = self.clock.now();
            let owner = self.owner.clone();
            let broken_after = self.settings.broken_after as i32;
            let (n, started) = (batch.len(), std::time::Instant::now());
            match self
                .db
                .write(move |c| outbox::record_outcomes(c, &owner, &batch, now, broken_after))
                .await
            {
                Ok(0) => {}
                Ok(lost) => tracing::warn!(lost, "leases lost before delivery outcomes were recorded"),
                Err(e) => {
                    tracing::error!(error = %e, "recording delivery outcomes failed; they are retried after the lease")
                }
            }
            tracing::debug!(outcomes = n, ms = started.elapsed().as_millis() as u64, "recorded");
            self.notifier.check_due();
        }
    }

    /// Fans out every committed change; returns how many notifications were made.
    async fn fan_out_all(&self) -> usize {
        let mut busy_elsewhere = 0;
        let mut made = 0;
        loop {
            let now = self.clock.now();
            let started = std::time::Instant::now();
            let channels = self.channels.clone();
            let result = if self.db.is_postgres() {
                // A cheap look first: most wakes (writes nobody subscribes to) find nothing.
                match self.db.read(outbox::has_changes).await {
                    Ok(false) => Ok(Some(fanout::FanOut::default())),
                    // Its own transaction (under the fan-out lock), beside the request writes.
                    _ => self.db.transaction(move |c| fanout::fan_out(c, now, &channels)).await,
                }
            } else {
                // Only this worker fans out on SQLite: plan on a read connection, then one short write.
                match self.db.read(move |c| fanout::plan(c, now, &channels)).await {
                    // Nothing to write: the single writer is left to the requests.
                    Ok(p) if p.last_seq.is_none() => Ok(Some(fanout::FanOut::default())),
                    Ok(p) => self.db.write(move |c| fanout::apply(c, &p)).await.map(Some),
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(Some(f)) => {
                    if f.changes > 0 {
                        tracing::debug!(
                            changes = f.changes,
                            notifications = f.notifications,
                            ms = started.elapsed().as_millis() as u64,
                            "fanned out"
                        );
                    }
                    made += f.notifications;
                    if !f.more {
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

    /// Delivers one claimed notification holding its client's slot and one of the instance's.
    async fn deliver(
        self,
        channel: Arc<dyn Channel>,
        n: Claimed,
        _slots: (tokio::sync::OwnedSemaphorePermit, tokio::sync::OwnedSemaphorePermit),
        done: tokio::sync::mpsc::UnboundedSender<Finished>,
    ) {
        let (id, address) = (n.id.clone(), self.health_address(&channel, &n));
        let outcome = self.attempt(&channel, n).await;
        let _ = done.send((id, address, outcome));
    }

    /// Waits for a slot of the notification's client, then one of the instance's, then delivers it. If
    /// the client's slots stay busy until the lease is nearly over, the notification is given back
    /// unattempted rather than sent twice.
    async fn deliver_when_free(
        self,
        channel: Arc<dyn Channel>,
        n: Claimed,
        share: Arc<Semaphore>,
        permits: Arc<Semaphore>,
        done: tokio::sync::mpsc::UnboundedSender<Finished>,
    ) {
        let wait = Duration::from_secs(
            self.settings
                .lease_secs
                .saturating_sub(2 * self.settings.timeout_secs)
                .max(1),
        );
        let Ok(Ok(mine)) = tokio::time::timeout(wait, share.acquire_owned()).await else {
            let (db, id, owner) = (self.db.clone(), n.id.clone(), self.owner.clone());
            if let Err(e) = db.write(move |c| outbox::release(c, &id, &owner)).await {
                tracing::warn!(error = %e, "giving back a notification failed; it is taken over after its lease");
            }
            return;
        };
        let Ok(permit) = permits.acquire_owned().await else {
            return;
        };
        self.deliver(channel, n, (mine, permit), done).await;
    }

    async fn claim(
        &self,
        channel: &'static str,
        limit: i64,
        busy: Vec<String>,
    ) -> crate::store::StoreResult<Vec<Claimed>> {
        let now = self.clock.now();
        let lease = now + chrono::Duration::seconds(self.settings.lease_secs as i64);
        let owner = self.owner.clone();
        let started = std::time::Instant::now();
        let claimed = self
            .db
            .write(move |c| outbox::claim_due(c, &owner, channel, now, lease, limit, &busy))
            .await;
        if let Ok(c) = &claimed
            && !c.is_empty()
        {
            tracing::debug!(
                channel,
                claimed = c.len(),
                ms = started.elapsed().as_millis() as u64,
                "claimed"
            );
        }
        claimed
    }

    /// The address whose health the outcome counts towards (empty when the channel keeps none).
    fn health_address(&self, channel: &Arc<dyn Channel>, n: &Claimed) -> String {
        if channel.keeps_address_health() {
            n.callback_url.clone()
        } else {
            String::new()
        }
    }

    /// One delivery attempt and its outcome (retried with backoff while attempts remain).
    async fn attempt(&self, channel: &Arc<dyn Channel>, n: Claimed) -> Outcome {
        let (id, to, attempts) = (n.id.clone(), n.callback_url.clone(), n.attempts);
        // Every channel's attempt ends within the time the lease arithmetic counts on (the webhook
        // client's own timeout is the same; the margin lets its more precise reason win).
        let limit = Duration::from_secs(self.settings.timeout_secs) + Duration::from_secs(1);
        let attempt = tokio::time::timeout(limit, channel.deliver(n))
            .await
            .unwrap_or_else(|_| {
                Attempt::Failed(channel::CallFailure {
                    status: None,
                    reason: format!("timed out after {} s", limit.as_secs()),
                })
            });
        match &attempt {
            Attempt::Delivered { .. } => {}
            Attempt::Failed(f) => {
                tracing::info!(channel = channel.name(), notification = %id, %to, attempt = attempts, error = %f, "notification not delivered");
            }
            Attempt::Final(error) => {
                tracing::info!(channel = channel.name(), notification = %id, %to, attempt = attempts, %error, "notification not delivered; not retried");
            }
        }
        let jitter = rand::rng().random_range(-1.0..=1.0);
        outcome_of(
            &self.settings,
            attempt,
            attempts.max(1) as u32,
            self.clock.now(),
            jitter,
        )
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
            Attempt::Failed(channel::CallFailure {
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
            outcome_of(&s, Attempt::Delivered { status: Some(204) }, 1, now, 0.0),
            Outcome::Delivered { status: Some(204) }
        );
    }
}
