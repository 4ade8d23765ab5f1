//! Which subscription hears of which change, and what it is shown: the subscription's objects,
//! operations, programID and targets, and the subscriber's object privacy (Def §Subscriptions: "SHALL use
//! the clientID of a subscription" when deciding).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::notify::mqtt::topics::Topics;
use crate::privacy::{Viewer, scope_for_grants, scope_for_viewer};
use crate::store::dialect::{self, LockId};
use crate::store::outbox::{self, ChangeRow, NewNotification, SubscriberRow};
use crate::store::repo::{granted_targets_among, to_naive, ven_clients};
use crate::store::{AnyConnection, StoreResult};
use crate::wire::Operation;
use crate::wire::Text;
use crate::wire::{ObjectId, ObjectType, StoredObject, SubscriptionRequest, TargetView};

/// Changes fanned out per transaction.
pub const FANOUT_BATCH: i64 = 256;

/// Most notification rows one fan-out plan builds in memory (besides those of its first change).
pub const MAX_PLAN_ROWS: usize = 20_000;

/// A subscription, parsed.
pub struct Subscriber {
    pub id: String,
    pub client_id: String,
    pub business_logic: bool,
    pub req: SubscriptionRequest,
    /// Changes up to this sequence number predate the subscription.
    pub from_seq: i64,
}

impl Subscriber {
    pub fn parse(row: SubscriberRow) -> Option<Self> {
        match serde_json::from_str::<SubscriptionRequest>(&row.body) {
            Ok(req) => Some(Self {
                id: row.id,
                client_id: row.client_id,
                business_logic: row.business_logic,
                req,
                from_seq: row.from_seq,
            }),
            Err(e) => {
                tracing::error!(subscription = %row.id, error = %e, "stored subscription does not parse; skipped");
                None
            }
        }
    }
}

/// One callback a change goes to, and the targets its subscriber may see (`None`: all).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub callback_url: String,
    pub bearer_token: Option<String>,
    pub visible: Option<Arc<HashSet<String>>>,
}

/// The callbacks of `sub` that `change` goes to (none when it does not match or the subscriber may not
/// read the object). `grants`: the subscriber's granted targets when it is a VEN.
pub fn deliveries(sub: &Subscriber, grants: &[String], change: &ChangeRow) -> Vec<Delivery> {
    let kind = change.object.object_type;
    if let Some(p) = &sub.req.program_id
        && change.program_id.as_deref() != Some(p.as_str())
    {
        return Vec::new();
    }
    let requested: Option<Vec<String>> = sub
        .req
        .targets
        .as_ref()
        .map(|t| t.iter().map(|t| t.as_str().to_owned()).collect());
    let targets = change.object.targets.as_deref();
    let visible = match kind {
        ObjectType::Program | ObjectType::Event => {
            let scope = if sub.business_logic {
                scope_for_viewer(&Viewer::BusinessLogic, requested.as_deref())
            } else {
                scope_for_grants(grants.to_vec(), requested.as_deref())
            };
            if !scope.admits(targets) {
                return Vec::new();
            }
            scope.visible
        }
        ObjectType::Report | ObjectType::Subscription | ObjectType::Ven | ObjectType::Resource => {
            if !sub.business_logic && change.owner.as_deref() != Some(sub.client_id.as_str()) {
                return Vec::new();
            }
            // Subscription targets narrow the objects that carry targets (vens, resources).
            if let Some(r) = &requested
                && matches!(kind, ObjectType::Ven | ObjectType::Resource)
                && !targets.unwrap_or(&[]).iter().any(|t| r.contains(t))
            {
                return Vec::new();
            }
            None
        }
    };
    let mut out: Vec<Delivery> = Vec::new();
    for oo in &sub.req.object_operations {
        if !oo.objects.contains(&kind) || !oo.operations.contains(&change.operation) {
            continue;
        }
        let url = oo.callback_url.as_str().to_owned();
        if out
            .iter()
            .any(|d| d.callback_url == url && d.bearer_token.as_deref() == oo.bearer_token.as_ref().map(Text::as_str))
        {
            continue;
        }
        out.push(Delivery {
            callback_url: url,
            bearer_token: oo.bearer_token.as_ref().map(Text::to_string),
            visible: visible.clone(),
        });
    }
    out
}

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

/// One MQTT publication of a change: the topic, the VEN client it is for (empty: business logic) and
/// the targets that reader may see (`None`: all).
pub type Publication = (String, String, Option<Arc<HashSet<String>>>);

