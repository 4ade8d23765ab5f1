//! The hot writes in one statement on PostgreSQL: a data-modifying CTE does what takes several statements
//! on the portable path (an event and its targets; a report and the check that its author may see its
//! event; the changes of a commit and the notice to other instances), so each costs one round trip, and
//! the statement is prepared once per connection. SQLite runs the portable statements, where round trips cost
//! nothing. Everything backend-specific lives here.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::{OptionalExtension, QueryResult, RunQueryDsl};

use super::conn::{AnyConnection, Batchable};
use super::error::{StoreError, StoreResult};
use super::outbox::{self, Change, ChangeRecord, Claimed};
use super::repo::{self, EventColumns, ObjectWrite, ReportColumns, to_naive};
use super::schema::changes;
use crate::privacy::{TargetFilter, admits_sql};
use crate::wire::{ObjectType, Operation, StoredObject};

/// A multi-row INSERT of `$rows` (anything diesel inserts) as one statement; `QueryResult<usize>`.
/// Diesel's multi-backend connection has no batch insert, so each backend gets its own (identical)
/// statement — written once, here. Callers keep each statement under SQLite's 32,766 bind values.
macro_rules! insert_many {
    ($c:expr, $table:expr, $rows:expr) => {
        match $c {
            $crate::store::AnyConnection::Postgresql(pg) => {
                diesel::RunQueryDsl::execute(diesel::insert_into($table).values($rows), pg)
            }
            $crate::store::AnyConnection::Sqlite(sq) => {
                diesel::RunQueryDsl::execute(diesel::insert_into($table).values($rows), sq)
            }
        }
    };
}

/// [`insert_many!`] keeping the rows that exist: `ON CONFLICT DO NOTHING` on PostgreSQL (a unique
/// violation would abort the whole transaction there), `INSERT OR IGNORE` on SQLite.
macro_rules! insert_many_or_ignore {
    ($c:expr, $table:expr, $rows:expr) => {
        match $c {
            $crate::store::AnyConnection::Postgresql(pg) => {
                diesel::RunQueryDsl::execute(diesel::insert_into($table).values($rows).on_conflict_do_nothing(), pg)
            }
            $crate::store::AnyConnection::Sqlite(sq) => {
                diesel::RunQueryDsl::execute(diesel::insert_or_ignore_into($table).values($rows), sq)
            }
        }
    };
}

pub(crate) use {insert_many, insert_many_or_ignore};

/// The advisory locks Sluice takes on PostgreSQL, each with its one id. SQLite has a single writer and
/// needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockId {
    /// Instances starting together migrate one at a time (held for the session).
    Migrations = 7_331_700,
    /// One fan-out at a time, so the notifications of one object are made in change order.
    Fanout = 7_331_701,
    /// Dispatch planning, so two dispatches never pick the same megawatts.
    Dispatching = 7_331_702,
}

/// Takes `lock` until the transaction ends, waiting for it.
pub fn lock(c: &mut AnyConnection, lock: LockId) -> StoreResult<()> {
    if let AnyConnection::Postgresql(pg) = c {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(lock as i64)
            .execute(pg)?;
    }
    Ok(())
}

/// Takes `lock` until the transaction ends if no one holds it; whether it was taken.
pub fn try_lock(c: &mut AnyConnection, lock: LockId) -> StoreResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    match c {
        AnyConnection::Postgresql(pg) => {
            let r: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<BigInt, _>(lock as i64)
                .get_result(pg)?;
            Ok(r.locked)
        }
        AnyConnection::Sqlite(_) => Ok(true),
    }
}

/// Runs `f` holding `lock` for the session (outside any transaction: migrations).
pub fn with_session_lock<T>(
    c: &mut diesel::PgConnection,
    lock: LockId,
    f: impl FnOnce(&mut diesel::PgConnection) -> T,
) -> StoreResult<T> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(lock as i64)
        .execute(c)?;
    let r = f(c);
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(lock as i64)
        .execute(c)?;
    Ok(r)
}

