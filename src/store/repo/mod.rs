//! Queries. Sync functions over [`AnyConnection`] so a service can compose several in one transaction.
//! Rows are turned into [`StoredObject`]s here; nothing above this module sees a diesel type.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use super::conn::AnyConnection;
use super::error::StoreResult;
use crate::wire::{ObjectType, StoredObject};

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
            let targets = w.distinct_targets();
            match c {
                // One fixed-shape statement per target, prepared once per connection: cheaper than
                // parsing a multi-row statement anew for every write (most objects have one or two).
                AnyConnection::Sqlite(sq) => {
                    for t in &targets {
                        diesel::insert_into($tt::table)
                            .values(($tt::$owner.eq(&w.id), $tt::target.eq(t)))
                            .execute(sq)?;
                    }
                }
                AnyConnection::Postgresql(_) if targets.is_empty() => {}
                AnyConnection::Postgresql(pg) => {
                    let rows: Vec<_> = targets
                        .iter()
                        .map(|t| ($tt::$owner.eq(&w.id), $tt::target.eq(t)))
                        .collect();
                    diesel::insert_into($tt::table).values(rows).execute(pg)?;
                }
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

/// A database round trip, for `/health`.
pub fn ping(c: &mut AnyConnection) -> StoreResult<()> {
    use diesel::connection::SimpleConnection;
    c.batch_execute("SELECT 1")?;
    Ok(())
}

mod client;
mod event;
mod program;
mod report;
mod resource;
mod subscription;
mod ven;

pub use self::client::*;
pub use self::event::*;
pub use self::program::*;
pub use self::report::*;
pub use self::resource::*;
pub use self::subscription::*;
pub use self::ven::*;
