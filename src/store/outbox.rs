//! The notification outbox. A service write records a [`Change`] in its own transaction; the fan-out turns
//! committed changes into one notification per matching callback URL; delivery workers claim due
//! notifications with a lease, post them and record the outcome. Everything lives in the database, so a
//! restart loses nothing and several instances share the work.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::insert_many;
use super::error::StoreResult;
use super::repo::{from_naive, to_naive};
use super::schema::{callback_health, changes, notifications, subscription_objects, subscriptions};
use crate::wire::Page;
use crate::wire::{ObjectType, Operation, StoredObject};

/// A change of an object made by a write, recorded in the outbox in the write's own transaction.
#[derive(Debug, Clone)]
pub struct Change {
    pub operation: Operation,
    pub object: StoredObject,
    /// The program the object belongs to (a program's own id), for subscriptions with a `programID`.
    pub program_id: Option<String>,
    /// The event the object belongs to (an event's own id, a report's event).
    pub event_id: Option<String>,
    /// The client whose private object this is (reports, subscriptions, vens, resources).
    pub owner: Option<String>,
}

/// A change as one row of the `changes` table: the only place a change becomes columns. Both backends'
/// inserts ([`super::dialect::record_changes`]) write these rows.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes)]
pub struct ChangeRecord {
    pub object_type: &'static str,
    pub operation: &'static str,
    pub object_id: String,
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub owner_client_id: Option<String>,
    pub body: String,
    pub targets: Option<String>,
    pub created_date_time: chrono::NaiveDateTime,
    pub modification_date_time: chrono::NaiveDateTime,
    pub recorded_at: chrono::NaiveDateTime,
}

impl ChangeRecord {
    pub fn new(change: Change) -> StoreResult<Self> {
        let o = change.object;
        let targets = match &o.targets {
            Some(t) => Some(serde_json::to_string(t)?),
            None => None,
        };
        Ok(Self {
            object_type: o.object_type.as_str(),
            operation: operation_name(change.operation),
            object_id: o.id,
            program_id: change.program_id,
            event_id: change.event_id,
            owner_client_id: change.owner,
            body: o.body,
            targets,
            created_date_time: to_naive(o.created),
            modification_date_time: to_naive(o.modified),
            recorded_at: to_naive(o.modified),
        })
    }
}

pub fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "READ",
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
    }
}

fn parse_operation(s: &str) -> Operation {
    match s {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        _ => Operation::Read,
    }
}

/// Whether any subscription names objects of `kind` (only then is a change of one worth recording).
/// Checked inside the writing transaction: exact on SQLite (one writer); on PostgreSQL a subscription
/// committed while this write is in flight may miss it (docs/spec-decisions.md).
pub(super) fn subscribed(c: &mut AnyConnection, kind: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        subscription_objects::table.filter(subscription_objects::object_type.eq(kind)),
    ))
    .get_result(c)?)
}

/// A change waiting to be turned into notifications.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub seq: i64,
    pub operation: Operation,
    pub object: StoredObject,
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub owner: Option<String>,
}

type ChangeTuple = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
);

/// The oldest changes not yet fanned out.
pub fn pending_changes(c: &mut AnyConnection, limit: i64) -> StoreResult<Vec<ChangeRow>> {
    let rows: Vec<ChangeTuple> = changes::table
        .order(changes::seq)
        .limit(limit)
        .select((
            changes::seq,
            changes::object_type,
            changes::operation,
            changes::object_id,
            changes::program_id,
            changes::event_id,
            changes::owner_client_id,
            changes::body,
            changes::targets,
            changes::created_date_time,
            changes::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter()
        .map(
            |(seq, kind, op, id, program_id, event_id, owner, body, targets, created, modified)| {
                let object_type = ObjectType::parse(&kind)
                    .ok_or_else(|| super::StoreError::Corrupt(format!("change {seq}: object type {kind:?}")))?;
                let targets = match targets {
                    Some(t) => Some(serde_json::from_str(&t)?),
                    None => None,
                };
                Ok(ChangeRow {
                    seq,
                    operation: parse_operation(&op),
                    object: StoredObject {
                        id,
                        object_type,
                        created: from_naive(created),
                        modified: from_naive(modified),
                        body,
                        targets,
                    },
                    program_id,
                    event_id,
                    owner,
                })
            },
        )
        .collect()
}

/// Whether any change waits to be fanned out.
pub fn has_changes(c: &mut AnyConnection) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(changes::table.select(changes::seq))).get_result(c)?)
}