/// Holds a site's row until the transaction ends, so that two enrollments of one site are checked against
/// each other one at a time (PostgreSQL: `FOR UPDATE`).
pub fn lock_site(c: &mut AnyConnection, id: &str) -> StoreResult<()> {
    if let AnyConnection::Postgresql(pg) = c {
        diesel::sql_query("SELECT id FROM sites WHERE id = $1 FOR UPDATE")
            .bind::<Text, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// A PostgreSQL connection listening on one `NOTIFY` channel.
pub struct Listener(diesel::PgConnection);

impl Listener {
    /// A new connection listening on `channel`; `None` when the database cannot be reached.
    pub fn connect(url: &str, channel: &str) -> Option<Self> {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut c = diesel::PgConnection::establish(url).ok()?;
        c.batch_execute(&format!("LISTEN {channel}")).ok()?;
        Some(Self(c))
    }

    /// Whether a notice arrived since the last call (a cheap query fetches them); `None` when the
    /// connection is lost.
    pub fn heard(&mut self) -> Option<bool> {
        use diesel::connection::SimpleConnection;
        self.0.batch_execute("SELECT 1").ok()?;
        let mut heard = false;
        for n in self.0.notifications_iter() {
            match n {
                Ok(_) => heard = true,
                Err(_) => break,
            }
        }
        Some(heard)
    }
}

/// One bind value of a [`Prepared`] statement.
enum Bind {
    Text(String),
    NullableText(Option<String>),
    NullableBigInt(Option<i64>),
    Bool(bool),
    Timestamp(NaiveDateTime),
    NullableTimestamp(Option<NaiveDateTime>),
    TextArray(Vec<String>),
    NullableTextArray(Vec<Option<String>>),
    BoolArray(Vec<bool>),
    IntArray(Vec<i32>),
    NullableBigIntArray(Vec<Option<i64>>),
    TimestampArray(Vec<NaiveDateTime>),
    NullableTimestampArray(Vec<Option<NaiveDateTime>>),
}

/// Static SQL with `?` placeholders filled in order from `binds`. Unlike `sql_query`, diesel may keep it as
/// a prepared statement per connection (keyed by its SQL), so PostgreSQL parses and plans it once.
struct Prepared {
    sql: &'static str,
    binds: Vec<Bind>,
}

impl QueryId for Prepared {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Prepared {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (bind, part) in self.binds.iter().zip(parts) {
            match bind {
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::NullableText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Bind::NullableBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Bind::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Bind::Timestamp(v) => out.push_bind_param::<Timestamp, _>(v)?,
                Bind::NullableTimestamp(v) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
                Bind::TextArray(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                Bind::NullableTextArray(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(v)?,
                Bind::BoolArray(v) => out.push_bind_param::<Array<Bool>, _>(v)?,
                Bind::IntArray(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
                Bind::NullableBigIntArray(v) => out.push_bind_param::<Array<Nullable<BigInt>>, _>(v)?,
                Bind::TimestampArray(v) => out.push_bind_param::<Array<Timestamp>, _>(v)?,
                Bind::NullableTimestampArray(v) => out.push_bind_param::<Array<Nullable<Timestamp>>, _>(v)?,
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for Prepared {}

/// Rows are read by column name ([`diesel::QueryableByName`]).
impl diesel::query_builder::Query for Prepared {
    type SqlType = diesel::sql_types::Untyped;
}

#[derive(diesel::QueryableByName)]
struct InsertedReport {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    program_id: String,
}

const INSERT_EVENT: &str = "\
WITH event AS (
    INSERT INTO events (id, program_id, event_name, priority, body, targets, targeted, ends_at,
                        created_date_time, modification_date_time)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING id
)
INSERT INTO event_targets (event_id, target) SELECT (SELECT id FROM event), t FROM unnest(?::text[]) AS t";

/// Inserts an event with its targets (PostgreSQL: one statement). The change it makes is returned for
/// the commit to record.
pub fn insert_event(c: &mut AnyConnection, w: &ObjectWrite, e: &EventColumns) -> StoreResult<Change> {
    let object = match c {
        AnyConnection::Postgresql(pg) => {
            let binds = vec![
                Bind::Text(w.id.clone()),
                Bind::Text(e.program_id.clone()),
                Bind::NullableText(e.event_name.clone()),
                Bind::NullableBigInt(e.priority),
                Bind::Text(w.body.clone()),
                Bind::NullableText(w.targets_json()?),
                Bind::Bool(w.targeted()),
                Bind::NullableTimestamp(e.ends_at.map(to_naive)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::TextArray(w.distinct_targets()),
            ];
            Prepared {
                sql: INSERT_EVENT,
                binds,
            }
            .execute(pg)?;
            w.stored(ObjectType::Event, w.now)
        }
        AnyConnection::Sqlite(_) => repo::insert_event(c, w, e)?,
    };
    Ok(Change {
        operation: Operation::Create,
        program_id: Some(e.program_id.clone()),
        event_id: Some(object.id.clone()),
        owner: None,
        object,
    })
}

/// A new event: [`insert_event`], and on PostgreSQL all those queued together in one statement.
pub struct EventInsert {
    pub write: ObjectWrite,
    pub columns: EventColumns,
}

impl Batchable for EventInsert {
    type Output = Change;

    fn run_one(&mut self, c: &mut AnyConnection) -> StoreResult<Change> {
        insert_event(c, &self.write, &self.columns)
    }

    fn run_many(c: &mut AnyConnection, items: &mut [&mut Self]) -> StoreResult<Vec<StoreResult<Change>>> {
        let AnyConnection::Postgresql(pg) = c else {
            return Ok(items.iter_mut().map(|i| i.run_one(c)).collect());
        };
        let n = items.len();
        let mut id = Vec::with_capacity(n);
        let mut program_id = Vec::with_capacity(n);
        let mut event_name = Vec::with_capacity(n);
        let mut priority = Vec::with_capacity(n);
        let mut body = Vec::with_capacity(n);
        let mut targets = Vec::with_capacity(n);
        let mut targeted = Vec::with_capacity(n);
        let mut ends_at = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        let (mut target_event, mut target) = (Vec::new(), Vec::new());
        for item in items.iter() {
            let (w, e) = (&item.write, &item.columns);
            id.push(w.id.clone());
            program_id.push(e.program_id.clone());
            event_name.push(e.event_name.clone());
            priority.push(e.priority);
            body.push(w.body.clone());
            targets.push(w.targets_json()?);
            targeted.push(w.targeted());
            ends_at.push(e.ends_at.map(to_naive));
            at.push(to_naive(w.now));
            for t in w.distinct_targets() {
                target_event.push(w.id.clone());
                target.push(t);
            }
        }
        Prepared {
            sql: INSERT_EVENTS,
            binds: vec![
                Bind::TextArray(id),
                Bind::TextArray(program_id),
                Bind::NullableTextArray(event_name),
                Bind::NullableBigIntArray(priority),
                Bind::TextArray(body),
                Bind::NullableTextArray(targets),
                Bind::BoolArray(targeted),
                Bind::NullableTimestampArray(ends_at),
                Bind::TimestampArray(at),
                Bind::TextArray(target_event),
                Bind::TextArray(target),
            ],
        }
        .execute(pg)?;
        Ok(items
            .iter()
            .map(|i| {
                let object = i.write.stored(ObjectType::Event, i.write.now);
                Ok(Change {
                    operation: Operation::Create,
                    program_id: Some(i.columns.program_id.clone()),
                    event_id: Some(object.id.clone()),
                    owner: None,
                    object,
                })
            })
            .collect())
    }
}

/// [`INSERT_EVENT`] for many events. A missing program fails the whole statement, and the batch then runs
/// one event at a time.
const INSERT_EVENTS: &str = "\
WITH input AS (
    SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::bool[],
                         ?::timestamp[], ?::timestamp[])
        AS i(id, program_id, event_name, priority, body, targets, targeted, ends_at, at)
), event AS (
    INSERT INTO events (id, program_id, event_name, priority, body, targets, targeted, ends_at,
                        created_date_time, modification_date_time)
    SELECT id, program_id, event_name, priority, body, targets, targeted, ends_at, at, at FROM input
)
INSERT INTO event_targets (event_id, target) SELECT * FROM unnest(?::text[], ?::text[])";

static INSERT_REPORT: LazyLock<String> = LazyLock::new(|| {
    let visible = admits_sql(
        "e",
        "event_targets",
        "event_id",
        "?",
        "?",
        "",
        "t.target = ANY(?::text[])",
    );
    format!(
        "\
WITH report AS (
    INSERT INTO reports (id, event_id, client_id, client_name, report_name, body, created_date_time,
                         modification_date_time)
    SELECT ?, e.id, ?, ?, ?, ?, ?, ?
    FROM events e WHERE e.id = ? AND {visible}
    RETURNING id, event_id
)
SELECT r.id, e.program_id FROM report r JOIN events e ON e.id = r.event_id"
    )
});

/// Inserts a report if its event exists and `visible` admits it, and records the change in the outbox;
/// otherwise `ForeignKey` (the event is unknown to this client). PostgreSQL: one statement.
pub fn insert_report_checked(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    r: &ReportColumns,
    visible: &TargetFilter,
    not_visible: &str,
) -> StoreResult<Change> {
    let (object, program) = match c {
        AnyConnection::Postgresql(pg) => {
            let (all, untargeted, targets) = visible.sql_binds();
            let binds = vec![
                Bind::Text(w.id.clone()),
                Bind::Text(r.client_id.clone()),
                Bind::Text(r.client_name.clone()),
                Bind::NullableText(r.report_name.clone()),
                Bind::Text(w.body.clone()),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Text(r.event_id.clone()),
                Bind::Bool(all),
                Bind::Bool(untargeted),
                Bind::TextArray(targets.to_vec()),
            ];
            let program: Option<InsertedReport> = Prepared {
                sql: INSERT_REPORT.as_str(),
                binds,
            }
            .get_result(pg)
            .optional()?;
            let Some(program) = program else {
                return Err(StoreError::ForeignKey(not_visible.to_owned()));
            };
            (w.stored(ObjectType::Report, w.now), program.program_id)
        }
        AnyConnection::Sqlite(_) => {
            let targets = match repo::event_targets_of(c, &r.event_id) {
                Err(StoreError::NotFound) => return Err(StoreError::ForeignKey(not_visible.to_owned())),
                other => other?,
            };
            if !visible.admits(targets.as_deref()) {
                return Err(StoreError::ForeignKey(not_visible.to_owned()));
            }
            let o = repo::insert_report(c, w, r)?;
            (o, repo::event_program(c, &r.event_id)?)
        }
    };
    Ok(report_created(object, program, r))
}

fn report_created(object: StoredObject, program: String, r: &ReportColumns) -> Change {
    Change {
        operation: Operation::Create,
        object,
        program_id: Some(program),
        event_id: Some(r.event_id.clone()),
        owner: Some(r.client_id.clone()),
    }
}

/// A VEN's new report, checked against what the VEN may see: [`insert_report_checked`], and on PostgreSQL
/// all those queued together in one statement. `then` runs after the insert in the same transaction (a
/// site's telemetry), given the report's id.
pub struct ReportInsert {
    pub write: ObjectWrite,
    pub columns: ReportColumns,
    pub visible: TargetFilter,
    pub not_visible: &'static str,
    #[allow(clippy::type_complexity)]
    pub then: Option<Box<dyn Fn(&mut AnyConnection, &str) -> StoreResult<()> + Send>>,
}

impl Batchable for ReportInsert {
    type Output = Change;

    fn run_one(&mut self, c: &mut AnyConnection) -> StoreResult<Change> {
        let change = insert_report_checked(c, &self.write, &self.columns, &self.visible, self.not_visible)?;
        if let Some(then) = &self.then {
            then(c, &change.object.id)?;
        }
        Ok(change)
    }

    fn run_many(c: &mut AnyConnection, items: &mut [&mut Self]) -> StoreResult<Vec<StoreResult<Change>>> {
        let AnyConnection::Postgresql(pg) = c else {
            return Ok(items.iter_mut().map(|i| i.run_one(c)).collect());
        };
        let n = items.len();
        let mut cols = ReportArrays::with_capacity(n);
        for (ord, item) in items.iter().enumerate() {
            cols.push(ord, item)?;
        }
        let inserted: Vec<InsertedReport> = Prepared {
            sql: INSERT_REPORTS.as_str(),
            binds: cols.into_binds(),
        }
        .load(pg)?;
        let mut programs: std::collections::HashMap<String, String> =
            inserted.into_iter().map(|r| (r.id, r.program_id)).collect();
        let mut out = Vec::with_capacity(n);
        for item in items.iter() {
            let Some(program) = programs.remove(&item.write.id) else {
                out.push(Err(StoreError::ForeignKey(item.not_visible.to_owned())));
                continue;
            };
            if let Some(then) = &item.then {
                // An error here is the whole batch's: it runs again one report at a time.
                then(c, &item.write.id)?;
            }
            let object = item.write.stored(ObjectType::Report, item.write.now);
            out.push(Ok(report_created(object, program, &item.columns)));
        }
        Ok(out)
    }
}

/// [`INSERT_REPORT`] for many reports: one row of `input` per report, its reader's granted targets in
/// `grants` by ordinal. Reports whose event the reader may not see are left out of `RETURNING`.
static INSERT_REPORTS: LazyLock<String> = LazyLock::new(|| {
    let visible = admits_sql(
        "e",
        "event_targets",
        "event_id",
        "i.see_all",
        "i.see_untargeted",
        "JOIN grants g ON g.target = t.target",
        "g.ord = i.ord",
    );
    format!(
        "\
WITH input AS (
    SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamp[],
                         ?::bool[], ?::bool[], ?::int[])
        AS i(id, event_id, client_id, client_name, report_name, body, at, see_all, see_untargeted, ord)
), grants AS (
    SELECT * FROM unnest(?::int[], ?::text[]) AS g(ord, target)
), report AS (
    INSERT INTO reports (id, event_id, client_id, client_name, report_name, body, created_date_time,
                         modification_date_time)
    SELECT i.id, e.id, i.client_id, i.client_name, i.report_name, i.body, i.at, i.at
    FROM input i
    -- LIMIT keeps each event a primary-key lookup: a join would hash the whole events table per batch.
    CROSS JOIN LATERAL (SELECT id, targeted FROM events WHERE id = i.event_id LIMIT 1) e
    WHERE {visible}
    RETURNING id, event_id
)
SELECT r.id, e.program_id
FROM report r CROSS JOIN LATERAL (SELECT program_id FROM events WHERE id = r.event_id LIMIT 1) e"
    )
});

/// The columns of [`INSERT_REPORTS`], one entry per report.
struct ReportArrays {
    id: Vec<String>,
    event_id: Vec<String>,
    client_id: Vec<String>,
    client_name: Vec<String>,
    report_name: Vec<Option<String>>,
    body: Vec<String>,
    at: Vec<NaiveDateTime>,
    see_all: Vec<bool>,
    see_untargeted: Vec<bool>,
    ord: Vec<i32>,
    grant_ord: Vec<i32>,
    grant_target: Vec<String>,
}

impl ReportArrays {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            event_id: Vec::with_capacity(n),
            client_id: Vec::with_capacity(n),
            client_name: Vec::with_capacity(n),
            report_name: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            see_all: Vec::with_capacity(n),
            see_untargeted: Vec::with_capacity(n),
            ord: Vec::with_capacity(n),
            grant_ord: Vec::new(),
            grant_target: Vec::new(),
        }
    }

    fn push(&mut self, ord: usize, r: &ReportInsert) -> StoreResult<()> {
        let ord = i32::try_from(ord).map_err(|_| StoreError::Unavailable("batch too large".into()))?;
        let (all, untargeted, targets) = r.visible.sql_binds();
        self.id.push(r.write.id.clone());
        self.event_id.push(r.columns.event_id.clone());
        self.client_id.push(r.columns.client_id.clone());
        self.client_name.push(r.columns.client_name.clone());
        self.report_name.push(r.columns.report_name.clone());
        self.body.push(r.write.body.clone());
        self.at.push(to_naive(r.write.now));
        self.see_all.push(all);
        self.see_untargeted.push(untargeted);
        self.ord.push(ord);
        for t in targets {
            self.grant_ord.push(ord);
            self.grant_target.push(t.clone());
        }
        Ok(())
    }

    fn into_binds(self) -> Vec<Bind> {
        vec![
            Bind::TextArray(self.id),
            Bind::TextArray(self.event_id),
            Bind::TextArray(self.client_id),
            Bind::TextArray(self.client_name),
            Bind::NullableTextArray(self.report_name),
            Bind::TextArray(self.body),
            Bind::TimestampArray(self.at),
            Bind::BoolArray(self.see_all),
            Bind::BoolArray(self.see_untargeted),
            Bind::IntArray(self.ord),
            Bind::IntArray(self.grant_ord),
            Bind::TextArray(self.grant_target),
        ]
    }
}

/// The changes of one commit, recorded in its transaction for the objects someone subscribes to (or all,
/// with MQTT), and, when `announce` names a channel, the notice to other instances that listed objects
/// changed (PostgreSQL `NOTIFY`, delivered at commit; SQLite has one writer process and nobody to tell).
/// PostgreSQL: one statement, whatever the number of changes.
pub fn record_changes(c: &mut AnyConnection, changes: Vec<Change>, announce: Option<&str>) -> StoreResult<()> {
    if changes.is_empty() && announce.is_none() {
        return Ok(());
    }
    let records = changes
        .into_iter()
        .map(ChangeRecord::new)
        .collect::<StoreResult<Vec<_>>>()?;
    match c {
        AnyConnection::Postgresql(pg) => {
            let mut cols = ChangeArrays::default();
            for r in records {
                cols.push(r);
            }
            let mut binds = cols.into_binds();
            binds.push(Bind::Bool(outbox::records_every_change()));
            binds.push(Bind::Text(announce.unwrap_or_default().to_owned()));
            binds.push(Bind::Bool(announce.is_some()));
            Prepared {
                sql: RECORD_CHANGES,
                binds,
            }
            .execute(pg)?;
        }
        AnyConnection::Sqlite(_) => {
            let mut kinds: Vec<(&str, bool)> = Vec::new();
            let mut kept = Vec::with_capacity(records.len());
            for r in records {
                let wanted = match kinds.iter().find(|(k, _)| *k == r.object_type) {
                    Some((_, w)) => *w,
                    None => {
                        let w = outbox::subscribed(c, r.object_type)?;
                        kinds.push((r.object_type, w));
                        w
                    }
                };
                if wanted {
                    kept.push(r);
                }
            }
            // Bounded statements: SQLite allows at most 32,766 bind values per statement.
            for chunk in kept.chunks(500) {
                insert_many!(c, changes::table, chunk)?;
            }
        }
    }
    Ok(())
}

/// [`record_changes`] on PostgreSQL. Rows keep the order of the commit's changes (their `seq` order).
const RECORD_CHANGES: &str = "\
WITH change AS (
    INSERT INTO changes (object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
                         created_date_time, modification_date_time, recorded_at)
    SELECT object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
           created_date_time, modification_date_time, recorded_at
    FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
                ?::timestamp[], ?::timestamp[], ?::timestamp[])
        WITH ORDINALITY AS i(object_type, operation, object_id, program_id, event_id, owner_client_id, body,
                             targets, created_date_time, modification_date_time, recorded_at, n)
    WHERE ? OR EXISTS (SELECT 1 FROM subscription_objects s WHERE s.object_type = i.object_type)
    ORDER BY n
)
SELECT pg_notify(?, '') WHERE ?";

