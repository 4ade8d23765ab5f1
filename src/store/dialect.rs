//! The hot writes in one statement on PostgreSQL: a data-modifying CTE does what takes several statements
//! on the portable path, so the write costs one round trip and no explicit transaction (a single statement
//! is atomic). SQLite runs the portable statements inside its group-commit transaction, where round trips
//! cost nothing. Everything backend-specific lives here.

use diesel::RunQueryDsl;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};

use super::conn::AnyConnection;
use super::error::{StoreError, StoreResult};
use super::repo::{self, EventColumns, ObjectWrite, ReportColumns, TargetFilter, to_naive};
use crate::wire::{ObjectType, StoredObject};

const INSERT_EVENT: &str = "\
WITH event AS (
    INSERT INTO events (id, program_id, event_name, priority, body, targets, targeted, ends_at,
                        created_date_time, modification_date_time)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
    RETURNING id
), targets AS (
    INSERT INTO event_targets (event_id, target) SELECT (SELECT id FROM event), t FROM unnest($10::text[]) AS t
)
SELECT pg_notify($11, '')";

/// Inserts an event with its targets and tells other instances (PostgreSQL: one statement). Must not run
/// inside an explicit transaction with other work that could fail after it.
pub fn insert_event_announced(
    c: &mut AnyConnection,
    w: &ObjectWrite,
    e: &EventColumns,
    channel: &str,
) -> StoreResult<StoredObject> {
    match c {
        AnyConnection::Postgresql(pg) => {
            diesel::sql_query(INSERT_EVENT)
                .bind::<Text, _>(&w.id)
                .bind::<Text, _>(&e.program_id)
                .bind::<Nullable<Text>, _>(&e.event_name)
                .bind::<Nullable<BigInt>, _>(e.priority)
                .bind::<Text, _>(&w.body)
                .bind::<Nullable<Text>, _>(w.targets_json()?)
                .bind::<Bool, _>(w.targeted())
                .bind::<Nullable<Timestamp>, _>(e.ends_at.map(to_naive))
                .bind::<Timestamp, _>(to_naive(w.now))
                .bind::<Array<Text>, _>(w.distinct_targets())
                .bind::<Text, _>(channel)
                .execute(pg)?;
            Ok(w.stored(ObjectType::Event, w.now))
        }
        AnyConnection::Sqlite(_) => repo::insert_event(c, w, e),
    }
}

const INSERT_REPORT: &str = "\
INSERT INTO reports (id, event_id, client_id, client_name, report_name, body, created_date_time, modification_date_time)
SELECT $1, $2, $3, $4, $5, $6, $7, $7
WHERE EXISTS (
    SELECT 1 FROM events e WHERE e.id = $2 AND (
        $8 OR (NOT e.targeted AND $9)
        OR EXISTS (SELECT 1 FROM event_targets t WHERE t.event_id = e.id AND t.target = ANY($10::text[]))))";

/// Inserts a report if its event exists and `visible` admits it; otherwise `ForeignKey` (the event is
/// unknown to this client). PostgreSQL: one statement.
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
            let inserted = diesel::sql_query(INSERT_REPORT)
                .bind::<Text, _>(&w.id)
                .bind::<Text, _>(&r.event_id)
                .bind::<Text, _>(&r.client_id)
                .bind::<Text, _>(&r.client_name)
                .bind::<Nullable<Text>, _>(&r.report_name)
                .bind::<Text, _>(&w.body)
                .bind::<Timestamp, _>(to_naive(w.now))
                .bind::<Bool, _>(all)
                .bind::<Bool, _>(untargeted)
                .bind::<Array<Text>, _>(targets)
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
            repo::insert_report(c, w, r)
        }
    }
}
