//! The hot object writes in one statement on PostgreSQL: an event with its targets, and a report with
//! the check that its author may see its event (batched: a whole group commit's in one statement).

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::sql_types::Text;
use diesel::{OptionalExtension, RunQueryDsl};

use super::prepared::{Bind, Prepared};
use crate::privacy::{TargetFilter, admits_sql};
use crate::store::conn::{AnyConnection, Batchable, one_by_one};
use crate::store::error::{StoreError, StoreResult};
use crate::store::outbox::Change;
use crate::store::repo::{self, EventColumns, ObjectWrite, ReportColumns, to_naive};
use crate::wire::{ObjectType, Operation, StoredObject};

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
            return Ok(one_by_one(c, items));
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
            return Ok(one_by_one(c, items));
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
