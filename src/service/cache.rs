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
use chrono::{DateTime, Utc};

use crate::privacy::Viewer;
use crate::store::dialect::Listener;
use crate::wire::ObjectType;

/// The PostgreSQL channel that carries "something changed" between instances.
pub const CHANGE_CHANNEL: &str = "sluice_changes";

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
    /// For a list that depends on the time (`active=true`): the times it is right for, from the moment it
    /// was read until the first of its objects ends (`None`: none ends). Lists of other queries hold until
    /// the next change.
    pub valid: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// What a cache entry costs besides its body, ids and query: the map's slot, the key and list structs,
/// allocator headers. An estimate on the high side, so the byte budget is one the process really keeps.
const ENTRY_OVERHEAD: usize = 256;

/// Most lists cached at once, whatever their size: many small entries cost more than their bytes say.
const MAX_ENTRIES: usize = 10_000;

impl CachedList {
    /// `body` should own no spare capacity (a rendered list's buffer can be several times its length, and
    /// the budget counts its length): render into a `String`, then `into_boxed_str`.
    pub fn new(body: Bytes, ids: Arc<[String]>) -> Self {
        Self {
            body,
            ids,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            valid: None,
        }
    }

    /// The list, valid only from `from` until `until` (see [`CachedList::valid`]).
    pub fn valid_between(mut self, from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Self {
        self.valid = Some((from, until));
        self
    }

    fn valid_at(&self, now: Option<DateTime<Utc>>) -> bool {
        match (self.valid, now) {
            (None, None) => true,
            (Some((from, until)), Some(now)) => from <= now && until.is_none_or(|u| now < u),
            _ => false,
        }
    }

    /// What keeping this entry under `key` costs, bytes.
    fn size(&self, key: &ListKey) -> usize {
        self.body.len()
            + self.ids.iter().map(|i| i.capacity() + 24).sum::<usize>()
            + key.query.capacity()
            + ENTRY_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct Lists {
    /// The generation of every entry: entries of an older one can never be served again and are dropped.
    generation: u64,
    entries: HashMap<ListKey, CachedList>,
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

    /// The cached list for `key`, if it is of this generation and (for a list that depends on the time)
    /// right at `now`.
    pub fn list(&self, key: &ListKey, now: Option<DateTime<Utc>>) -> Option<CachedList> {
        let g = self.generation();
        let lists = self.lists.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lists.generation != g {
            return None;
        }
        lists.entries.get(key).filter(|l| l.valid_at(now)).cloned()
    }

    /// Stores a list rendered from data read in generation `generation` (read *before* the query, so a
    /// change committed meanwhile leaves the entry stale rather than wrong).
    pub fn put_list(&self, key: ListKey, generation: u64, list: CachedList) {
        let size = list.size(&key);
        if generation != self.generation() || size > self.max_bytes / 4 {
            return;
        }
        let mut lists = self.lists.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lists.generation != generation {
            // A newer generation: nothing cached before it can be served again.
            lists.entries = HashMap::new();
            lists.bytes = 0;
            lists.generation = generation;
        }
        if lists.bytes + size > self.max_bytes || lists.entries.len() >= MAX_ENTRIES {
            // Over budget: drop everything (stale entries first would need bookkeeping a cache need not have).
            lists.entries = HashMap::new();
            lists.bytes = 0;
        }
        lists.bytes += size;
        if let Some(old) = lists.entries.get(&key) {
            lists.bytes -= old.size(&key);
        }
        lists.entries.insert(key, list);
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
    let stop = Arc::new(AtomicBool::new(false));
    let (weak, stopped) = (Arc::downgrade(cache), stop.clone());
    let spawned = std::thread::Builder::new().name("sluice-listen".into()).spawn(move || {
        let mut conn: Option<Listener> = None;
        while !stopped.load(Ordering::Acquire) {
            let Some(cache) = weak.upgrade() else { return };
            if conn.is_none() {
                match Listener::connect(&url, CHANGE_CHANNEL) {
                    Some(c) => {
                        cache.invalidate();
                        conn = Some(c);
                    }
                    None => tracing::warn!("cannot listen for changes of other instances; retrying"),
                }
            }
            if let Some(c) = conn.as_mut() {
                match c.heard() {
                    Some(true) => cache.invalidate(),
                    Some(false) => {}
                    None => {
                        conn = None;
                        continue;
                    }
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
        assert_eq!(
            c.list(&key("a"), None).map(|l| l.body),
            Some(Bytes::from_static(b"[1]"))
        );
        c.invalidate();
        assert_eq!(c.list(&key("a"), None), None);
    }

    #[test]
    fn a_list_read_before_a_change_is_not_stored() {
        let c = ReadCache::new(1 << 20);
        let g = c.generation();
        c.invalidate(); // a write committed while the list was being read
        c.put_list(key("a"), g, list(b"[old]"));
        assert_eq!(c.list(&key("a"), None), None);
    }

    #[test]
    fn the_byte_budget_counts_keys_and_overhead_and_holds() {
        let c = ReadCache::new(4 * ENTRY_OVERHEAD);
        let g = c.generation();
        for i in 0..20 {
            c.put_list(key(&i.to_string()), g, list(b"xxxxxxxxxxxxxxxxxxxx"));
        }
        let lists = c.lists.lock().unwrap();
        assert!(lists.bytes <= 4 * ENTRY_OVERHEAD, "{}", lists.bytes);
        assert!(lists.entries.len() < 4, "{}", lists.entries.len());
    }

    #[test]
    fn entries_of_an_older_generation_are_dropped_by_the_next_store() {
        let c = ReadCache::new(1 << 20);
        c.put_list(key("a"), c.generation(), list(b"[1]"));
        c.invalidate();
        c.put_list(key("b"), c.generation(), list(b"[2]"));
        let lists = c.lists.lock().unwrap();
        assert_eq!(lists.entries.len(), 1);
        assert_eq!(lists.bytes, lists.entries[&key("b")].size(&key("b")));
    }

    #[test]
    fn a_list_of_active_events_is_served_until_its_first_event_ends() {
        use chrono::TimeZone;
        let at = |m| Utc.with_ymd_and_hms(2026, 7, 1, 12, m, 0).unwrap();
        let c = ReadCache::new(1 << 20);
        c.put_list(
            key("active"),
            c.generation(),
            list(b"[1]").valid_between(at(0), Some(at(30))),
        );
        assert!(c.list(&key("active"), Some(at(0))).is_some());
        assert!(c.list(&key("active"), Some(at(29))).is_some());
        assert!(
            c.list(&key("active"), Some(at(30))).is_none(),
            "an event in it has ended"
        );
        assert!(
            c.list(&key("active"), None).is_none(),
            "not an answer for a question without time"
        );
    }
}
