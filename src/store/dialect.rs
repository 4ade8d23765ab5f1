//! The hot writes in one statement on PostgreSQL: a data-modifying CTE does what takes several statements
//! on the portable path (the row, its targets, the outbox change when anyone subscribes to such objects), so the write costs one round trip (inside its savepoint of a group commit), and the
//! statement is prepared once per connection. SQLite runs the portable statements, where round trips cost
//! nothing. Everything backend-specific lives here.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use super::conn::AnyConnection;
use super::error::{StoreError, StoreResult};
use super::outbox::{self, Change};
use super::repo::{self, EventColumns, ObjectWrite, ReportColumns, TargetFilter, to_naive};
use crate::wire::{ObjectType, Operation, StoredObject};

/// One bind value of a [`Prepared`] statement.
enum Bind {
    Text(String),
    NullableText(Option<String>),
    NullableBigInt(Option<i64>),
    Bool(bool),
    Timestamp(NaiveDateTime),
    NullableTimestamp(Option<NaiveDateTime>),
    TextArray(Vec<String>),
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
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for Prepared {}

const INSERT_EVENT: &str = "\
WITH event AS (
    INSERT INTO events (id, program_id, event_name, priority, body, targets, targeted, ends_at,
                        created_date_time, modification_date_time)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING id
), targets AS (
    INSERT INTO event_targets (event_id, target) SELECT (SELECT id FROM event), t FROM unnest(?::text[]) AS t
), change AS (
    INSERT INTO changes (object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
                         created_date_time, modification_date_time, recorded_at)
    SELECT 'EVENT', 'CREATE', id, ?, id, NULL, ?, ?, ?, ?, ? FROM event
    WHERE ? OR EXISTS (SELECT 1 FROM subscription_objects WHERE object_type = 'EVENT')
)
SELECT pg_notify(?, '')";

/// Inserts an event with its targets, records the change in the outbox and tells other instances
/// (PostgreSQL: one statement).
pub fn insert_event_announced(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    e: &EventColumns,
    channel: &str,
) -> StoreResult<StoredObject> {
    match c {
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
                Bind::Text(e.program_id.clone()),
                Bind::Text(w.body.clone()),
                Bind::NullableText(w.targets_json()?),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Bool(outbox::records_every_change()),
                Bind::Text(channel.to_owned()),
            ];
            Prepared {
                sql: INSERT_EVENT,
                binds,
            }
            .execute(pg)?;
            Ok(w.stored(ObjectType::Event, w.now))
        }
        AnyConnection::Sqlite(_) => {
            let o = repo::insert_event(c, w, e)?;
            let change = Change {
                operation: Operation::Create,
                object: &o,
                program_id: Some(&e.program_id),
                event_id: Some(&o.id),
                owner: None,
            };
            outbox::record(c, &change, w.now)?;
            Ok(o)
        }
    }
}

const INSERT_REPORT: &str = "\
WITH report AS (
    INSERT INTO reports (id, event_id, client_id, client_name, report_name, body, created_date_time,
                         modification_date_time)
    SELECT ?, e.id, ?, ?, ?, ?, ?, ?
    FROM events e WHERE e.id = ? AND (
        ? OR (NOT e.targeted AND ?)
        OR EXISTS (SELECT 1 FROM event_targets t WHERE t.event_id = e.id AND t.target = ANY(?::text[])))
    RETURNING id, event_id
), change AS (
    INSERT INTO changes (object_type, operation, object_id, program_id, event_id, owner_client_id, body, targets,
                         created_date_time, modification_date_time, recorded_at)
    SELECT 'REPORT', 'CREATE', r.id, e.program_id, r.event_id, ?, ?, NULL, ?, ?, ?
    FROM report r JOIN events e ON e.id = r.event_id
    WHERE ? OR EXISTS (SELECT 1 FROM subscription_objects WHERE object_type = 'REPORT')
)
SELECT 1 FROM report";

/// Inserts a report if its event exists and `visible` admits it, and records the change in the outbox;
/// otherwise `ForeignKey` (the event is unknown to this client). PostgreSQL: one statement.
pub fn insert_report_checked(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    r: &ReportColumns,
    visible: &TargetFilter,
    not_visible: &str,
) -> StoreResult<StoredObject> {
    match c {
        AnyConnection::Postgresql(pg) => {
            let (all, untargeted, targets) = match visible {
                TargetFilter::All => (true, true, Vec::new()),
                TargetFilter::UntargetedOr(t) => (false, true, t.clone()),
                TargetFilter::AnyOf(t) => (false, false, t.clone()),
            };
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
                Bind::TextArray(targets),
                Bind::Text(r.client_id.clone()),
                Bind::Text(w.body.clone()),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Timestamp(to_naive(w.now)),
                Bind::Bool(outbox::records_every_change()),
            ];
            let inserted = Prepared {
                sql: INSERT_REPORT,
                binds,
            }
            .execute(pg)?;
            if inserted == 0 {
                return Err(StoreError::ForeignKey(not_visible.to_owned()));
            }
            Ok(w.stored(ObjectType::Report, w.now))
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
            let program = repo::event_program(c, &r.event_id)?;
            let change = Change {
                operation: Operation::Create,
                object: &o,
                program_id: Some(&program),
                event_id: Some(&r.event_id),
                owner: Some(&r.client_id),
            };
            outbox::record(c, &change, w.now)?;
            Ok(o)
        }
    }
}
