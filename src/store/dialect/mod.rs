//! The hot writes in one statement on PostgreSQL: a data-modifying CTE does what takes several statements
//! on the portable path (an event and its targets; a report and the check that its author may see its
//! event; the changes of a commit and the notice to other instances; audit entries and their place in the
//! sealer's queue), so each costs one round trip, and the statement is prepared once per connection. SQLite
//! runs the portable statements, where round trips cost nothing. Everything backend-specific lives here.

pub mod audit;
mod objects;
mod outbox;
mod prepared;

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Text};

pub use self::objects::{EventInsert, ReportInsert, insert_event, insert_report_checked};
pub use self::outbox::{claim_due, record_changes};
use super::conn::AnyConnection;
use super::error::StoreResult;

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
    /// One audit sealer at a time, so the chain has one end.
    AuditSeal = 7_331_703,
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
