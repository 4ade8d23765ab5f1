//! The audit log: who changed what, when, from where — one entry per change, appended in the change's
//! own transaction by the one write path (`commit.rs`), so a change without its entry cannot commit.
//!
//! Entries are chained: after commit, the sealer gives each entry the next position and a hash over the
//! previous entry's hash and this entry's content, so editing, deleting or reordering a sealed entry
//! breaks the chain where it happened and [`verify`] names that entry. Writers never wait for the chain:
//! they append rows; one sealer at a time (an advisory lock on PostgreSQL, the single writer on SQLite)
//! extends it. Whoever can rewrite the whole table can recompute the whole chain: the sealer logs the
//! head (position and hash) it reaches, and `sluice audit verify` prints it, so the head can be kept
//! outside the database and compared.

use std::future::Future;

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
    static ACTOR: Actor;
}

impl Actor {
    /// The actor in scope, if any.
    pub fn current() -> Option<Actor> {
        ACTOR.try_with(Clone::clone).ok()
    }

    /// Runs `f` with this actor in scope.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        ACTOR.scope(self, f).await
    }

    /// Runs blocking `f` with this actor in scope (a command, or a long write on a blocking thread).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        ACTOR.sync_scope(self, f)
    }

    /// Runs blocking `f` on this thread with the actor of the calling task, if any, in scope: for work
    /// moved to a blocking thread, where the task's actor is not seen.
    pub fn carry<R>(actor: Option<Actor>, f: impl FnOnce() -> R) -> R {
        match actor {
            Some(a) => a.sync_scope(f),
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
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
/// SHA-256 over the previous hash and every field of the entry, its id and position included.
pub fn chain_hash(previous: &str, position: i64, row: &EntryRow) -> String {
    let e = &row.entry;
    let fields = serde_json::json!([
        position,
        row.id,
        e.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        e.actor,
        e.actor_role,
        e.source,
        e.action,
        e.object_type,
        e.object_id,
        e.before_digest,
        e.after_digest,
        e.changed_fields,
        e.request_id,
    ]);
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(b"\n");
    h.update(fields.to_string().as_bytes());
    hex(&h.finalize())
}

/// Entries sealed per transaction.
const SEAL_BATCH: i64 = 1000;

/// Extends the chain with the entries written since the last seal, oldest first; how many it sealed.
/// Safe to run on every instance at once: one seals at a time.
pub fn seal(db: &Db) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let (sealed, head) = db.write_blocking(|c| -> StoreResult<_> {
            dialect::lock(c, LockId::AuditSeal)?;
            let (mut position, mut previous) = rows::head(c)?.unwrap_or((0, String::new()));
            let batch = rows::unsealed(c, SEAL_BATCH)?;
            for row in &batch {
                position += 1;
                let hash = chain_hash(&previous, position, row);
                rows::seal(c, row.id, position, &hash)?;
                previous = hash;
            }
            Ok((batch.len(), (position, previous)))
        })?;
        total += sealed;
        if sealed > 0 {
            tracing::info!(target: "sluice::audit", position = head.0, hash = %head.1, "audit chain head");
        }
        if (sealed as i64) < SEAL_BATCH {
            return Ok(total);
        }
    }
}

/// One pass of the sealer beside the server: seals what is waiting, off the async threads.
pub async fn seal_pass(db: Db) {
    match tokio::task::spawn_blocking(move || seal(&db)).await {
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
    /// The entry found there (none when it is missing).
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

/// Recomputes the chain from its first entry and names the first entry that does not match.
pub fn verify(db: &Db) -> Result<Result<Verified, Broken>, AppError> {
    Ok(db.read_blocking(|c| -> StoreResult<_> {
        let (mut position, mut previous) = (0i64, String::new());
        loop {
            let batch = rows::chain(c, position, SEAL_BATCH)?;
            for row in &batch {
                let at = row.position.unwrap_or_default();
                if at != position + 1 {
                    return Ok(Err(Broken {
                        position: position + 1,
                        id: None,
                        reason: format!(
                            "the entry is missing (the chain goes on at position {at}, entry {})",
                            row.id
                        ),
                    }));
                }
                let expected = chain_hash(&previous, at, row);
                if row.hash.as_deref() != Some(expected.as_str()) {
                    return Ok(Err(Broken {
                        position: at,
                        id: Some(row.id),
                        reason: "its content, its place or its hash differ from what was sealed".into(),
                    }));
                }
                position = at;
                previous = expected;
            }
            if (batch.len() as i64) < SEAL_BATCH {
                break;
            }
        }
        Ok(Ok(Verified {
            entries: position,
            head: (position > 0).then_some((position, previous)),
            unsealed: rows::unsealed_count(c)?,
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
                    e.position.map(|p| p.to_string()).unwrap_or_default(),
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
                    opt(&e.hash),
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
const CSV_HEADER: [&str; 14] = [
    "id",
    "position",
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
    "hash",
];

fn wire_entry(row: EntryRow) -> AuditEntry {
    let e = row.entry;
    AuditEntry {
        id: row.id,
        position: row.position,
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
        hash: row.hash,
    }
}
