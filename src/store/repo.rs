//! Queries. Sync functions over [`AnyConnection`] so a service can compose several in one transaction.
//! Rows are turned into [`StoredObject`]s here; nothing above this module sees a diesel type.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::error::StoreResult;
use super::schema::*;
use crate::privacy::TargetFilter;
use crate::wire::{ObjectType, Page, StoredObject};

/// The columns an object is written with.
#[derive(Debug, Clone)]
pub struct ObjectWrite {
    pub id: String,
    pub body: String,
    pub targets: Option<Vec<String>>,
    pub now: DateTime<Utc>,
}

impl ObjectWrite {
    pub(crate) fn targets_json(&self) -> StoreResult<Option<String>> {
        Ok(match &self.targets {
            Some(t) => Some(serde_json::to_string(t)?),
            None => None,
        })
    }

    pub(crate) fn targeted(&self) -> bool {
        self.targets.as_ref().is_some_and(|t| !t.is_empty())
    }

    pub(crate) fn distinct_targets(&self) -> Vec<String> {
        let mut t = self.targets.clone().unwrap_or_default();
        t.sort();
        t.dedup();
        t
    }

    pub(crate) fn stored(&self, kind: ObjectType, created: DateTime<Utc>) -> StoredObject {
        StoredObject {
            id: self.id.clone(),
            object_type: kind,
            created,
            modified: self.now,
            body: self.body.clone(),
            targets: self.targets.clone(),
        }
    }
}

pub fn to_naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn from_naive(t: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t)
}

/// A multi-row INSERT. `MultiBackend` has no batch insert, so it is written once per backend arm.
macro_rules! batch_insert {
    ($c:expr, $table:expr, $rows:expr) => {
        match $c {
            AnyConnection::Postgresql(pg) => diesel::insert_into($table).values($rows).execute(pg),
            AnyConnection::Sqlite(sq) => diesel::insert_into($table).values($rows).execute(sq),
        }
    };
}

type Row = (String, String, Option<String>, NaiveDateTime, NaiveDateTime);
type RowNoTargets = (String, String, NaiveDateTime, NaiveDateTime);

fn stored(kind: ObjectType, (id, body, targets, created, modified): Row) -> StoreResult<StoredObject> {
    let targets = match targets {
        Some(t) => Some(serde_json::from_str::<Vec<String>>(&t)?),
        None => None,
    };
    Ok(StoredObject {
        id,
        object_type: kind,
        created: from_naive(created),
        modified: from_naive(modified),
        body,
        targets,
    })
}

fn stored_nt(kind: ObjectType, (id, body, created, modified): RowNoTargets) -> StoredObject {
    StoredObject {
        id,
        object_type: kind,
        created: from_naive(created),
        modified: from_naive(modified),
        body,
        targets: None,
    }
}

/// get / delete / replace-targets for a table with a `targets` column and a join table of targets.
macro_rules! targeted_table {
    ($kind:expr, $table:ident, $tt:ident, $owner:ident, $get:ident, $delete:ident, $set_targets:ident) => {
        pub fn $get(c: &mut AnyConnection, id: &str) -> StoreResult<StoredObject> {
            let row: Row = $table::table
                .find(id)
                .select((
                    $table::id,
                    $table::body,
                    $table::targets,
                    $table::created_date_time,
                    $table::modification_date_time,
                ))
                .first(c)?;
            stored($kind, row)
        }

        pub fn $delete(c: &mut AnyConnection, id: &str) -> StoreResult<StoredObject> {
            let obj = $get(c, id)?;
            diesel::delete($table::table.find(id)).execute(c)?;
            Ok(obj)
        }

        fn $set_targets(c: &mut AnyConnection, w: &ObjectWrite, replace: bool) -> StoreResult<()> {
            if replace {
                diesel::delete($tt::table.filter($tt::$owner.eq(&w.id))).execute(c)?;
            }
            let rows: Vec<_> = w
                .distinct_targets()
                .into_iter()
                .map(|t| ($tt::$owner.eq(w.id.clone()), $tt::target.eq(t)))
                .collect();
            if !rows.is_empty() {
                batch_insert!(c, $tt::table, rows)?;
            }
            Ok(())
        }
    };
}

