//! The audit log's rows: entries appended in a change's transaction, sealed into the hash chain after
//! commit, read back in chain order to verify and filtered to list. What an entry says and how the chain
//! is computed is `service::audit`'s.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::insert_many;
use super::error::StoreResult;
use super::repo::{from_naive, to_naive};
use super::schema::audit_log;

/// An entry as written, before the sealer gives it its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub source: Option<String>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub before_digest: Option<String>,
    pub after_digest: Option<String>,
    pub changed_fields: Option<String>,
    pub request_id: Option<String>,
}

/// An entry as stored: `position` and `hash` are `None` until it is sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub id: i64,
    pub entry: NewEntry,
    pub position: Option<i64>,
    pub hash: Option<String>,
}

/// An entry's row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct Stored {
    id: i64,
    at: NaiveDateTime,
    actor: String,
    actor_role: String,
    source: Option<String>,
    action: String,
    object_type: Option<String>,
    object_id: Option<String>,
    before_digest: Option<String>,
    after_digest: Option<String>,
    changed_fields: Option<String>,
    request_id: Option<String>,
    position: Option<i64>,
    hash: Option<String>,
}

impl From<Stored> for EntryRow {
    fn from(r: Stored) -> Self {
        EntryRow {
            id: r.id,
            entry: NewEntry {
                at: from_naive(r.at),
                actor: r.actor,
                actor_role: r.actor_role,
                source: r.source,
                action: r.action,
                object_type: r.object_type,
                object_id: r.object_id,
                before_digest: r.before_digest,
                after_digest: r.after_digest,
                changed_fields: r.changed_fields,
                request_id: r.request_id,
            },
            position: r.position,
            hash: r.hash,
        }
    }
}

/// Appends entries (one statement).
pub fn insert(c: &mut AnyConnection, entries: &[NewEntry]) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                audit_log::at.eq(to_naive(e.at)),
                audit_log::actor.eq(&e.actor),
                audit_log::actor_role.eq(&e.actor_role),
                audit_log::source.eq(&e.source),
                audit_log::action.eq(&e.action),
                audit_log::object_type.eq(&e.object_type),
                audit_log::object_id.eq(&e.object_id),
                audit_log::before_digest.eq(&e.before_digest),
                audit_log::after_digest.eq(&e.after_digest),
                audit_log::changed_fields.eq(&e.changed_fields),
                audit_log::request_id.eq(&e.request_id),
            )
        })
        .collect();
    insert_many!(c, audit_log::table, &rows)?;
    Ok(())
}

/// The digest of `object_type` `object_id` after its last audited change, if it has one.
pub fn last_digest(c: &mut AnyConnection, object_type: &str, object_id: &str) -> StoreResult<Option<String>> {
    Ok(audit_log::table
        .filter(audit_log::object_type.eq(object_type))
        .filter(audit_log::object_id.eq(object_id))
        .order(audit_log::id.desc())
        .select(audit_log::after_digest)
        .first::<Option<String>>(c)
        .optional()?
        .flatten())
}

/// The end of the chain: the last sealed entry's position and hash.
pub fn head(c: &mut AnyConnection) -> StoreResult<Option<(i64, String)>> {
    let row: Option<(Option<i64>, Option<String>)> = audit_log::table
        .filter(audit_log::position.is_not_null())
        .order(audit_log::position.desc())
        .select((audit_log::position, audit_log::hash))
        .first(c)
        .optional()?;
    Ok(row.and_then(|(p, h)| Some((p?, h.unwrap_or_default()))))
}

/// Up to `limit` entries not sealed yet, in the order they were written.
pub fn unsealed(c: &mut AnyConnection, limit: i64) -> StoreResult<Vec<EntryRow>> {
    let rows: Vec<Stored> = audit_log::table
        .filter(audit_log::position.is_null())
        .order(audit_log::id)
        .limit(limit)
        .select(Stored::as_select())
        .load(c)?;
    Ok(rows.into_iter().map(EntryRow::from).collect())
}

/// How many entries wait for the sealer.
pub fn unsealed_count(c: &mut AnyConnection) -> StoreResult<i64> {
    Ok(audit_log::table
        .filter(audit_log::position.is_null())
        .count()
        .get_result(c)?)
}

/// Gives entry `id` its place in the chain.
pub fn seal(c: &mut AnyConnection, id: i64, position: i64, hash: &str) -> StoreResult<()> {
    diesel::update(audit_log::table.find(id))
        .set((audit_log::position.eq(position), audit_log::hash.eq(hash)))
        .execute(c)?;
    Ok(())
}

/// Up to `limit` sealed entries after chain position `after`, in chain order.
pub fn chain(c: &mut AnyConnection, after: i64, limit: i64) -> StoreResult<Vec<EntryRow>> {
    let rows: Vec<Stored> = audit_log::table
        .filter(audit_log::position.gt(after))
        .order(audit_log::position)
        .limit(limit)
        .select(Stored::as_select())
        .load(c)?;
    Ok(rows.into_iter().map(EntryRow::from).collect())
}

/// Which entries a listing asks for (every field optional).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Entries matching `filter`, oldest first, `skip` and `limit` as every list of the API.
pub fn list(c: &mut AnyConnection, filter: &Filter, skip: i64, limit: i64) -> StoreResult<Vec<EntryRow>> {
    let mut q = audit_log::table.select(Stored::as_select()).into_boxed();
    if let Some(a) = &filter.actor {
        q = q.filter(audit_log::actor.eq(a.clone()));
    }
    if let Some(t) = &filter.object_type {
        q = q.filter(audit_log::object_type.eq(t.clone()));
    }
    if let Some(i) = &filter.object_id {
        q = q.filter(audit_log::object_id.eq(i.clone()));
    }
    if let Some(a) = &filter.action {
        q = q.filter(audit_log::action.eq(a.clone()));
    }
    if let Some(f) = filter.from {
        q = q.filter(audit_log::at.ge(to_naive(f)));
    }
    if let Some(u) = filter.until {
        q = q.filter(audit_log::at.lt(to_naive(u)));
    }
    let rows: Vec<Stored> = q.order(audit_log::id).offset(skip).limit(limit).load(c)?;
    Ok(rows.into_iter().map(EntryRow::from).collect())
}
