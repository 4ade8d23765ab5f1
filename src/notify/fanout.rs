//! Turns committed changes into notifications: reads a batch of changes from the outbox, works out who
//! may hear of them once for all channels (`Audience`), asks each registered channel where each change
//! goes (`Channel::plan`), and writes the notification rows with the payload each reader may see. What a
//! subscriber may read follows the subscriber's object privacy (Def §Subscriptions: "SHALL use the
//! clientID of a subscription" when deciding; `privacy`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::notify::channel::{Address, Audience, Channels, Subscriber};
use crate::store::dialect::{self, LockId};
use crate::store::outbox::{self, ChangeRow, NewNotification};
use crate::store::repo::{granted_targets_among, to_naive, ven_clients};
use crate::store::{AnyConnection, StoreResult};
use crate::wire::{ObjectId, ObjectType, StoredObject, TargetView};

/// Changes fanned out per transaction.
pub const FANOUT_BATCH: i64 = 256;

/// Most notification rows one fan-out plan builds in memory (besides those of its first change).
pub const MAX_PLAN_ROWS: usize = 20_000;

/// The `notification` object (yaml `schemas.notification`) as one subscriber may see it.
pub fn payload(change: &ChangeRow, visible: Option<&HashSet<String>>) -> String {
    let o: &StoredObject = &change.object;
    let keep = |t: &str| visible.is_none_or(|v| v.contains(t));
    let view = match visible {
        None => TargetView::All,
        Some(_) => TargetView::Only(&keep),
    };
    let mut out = String::with_capacity(o.body.len() + 256);
    out.push_str("{\"objectType\":\"");
    out.push_str(o.object_type.as_str());
    out.push_str("\",\"operation\":\"");
    out.push_str(outbox::operation_name(change.operation));
    out.push_str("\",\"object\":");
    o.write_json(&mut out, view);
    if let Some(targets) = &o.targets {
        let shown: Vec<&String> = targets.iter().filter(|t| keep(t)).collect();
        if !shown.is_empty() {
            out.push_str(",\"targets\":");
            out.push_str(&serde_json::to_string(&shown).unwrap_or_else(|_| "[]".into()));
        }
    }
    out.push('}');
    out
}

/// What one fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    pub changes: usize,
    pub notifications: usize,
    /// More changes may be waiting (a full batch, or a plan cut short by its row bound).
    pub more: bool,
}

/// The notifications the oldest committed changes make, and the last change they cover.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<NewNotification>,
    pub changes: usize,
    pub last_seq: Option<i64>,
    /// More changes may be waiting.
    pub more: bool,
}

