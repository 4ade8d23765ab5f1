//! The one way to write. A service operation runs inside [`AppState::commit`] (or
//! [`AppState::commit_batchable`] for the hot inserts PostgreSQL runs together) and says what it changed
//! through [`Tx`]; the commit then, in the same transaction, records the changes in the outbox and tells
//! other instances when a listed object changed, and after the commit starts a new cache generation and
//! wakes the notifier. A write made for an actor (a request, a command) appends its audit entry in the
//! same transaction (`audit.rs`). A write cannot forget one of them, and each has this one home.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::AppState;
use super::audit::{self, Actor, Subject};
use super::cache::CHANGE_CHANNEL;
use crate::error::AppError;
use crate::store::conn::Batchable;
use crate::store::dialect;
use crate::store::outbox::Change;
use crate::store::{AnyConnection, Db, StoreError, StoreResult};
use crate::wire::{ObjectType, Operation, StoredObject};

/// What a changed object belongs to, for matching subscriptions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Links<'a> {
    pub program_id: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub owner: Option<&'a str>,
}

/// A write in progress: the connection of its transaction (through `Deref`), and what it changed.
pub struct Tx<'c> {
    conn: &'c mut AnyConnection,
    changes: Vec<Change>,
    lists: bool,
    subject: Option<Subject>,
}

impl<'c> Tx<'c> {
    fn new(conn: &'c mut AnyConnection) -> Self {
        Self {
            conn,
            changes: Vec::new(),
            lists: false,
            subject: None,
        }
    }
}

impl Deref for Tx<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
    }
}

impl Tx<'_> {
    /// `object` was created, updated or deleted: subscribers are notified of it.
    pub(crate) fn changed(&mut self, operation: Operation, object: &StoredObject, links: Links<'_>) {
        self.change(Change {
            operation,
            object: object.clone(),
            program_id: links.program_id.map(str::to_owned),
            event_id: links.event_id.map(str::to_owned),
            owner: links.owner.map(str::to_owned),
        });
    }

    fn change(&mut self, change: Change) {
        self.lists |= lists(change.object.object_type);
        self.changes.push(change);
    }

    /// What the write changed, as its audit entry names it, when that is not the first OpenADR object it
    /// changed (a dispatch, which sends events; a site, an enrollment, settlement rules).
    pub(crate) fn audited(&mut self, subject: Subject) {
        self.subject = Some(subject);
    }

    /// The write changed what VENs may see without changing an OpenADR object (a site's targets, its
    /// enrollments): cached lists start a new generation, here and on every instance.
    pub(crate) fn changed_grants(&mut self) {
        self.lists = true;
    }
}

/// A long write outside the group-commit writers (a meter file streamed into one transaction, a
/// settlement run, the CLI's writes): one transaction on a connection of its own, blocking the calling
/// thread, audited at `at` for the actor in scope on this thread. These writes change no OpenADR object,
/// so they have nothing to record or notify: one that says it did is refused. A business rule `f`
/// enforces fails with its [`AppError`], undoing the transaction.
pub fn commit_blocking<T>(
    db: &Db,
    at: DateTime<Utc>,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let actor = Actor::current();
    db.write_blocking(|c| {
        let mut tx = Tx::new(c);
        let value = f(&mut tx)?;
        let Tx {
            conn, changes, subject, ..
        } = tx;
        if !changes.is_empty() {
            return Err(AppError::Internal(
                "a blocking write changed OpenADR objects; it belongs on AppState::commit".into(),
            ));
        }
        audit_write(conn, actor.as_deref(), at, subject.as_ref())?;
        Ok(value)
    })
}

/// The audit entry of a write for `actor` (none without one): named by `subject`.
fn audit_write(
    c: &mut AnyConnection,
    actor: Option<&Actor>,
    at: DateTime<Utc>,
    subject: Option<&Subject>,
) -> StoreResult<()> {
    match actor {
        Some(actor) => {
            let entry = audit::entry(c, actor, at, subject)?;
            audit::append(c, &[entry])
        }
        None => Ok(()),
    }
}

/// Whether a change of `kind` can change a cached program or event list, or a VEN's grants (which come
/// from its ven and resource targets).
fn lists(kind: ObjectType) -> bool {
    matches!(
        kind,
        ObjectType::Program | ObjectType::Event | ObjectType::Ven | ObjectType::Resource
    )
}

/// What a committed write leaves to do outside its transaction.
#[derive(Debug, Clone, Copy)]
struct Effects {
    changed: bool,
    lists: bool,
}

impl Effects {
    /// A write whose outcome is unknown (its writer went away): it may have changed anything.
    const UNKNOWN: Self = Self {
        changed: true,
        lists: true,
    };
}

