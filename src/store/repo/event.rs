//! Events: rows, targets, the active-event lists and the end times that bound a cached list.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{ObjectWrite, Row, from_naive, stored, to_naive};
use crate::privacy::TargetFilter;
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

targeted_table!(
    ObjectType::Event,
    events,
    event_targets,
    event_id,
    get_event,
    delete_event,
    set_event_targets
);

/// The columns of an event besides the common ones.
#[derive(Debug, Clone)]
pub struct EventColumns {
    pub program_id: String,
    pub event_name: Option<String>,
    pub priority: Option<i64>,
    pub ends_at: Option<DateTime<Utc>>,
}

pub fn insert_event(c: &mut AnyConnection, w: &ObjectWrite, e: &EventColumns) -> StoreResult<StoredObject> {
    diesel::insert_into(events::table)
        .values((
            events::id.eq(&w.id),
            events::program_id.eq(&e.program_id),
            events::event_name.eq(&e.event_name),
            events::priority.eq(e.priority),
            events::body.eq(&w.body),
            events::targets.eq(w.targets_json()?),
            events::targeted.eq(w.targeted()),
            events::ends_at.eq(e.ends_at.map(to_naive)),
            events::created_date_time.eq(to_naive(w.now)),
            events::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_event_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Event, w.now))
}

pub fn update_event(c: &mut AnyConnection, w: &ObjectWrite, e: &EventColumns) -> StoreResult<StoredObject> {
    let old = get_event(c, &w.id)?;
    diesel::update(events::table.find(&w.id))
        .set((
            events::program_id.eq(&e.program_id),
            events::event_name.eq(&e.event_name),
            events::priority.eq(e.priority),
            events::body.eq(&w.body),
            events::targets.eq(w.targets_json()?),
            events::targeted.eq(w.targeted()),
            events::ends_at.eq(e.ends_at.map(to_naive)),
            events::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_event_targets(c, w, true)?;
    Ok(w.stored(ObjectType::Event, old.created))
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub program_id: Option<String>,
    /// Only events that have not ended by this time.
    pub active_at: Option<DateTime<Utc>>,
}

/// The first moment after `t` at which an event ends (a list of active events read at `t` holds until
/// then).
pub fn next_event_end(c: &mut AnyConnection, t: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>> {
    let end: Option<NaiveDateTime> = events::table
        .filter(events::ends_at.gt(to_naive(t)))
        .select(diesel::dsl::min(events::ends_at))
        .first(c)?;
    Ok(end.map(from_naive))
}

pub fn list_events(
    c: &mut AnyConnection,
    f: &EventFilter,
    targets: &TargetFilter,
    page: Page,
) -> StoreResult<Vec<StoredObject>> {
    let mut q = events::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(events::program_id.eq(p.clone()));
    }
    if let Some(t) = f.active_at {
        q = q.filter(events::ends_at.is_null().or(events::ends_at.gt(to_naive(t))));
    }
    let q = filter_targets!(q, targets, events, event_targets, event_id);
    let rows: Vec<Row> = q
        .order(events::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            events::id,
            events::body,
            events::targets,
            events::created_date_time,
            events::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Event, r)).collect()
}

/// The targets of an event (to decide whether a VEN may see it), or NotFound.
pub fn event_targets_of(c: &mut AnyConnection, id: &str) -> StoreResult<Option<Vec<String>>> {
    let t: Option<String> = events::table.find(id).select(events::targets).first(c)?;
    Ok(match t {
        Some(t) => Some(serde_json::from_str(&t)?),
        None => None,
    })
}