pub fn remove_changes(c: &mut AnyConnection, up_to_seq: i64) -> StoreResult<()> {
    diesel::delete(changes::table.filter(changes::seq.le(up_to_seq))).execute(c)?;
    Ok(())
}

/// A subscription as the fan-out needs it.
#[derive(Debug, Clone)]
pub struct SubscriberRow {
    pub id: String,
    pub client_id: String,
    pub business_logic: bool,
    /// The stored subscription content (its request, with clientID).
    pub body: String,
    /// Changes up to this sequence number were made before the subscription existed.
    pub from_seq: i64,
}

/// Subscriptions that name any of `types` in their objectOperations.
pub fn subscribers_for(c: &mut AnyConnection, types: &[&str]) -> StoreResult<Vec<SubscriberRow>> {
    let rows: Vec<(String, String, bool, String, i64)> = subscriptions::table
        .filter(
            subscriptions::id.eq_any(
                subscription_objects::table
                    .filter(subscription_objects::object_type.eq_any(types))
                    .select(subscription_objects::subscription_id),
            ),
        )
        .order(subscriptions::id)
        .select((
            subscriptions::id,
            subscriptions::client_id,
            subscriptions::business_logic,
            subscriptions::body,
            subscriptions::from_seq,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(id, client_id, business_logic, body, from_seq)| SubscriberRow {
            id,
            client_id,
            business_logic,
            body,
            from_seq,
        })
        .collect())
}

/// A notification to be queued.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = notifications)]
pub struct NewNotification {
    pub id: String,
    pub change_seq: i64,
    pub subscription_id: String,
    pub client_id: String,
    pub callback_url: String,
    pub bearer_token: Option<String>,
    pub object_type: String,
    pub operation: String,
    pub object_id: String,
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub created_at: chrono::NaiveDateTime,
    pub next_attempt_at: chrono::NaiveDateTime,
    /// `WEBHOOK` or `MQTT`.
    pub channel: String,
}

pub fn insert_notifications(c: &mut AnyConnection, rows: &[NewNotification]) -> StoreResult<()> {
    // Bounded statements: SQLite allows at most 32,766 bind values per statement.
    for chunk in rows.chunks(500) {
        insert_many!(c, notifications::table, chunk)?;
    }
    Ok(())
}

/// A notification claimed for one delivery attempt.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = notifications)]
pub struct Claimed {
    pub id: String,
    pub change_seq: i64,
    pub callback_url: String,
    pub bearer_token: Option<String>,
    pub payload: String,
    pub attempts: i32,
    pub channel: String,
    /// The client the notification is for (empty for MQTT topics of no one client).
    pub client_id: String,
}

pub use super::dialect::claim_due;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted: by the callback (its HTTP status) or by the MQTT broker (no status).
    Delivered { status: Option<i32> },
    /// Failed; try again at `next_at`.
    Retry {
        status: Option<i32>,
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Failed for the last time (dead letter).
    Failed { status: Option<i32>, error: String },
}