/// Records a write's changes in its own transaction: the outbox rows, and the notice to other instances.
/// `every`: record changes nobody subscribes to as well (a channel plans from every change).
fn record(c: &mut AnyConnection, changes: Vec<Change>, lists: bool, every: bool) -> StoreResult<Effects> {
    let effects = Effects {
        changed: !changes.is_empty(),
        lists,
    };
    dialect::record_changes(c, changes, every, lists.then_some(CHANGE_CHANNEL))?;
    Ok(effects)
}

impl AppState {
    /// Runs `f` as one transaction on the group-commit writers, and what it changed is recorded with it
    /// (see the module). `f` may run twice on PostgreSQL (a group-commit retry): it must only touch the
    /// database. A business rule `f` enforces fails with the [`AppError`] it names; the transaction is
    /// then undone.
    pub async fn commit<T, F>(&self, mut f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let every = self.channels.needs().every_change;
        let (actor, at) = (Actor::current(), self.clock.now());
        let done = self
            .db
            .write(move |c| {
                let mut tx = Tx::new(c);
                let value = f(&mut tx)?;
                let Tx {
                    conn,
                    changes,
                    lists,
                    subject,
                } = tx;
                let subject = subject.or_else(|| changes.first().map(Subject::of_change));
                audit_write(conn, actor.as_deref(), at, subject.as_ref())?;
                Ok::<_, AppError>((value, record(conn, changes, lists, every)?))
            })
            .await;
        match done {
            Ok((value, effects)) => {
                self.after(effects);
                Ok(value)
            }
            Err(e) => {
                if matches!(e, AppError::Unavailable(_)) {
                    self.after(Effects::UNKNOWN);
                }
                Err(e)
            }
        }
    }

    /// [`AppState::commit`] for a write of a batchable kind, whose output is the one change it made: on
    /// PostgreSQL those queued together are one statement, and their changes another.
    pub async fn commit_batchable<B>(&self, item: B) -> StoreResult<StoredObject>
    where
        B: Batchable<Output = Change>,
    {
        let every = self.channels.needs().every_change;
        let (actor, at) = (Actor::current(), self.clock.now());
        match self.db.write_batchable(Recorded { item, every, actor, at }).await {
            Ok((object, effects)) => {
                self.after(effects);
                Ok(object)
            }
            Err(e) => {
                if matches!(e, StoreError::Unavailable(_)) {
                    self.after(Effects::UNKNOWN);
                }
                Err(e)
            }
        }
    }

    /// A read whose closure may refuse with a business rule's [`AppError`] (one connection, no
    /// transaction).
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.db.read(move |c| Ok(f(c))).await?
    }

    /// After a commit: a new cache generation when lists changed, the notifier woken when anything did.
    fn after(&self, effects: Effects) {
        if effects.lists {
            self.cache.invalidate();
        }
        if effects.changed {
            self.notifier.wake();
        }
    }
}

/// A batchable write whose change is recorded with it: alone, in its own savepoint; together, all the
/// batch's changes in one statement, and their audit entries in another. `every` as in [`record`] (the
/// same for every write of an instance).
struct Recorded<B> {
    item: B,
    every: bool,
    actor: Option<Arc<Actor>>,
    at: DateTime<Utc>,
}

impl<B: Batchable<Output = Change>> Batchable for Recorded<B> {
    type Output = (StoredObject, Effects);

    fn run_one(&mut self, c: &mut AnyConnection) -> StoreResult<Self::Output> {
        let change = self.item.run_one(c)?;
        let object = change.object.clone();
        let listed = lists(object.object_type);
        audit_write(c, self.actor.as_deref(), self.at, Some(&Subject::of_change(&change)))?;
        Ok((object, record(c, vec![change], listed, self.every)?))
    }

    fn run_many(c: &mut AnyConnection, items: &mut [&mut Self]) -> StoreResult<Vec<StoreResult<Self::Output>>> {
        let every = items.iter().any(|i| i.every);
        let mut inner: Vec<&mut B> = items.iter_mut().map(|i| &mut i.item).collect();
        let results = B::run_many(c, &mut inner)?;
        let mut entries = Vec::new();
        for (item, result) in items.iter().zip(&results) {
            if let (Some(actor), Ok(change)) = (&item.actor, result) {
                entries.push(audit::entry(c, actor, item.at, Some(&Subject::of_change(change)))?);
            }
        }
        audit::append(c, &entries)?;
        let changes: Vec<Change> = results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let listed = changes.iter().any(|ch| lists(ch.object.object_type));
        let effects = record(c, changes, listed, every)?;
        Ok(results.into_iter().map(|r| r.map(|ch| (ch.object, effects))).collect())
    }
}
