//! Caches of what VENs ask for thousands of times: rendered program and event lists, each client's
//! granted targets, and which site (if any) a client is. Only caches: every entry belongs to a generation, and any committed change that can
//! alter such a list (programs, events, vens, resources, sites) starts a new one. With several instances on one
//! PostgreSQL, writers also `NOTIFY sluice_changes` in their transaction and every instance's listener
//! starts a new generation when it hears it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::wire::ObjectType;

/// The PostgreSQL channel that carries "something changed" between instances.
pub const CHANGE_CHANNEL: &str = "sluice_changes";

/// Who a cached list was rendered for: the business logic (sees everything, no hiding) or the VENs holding
/// exactly these granted targets (the answer depends on nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Viewer {
    BusinessLogic,
    Granted(Arc<[String]>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub kind: ObjectType,
    pub viewer: Viewer,
    /// The normalized query (filters and page).
    pub query: String,
}

/// A client's granted targets; `None` when it has no ven.
pub type Grants = Option<Arc<[String]>>;

/// A rendered list and the ids of the objects in it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedList {
    pub body: Bytes,
    pub ids: Arc<[String]>,
    /// Unique per rendering: a reader shown the same rendering twice was shown nothing new.
    pub serial: u64,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

impl CachedList {
    pub fn new(body: Bytes, ids: Arc<[String]>) -> Self {
        Self {
            body,
            ids,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn size(&self) -> usize {
        self.body.len() + self.ids.iter().map(|i| i.len() + 24).sum::<usize>()
    }
}

#[derive(Debug, Default)]
struct Lists {
    entries: HashMap<ListKey, (u64, CachedList)>,
    bytes: usize,
}

/// A value per client, each valid for the generation it was read in.
#[derive(Debug)]
struct PerClient<T>(Mutex<HashMap<String, (u64, T)>>);

impl<T: Clone> PerClient<T> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get(&self, client_id: &str, generation: u64) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(client_id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, client_id: &str, generation: u64, value: T) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(client_id.to_owned(), (generation, value));
    }
}

