//! One connection type for both backends, the pool, and the blocking-thread bridge.

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::dialect::LockId;
use super::error::{StoreError, StoreResult};

/// A connection to either backend. Queries are written once against this type; the few statements that
/// differ per backend match on it explicitly.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Postgres(String),
    /// A file path (the `sqlite://` prefix removed).
    Sqlite(String),
}

impl DbUrl {
    /// `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a bare path is SQLite.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err("database URL is empty".into());
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err("an in-memory SQLite database would be one database per pooled connection; use a file".into());
        }
        if path.contains("://") {
            return Err(format!(
                "unsupported database URL {url:?}: use postgres://… or sqlite://PATH"
            ));
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// SQLite durability: FULL fsyncs the WAL at every commit (an acknowledged write survives power loss);
/// NORMAL survives a crash of the process but not of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

/// Builds connections for the pool, applying SQLite's pragmas to each new one.
#[derive(Debug)]
pub struct Manager {
    url: DbUrl,
    sqlite_sync: SqliteSync,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.url {
            DbUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DbUrl::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                let sync = match self.sqlite_sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = {sync}; PRAGMA cache_size = -256;"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// Database options from configuration.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub sqlite_sync: SqliteSync,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            sqlite_sync: SqliteSync::Full,
        }
    }
}

/// The database: a pool plus the rule that every unit of work runs on a blocking thread.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    url: DbUrl,
    /// SQLite allows one writer at a time; writers queue here instead of spinning on SQLITE_BUSY.
    sqlite_writer: Arc<Mutex<()>>,
    /// SQLite: the group-commit writer thread's queue (see [`Db::write`]).
    group: Option<mpsc::Sender<Box<dyn Job>>>,
}

/// One write of the group-commit writer. It may run twice: PostgreSQL first runs a batch without
/// savepoints (one round trip per write instead of three), and only when some write fails rolls the batch
/// back and runs it again with a savepoint per write, so that the failure undoes only itself.
trait Job: Send {
    /// Runs the write on `c`, in a savepoint of its own when `savepoint`; keeps the result. Ok when the
    /// write succeeded.
    fn run(&mut self, c: &mut AnyConnection, savepoint: bool) -> bool;
    /// Hands the kept result to the waiting caller once the batch's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), String>);
    /// For writes of a [`Batchable`] kind: the kind, and what runs several of them as one statement.
    fn together(&self) -> Option<(TypeId, Together)> {
        None
    }
    fn as_any(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

/// Runs the queued writes of one [`Batchable`] kind together; false when the batch must be undone.
type Together = fn(&mut AnyConnection, Vec<&mut dyn Any>) -> bool;

/// A write of which those queued together run as one call (the hottest inserts): on PostgreSQL one
/// statement, one round trip and one execution for a whole group-commit batch instead of one per write;
/// on both, what the writes record beside them (audit entries, changes) goes in one statement.
pub trait Batchable: Send + Sized + 'static {
    type Output: Send + 'static;
    /// This write alone: SQLite, a batch with one of its kind, and the retry after a combined run failed.
    fn run_one(&mut self, c: &mut AnyConnection) -> StoreResult<Self::Output>;
    /// Several at once, one result per write in order. A write refused by a result of its own (`Err` in
    /// the list) must leave the transaction usable; an `Err` of the whole call undoes the batch, which then
    /// runs again one write at a time.
    fn run_many(c: &mut AnyConnection, items: &mut [&mut Self]) -> StoreResult<Vec<StoreResult<Self::Output>>>;
}

/// [`Batchable::run_many`] where the backend has no multi-row form of the write (SQLite): each write on
/// its own, in a savepoint of its own, so that one refused undoes only itself.
pub fn one_by_one<B: Batchable>(c: &mut AnyConnection, items: &mut [&mut B]) -> Vec<StoreResult<B::Output>> {
    items
        .iter_mut()
        .map(|i| c.transaction(|c| contained(|| i.run_one(c))))
        .collect()
}

struct BatchJob<B: Batchable> {
    item: B,
    result: Option<StoreResult<B::Output>>,
    tx: tokio::sync::oneshot::Sender<StoreResult<B::Output>>,
}

impl<B: Batchable> Job for BatchJob<B> {
    fn run(&mut self, c: &mut AnyConnection, savepoint: bool) -> bool {
        let item = &mut self.item;
        let r = if savepoint {
            c.transaction(|c| contained(|| item.run_one(c)))
        } else {
            contained(|| item.run_one(c))
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        deliver(self.result, commit, self.tx);
    }

    fn together(&self) -> Option<(TypeId, Together)> {
        Some((TypeId::of::<B>(), run_together::<B>))
    }

    fn as_any(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

fn run_together<B: Batchable>(c: &mut AnyConnection, jobs: Vec<&mut dyn Any>) -> bool {
    let mut jobs: Vec<&mut BatchJob<B>> = jobs.into_iter().filter_map(|j| j.downcast_mut()).collect();
    let results = {
        let mut items: Vec<&mut B> = jobs.iter_mut().map(|j| &mut j.item).collect();
        B::run_many(c, &mut items)
    };
    match results {
        Ok(results) if results.len() == jobs.len() => {
            for (job, r) in jobs.into_iter().zip(results) {
                job.result = Some(r);
            }
            true
        }
        _ => false,
    }
}

/// Runs one write, turning a panic into an error of that write alone: inside its savepoint the error
/// undoes just this write, and the other writes of the batch commit as usual.
fn contained<T, E: From<StoreError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        tracing::error!(panic = %what, "a database write panicked; it alone was undone");
        Err(StoreError::Panicked(what).into())
    })
}

/// Queues a write for the group-commit writers and waits for its committed result.
async fn enqueue<T, E: From<StoreError>>(
    queue: &mpsc::Sender<Box<dyn Job>>,
    job: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, E>>) -> Box<dyn Job>,
) -> Result<T, E> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    queue
        .send(job(tx))
        .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
    rx.await
        .map_err(|_| StoreError::Unavailable("the database writer failed".into()))?
}