/// Stores a failed attempt made under `owner`'s lease — retry at `retry_at`, or given up (dead letter)
/// when `None` — and counts it against the callback's health (`callback_url` empty: none is kept, as for
/// MQTT topics). Returns false when the lease was lost (another instance took the notification over after
/// the lease ran out) or the notification was cancelled meanwhile.
#[allow(clippy::too_many_arguments)]
fn record_failure(
    c: &mut AnyConnection,
    id: &str,
    owner: &str,
    callback_url: &str,
    status: Option<i32>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    broken_after: i32,
) -> StoreResult<bool> {
    let now_n = to_naive(now);
    let target = notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::lease_owner.eq(owner))
        .filter(notifications::state.eq("pending"));
    let common = (
        notifications::last_status.eq(status),
        notifications::last_error.eq(Some(error)),
        notifications::lease_owner.eq(None::<String>),
        notifications::lease_until.eq(None::<chrono::NaiveDateTime>),
    );
    let n = match retry_at {
        Some(at) => diesel::update(target)
            .set((common, notifications::next_attempt_at.eq(to_naive(at))))
            .execute(c)?,
        None => diesel::update(target)
            .set((
                common,
                notifications::state.eq("failed"),
                notifications::finished_at.eq(Some(now_n)),
            ))
            .execute(c)?,
    };
    if n == 0 {
        return Ok(false);
    }
    if callback_url.is_empty() {
        return Ok(true);
    }
    let updated = diesel::update(callback_health::table.find(callback_url))
        .set((
            callback_health::consecutive_failures.eq(callback_health::consecutive_failures + 1),
            callback_health::broken.eq(callback_health::consecutive_failures.ge(broken_after - 1)),
            callback_health::last_failure_at.eq(Some(now_n)),
            callback_health::last_error.eq(Some(error)),
        ))
        .execute(c)?;
    // Only callbacks that have failed get a health row (a success updates an existing one).
    if updated == 0 {
        diesel::insert_into(callback_health::table)
            .values((
                callback_health::callback_url.eq(callback_url),
                callback_health::consecutive_failures.eq(1),
                callback_health::broken.eq(1 >= broken_after),
                callback_health::last_failure_at.eq(Some(now_n)),
                callback_health::last_error.eq(Some(error)),
            ))
            .execute(c)?;
    }
    Ok(true)
}