macro_rules! plain_table {
    ($kind:expr, $table:ident, $get:ident, $delete:ident) => {
        pub fn $get(c: &mut AnyConnection, id: &str) -> StoreResult<StoredObject> {
            let row: RowNoTargets = $table::table
                .find(id)
                .select((
                    $table::id,
                    $table::body,
                    $table::created_date_time,
                    $table::modification_date_time,
                ))
                .first(c)?;
            Ok(stored_nt($kind, row))
        }

        pub fn $delete(c: &mut AnyConnection, id: &str) -> StoreResult<StoredObject> {
            let obj = $get(c, id)?;
            diesel::delete($table::table.find(id)).execute(c)?;
            Ok(obj)
        }
    };
}

/// Applies a [`TargetFilter`] to a boxed query over a table with a `targeted` column.
macro_rules! filter_targets {
    ($q:ident, $filter:expr, $table:ident, $tt:ident, $owner:ident) => {
        match $filter {
            TargetFilter::All => $q,
            TargetFilter::UntargetedOr(ts) => $q.filter(
                $table::targeted
                    .eq(false)
                    .or($table::id.eq_any($tt::table.filter($tt::target.eq_any(ts.clone())).select($tt::$owner))),
            ),
            TargetFilter::AnyOf(ts) => {
                $q.filter($table::id.eq_any($tt::table.filter($tt::target.eq_any(ts.clone())).select($tt::$owner)))
            }
        }
    };
}

// ---------------------------------------------------------------- programs

targeted_table!(
    ObjectType::Program,
    programs,
    program_targets,
    program_id,
    get_program,
    delete_program,
    set_program_targets
);

pub fn insert_program(c: &mut AnyConnection, w: &ObjectWrite, name: &str) -> StoreResult<StoredObject> {
    diesel::insert_into(programs::table)
        .values((
            programs::id.eq(&w.id),
            programs::program_name.eq(name),
            programs::body.eq(&w.body),
            programs::targets.eq(w.targets_json()?),
            programs::targeted.eq(w.targeted()),
            programs::created_date_time.eq(to_naive(w.now)),
            programs::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_program_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Program, w.now))
}