/// Turns the oldest committed changes into notifications, in the caller's transaction. `None` when
/// another instance is fanning out right now. (PostgreSQL: one transaction on a connection of its own.)
pub fn fan_out(c: &mut AnyConnection, now: DateTime<Utc>, channels: &Channels) -> StoreResult<Option<FanOut>> {
    if !dialect::try_lock(c, LockId::Fanout)? {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let p = plan(c, now, channels)?;
    let planned = started.elapsed();
    let done = apply(c, &p)?;
    tracing::debug!(
        plan_ms = planned.as_millis() as u64,
        apply_ms = (started.elapsed() - planned).as_millis() as u64,
        "fan-out timing"
    );
    Ok(Some(done))
}

/// Writes a plan: its notifications, and the changes it covers removed.
pub fn apply(c: &mut AnyConnection, p: &Plan) -> StoreResult<FanOut> {
    if let Some(last) = p.last_seq {
        outbox::insert_notifications(c, &p.rows)?;
        outbox::remove_changes(c, last)?;
    }
    Ok(FanOut {
        changes: p.changes,
        notifications: p.rows.len(),
        more: p.more,
    })
}

/// Programs and events are read by VENs according to their targets; the other objects by their owner.
fn by_targets(ch: &ChangeRow) -> bool {
    matches!(ch.object.object_type, ObjectType::Program | ObjectType::Event)
}

/// Who may hear of `changes`, read once for all channels.
fn audience(c: &mut AnyConnection, changes: &[ChangeRow], channels: &Channels) -> StoreResult<Audience> {
    let needs = channels.needs();
    let subscribers = if needs.subscriptions {
        let mut types: Vec<&str> = changes.iter().map(|ch| ch.object.object_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        outbox::subscribers_for(c, &types)?
            .into_iter()
            .filter_map(Subscriber::parse)
            .collect()
    } else {
        Vec::new()
    };
    // Which programs and events a VEN hears of, and which of their targets it is shown, depend only on
    // its grants among those objects' targets: looked up by target (an index), so a change targeted at
    // nobody costs nothing per VEN and one targeted at a fleet costs one row per member.
    let mut wanted: Vec<String> = (changes.iter())
        .filter(|ch| by_targets(ch))
        .flat_map(|ch| ch.object.targets.clone().unwrap_or_default())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let grants: HashMap<String, Vec<String>> = if wanted.is_empty() {
        HashMap::new()
    } else {
        granted_targets_among(c, &wanted)?
    };
    // Every VEN reads untargeted programs and events; targeted ones only those holding a target.
    let vens = if !needs.vens {
        Vec::new()
    } else if (changes.iter()).any(|ch| by_targets(ch) && ch.object.targets.as_ref().is_none_or(Vec::is_empty)) {
        ven_clients(c)?
            .into_iter()
            .map(|cl| {
                let g = grants.get(&cl).cloned().unwrap_or_default();
                (cl, g)
            })
            .collect()
    } else {
        let mut v: Vec<(String, Vec<String>)> = grants.iter().map(|(k, g)| (k.clone(), g.clone())).collect();
        v.sort();
        v
    };
    Ok(Audience {
        subscribers,
        grants,
        vens,
    })
}

/// The notification row of one address of `change` on `channel`.
fn row(channel: &str, change: &ChangeRow, a: Address, now: chrono::NaiveDateTime) -> NewNotification {
    NewNotification {
        id: ObjectId::generate().into_string(),
        change_seq: change.seq,
        subscription_id: a.source,
        client_id: a.client_id,
        callback_url: a.to,
        bearer_token: a.credential,
        object_type: change.object.object_type.as_str().to_owned(),
        operation: outbox::operation_name(change.operation).to_owned(),
        object_id: change.object.id.clone(),
        program_id: change.program_id.clone(),
        event_id: change.event_id.clone(),
        payload: payload(change, a.visible.as_deref()),
        state: "pending".into(),
        attempts: 0,
        created_at: now,
        next_attempt_at: now,
        channel: channel.into(),
    }
}

/// Works out the notifications of the oldest committed changes, reading only. On SQLite this runs on a
/// read connection and only [`apply`] goes through the single writer, so fanning out to thousands of
/// subscribers never holds up the writes of requests.
pub fn plan(c: &mut AnyConnection, now: DateTime<Utc>, channels: &Channels) -> StoreResult<Plan> {
    let changes = outbox::pending_changes(c, FANOUT_BATCH)?;
    let Some(last) = changes.last().map(|ch| ch.seq) else {
        return Ok(Plan::default());
    };
    let audience = audience(c, &changes, channels)?;
    let mut rows = Vec::new();
    let mut covered = (0, last);
    let now_n = to_naive(now);
    let mut addresses = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        for channel in channels.iter() {
            channel.plan(&audience, change, &mut addresses);
            rows.extend((addresses.drain(..)).map(|a| row(channel.name(), change, a, now_n)));
        }
        covered = (i + 1, change.seq);
        // Bounded memory: a plan stops after the change that takes it past MAX_PLAN_ROWS; the rest wait
        // for the next one (one change always goes, however many rows it makes).
        if rows.len() >= MAX_PLAN_ROWS {
            break;
        }
    }
    Ok(Plan {
        rows,
        changes: covered.0,
        last_seq: Some(covered.1),
        more: covered.0 < changes.len() || changes.len() as i64 >= FANOUT_BATCH,
    })
}