/// The columns of [`RECORD_CHANGES`], one entry per change.
#[derive(Default)]
struct ChangeArrays {
    object_type: Vec<String>,
    operation: Vec<String>,
    object_id: Vec<String>,
    program_id: Vec<Option<String>>,
    event_id: Vec<Option<String>>,
    owner: Vec<Option<String>>,
    body: Vec<String>,
    targets: Vec<Option<String>>,
    created: Vec<NaiveDateTime>,
    modified: Vec<NaiveDateTime>,
    recorded_at: Vec<NaiveDateTime>,
}

impl ChangeArrays {
    fn push(&mut self, r: ChangeRecord) {
        self.object_type.push(r.object_type.to_owned());
        self.operation.push(r.operation.to_owned());
        self.object_id.push(r.object_id);
        self.program_id.push(r.program_id);
        self.event_id.push(r.event_id);
        self.owner.push(r.owner_client_id);
        self.body.push(r.body);
        self.targets.push(r.targets);
        self.created.push(r.created_date_time);
        self.modified.push(r.modification_date_time);
        self.recorded_at.push(r.recorded_at);
    }

    fn into_binds(self) -> Vec<Bind> {
        vec![
            Bind::TextArray(self.object_type),
            Bind::TextArray(self.operation),
            Bind::TextArray(self.object_id),
            Bind::NullableTextArray(self.program_id),
            Bind::NullableTextArray(self.event_id),
            Bind::NullableTextArray(self.owner),
            Bind::TextArray(self.body),
            Bind::NullableTextArray(self.targets),
            Bind::TimestampArray(self.created),
            Bind::TimestampArray(self.modified),
            Bind::TimestampArray(self.recorded_at),
        ]
    }
}