/// Where a change is published on MQTT: the business-logic topics of its kind (and of its program), and
/// the topics of every VEN that may read it, with that VEN's targets only.
pub fn publications(t: &Topics, change: &ChangeRow, vens: &[(String, Vec<String>)]) -> Vec<Publication> {
    let kind = change.object.object_type;
    let op = change.operation;
    let o = &change.object;
    let plural = match kind {
        ObjectType::Program => "programs",
        ObjectType::Event => "events",
        ObjectType::Report => "reports",
        ObjectType::Subscription => "subscriptions",
        ObjectType::Ven => "vens",
        ObjectType::Resource => "resources",
    };
    let mut out: Vec<Publication> = vec![(Topics::topic(&t.all_of(plural), op), String::new(), None)];
    let to_readers = |what: &str, out: &mut Vec<Publication>| {
        for (client, grants) in vens {
            let scope = scope_for_grants(grants.clone(), None);
            if scope.admits(o.targets.as_deref()) {
                out.push((
                    Topics::topic(&t.client(client, what), op),
                    client.clone(),
                    scope.visible,
                ));
            }
        }
    };
    match kind {
        ObjectType::Program => {
            if op != Operation::Create {
                out.push((Topics::topic(&t.program(&o.id), op), String::new(), None));
            }
            to_readers("programs", &mut out);
        }
        ObjectType::Event => {
            if let Some(p) = &change.program_id {
                out.push((Topics::topic(&t.program_events(p), op), String::new(), None));
            }
            to_readers("events", &mut out);
        }
        ObjectType::Ven => {
            if let Some(owner) = &change.owner
                && op != Operation::Create
            {
                out.push((Topics::topic(&t.client(owner, "ven"), op), owner.clone(), None));
            }
        }
        ObjectType::Resource => {
            if let Some(owner) = &change.owner {
                out.push((Topics::topic(&t.client(owner, "resources"), op), owner.clone(), None));
            }
        }
        ObjectType::Report | ObjectType::Subscription => {}
    }
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
pub fn fan_out(c: &mut AnyConnection, now: DateTime<Utc>, mqtt: Option<&Topics>) -> StoreResult<Option<FanOut>> {
    if !dialect::try_lock(c, LockId::Fanout)? {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let p = plan(c, now, mqtt)?;
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

/// Works out the notifications of the oldest committed changes, reading only. On SQLite this runs on a
/// read connection and only [`apply`] goes through the single writer, so fanning out to thousands of
/// subscribers never holds up the writes of requests.
pub fn plan(c: &mut AnyConnection, now: DateTime<Utc>, mqtt: Option<&Topics>) -> StoreResult<Plan> {
    let changes = outbox::pending_changes(c, FANOUT_BATCH)?;
    let Some(last) = changes.last().map(|ch| ch.seq) else {
        return Ok(Plan::default());
    };
    let mut types: Vec<&str> = changes.iter().map(|ch| ch.object.object_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let subscribers: Vec<Subscriber> = outbox::subscribers_for(c, &types)?
        .into_iter()
        .filter_map(Subscriber::parse)
        .collect();
    // Which programs and events a VEN hears of, and which of their targets it is shown, depend only on
    // its grants among those objects' targets: looked up by target (an index), so a change targeted at
    // nobody costs nothing per VEN and one targeted at a fleet costs one row per member.
    let readable = |ch: &&ChangeRow| matches!(ch.object.object_type, ObjectType::Program | ObjectType::Event);
    let mut wanted: Vec<String> = changes
        .iter()
        .filter(readable)
        .flat_map(|ch| ch.object.targets.clone().unwrap_or_default())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let grants: HashMap<String, Vec<String>> = if wanted.is_empty() {
        HashMap::new()
    } else {
        granted_targets_among(c, &wanted)?
    };
    // MQTT: every ven reads untargeted programs and events; targeted ones only those holding a target.
    let vens: Vec<(String, Vec<String>)> = match mqtt {
        None => Vec::new(),
        Some(_) => {
            let untargeted = changes
                .iter()
                .filter(readable)
                .any(|ch| ch.object.targets.as_ref().is_none_or(Vec::is_empty));
            if untargeted {
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
            }
        }
    };
    let mut rows = Vec::new();
    let mut covered = (0, last);
    let now_n = to_naive(now);
    for (i, change) in changes.iter().enumerate() {
        let row = |channel: &str,
                   subscription_id: String,
                   client_id: String,
                   callback_url: String,
                   bearer_token,
                   visible: Option<&HashSet<String>>| NewNotification {
            id: ObjectId::generate().into_string(),
            change_seq: change.seq,
            subscription_id,
            client_id,
            callback_url,
            bearer_token,
            object_type: change.object.object_type.as_str().to_owned(),
            operation: outbox::operation_name(change.operation).to_owned(),
            object_id: change.object.id.clone(),
            program_id: change.program_id.clone(),
            event_id: change.event_id.clone(),
            payload: payload(change, visible),
            state: "pending".into(),
            attempts: 0,
            created_at: now_n,
            next_attempt_at: now_n,
            channel: channel.into(),
        };
        for sub in subscribers.iter().filter(|s| change.seq > s.from_seq) {
            let g = grants.get(&sub.client_id).map(Vec::as_slice).unwrap_or(&[]);
            for d in deliveries(sub, g, change) {
                rows.push(row(
                    "WEBHOOK",
                    sub.id.clone(),
                    sub.client_id.clone(),
                    d.callback_url,
                    d.bearer_token,
                    d.visible.as_deref(),
                ));
            }
        }
        if let Some(t) = mqtt {
            for (topic, audience, visible) in publications(t, change, &vens) {
                rows.push(row("MQTT", topic.clone(), audience, topic, None, visible.as_deref()));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sub(business_logic: bool, json: serde_json::Value) -> Subscriber {
        Subscriber {
            id: "s1".into(),
            client_id: "ven-a".into(),
            business_logic,
            req: serde_json::from_value(json).unwrap(),
            from_seq: 0,
        }
    }

    fn change(kind: ObjectType, op: Operation, targets: Option<&[&str]>, owner: Option<&str>) -> ChangeRow {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        ChangeRow {
            seq: 1,
            operation: op,
            object: StoredObject {
                id: "o1".into(),
                object_type: kind,
                created: t,
                modified: t,
                body: "{\"programID\":\"p1\"}".into(),
                targets: targets.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            },
            program_id: Some("p1".into()),
            event_id: Some("o1".into()),
            owner: owner.map(str::to_owned),
        }
    }

    fn events_sub(extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({"clientName": "a", "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": "https://a.example/cb", "bearerToken": "T"}
        ]});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    #[test]
    fn matching_operations_go_to_the_callback_with_its_token() {
        let s = sub(false, events_sub(serde_json::json!({})));
        let d = deliveries(&s, &[], &change(ObjectType::Event, Operation::Create, None, None));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].callback_url, "https://a.example/cb");
        assert_eq!(d[0].bearer_token.as_deref(), Some("T"));
        assert!(deliveries(&s, &[], &change(ObjectType::Event, Operation::Delete, None, None)).is_empty());
        assert!(deliveries(&s, &[], &change(ObjectType::Program, Operation::Create, None, None)).is_empty());
    }

    #[test]
    fn program_filter_excludes_other_programs() {
        let s = sub(false, events_sub(serde_json::json!({"programID": "p2"})));
        assert!(deliveries(&s, &[], &change(ObjectType::Event, Operation::Create, None, None)).is_empty());
    }

    #[test]
    fn a_ven_hears_only_of_events_it_may_read_and_sees_only_its_targets() {
        let s = sub(false, events_sub(serde_json::json!({})));
        let targeted = change(ObjectType::Event, Operation::Create, Some(&["g1", "secret"]), None);
        assert!(deliveries(&s, &["g2".into()], &targeted).is_empty());
        let d = deliveries(&s, &["g1".into()], &targeted);
        assert_eq!(d.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&payload(&targeted, d[0].visible.as_deref())).unwrap();
        assert_eq!(body["object"]["targets"], serde_json::json!(["g1"]));
        assert_eq!(body["targets"], serde_json::json!(["g1"]));
        assert_eq!(body["operation"], "CREATE");
        assert_eq!(body["objectType"], "EVENT");
    }

    #[test]
    fn a_ven_hears_only_of_its_own_reports_and_the_business_logic_of_all() {
        let mut v = events_sub(serde_json::json!({}));
        v["objectOperations"][0]["objects"] = serde_json::json!(["REPORT"]);
        let own = change(ObjectType::Report, Operation::Create, None, Some("ven-a"));
        let other = change(ObjectType::Report, Operation::Create, None, Some("ven-b"));
        let ven = sub(false, v.clone());
        assert_eq!(deliveries(&ven, &[], &own).len(), 1);
        assert!(deliveries(&ven, &[], &other).is_empty());
        let bl = sub(true, v);
        assert_eq!(deliveries(&bl, &[], &other).len(), 1);
    }

    #[test]
    fn subscription_targets_narrow_what_the_business_logic_hears() {
        let bl = sub(true, events_sub(serde_json::json!({"targets": ["g1"]})));
        assert_eq!(
            deliveries(
                &bl,
                &[],
                &change(ObjectType::Event, Operation::Update, Some(&["g1"]), None)
            )
            .len(),
            1
        );
        assert!(
            deliveries(
                &bl,
                &[],
                &change(ObjectType::Event, Operation::Update, Some(&["g2"]), None)
            )
            .is_empty()
        );
    }
}