/// Sends a write's result once its batch's commit is known.
fn deliver<T, E: From<StoreError>>(
    result: Option<Result<T, E>>,
    commit: Result<(), String>,
    tx: tokio::sync::oneshot::Sender<Result<T, E>>,
) {
    let result = result.unwrap_or_else(|| Err(StoreError::Unavailable("the write did not run".into()).into()));
    let _ = tx.send(match commit {
        Ok(()) => result,
        Err(e) => Err(result.err().unwrap_or_else(|| StoreError::Unavailable(e).into())),
    });
}

struct TypedJob<T, E, F> {
    f: F,
    result: Option<Result<T, E>>,
    tx: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for TypedJob<T, E, F>
where
    T: Send,
    E: From<StoreError> + From<diesel::result::Error> + Send,
    F: FnMut(&mut AnyConnection) -> Result<T, E> + Send,
{
    fn run(&mut self, c: &mut AnyConnection, savepoint: bool) -> bool {
        let f = &mut self.f;
        let r = if savepoint {
            c.transaction(|c| contained(|| f(c)))
        } else {
            contained(|| f(c))
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        deliver(self.result, commit, self.tx);
    }
}

/// Most writes committed together by the group-commit writer.
const MAX_BATCH: usize = 128;

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("postgres", &self.url.is_postgres()).finish()
    }
}

