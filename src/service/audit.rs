//! The audit log: who changed what, when, from where — one entry per change, appended in the change's
//! own transaction by the one write path (`commit.rs`), so a change without its entry cannot commit.
//!
//! Entries are chained: after commit, the sealer gives each entry the next position and a hash over the
//! previous entry's hash and this entry's content, and writes one seal row per pass listing the entries
//! it chained with their hashes, so editing, deleting or reordering a sealed entry breaks the chain where
//! it happened and [`verify`] names that entry. Writers never wait for the chain and never update an
//! entry: they append rows; one sealer at a time (an advisory lock on PostgreSQL, the single writer on
//! SQLite) extends it. Whoever can rewrite the whole table can recompute the whole chain: the sealer
//! logs the head (position and hash) it reaches, and `sluice audit verify` prints it, so the head can be
//! kept outside the database and compared.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::error::AppError;
use crate::store::audit::{self as rows, EntryRow, NewEntry};
use crate::store::dialect::{self, LockId};
use crate::store::outbox::Change;
use crate::store::{AnyConnection, Db, StoreResult};
use crate::wire::ops::AuditEntry;
use crate::wire::query::{AuditQuery, page};
use crate::wire::settlement::Format;
use crate::wire::{Name, Operation, format_time};

/// Who asks for the changes made while it is in scope: set for each authorized request by the access
/// check, and for each administration command by the CLI. Writes outside any scope (the server's own
/// bookkeeping: latency figures, notification deliveries) are not changes anyone asked for and are not
/// audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The client or user id.
    pub id: String,
    pub role: String,
    /// The peer address of the request; `None` for the server's console.
    pub source: Option<String>,
    pub request_id: Option<String>,
    /// What was asked: the operation (`POST /ops/dispatches`) or the command (`client add`).
    pub action: String,
}

tokio::task_local! {
    static ACTOR: Arc<Actor>;
}

impl Actor {
    /// The actor in scope, if any (shared: a write keeps it without copying it).
    pub fn current() -> Option<Arc<Actor>> {
        ACTOR.try_with(Arc::clone).ok()
    }

    /// Runs `f` with this actor in scope.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        ACTOR.scope(Arc::new(self), f).await
    }

    /// Runs blocking `f` with this actor in scope (a command, or a long write on a blocking thread).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        ACTOR.sync_scope(Arc::new(self), f)
    }

    /// Runs blocking `f` on this thread with the actor of the calling task, if any, in scope: for work
    /// moved to a blocking thread, where the task's actor is not seen.
    pub fn carry<R>(actor: Option<Arc<Actor>>, f: impl FnOnce() -> R) -> R {
        match actor {
            Some(a) => ACTOR.sync_scope(a, f),
            None => f(),
        }
    }

    /// The server's console: an administration command run by `user` (the operating-system account).
    pub fn console(user: &str, command: &str) -> Self {
        Self {
            id: format!("console:{user}"),
            role: "console".to_owned(),
            source: None,
            request_id: None,
            action: command.to_owned(),
        }
    }
}

/// What one write changed, as its entry names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub object_type: String,
    pub object_id: String,
    pub operation: Operation,
    /// The digest of the object after the change (`None` once deleted).
    pub after: Option<String>,
}

impl Subject {
    /// `object_type` `object_id`, whose content after the change is `content`.
    pub fn of(object_type: &str, object_id: &str, operation: Operation, content: &impl Serialize) -> Self {
        let after = (operation != Operation::Delete)
            .then(|| digest(serde_json::to_string(content).unwrap_or_default().as_bytes()));
        Self {
            object_type: object_type.to_owned(),
            object_id: object_id.to_owned(),
            operation,
            after,
        }
    }

    /// The OpenADR object a change recorded for subscribers.
    pub(crate) fn of_change(change: &Change) -> Self {
        let o = &change.object;
        let after = (change.operation != Operation::Delete).then(|| {
            let mut h = Sha256::new();
            h.update(o.body.as_bytes());
            h.update(b"\n");
            h.update(serde_json::to_string(&o.targets).unwrap_or_default().as_bytes());
            hex(&h.finalize())
        });
        Self {
            object_type: o.object_type.as_str().to_owned(),
            object_id: o.id.clone(),
            operation: change.operation,
            after,
        }
    }
}

/// SHA-256 of `bytes`, in lower-case hex.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The entry of a write by `actor` at `at` that changed `subject`: the digest before is the one its last
/// audited change left (none for a creation).
pub(crate) fn entry(
    c: &mut AnyConnection,
    actor: &Actor,
    at: DateTime<Utc>,
    subject: Option<&Subject>,
) -> StoreResult<NewEntry> {
    let before = match subject {
        Some(s) if s.operation != Operation::Create => rows::last_digest(c, &s.object_type, &s.object_id)?,
        _ => None,
    };
    Ok(NewEntry {
        at,
        actor: actor.id.clone(),
        actor_role: actor.role.clone(),
        source: actor.source.clone(),
        action: actor.action.clone(),
        object_type: subject.map(|s| s.object_type.clone()),
        object_id: subject.map(|s| s.object_id.clone()),
        before_digest: before,
        after_digest: subject.and_then(|s| s.after.clone()),
        changed_fields: None,
        request_id: actor.request_id.clone(),
    })
}