/// Rendered lists, granted targets and clients' sites, valid for one generation.
#[derive(Debug)]
pub struct ReadCache {
    generation: AtomicU64,
    lists: Mutex<Lists>,
    grants: PerClient<Grants>,
    /// The site whose ven a client is (`None`: not a site): decides whether its reports are telemetry.
    sites: PerClient<Option<Arc<str>>>,
    max_bytes: usize,
    /// The PostgreSQL change listener: its stop flag and thread.
    listener: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

impl ReadCache {
    /// A cache holding at most `max_bytes` of rendered JSON (0 disables list caching).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            generation: AtomicU64::new(1),
            lists: Mutex::new(Lists::default()),
            grants: PerClient::new(),
            sites: PerClient::new(),
            max_bytes,
            listener: Mutex::new(None),
        }
    }

    /// Stops the change listener and waits for its thread to end. Called on shutdown: a process must
    /// not exit while that thread is inside libpq (TLS state is torn down by exit handlers).
    pub fn stop_listening(&self) {
        let taken = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((stop, thread)) = taken {
            stop.store(true, Ordering::Release);
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something committed that may change lists or grants: every entry is stale from now on.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn list(&self, key: &ListKey) -> Option<CachedList> {
        let g = self.generation();
        let lists = self.lists.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lists
            .entries
            .get(key)
            .filter(|(gen_, _)| *gen_ == g)
            .map(|(_, body)| body.clone())
    }

    /// Stores a list rendered from data read in generation `generation` (read *before* the query, so a
    /// change committed meanwhile leaves the entry stale rather than wrong).
    pub fn put_list(&self, key: ListKey, generation: u64, list: CachedList) {
        let size = list.size();
        if generation != self.generation() || size > self.max_bytes / 4 {
            return;
        }
        let mut lists = self.lists.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lists.bytes + size > self.max_bytes {
            // Over budget: drop everything (stale entries first would need bookkeeping a cache need not have).
            lists.entries.clear();
            lists.bytes = 0;
        }
        lists.bytes += size;
        if let Some((_, old)) = lists.entries.insert(key, (generation, list)) {
            lists.bytes -= old.size();
        }
    }

    pub fn grants(&self, client_id: &str) -> Option<Grants> {
        self.grants.get(client_id, self.generation())
    }

    pub fn put_grants(&self, client_id: &str, generation: u64, targets: Grants) {
        if generation == self.generation() {
            self.grants.put(client_id, generation, targets);
        }
    }

    pub fn site(&self, client_id: &str) -> Option<Option<Arc<str>>> {
        self.sites.get(client_id, self.generation())
    }

    pub fn put_site(&self, client_id: &str, generation: u64, site: Option<Arc<str>>) {
        if generation == self.generation() {
            self.sites.put(client_id, generation, site);
        }
    }
}

/// Listens for other instances' changes on PostgreSQL and invalidates `cache` when one is heard. The thread
/// ends when the cache is dropped. Notifications are read after a cheap query every `poll`; a lost
/// connection is re-established, and the cache invalidated, since changes may have been missed meanwhile.
pub fn spawn_pg_listener(url: String, cache: &Arc<ReadCache>, poll: Duration) {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    let stop = Arc::new(AtomicBool::new(false));
    let (weak, stopped) = (Arc::downgrade(cache), stop.clone());
    let spawned = std::thread::Builder::new().name("sluice-listen".into()).spawn(move || {
        let mut conn: Option<PgConnection> = None;
        while !stopped.load(Ordering::Acquire) {
            let Some(cache) = weak.upgrade() else { return };
            if conn.is_none() {
                let listening = PgConnection::establish(&url)
                    .ok()
                    .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANGE_CHANNEL}")).ok().map(|()| c));
                match listening {
                    Some(c) => {
                        cache.invalidate();
                        conn = Some(c);
                    }
                    None => tracing::warn!("cannot listen for changes of other instances; retrying"),
                }
            }
            if let Some(c) = conn.as_mut() {
                if c.batch_execute("SELECT 1").is_err() {
                    conn = None;
                    continue;
                }
                let mut heard = false;
                for n in c.notifications_iter() {
                    match n {
                        Ok(_) => heard = true,
                        Err(_) => break,
                    }
                }
                if heard {
                    cache.invalidate();
                }
            }
            drop(cache);
            std::thread::sleep(poll);
        }
    });
    match spawned {
        Ok(thread) => {
            *cache.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((stop, thread));
        }
        Err(e) => tracing::error!(error = %e, "cannot start the change listener"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> ListKey {
        ListKey {
            kind: ObjectType::Event,
            viewer: Viewer::BusinessLogic,
            query: q.into(),
        }
    }

    fn list(body: &'static [u8]) -> CachedList {
        CachedList::new(Bytes::from_static(body), Arc::from(Vec::new()))
    }

    #[test]
    fn entries_are_served_only_in_their_generation() {
        let c = ReadCache::new(1 << 20);
        let g = c.generation();
        c.put_list(key("a"), g, list(b"[1]"));
        assert_eq!(c.list(&key("a")).map(|l| l.body), Some(Bytes::from_static(b"[1]")));
        c.invalidate();
        assert_eq!(c.list(&key("a")), None);
    }

    #[test]
    fn a_list_read_before_a_change_is_not_stored() {
        let c = ReadCache::new(1 << 20);
        let g = c.generation();
        c.invalidate(); // a write committed while the list was being read
        c.put_list(key("a"), g, list(b"[old]"));
        assert_eq!(c.list(&key("a")), None);
    }

    #[test]
    fn the_byte_budget_holds() {
        let c = ReadCache::new(100);
        let g = c.generation();
        for i in 0..20 {
            c.put_list(key(&i.to_string()), g, list(b"xxxxxxxxxxxxxxxxxxxx"));
        }
        let lists = c.lists.lock().unwrap();
        assert!(lists.bytes <= 100 && lists.entries.len() <= 5);
    }
}