pub fn update_program(c: &mut AnyConnection, w: &ObjectWrite, name: &str) -> StoreResult<StoredObject> {
    let old = get_program(c, &w.id)?;
    diesel::update(programs::table.find(&w.id))
        .set((
            programs::program_name.eq(name),
            programs::body.eq(&w.body),
            programs::targets.eq(w.targets_json()?),
            programs::targeted.eq(w.targeted()),
            programs::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_program_targets(c, w, true)?;
    Ok(w.stored(ObjectType::Program, old.created))
}

pub fn list_programs(c: &mut AnyConnection, filter: &TargetFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let q = programs::table.into_boxed();
    let q = filter_targets!(q, filter, programs, program_targets, program_id);
    let rows: Vec<Row> = q
        .order(programs::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            programs::id,
            programs::body,
            programs::targets,
            programs::created_date_time,
            programs::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Program, r)).collect()
}

// ---------------------------------------------------------------- events

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

// ---------------------------------------------------------------- reports

plain_table!(ObjectType::Report, reports, get_report, delete_report);

#[derive(Debug, Clone)]
pub struct ReportColumns {
    pub event_id: String,
    pub client_id: String,
    pub client_name: String,
    pub report_name: Option<String>,
}

pub fn insert_report(c: &mut AnyConnection, w: &ObjectWrite, r: &ReportColumns) -> StoreResult<StoredObject> {
    diesel::insert_into(reports::table)
        .values((
            reports::id.eq(&w.id),
            reports::event_id.eq(&r.event_id),
            reports::client_id.eq(&r.client_id),
            reports::client_name.eq(&r.client_name),
            reports::report_name.eq(&r.report_name),
            reports::body.eq(&w.body),
            reports::created_date_time.eq(to_naive(w.now)),
            reports::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    Ok(w.stored(ObjectType::Report, w.now))
}

pub fn update_report(c: &mut AnyConnection, w: &ObjectWrite, r: &ReportColumns) -> StoreResult<StoredObject> {
    let old = get_report(c, &w.id)?;
    diesel::update(reports::table.find(&w.id))
        .set((
            reports::event_id.eq(&r.event_id),
            reports::client_name.eq(&r.client_name),
            reports::report_name.eq(&r.report_name),
            reports::body.eq(&w.body),
            reports::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    Ok(w.stored(ObjectType::Report, old.created))
}

pub fn report_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(reports::table.find(id).select(reports::client_id).first(c)?)
}

/// A report's event, author and program (what subscriptions to reports are matched on).
pub fn report_links(c: &mut AnyConnection, id: &str) -> StoreResult<(String, String, String)> {
    Ok(reports::table
        .inner_join(events::table)
        .filter(reports::id.eq(id))
        .select((reports::event_id, reports::client_id, events::program_id))
        .first(c)?)
}

/// The program an event belongs to.
pub fn event_program(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(events::table.find(id).select(events::program_id).first(c)?)
}

/// How many reports refer to the event.
pub fn count_event_reports(c: &mut AnyConnection, event_id: &str) -> StoreResult<i64> {
    Ok(reports::table
        .filter(reports::event_id.eq(event_id))
        .count()
        .get_result(c)?)
}

/// How many reports refer to events of the program.
pub fn count_program_reports(c: &mut AnyConnection, program_id: &str) -> StoreResult<i64> {
    Ok(reports::table
        .inner_join(events::table)
        .filter(events::program_id.eq(program_id))
        .count()
        .get_result(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub client_name: Option<String>,
    /// Object privacy: only this client's reports.
    pub client_id: Option<String>,
}

pub fn list_reports(c: &mut AnyConnection, f: &ReportFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = reports::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(
            reports::event_id.eq_any(
                events::table
                    .filter(events::program_id.eq(p.clone()))
                    .select(events::id),
            ),
        );
    }
    if let Some(e) = &f.event_id {
        q = q.filter(reports::event_id.eq(e.clone()));
    }
    if let Some(n) = &f.client_name {
        q = q.filter(reports::client_name.eq(n.clone()));
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(reports::client_id.eq(cid.clone()));
    }
    let rows: Vec<RowNoTargets> = q
        .order(reports::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            reports::id,
            reports::body,
            reports::created_date_time,
            reports::modification_date_time,
        ))
        .load(c)?;
    Ok(rows.into_iter().map(|r| stored_nt(ObjectType::Report, r)).collect())
}

// ---------------------------------------------------------------- subscriptions

plain_table!(
    ObjectType::Subscription,
    subscriptions,
    get_subscription,
    delete_subscription
);

#[derive(Debug, Clone)]
pub struct SubscriptionColumns {
    pub client_id: String,
    /// The subscriber is the business logic (kept from creation; an edit by the business logic of a VEN's
    /// subscription does not change whose privacy applies).
    pub business_logic: bool,
    pub client_name: String,
    pub program_id: Option<String>,
    pub objects: Vec<ObjectType>,
}

fn set_subscription_objects(c: &mut AnyConnection, id: &str, objects: &[ObjectType], replace: bool) -> StoreResult<()> {
    if replace {
        diesel::delete(subscription_objects::table.filter(subscription_objects::subscription_id.eq(id))).execute(c)?;
    }
    let mut names: Vec<&str> = objects.iter().map(|o| o.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<_> = names
        .into_iter()
        .map(|o| {
            (
                subscription_objects::subscription_id.eq(id.to_owned()),
                subscription_objects::object_type.eq(o),
            )
        })
        .collect();
    if !rows.is_empty() {
        batch_insert!(c, subscription_objects::table, rows)?;
    }
    Ok(())
}

pub fn insert_subscription(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    s: &SubscriptionColumns,
) -> StoreResult<StoredObject> {
    // Changes already made (pending fan-out or not) are not this subscription's to hear of.
    let from_seq: Option<i64> = changes::table.select(diesel::dsl::max(changes::seq)).first(c)?;
    diesel::insert_into(subscriptions::table)
        .values((
            subscriptions::id.eq(&w.id),
            subscriptions::client_id.eq(&s.client_id),
            subscriptions::client_name.eq(&s.client_name),
            subscriptions::program_id.eq(&s.program_id),
            subscriptions::body.eq(&w.body),
            subscriptions::created_date_time.eq(to_naive(w.now)),
            subscriptions::modification_date_time.eq(to_naive(w.now)),
            subscriptions::business_logic.eq(s.business_logic),
            subscriptions::from_seq.eq(from_seq.unwrap_or(0)),
        ))
        .execute(c)?;
    set_subscription_objects(c, &w.id, &s.objects, false)?;
    Ok(w.stored(ObjectType::Subscription, w.now))
}

pub fn update_subscription(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    s: &SubscriptionColumns,
) -> StoreResult<StoredObject> {
    let old = get_subscription(c, &w.id)?;
    diesel::update(subscriptions::table.find(&w.id))
        .set((
            subscriptions::client_name.eq(&s.client_name),
            subscriptions::program_id.eq(&s.program_id),
            subscriptions::body.eq(&w.body),
            subscriptions::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_subscription_objects(c, &w.id, &s.objects, true)?;
    Ok(w.stored(ObjectType::Subscription, old.created))
}

pub fn subscription_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(subscriptions::table
        .find(id)
        .select(subscriptions::client_id)
        .first(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub program_id: Option<String>,
    pub client_name: Option<String>,
    pub objects: Vec<ObjectType>,
    pub client_id: Option<String>,
}

/// How many subscriptions a client holds.
pub fn count_subscriptions(c: &mut AnyConnection, client_id: &str) -> StoreResult<i64> {
    Ok(subscriptions::table
        .filter(subscriptions::client_id.eq(client_id))
        .count()
        .get_result(c)?)
}

pub fn list_subscriptions(c: &mut AnyConnection, f: &SubscriptionFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = subscriptions::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(subscriptions::program_id.eq(p.clone()));
    }
    if let Some(n) = &f.client_name {
        q = q.filter(subscriptions::client_name.eq(n.clone()));
    }
    if !f.objects.is_empty() {
        let names: Vec<&'static str> = f.objects.iter().map(|o| o.as_str()).collect();
        q = q.filter(
            subscriptions::id.eq_any(
                subscription_objects::table
                    .filter(subscription_objects::object_type.eq_any(names))
                    .select(subscription_objects::subscription_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(subscriptions::client_id.eq(cid.clone()));
    }
    let rows: Vec<RowNoTargets> = q
        .order(subscriptions::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            subscriptions::id,
            subscriptions::body,
            subscriptions::created_date_time,
            subscriptions::modification_date_time,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|r| stored_nt(ObjectType::Subscription, r))
        .collect())
}

// ---------------------------------------------------------------- vens

targeted_table!(
    ObjectType::Ven,
    vens,
    ven_targets,
    ven_id,
    get_ven,
    delete_ven,
    set_ven_targets
);

pub fn insert_ven(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    ven_name: &str,
    client_id: &str,
) -> StoreResult<StoredObject> {
    diesel::insert_into(vens::table)
        .values((
            vens::id.eq(&w.id),
            vens::ven_name.eq(ven_name),
            vens::client_id.eq(client_id),
            vens::body.eq(&w.body),
            vens::targets.eq(w.targets_json()?),
            vens::created_date_time.eq(to_naive(w.now)),
            vens::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_ven_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Ven, w.now))
}

pub fn update_ven(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    ven_name: &str,
    client_id: &str,
) -> StoreResult<StoredObject> {
    let old = get_ven(c, &w.id)?;
    diesel::update(vens::table.find(&w.id))
        .set((
            vens::ven_name.eq(ven_name),
            vens::client_id.eq(client_id),
            vens::body.eq(&w.body),
            vens::targets.eq(w.targets_json()?),
            vens::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_ven_targets(c, w, true)?;
    // Resources carry their ven's clientID.
    diesel::update(resources::table.filter(resources::ven_id.eq(&w.id)))
        .set(resources::client_id.eq(client_id))
        .execute(c)?;
    Ok(w.stored(ObjectType::Ven, old.created))
}

/// The clientID a ven belongs to.
pub fn ven_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(vens::table.find(id).select(vens::client_id).first(c)?)
}

/// The ven named `name`, if any: its id and clientID.
pub fn ven_named(c: &mut AnyConnection, name: &str) -> StoreResult<Option<(String, String)>> {
    Ok(vens::table
        .filter(vens::ven_name.eq(name))
        .select((vens::id, vens::client_id))
        .first(c)
        .optional()?)
}

/// Whether a client other than `client_id` is named `name` (its name is reserved for its own ven).
pub fn name_of_another_client(c: &mut AnyConnection, name: &str, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        clients::table
            .filter(clients::client_name.eq(name))
            .filter(clients::client_id.ne(client_id)),
    ))
    .get_result(c)?)
}

/// The ven registered for a client, if any.
pub fn ven_id_of_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<String>> {
    Ok(vens::table
        .filter(vens::client_id.eq(client_id))
        .select(vens::id)
        .first(c)
        .optional()?)
}

#[derive(Debug, Clone, Default)]
pub struct VenFilter {
    pub ven_name: Option<String>,
    pub targets: Option<Vec<String>>,
    pub client_id: Option<String>,
}

pub fn list_vens(c: &mut AnyConnection, f: &VenFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = vens::table.into_boxed();
    if let Some(n) = &f.ven_name {
        q = q.filter(vens::ven_name.eq(n.clone()));
    }
    if let Some(ts) = &f.targets {
        q = q.filter(
            vens::id.eq_any(
                ven_targets::table
                    .filter(ven_targets::target.eq_any(ts.clone()))
                    .select(ven_targets::ven_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(vens::client_id.eq(cid.clone()));
    }
    let rows: Vec<Row> = q
        .order(vens::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            vens::id,
            vens::body,
            vens::targets,
            vens::created_date_time,
            vens::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Ven, r)).collect()
}

/// The targets granted to a client (OpenADR 3.1 Definition, targeting): those of its ven and of the ven's
/// resources. `None` when the client has no ven.
pub fn granted_targets(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<Vec<String>>> {
    let Some(ven_id) = ven_id_of_client(c, client_id)? else {
        return Ok(None);
    };
    let mut targets: Vec<String> = ven_targets::table
        .filter(ven_targets::ven_id.eq(&ven_id))
        .select(ven_targets::target)
        .load(c)?;
    let from_resources: Vec<String> = resource_targets::table
        .filter(
            resource_targets::resource_id.eq_any(
                resources::table
                    .filter(resources::ven_id.eq(&ven_id))
                    .select(resources::id),
            ),
        )
        .select(resource_targets::target)
        .load(c)?;
    targets.extend(from_resources);
    // A site's ven holds the site's own target: dispatch events are addressed to it.
    let sites_of_ven: Vec<String> = sites::table
        .filter(sites::ven_id.eq(&ven_id))
        .select(sites::id)
        .load(c)?;
    targets.extend(sites_of_ven.iter().map(|id| crate::privacy::site_target(id)));
    targets.sort();
    targets.dedup();
    Ok(Some(targets))
}

/// The clientIDs of every ven (the VENs MQTT publishes to).
pub fn ven_clients(c: &mut AnyConnection) -> StoreResult<Vec<String>> {
    Ok(vens::table.order(vens::client_id).select(vens::client_id).load(c)?)
}

/// For every client whose ven (or one of the ven's resources) holds any of `targets`: those of its
/// granted targets that are in `targets` (notification fan-out: only these decide what it may read of
/// objects with these targets, and which of their targets it is shown).
pub fn granted_targets_among(
    c: &mut AnyConnection,
    targets: &[String],
) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    // Bounded IN lists (SQLite allows at most 32,766 bind values per statement).
    for chunk in targets.chunks(1000) {
        let direct: Vec<(String, String)> = ven_targets::table
            .inner_join(vens::table)
            .filter(ven_targets::target.eq_any(chunk))
            .select((vens::client_id, ven_targets::target))
            .load(c)?;
        let via_resources: Vec<(String, String)> = resource_targets::table
            .inner_join(resources::table.inner_join(vens::table))
            .filter(resource_targets::target.eq_any(chunk))
            .select((vens::client_id, resource_targets::target))
            .load(c)?;
        let site_ids: Vec<&str> = chunk
            .iter()
            .filter_map(|t| t.strip_prefix(crate::privacy::SITE_TARGET_PREFIX))
            .collect();
        let via_sites: Vec<(String, String)> = if site_ids.is_empty() {
            Vec::new()
        } else {
            sites::table
                .inner_join(vens::table)
                .filter(sites::id.eq_any(&site_ids))
                .select((vens::client_id, sites::id))
                .load::<(String, String)>(c)?
                .into_iter()
                .map(|(client, id)| (client, crate::privacy::site_target(&id)))
                .collect()
        };
        for (client, target) in direct.into_iter().chain(via_resources).chain(via_sites) {
            out.entry(client).or_default().push(target);
        }
    }
    for g in out.values_mut() {
        g.sort();
        g.dedup();
    }
    Ok(out)
}

// ---------------------------------------------------------------- resources

targeted_table!(
    ObjectType::Resource,
    resources,
    resource_targets,
    resource_id,
    get_resource,
    delete_resource,
    set_resource_targets
);

#[derive(Debug, Clone)]
pub struct ResourceColumns {
    pub ven_id: String,
    pub client_id: String,
    pub resource_name: String,
}

pub fn insert_resource(c: &mut AnyConnection, w: &ObjectWrite, r: &ResourceColumns) -> StoreResult<StoredObject> {
    diesel::insert_into(resources::table)
        .values((
            resources::id.eq(&w.id),
            resources::ven_id.eq(&r.ven_id),
            resources::client_id.eq(&r.client_id),
            resources::resource_name.eq(&r.resource_name),
            resources::body.eq(&w.body),
            resources::targets.eq(w.targets_json()?),
            resources::created_date_time.eq(to_naive(w.now)),
            resources::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_resource_targets(c, w, false)?;
    Ok(w.stored(ObjectType::Resource, w.now))
}

pub fn update_resource(c: &mut AnyConnection, w: &ObjectWrite, r: &ResourceColumns) -> StoreResult<StoredObject> {
    let old = get_resource(c, &w.id)?;
    diesel::update(resources::table.find(&w.id))
        .set((
            resources::ven_id.eq(&r.ven_id),
            resources::client_id.eq(&r.client_id),
            resources::resource_name.eq(&r.resource_name),
            resources::body.eq(&w.body),
            resources::targets.eq(w.targets_json()?),
            resources::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    set_resource_targets(c, w, true)?;
    Ok(w.stored(ObjectType::Resource, old.created))
}

/// (venID, clientID) of a resource.
pub fn resource_owner(c: &mut AnyConnection, id: &str) -> StoreResult<(String, String)> {
    Ok(resources::table
        .find(id)
        .select((resources::ven_id, resources::client_id))
        .first(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    pub resource_name: Option<String>,
    pub ven_id: Option<String>,
    pub targets: Option<Vec<String>>,
    pub client_id: Option<String>,
}

pub fn list_resources(c: &mut AnyConnection, f: &ResourceFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = resources::table.into_boxed();
    if let Some(n) = &f.resource_name {
        q = q.filter(resources::resource_name.eq(n.clone()));
    }
    if let Some(v) = &f.ven_id {
        q = q.filter(resources::ven_id.eq(v.clone()));
    }
    if let Some(ts) = &f.targets {
        q = q.filter(
            resources::id.eq_any(
                resource_targets::table
                    .filter(resource_targets::target.eq_any(ts.clone()))
                    .select(resource_targets::resource_id),
            ),
        );
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(resources::client_id.eq(cid.clone()));
    }
    let rows: Vec<Row> = q
        .order(resources::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            resources::id,
            resources::body,
            resources::targets,
            resources::created_date_time,
            resources::modification_date_time,
        ))
        .load(c)?;
    rows.into_iter().map(|r| stored(ObjectType::Resource, r)).collect()
}

// ---------------------------------------------------------------- clients and secrets

/// An OAuth2 client of the built-in token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub client_id: String,
    pub client_name: String,
    pub role: String,
    pub secret_hash: String,
    pub created: DateTime<Utc>,
}

pub fn insert_client(c: &mut AnyConnection, row: &ClientRow) -> StoreResult<()> {
    diesel::insert_into(clients::table)
        .values((
            clients::client_id.eq(&row.client_id),
            clients::client_name.eq(&row.client_name),
            clients::role.eq(&row.role),
            clients::secret_hash.eq(&row.secret_hash),
            clients::created_date_time.eq(to_naive(row.created)),
        ))
        .execute(c)?;
    Ok(())
}

pub fn get_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<ClientRow>> {
    let row: Option<(String, String, String, String, NaiveDateTime)> = clients::table
        .find(client_id)
        .select((
            clients::client_id,
            clients::client_name,
            clients::role,
            clients::secret_hash,
            clients::created_date_time,
        ))
        .first(c)
        .optional()?;
    Ok(
        row.map(|(client_id, client_name, role, secret_hash, created)| ClientRow {
            client_id,
            client_name,
            role,
            secret_hash,
            created: from_naive(created),
        }),
    )
}

pub fn list_clients(c: &mut AnyConnection) -> StoreResult<Vec<ClientRow>> {
    let rows: Vec<(String, String, String, String, NaiveDateTime)> = clients::table
        .order(clients::created_date_time)
        .select((
            clients::client_id,
            clients::client_name,
            clients::role,
            clients::secret_hash,
            clients::created_date_time,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(client_id, client_name, role, secret_hash, created)| ClientRow {
            client_id,
            client_name,
            role,
            secret_hash,
            created: from_naive(created),
        })
        .collect())
}

/// Which of `ids` are clients that exist.
pub fn existing_clients(c: &mut AnyConnection, ids: &[String]) -> StoreResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = clients::table
            .filter(clients::client_id.eq_any(chunk))
            .select(clients::client_id)
            .load(c)?;
        found.extend(rows);
    }
    Ok(found)
}

pub fn delete_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(clients::table.find(client_id)).execute(c)? > 0)
}

/// Returns the named server secret, creating it with `make` when absent. Safe when several instances start
/// at once: the insert of a loser fails on the primary key and it reads the winner's value.
pub fn server_secret(
    c: &mut AnyConnection,
    name: &str,
    now: DateTime<Utc>,
    make: impl FnOnce() -> String,
) -> StoreResult<String> {
    let existing: Option<String> = server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(c)
        .optional()?;
    if let Some(v) = existing {
        return Ok(v);
    }
    // Instances starting together race here: the first insert wins and everyone reads the winner's value
    // (ON CONFLICT DO NOTHING: a unique violation would abort the whole transaction on PostgreSQL).
    let value = make();
    let row = (
        server_secrets::name.eq(name),
        server_secrets::value.eq(&value),
        server_secrets::created_date_time.eq(to_naive(now)),
    );
    match c {
        AnyConnection::Postgresql(pg) => diesel::insert_into(server_secrets::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        AnyConnection::Sqlite(sq) => diesel::insert_into(server_secrets::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(sq)?,
    };
    Ok(server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(c)?)
}

/// Tells other instances on the same PostgreSQL that listed objects changed (delivered at commit).
/// SQLite has a single writer process, so there is nobody to tell.
pub fn announce_change(c: &mut AnyConnection, channel: &str) -> StoreResult<()> {
    use diesel::connection::SimpleConnection;
    if let AnyConnection::Postgresql(pg) = c {
        pg.batch_execute(&format!("NOTIFY {channel}"))?;
    }
    Ok(())
}

/// A database round trip, for `/health`.
pub fn ping(c: &mut AnyConnection) -> StoreResult<()> {
    use diesel::connection::SimpleConnection;
    c.batch_execute("SELECT 1")?;
    Ok(())
}
