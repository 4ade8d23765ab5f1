//! The audit log's rows: entries appended in a change's transaction, sealed into the hash chain after
//! commit (one seal row per sealer pass), read back in chain order to verify and filtered to list. What
//! an entry says and how the chain is computed is `service::audit`'s.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::insert_many;
use super::error::StoreResult;
use super::repo::{from_naive, to_naive};
use super::schema::{audit_log, audit_seals, audit_unsealed};

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

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub id: i64,
    pub entry: NewEntry,
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
        }
    }
}

/// Appends entries: on PostgreSQL one statement, which also queues them for the sealer; on SQLite one
/// statement per entry (of fixed shape, prepared once per connection, which costs less than parsing a
/// multi-row statement anew each time).
pub fn insert(c: &mut AnyConnection, entries: &[NewEntry]) -> StoreResult<()> {
    match c {
        _ if entries.is_empty() => Ok(()),
        AnyConnection::Postgresql(pg) => super::dialect::audit::append(pg, entries),
        AnyConnection::Sqlite(sq) => {
            for e in entries {
                diesel::insert_into(audit_log::table)
                    .values((
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
                    ))
                    .execute(sq)?;
            }
            Ok(())
        }
    }
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

/// One seal: the entries a sealer pass chained, in chain order, with their chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_seals)]
pub struct SealRow {
    /// Seals are numbered 1, 2, … in chain order.
    pub seal: i64,
    /// The chain position of the first entry listed.
    pub first_position: i64,
    /// The highest entry id listed.
    pub last_id: i64,
    /// The entry ids in chain order, as runs (`7-9,12,10-11`; see [`runs`]).
    pub ids: String,
    /// Per entry, the first [`HASH_PREFIX`] hex digits of its chain hash, concatenated.
    pub hashes: String,
    /// The full chain hash after the last entry listed.
    pub hash: String,
    pub sealed_at: NaiveDateTime,
}

/// Hex digits of each entry's chain hash a seal keeps: enough to name the first entry that does not
/// match (64 bits cannot be matched by a crafted edit); the seal's full hash detects any change.
pub const HASH_PREFIX: usize = 16;

impl SealRow {
    /// The entries listed, as (id, hash prefix); `None` when the seal is not well formed.
    pub fn listed(&self) -> Option<Vec<(i64, &str)>> {
        let ids = expand(&self.ids)?;
        if self.hashes.len() != ids.len() * HASH_PREFIX || !self.hashes.is_ascii() {
            return None;
        }
        let prefixes = (0..ids.len()).map(|i| &self.hashes[i * HASH_PREFIX..(i + 1) * HASH_PREFIX]);
        Some(ids.into_iter().zip(prefixes).collect())
    }

    /// How many entries the seal lists (by its hashes; [`SealRow::listed`] checks the ids agree).
    pub fn count(&self) -> i64 {
        (self.hashes.len() / HASH_PREFIX) as i64
    }
}

/// `ids` in order as runs of consecutive ids: `[7, 8, 9, 12, 10, 11]` is `7-9,12,10-11`.
pub fn runs(ids: &[i64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&ids[i].to_string());
        if j > i {
            out.push('-');
            out.push_str(&ids[j].to_string());
        }
        i = j + 1;
    }
    out
}

/// The ids [`runs`] wrote; `None` when `runs` is not such a list.
fn expand(runs: &str) -> Option<Vec<i64>> {
    let mut ids = Vec::new();
    for run in runs.split(',') {
        match run.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i64, i64) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1_000_000 {
                    return None;
                }
                ids.extend(a..=b);
            }
            None => ids.push(run.parse().ok()?),
        }
    }
    Some(ids)
}

/// The newest seal, the end of the chain.
pub fn head(c: &mut AnyConnection) -> StoreResult<Option<SealRow>> {
    Ok(audit_seals::table
        .order(audit_seals::seal.desc())
        .select(SealRow::as_select())
        .first(c)
        .optional()?)
}

/// Up to `limit` entries not sealed yet, oldest first. SQLite commits entries in id order (one writer),
/// so they are those after the newest seal's last id; on PostgreSQL, where several writers commit out
/// of id order, those in the queue every append fills.
pub fn unsealed(c: &mut AnyConnection, head: Option<&SealRow>, limit: i64) -> StoreResult<Vec<EntryRow>> {
    let rows: Vec<Stored> = match c {
        // Driven by the queue (small), not by the log (which may be very long).
        AnyConnection::Postgresql(pg) => audit_unsealed::table
            .inner_join(audit_log::table.on(audit_log::id.eq(audit_unsealed::entry_id)))
            .order(audit_unsealed::entry_id)
            .limit(limit)
            .select(Stored::as_select())
            .load(pg)?,
        AnyConnection::Sqlite(sq) => audit_log::table
            .filter(audit_log::id.gt(sealed_through(head)))
            .order(audit_log::id)
            .limit(limit)
            .select(Stored::as_select())
            .load(sq)?,
    };
    Ok(rows.into_iter().map(EntryRow::from).collect())
}

/// How many entries wait for the sealer (`head` as for [`unsealed`]).
pub fn unsealed_count(c: &mut AnyConnection, head: Option<&SealRow>) -> StoreResult<i64> {
    Ok(match c {
        AnyConnection::Postgresql(pg) => audit_unsealed::table.count().get_result(pg)?,
        AnyConnection::Sqlite(sq) => audit_log::table
            .filter(audit_log::id.gt(sealed_through(head)))
            .count()
            .get_result(sq)?,
    })
}

/// SQLite: the highest entry id sealed once `head` is the newest seal (every id up to it is).
fn sealed_through(head: Option<&SealRow>) -> i64 {
    head.map_or(0, |h| h.last_id)
}

/// Writes a seal; on PostgreSQL its entries leave the queue.
pub fn seal(c: &mut AnyConnection, seal: &SealRow, ids: &[i64]) -> StoreResult<()> {
    insert_many!(c, audit_seals::table, seal)?;
    if let AnyConnection::Postgresql(pg) = c {
        diesel::delete(audit_unsealed::table.filter(audit_unsealed::entry_id.eq_any(ids))).execute(pg)?;
    }
    Ok(())
}

/// Up to `limit` seals after seal number `after`, in chain order.
pub fn seals(c: &mut AnyConnection, after: i64, limit: i64) -> StoreResult<Vec<SealRow>> {
    Ok(audit_seals::table
        .filter(audit_seals::seal.gt(after))
        .order(audit_seals::seal)
        .limit(limit)
        .select(SealRow::as_select())
        .load(c)?)
}

/// The entries of `ids` that exist.
pub fn entries(c: &mut AnyConnection, ids: &[i64]) -> StoreResult<Vec<EntryRow>> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded statements: SQLite allows at most 32,766 bind values per statement.
    for chunk in ids.chunks(1000) {
        let rows: Vec<Stored> = audit_log::table
            .filter(audit_log::id.eq_any(chunk))
            .select(Stored::as_select())
            .load(c)?;
        found.extend(rows.into_iter().map(EntryRow::from));
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_ids_read_back_in_their_order() {
        let ids = [7, 8, 9, 12, 10, 11, 20];
        assert_eq!(runs(&ids), "7-9,12,10-11,20");
        assert_eq!(expand(&runs(&ids)).unwrap(), ids);
        assert_eq!(expand("5").unwrap(), [5]);
        assert!(expand("9-7").is_none() && expand("x").is_none() && expand("").is_none());
    }
}