/// The outcomes of many attempts at once (one write for a whole wave of deliveries): successes
/// are stored with one statement per 500, failures one by one. Returns how many leases were lost.
pub fn record_outcomes(
    c: &mut AnyConnection,
    owner: &str,
    items: &[(String, String, Outcome)],
    now: DateTime<Utc>,
    broken_after: i32,
) -> StoreResult<usize> {
    let now_n = to_naive(now);
    let mut lost = 0;
    let mut delivered: std::collections::BTreeMap<Option<i32>, Vec<&str>> = Default::default();
    let mut healed: Vec<&str> = Vec::new();
    for (id, url, outcome) in items {
        match outcome {
            Outcome::Delivered { status } => {
                delivered.entry(*status).or_default().push(id);
                if !url.is_empty() {
                    healed.push(url);
                }
            }
            Outcome::Retry { status, error, next_at } => {
                if !record_failure(c, id, owner, url, *status, error, Some(*next_at), now, broken_after)? {
                    lost += 1;
                }
            }
            Outcome::Failed { status, error } => {
                if !record_failure(c, id, owner, url, *status, error, None, now, broken_after)? {
                    lost += 1;
                }
            }
        }
    }
    for (status, ids) in delivered {
        for chunk in ids.chunks(500) {
            let n = diesel::update(
                notifications::table
                    .filter(notifications::id.eq_any(chunk))
                    .filter(notifications::lease_owner.eq(owner))
                    .filter(notifications::state.eq("pending")),
            )
            .set((
                notifications::state.eq("delivered"),
                notifications::finished_at.eq(Some(now_n)),
                notifications::last_status.eq(status),
                notifications::lease_owner.eq(None::<String>),
                notifications::lease_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(c)?;
            lost += chunk.len() - n;
        }
    }
    healed.sort_unstable();
    healed.dedup();
    for chunk in healed.chunks(500) {
        diesel::update(callback_health::table.filter(callback_health::callback_url.eq_any(chunk)))
            .set((
                callback_health::consecutive_failures.eq(0),
                callback_health::broken.eq(false),
                callback_health::last_success_at.eq(Some(now_n)),
            ))
            .execute(c)?;
    }
    Ok(lost)
}

/// Gives a claimed notification back unattempted (its client's share stayed busy until the lease was
/// nearly over): no attempt is counted, and any instance may claim it again.
pub fn release(c: &mut AnyConnection, id: &str, owner: &str) -> StoreResult<()> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::lease_owner.eq(owner))
            .filter(notifications::state.eq("pending")),
    )
    .set((
        notifications::attempts.eq(notifications::attempts - 1),
        notifications::lease_owner.eq(None::<String>),
        notifications::lease_until.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(c)?;
    Ok(())
}

/// Deletes up to `limit` notifications that finished (delivered, failed, cancelled) before `before`;
/// returns how many.
pub fn prune_finished(c: &mut AnyConnection, before: DateTime<Utc>, limit: i64) -> StoreResult<usize> {
    let old = notifications::table
        .filter(notifications::state.ne("pending"))
        .filter(notifications::finished_at.lt(to_naive(before)))
        .select(notifications::id)
        .limit(limit);
    let ids: Vec<String> = old.load(c)?;
    Ok(diesel::delete(notifications::table.filter(notifications::id.eq_any(&ids))).execute(c)?)
}

/// Pending notifications of a deleted subscription are not sent.
pub fn cancel_for_subscription(c: &mut AnyConnection, subscription_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
    diesel::update(
        notifications::table
            .filter(notifications::subscription_id.eq(subscription_id))
            .filter(notifications::state.eq("pending")),
    )
    .set((
        notifications::state.eq("cancelled"),
        notifications::finished_at.eq(Some(to_naive(now))),
        notifications::last_error.eq(Some("subscription deleted")),
    ))
    .execute(c)?;
    Ok(())
}

/// A notification and its delivery state, for the operator.
#[derive(Debug, Clone, Queryable)]
pub struct NotificationRow {
    pub id: String,
    pub channel: String,
    pub subscription_id: String,
    pub client_id: String,
    pub callback_url: String,
    pub object_type: String,
    pub operation: String,
    pub object_id: String,
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub state: String,
    pub attempts: i32,
    pub created_at: chrono::NaiveDateTime,
    pub next_attempt_at: chrono::NaiveDateTime,
    pub first_attempt_at: Option<chrono::NaiveDateTime>,
    pub finished_at: Option<chrono::NaiveDateTime>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub event_id: Option<String>,
    pub subscription_id: Option<String>,
    pub object_id: Option<String>,
    pub client_id: Option<String>,
    pub state: Option<String>,
}

pub fn list_notifications(
    c: &mut AnyConnection,
    f: &NotificationFilter,
    page: Page,
) -> StoreResult<Vec<NotificationRow>> {
    let mut q = notifications::table.into_boxed();
    if let Some(v) = &f.event_id {
        q = q.filter(notifications::event_id.eq(v.clone()));
    }
    if let Some(v) = &f.subscription_id {
        q = q.filter(notifications::subscription_id.eq(v.clone()));
    }
    if let Some(v) = &f.object_id {
        q = q.filter(notifications::object_id.eq(v.clone()));
    }
    if let Some(v) = &f.client_id {
        q = q.filter(notifications::client_id.eq(v.clone()));
    }
    if let Some(v) = &f.state {
        q = q.filter(notifications::state.eq(v.clone()));
    }
    Ok(q.order((notifications::change_seq, notifications::id))
        .offset(page.skip)
        .limit(page.limit)
        .select((
            notifications::id,
            notifications::channel,
            notifications::subscription_id,
            notifications::client_id,
            notifications::callback_url,
            notifications::object_type,
            notifications::operation,
            notifications::object_id,
            notifications::program_id,
            notifications::event_id,
            notifications::state,
            notifications::attempts,
            notifications::created_at,
            notifications::next_attempt_at,
            notifications::first_attempt_at,
            notifications::finished_at,
            notifications::last_status,
            notifications::last_error,
        ))
        .load(c)?)
}

/// The health of one callback URL, for the operator.
#[derive(Debug, Clone, Queryable)]
pub struct CallbackRow {
    pub callback_url: String,
    pub consecutive_failures: i32,
    pub broken: bool,
    pub last_success_at: Option<chrono::NaiveDateTime>,
    pub last_failure_at: Option<chrono::NaiveDateTime>,
    pub last_error: Option<String>,
}

pub fn list_callbacks(c: &mut AnyConnection, broken_only: bool, page: Page) -> StoreResult<Vec<CallbackRow>> {
    let mut q = callback_health::table.into_boxed();
    if broken_only {
        q = q.filter(callback_health::broken.eq(true));
    }
    Ok(q.order(callback_health::callback_url)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            callback_health::callback_url,
            callback_health::consecutive_failures,
            callback_health::broken,
            callback_health::last_success_at,
            callback_health::last_failure_at,
            callback_health::last_error,
        ))
        .load(c)?)
}