/// Appends the entries of a write, in its transaction.
pub(crate) fn append(c: &mut AnyConnection, entries: &[NewEntry]) -> StoreResult<()> {
    rows::insert(c, entries)
}

/// The chain's hash of the entry at `position` after one whose hash is `previous` ("" for the first):
/// SHA-256 over the previous hash and every field of the entry, its id and position included, each
/// field length-prefixed (so no two different entries hash the same bytes).
pub fn chain_hash(previous: &str, position: i64, row: &EntryRow) -> String {
    let e = &row.entry;
    let mut h = Sha256::new();
    let mut field = |value: Option<&[u8]>| match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update((v.len() as u64).to_le_bytes());
            h.update(v);
        }
    };
    fn text(v: &Option<String>) -> Option<&[u8]> {
        v.as_deref().map(str::as_bytes)
    }
    let at = e.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    field(Some(previous.as_bytes()));
    field(Some(&position.to_le_bytes()));
    field(Some(&row.id.to_le_bytes()));
    field(Some(at.as_bytes()));
    field(Some(e.actor.as_bytes()));
    field(Some(e.actor_role.as_bytes()));
    field(text(&e.source));
    field(Some(e.action.as_bytes()));
    field(text(&e.object_type));
    field(text(&e.object_id));
    field(text(&e.before_digest));
    field(text(&e.after_digest));
    field(text(&e.changed_fields));
    field(text(&e.request_id));
    hex(&h.finalize())
}

/// Entries sealed per pass (one seal row each).
const SEAL_BATCH: i64 = 1000;

/// Extends the chain with the entries written since the last seal, oldest first, one seal row per
/// [`SEAL_BATCH`] entries; how many it sealed. Safe to run on every instance at once: one seals at a time.
///
/// The entries are read and hashed outside the write lock (a reader never holds up writers); the seal is
/// then written under it only if no other sealer moved the chain on meanwhile, else read again.
pub fn seal(db: &Db, at: DateTime<Utc>) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let (head, batch) = db.read_blocking(|c| {
            let head = rows::head(c)?;
            let batch = rows::unsealed(c, head.as_ref(), SEAL_BATCH)?;
            Ok((head, batch))
        })?;
        let Some(last) = batch.last() else {
            return Ok(total);
        };
        let (number, first_position, mut previous) = head.as_ref().map_or((1, 1, String::new()), |h| {
            (h.seal + 1, next_position(h), h.hash.clone())
        });
        let mut hashes = String::with_capacity(batch.len() * rows::HASH_PREFIX);
        for (i, row) in batch.iter().enumerate() {
            previous = chain_hash(&previous, first_position + i as i64, row);
            hashes.push_str(&previous[..rows::HASH_PREFIX]);
        }
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let seal = rows::SealRow {
            seal: number,
            first_position,
            last_id: head.as_ref().map_or(last.id, |h| h.last_id.max(last.id)),
            ids: rows::runs(&ids),
            hashes,
            hash: previous,
            sealed_at: crate::store::repo::to_naive(at),
        };
        let written = db.write_blocking(|c| -> StoreResult<bool> {
            dialect::lock(c, LockId::AuditSeal)?;
            if rows::head(c)?.map(|h| h.seal) != head.map(|h| h.seal) {
                return Ok(false);
            }
            rows::seal(c, &seal, &ids)?;
            Ok(true)
        })?;
        if !written {
            continue;
        }
        total += batch.len();
        let position = first_position + batch.len() as i64 - 1;
        tracing::info!(target: "sluice::audit", position, hash = %seal.hash, "audit chain head");
        if (batch.len() as i64) < SEAL_BATCH {
            return Ok(total);
        }
    }
}

/// The position the entry after seal `s` takes.
fn next_position(s: &rows::SealRow) -> i64 {
    s.first_position + s.count()
}

/// One pass of the sealer beside the server: seals what is waiting, off the async threads.
pub async fn seal_pass(state: AppState) {
    let (db, at) = (state.db.clone(), state.clock.now());
    match tokio::task::spawn_blocking(move || seal(&db, at)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "sealing the audit log failed; retrying"),
        Err(e) => tracing::warn!(error = %e, "the audit sealer stopped; retrying"),
    }
}

/// A chain that verifies: how many sealed entries, the head, and how many wait for the sealer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    pub head: Option<(i64, String)>,
    pub unsealed: i64,
}

/// The first place the chain does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub position: i64,
    /// The entry the seal lists there (none when the seal itself is missing or unreadable).
    pub id: Option<i64>,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "entry {id} at position {}: {}", self.position, self.reason),
            None => write!(f, "position {}: {}", self.position, self.reason),
        }
    }
}

/// Seals read per query while verifying.
const VERIFY_SEALS: i64 = 20;