/// Due notifications whose earlier notifications for the same (subscription, object) are settled, oldest
/// change first; each gets `owner`'s lease until `lease_until` and one more attempt. PostgreSQL skips rows
/// another instance is claiming at the same moment.
const CLAIM: &str = "\
UPDATE notifications SET attempts = attempts + 1, lease_owner = ?, lease_until = ?,
    first_attempt_at = COALESCE(first_attempt_at, ?)
WHERE id IN (
    SELECT n.id FROM notifications n
    WHERE n.state = 'pending' AND n.channel = ? AND NOT_BUSY AND n.next_attempt_at <= ?
      AND (n.lease_until IS NULL OR n.lease_until < ?)
      AND NOT EXISTS (
          SELECT 1 FROM notifications p
          WHERE p.subscription_id = n.subscription_id AND p.object_id = n.object_id
            AND p.state = 'pending' AND p.change_seq < n.change_seq)
    ORDER BY n.change_seq, n.id
    LIMIT ? LOCKING)
RETURNING id, change_seq, callback_url, bearer_token, payload, attempts, channel, client_id";

/// Separates the client ids of [`claim_due`]'s `busy` list (no client id holds it).
const SEP: char = '\u{1f}';

/// Claims due notifications (see [`CLAIM`]), none of them for the clients in `busy` (those with all
/// their share of deliveries in flight: their rows wait, and other clients' are taken instead).
#[allow(clippy::too_many_arguments)]
pub fn claim_due(
    c: &mut AnyConnection,
    owner: &str,
    channel: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    busy: &[String],
) -> StoreResult<Vec<Claimed>> {
    let now = to_naive(now);
    let lease_until = to_naive(lease_until);
    let busy: String = if busy.is_empty() {
        String::new()
    } else {
        let mut s = String::from(SEP);
        for b in busy {
            s.push_str(b);
            s.push(SEP);
        }
        s
    };
    macro_rules! run {
        ($conn:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<Text, _>(owner)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(channel)
                .bind::<Text, _>(&busy)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<Claimed>($conn)?
        };
    }
    let mut rows = match c {
        AnyConnection::Postgresql(pg) => run!(
            pg,
            numbered(
                &CLAIM
                    .replace("LOCKING", "FOR UPDATE OF n SKIP LOCKED")
                    .replace("NOT_BUSY", "strpos(?, chr(31) || n.client_id || chr(31)) = 0")
            )
        ),
        AnyConnection::Sqlite(sq) => run!(
            sq,
            CLAIM
                .replace("LOCKING", "")
                .replace("NOT_BUSY", "instr(?, char(31) || n.client_id || char(31)) = 0")
        ),
    };
    rows.sort_by(|a, b| (a.change_seq, &a.id).cmp(&(b.change_seq, &b.id)));
    Ok(rows)
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b < ?"), "a = $1 AND b < $2");
    }
}