impl Db {
    /// Connects (the pool opens its first connection eagerly, so a wrong URL fails here).
    pub fn connect(opts: &DbOptions) -> StoreResult<Self> {
        let url = DbUrl::parse(&opts.url).map_err(StoreError::Config)?;
        let manager = Manager {
            url: url.clone(),
            sqlite_sync: opts.sqlite_sync,
        };
        let pool = r2d2::Pool::builder()
            .max_size(opts.pool_size.max(1))
            // No idle minimum: with one, r2d2 re-opens connections in the background whenever one is taken,
            // and a short-lived CLI process could exit in the middle of that (libpq/OpenSSL teardown racing
            // an open in progress aborted `sluice client remove` now and then). Connections open on demand.
            .min_idle(Some(0))
            // No ping before every use (a round trip each); a broken connection is noticed by has_broken
            // and by the failing statement, and replaced.
            .test_on_check_out(false)
            .connection_timeout(opts.connect_timeout)
            .build(manager)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // One connection now, so a wrong URL fails here rather than at the first request.
        drop(pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?);
        let sqlite_writer = Arc::new(Mutex::new(()));
        // SQLite has one writer; PostgreSQL takes several batches at once (each on its own connection), two
        // with the default pool of 8: one can fill while the other waits for its commit, and fewer writers
        // make larger batches, which PostgreSQL inserts as one statement (four writers on the 2-core bench
        // machine: POST /events 12.4k req/s; two: 16.6k).
        let writers = match url {
            DbUrl::Sqlite(_) => 1,
            DbUrl::Postgres(_) => (opts.pool_size as usize / 4).clamp(1, 4),
        };
        let group = Some(spawn_group_writers(
            pool.clone(),
            sqlite_writer.clone(),
            writers,
            url.is_postgres(),
        )?);
        Ok(Self {
            pool,
            url,
            sqlite_writer,
            group,
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.url.is_postgres()
    }

    /// Applies every pending migration; returns the versions applied. On PostgreSQL an advisory lock keeps
    /// several instances starting at once from migrating concurrently.
    pub fn migrate_blocking(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let applied = match &mut *conn {
            AnyConnection::Postgresql(c) => super::dialect::with_session_lock(c, LockId::Migrations, |c| {
                c.run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(ToString::to_string).collect())
            })?,
            AnyConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect()),
        };
        applied.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Reverts the newest migration (the `sluice migrate --revert` command).
    pub fn revert_last_blocking(&self) -> StoreResult<String> {
        let mut conn = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let r = match &mut *conn {
            AnyConnection::Postgresql(c) => c.revert_last_migration(POSTGRES_MIGRATIONS).map(|v| v.to_string()),
            AnyConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS).map(|v| v.to_string()),
        };
        r.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Runs `f` with a connection on a blocking thread (reads; or writes that need no transaction).
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// Runs `f` in one transaction on a blocking thread: everything it writes commits together or not at all,
    /// and the result is returned only once it is committed.
    ///
    /// Writes go to writer threads that commit whatever is queued together (group commit): a failing write
    /// undoes only itself (its own savepoint), and all writes of a batch share one durable commit instead
    /// of paying one each. SQLite has one writer thread; PostgreSQL one per four pooled connections (at
    /// most four), each batch on its own pooled connection. `f` may run twice on PostgreSQL (see [`Job`]):
    /// it must only touch the database.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
        F: FnMut(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        if let Some(queue) = &self.group {
            return enqueue(queue, |tx| Box::new(TypedJob { f, result: None, tx })).await;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// A write of a [`Batchable`] kind, through the group-commit writers like [`Db::write`]: on PostgreSQL
    /// those of its kind queued together run as one statement.
    pub async fn write_batchable<B: Batchable>(&self, mut item: B) -> StoreResult<B::Output> {
        if let Some(queue) = &self.group {
            return enqueue(queue, |tx| Box::new(BatchJob { item, result: None, tx })).await;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(|c| item.run_one(c)))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// Runs `f` in a transaction of its own on a pooled connection, outside the group-commit writers
    /// (long background work that must not delay request writes; PostgreSQL).
    pub async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    pub fn read_blocking<T>(&self, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        f(&mut conn)
    }

    pub fn write_blocking<T, E>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + From<diesel::result::Error>,
    {
        let mut conn = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let _guard = if self.url.is_postgres() {
            None
        } else {
            // A poisoned lock only means another writer panicked; the database itself is consistent.
            Some(
                self.sqlite_writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        };
        AnyConnection::transaction(&mut conn, f)
    }
}

/// Starts the group-commit writers. They end when every [`Db`] clone (every sender) is gone.
fn spawn_group_writers(
    pool: r2d2::Pool<Manager>,
    lock: Arc<Mutex<()>>,
    writers: usize,
    postgres: bool,
) -> StoreResult<mpsc::Sender<Box<dyn Job>>> {
    let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..writers {
        let (pool, lock, rx) = (pool.clone(), lock.clone(), rx.clone());
        std::thread::Builder::new()
            .name(format!("sluice-writer-{i}"))
            .spawn(move || {
                loop {
                    // Take whatever is queued, up to a batch, then let the next writer take the rest.
                    let jobs = {
                        let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let Ok(first) = rx.recv() else { return };
                        let mut jobs = vec![first];
                        while jobs.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(job) => jobs.push(job),
                                Err(_) => break,
                            }
                        }
                        jobs
                    };
                    run_batch(&pool, (!postgres).then_some(&*lock), jobs);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database writer: {e}")))?;
    }
    Ok(tx)
}

fn run_batch(pool: &r2d2::Pool<Manager>, lock: Option<&Mutex<()>>, mut jobs: Vec<Box<dyn Job>>) {
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            // Each job's sender is dropped unrun: its writer is told the database is unavailable.
            tracing::error!(error = %e, "no database connection for a write batch");
            return;
        }
    };
    let _guard = lock.map(|l| l.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    // Writes of a batchable kind first go together (one statement each for their audit entries and
    // changes, and on PostgreSQL for the writes themselves). PostgreSQL: savepoints cost two round trips
    // per write, so that first run has none; a failing write aborts the transaction there, and the batch
    // is rolled back and run again one write at a time, each in a savepoint. SQLite's savepoints cost
    // nothing: always with them (a batchable kind's writes each take one, see [`one_by_one`]).
    let postgres = matches!(*conn, AnyConnection::Postgresql(_));
    let together_first = jobs.len() > 1;
    let mut run = |savepoints: bool, together: bool, jobs: &mut Vec<Box<dyn Job>>| {
        AnyConnection::transaction::<_, diesel::result::Error, _>(&mut conn, |c| {
            let together = if together { kinds_together(jobs) } else { Vec::new() };
            for (kind, run_kind) in &together {
                let of_kind = jobs
                    .iter_mut()
                    .filter(|j| j.together().is_some_and(|(k, _)| k == *kind))
                    .filter_map(|j| j.as_any())
                    .collect();
                // A failure or a panic undoes the batch; run one by one, each write then answers for itself.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_kind(c, of_kind)));
                if !matches!(ran, Ok(true)) {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
            }
            for job in jobs.iter_mut() {
                if job
                    .together()
                    .is_some_and(|(k, _)| together.iter().any(|(t, _)| *t == k))
                {
                    continue;
                }
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(c, savepoints))) {
                    Ok(true) => {}
                    // Without savepoints one failure spoils the whole transaction.
                    Ok(false) if !savepoints => return Err(diesel::result::Error::RollbackTransaction),
                    Ok(false) => {}
                    // A panicking write leaves its savepoint unknown: the whole batch is rolled back.
                    Err(_) => return Err(diesel::result::Error::RollbackTransaction),
                }
            }
            Ok(())
        })
    };
    let mut committed = if together_first {
        run(!postgres, true, &mut jobs)
    } else {
        Err(diesel::result::Error::RollbackTransaction)
    };
    if committed.is_err() {
        committed = run(true, false, &mut jobs);
    }
    let outcome = committed.map_err(|e| format!("commit failed: {e}"));
    for job in jobs {
        job.finish(outcome.clone());
    }
}

/// The batchable kinds of which a batch holds more than one write.
fn kinds_together(jobs: &[Box<dyn Job>]) -> Vec<(TypeId, Together)> {
    let mut kinds: Vec<(TypeId, Together, usize)> = Vec::new();
    for (kind, run) in jobs.iter().filter_map(|j| j.together()) {
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, _, n)) => *n += 1,
            None => kinds.push((kind, run, 1)),
        }
    }
    kinds
        .into_iter()
        .filter(|(_, _, n)| *n > 1)
        .map(|(k, r, _)| (k, r))
        .collect()
}