/// Recomputes the chain from its first entry and names the first entry that does not match: one whose
/// content, place or hash differ from what was sealed, one that is missing, or a seal that is.
pub fn verify(db: &Db) -> Result<Result<Verified, Broken>, AppError> {
    Ok(db.read_blocking(|c| -> StoreResult<_> {
        let (mut number, mut position, mut previous) = (0i64, 0i64, String::new());
        loop {
            let seals = rows::seals(c, number, VERIFY_SEALS)?;
            for seal in &seals {
                let broken = |position: i64, id: Option<i64>, reason: String| Broken { position, id, reason };
                if seal.seal != number + 1 || seal.first_position != position + 1 {
                    return Ok(Err(broken(
                        position + 1,
                        None,
                        format!(
                            "seal {} is missing (the chain goes on with seal {} at position {})",
                            number + 1,
                            seal.seal,
                            seal.first_position
                        ),
                    )));
                }
                let Some(listed) = seal.listed() else {
                    return Ok(Err(broken(
                        position + 1,
                        None,
                        format!("seal {} is unreadable", seal.seal),
                    )));
                };
                let ids: Vec<i64> = listed.iter().map(|(id, _)| *id).collect();
                let found: std::collections::HashMap<i64, EntryRow> =
                    rows::entries(c, &ids)?.into_iter().map(|r| (r.id, r)).collect();
                for (id, sealed) in listed {
                    position += 1;
                    let Some(row) = found.get(&id) else {
                        return Ok(Err(broken(position, Some(id), "the entry is missing".into())));
                    };
                    let expected = chain_hash(&previous, position, row);
                    if !expected.starts_with(sealed) {
                        return Ok(Err(broken(
                            position,
                            Some(id),
                            "its content, its place or its hash differ from what was sealed".into(),
                        )));
                    }
                    previous = expected;
                }
                if seal.hash != previous {
                    return Ok(Err(broken(
                        position,
                        None,
                        format!("seal {} ends with another hash than its last entry's", seal.seal),
                    )));
                }
                number = seal.seal;
            }
            if (seals.len() as i64) < VERIFY_SEALS {
                break;
            }
        }
        let newest = rows::head(c)?;
        Ok(Ok(Verified {
            entries: position,
            head: (position > 0).then_some((position, previous)),
            unsealed: rows::unsealed_count(c, newest.as_ref())?,
        }))
    })?)
}

/// Entries matching `filter`, oldest first.
pub fn list(db: &Db, filter: &rows::Filter, skip: i64, limit: i64) -> Result<Vec<EntryRow>, AppError> {
    Ok(db.read_blocking(|c| rows::list(c, filter, skip, limit))?)
}

/// `GET /ops/audit`: the entries the query asks for, oldest first, as JSON or CSV (with its media type).
pub async fn query(state: &AppState, q: AuditQuery) -> Result<(&'static str, String), AppError> {
    let format = q.format.map_or(Format::Json, |f| f.0);
    if format == Format::Xml {
        return Err(AppError::BadRequest("the audit log is exported as json or csv".into()));
    }
    let filter = rows::Filter {
        actor: q.actor.map(Name::into_string),
        object_type: q.object_type.map(Name::into_string),
        object_id: q.object_id.map(Name::into_string),
        action: q.action.map(Name::into_string),
        from: q.from.map(|t| t.0),
        until: q.to.map(|t| t.0),
    };
    let page = page(q.skip, q.limit);
    let found = state
        .db
        .read(move |c| rows::list(c, &filter, page.skip, page.limit))
        .await?;
    let entries: Vec<AuditEntry> = found.into_iter().map(wire_entry).collect();
    let internal = |e: String| AppError::Internal(format!("rendering the audit log: {e}"));
    match format {
        Format::Csv => {
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(CSV_HEADER).map_err(|e| internal(e.to_string()))?;
            for e in &entries {
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                out.write_record([
                    e.id.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.actor_role.clone(),
                    opt(&e.source),
                    e.action.clone(),
                    opt(&e.object_type),
                    opt(&e.object_id),
                    opt(&e.before_digest),
                    opt(&e.after_digest),
                    opt(&e.changed_fields),
                    opt(&e.request_id),
                ])
                .map_err(|e| internal(e.to_string()))?;
            }
            let bytes = out.into_inner().map_err(|e| internal(e.to_string()))?;
            Ok((
                "text/csv",
                String::from_utf8(bytes).map_err(|e| internal(e.to_string()))?,
            ))
        }
        _ => Ok((
            "application/json",
            serde_json::to_string(&entries).map_err(|e| internal(e.to_string()))?,
        )),
    }
}

/// The CSV export's columns, in the JSON listing's order.
const CSV_HEADER: [&str; 12] = [
    "id",
    "at",
    "actor",
    "actor_role",
    "source",
    "action",
    "object_type",
    "object_id",
    "before_digest",
    "after_digest",
    "changed_fields",
    "request_id",
];

fn wire_entry(row: EntryRow) -> AuditEntry {
    let e = row.entry;
    AuditEntry {
        id: row.id,
        at: format_time(&e.at),
        actor: e.actor,
        actor_role: e.actor_role,
        source: e.source,
        action: e.action,
        object_type: e.object_type,
        object_id: e.object_id,
        before_digest: e.before_digest,
        after_digest: e.after_digest,
        changed_fields: e.changed_fields,
        request_id: e.request_id,
    }
}
