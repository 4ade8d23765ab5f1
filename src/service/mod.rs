//! The rules. Every change, whoever asks for it (REST API, CLI, the dispatcher), goes through a function
//! here: it checks privacy, validates what needs data, and writes through [`AppState::commit`] in one
//! transaction. The caller's scopes are checked before it, where the operation is declared
//! (`api::access`).

pub mod audit;
pub mod background;
pub mod cache;
pub mod clients;
pub mod commit;
pub mod dispatch;
pub mod events;
pub mod latency;
pub mod notifications;
pub mod privacy;
pub mod programs;
pub mod reports;
pub mod resources;
pub mod settlement;
pub mod sites;
pub mod subscriptions;
pub mod vens;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use self::cache::{CachedList, ListKey, ReadCache};
pub(crate) use self::commit::{Links, Tx};
use crate::auth::Principal;
use crate::auth::jwt::Authenticator;
use crate::clock::SharedClock;
use crate::error::AppError;
use crate::notify::Notifier;
use crate::notify::channel::Channels;
use crate::notify::mqtt::MqttBinding;
use crate::notify::webhook::WebhookClient;
use crate::privacy::{TargetFilter, Viewer};
use crate::store::repo;
use crate::store::{AnyConnection, Db, StoreResult};
use crate::wire::ObjectType;
use crate::wire::render::write_array;
use crate::wire::{StoredObject, TargetView};

/// What every request handler and CLI command needs.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub clock: SharedClock,
    pub auth: Arc<Authenticator>,
    /// Key of the client-secret hash.
    pub pepper: Arc<[u8]>,
    pub cache: Arc<ReadCache>,
    /// Wakes the notification worker once a change is committed.
    pub notifier: Arc<Notifier>,
    /// Callback checks (subscriptions).
    pub webhooks: WebhookClient,
    /// The MQTT binding, when enabled (its topics, its broker's sessions).
    pub mqtt: Option<MqttBinding>,
    /// The notification channels, as registered at start-up (`GET /notifiers`, the worker).
    pub channels: Channels,
    /// Units assumed for report payloads that name none.
    pub units: Arc<crate::flex::telemetry::UnitDefaults>,
    /// Events seen by polling VENs, written in batches by the latency pass.
    pub seen: Arc<latency::Seen>,
    /// Rendered dispatch views (`GET /ops/dispatches/{id}`).
    pub views: Arc<dispatch::Views>,
    /// The tasks beside the server, joined on shutdown.
    pub background: Arc<background::Background>,
    /// Credentials removed here or elsewhere: their tokens are refused.
    pub revocations: Arc<clients::Revocations>,
    /// Rate limits of the token endpoint.
    pub token_limits: Arc<clients::TokenLimits>,
}

impl AppState {
    /// Whether the database answers a round trip (`/health`).
    pub async fn database_answers(&self) -> StoreResult<()> {
        self.db.read(crate::store::repo::ping).await
    }

    /// Who the caller is as a reader of targeted objects: the business logic, or the holder of some granted
    /// targets (cached per client for the current generation).
    pub async fn viewer(&self, who: &Principal) -> Result<Viewer, AppError> {
        if who.is_business_logic() {
            return Ok(Viewer::BusinessLogic);
        }
        let grants = match self.cache.grants(&who.client_id) {
            Some(g) => g,
            None => {
                let generation = self.cache.generation();
                let id = who.client_id.clone();
                let g = self.db.read(move |c| privacy::grants(c, &id)).await?;
                self.cache.put_grants(&who.client_id, generation, g.clone());
                g
            }
        };
        Ok(privacy::ven_viewer(grants))
    }

    /// A program or event list as JSON, from the cache when the same viewer asked the same question in
    /// this generation. `query` must name every input of `load` besides the viewer's targets and `at`:
    /// the time a list of active events is read for (it is cached until the first of its events ends).
    pub(crate) async fn cached_list<F>(
        &self,
        who: &Principal,
        kind: ObjectType,
        query: String,
        requested: Option<Vec<String>>,
        at: Option<DateTime<Utc>>,
        load: F,
    ) -> Result<CachedList, AppError>
    where
        F: FnOnce(&mut AnyConnection, &TargetFilter) -> StoreResult<Vec<StoredObject>> + Send + 'static,
    {
        let viewer = self.viewer(who).await?;
        let key = ListKey { kind, viewer, query };
        if let Some(list) = self.cache.list(&key, at) {
            return Ok(list);
        }
        let generation = self.cache.generation();
        let scope = crate::privacy::scope_for_viewer(&key.viewer, requested.as_deref());
        let filter = scope.filter.clone();
        let (objects, next_end) = self
            .db
            .read(move |c| {
                let objects = load(c, &filter)?;
                // Conservative: the next end of any event, not only of those listed.
                let next_end = at.map(|t| repo::next_event_end(c, t)).transpose()?.flatten();
                Ok((objects, next_end))
            })
            .await?;
        let ids: Arc<[String]> = objects.iter().map(|o| o.id.clone()).collect();
        let json = View {
            objects,
            visible: scope.visible,
        }
        .to_json();
        let mut list = CachedList::new(Bytes::from(json.into_boxed_str().into_boxed_bytes()), ids);
        if let Some(t) = at {
            list = list.valid_between(t, next_end);
        }
        self.cache.put_list(key, generation, list.clone());
        Ok(list)
    }
}

/// Objects as one reader may see them: with VEN readers, targets outside `visible` are hidden.
#[derive(Debug, Clone)]
pub struct View<T> {
    pub objects: T,
    pub visible: Option<Arc<HashSet<String>>>,
}

impl<T> View<T> {
    pub fn all(objects: T) -> Self {
        Self { objects, visible: None }
    }

    fn with_view<R>(&self, f: impl FnOnce(TargetView<'_>) -> R) -> R {
        match &self.visible {
            None => f(TargetView::All),
            Some(set) => {
                let keep = |t: &str| set.contains(t);
                f(TargetView::Only(&keep))
            }
        }
    }
}

impl View<Vec<StoredObject>> {
    pub fn to_json(&self) -> String {
        self.with_view(|v| write_array(&self.objects, v))
    }
}

impl View<StoredObject> {
    pub fn to_json(&self) -> String {
        self.with_view(|v| {
            let mut out = String::with_capacity(self.objects.body.len() + 160);
            self.objects.write_json(&mut out, v);
            out
        })
    }
}

/// Maps a unique-constraint conflict to a message naming the field, keeping other errors.
pub(crate) fn name_conflict(
    e: crate::store::StoreError,
    column: &str,
    message: impl FnOnce() -> String,
) -> crate::error::AppError {
    match e {
        crate::store::StoreError::Conflict(c) if c.contains(column) => crate::error::AppError::Conflict(message()),
        other => other.into(),
    }
}

/// The columns common to every object write: a content JSON (targets apart), the targets, the time.
pub(crate) fn object_write<T: serde::Serialize>(
    state: &AppState,
    id: String,
    content: &T,
    targets: Option<&[crate::wire::Target]>,
) -> Result<crate::store::repo::ObjectWrite, crate::error::AppError> {
    object_write_at(state.clock.now(), id, content, targets)
}

/// [`object_write`] at a given time (writes prepared inside a transaction).
pub(crate) fn object_write_at<T: serde::Serialize>(
    now: chrono::DateTime<chrono::Utc>,
    id: String,
    content: &T,
    targets: Option<&[crate::wire::Target]>,
) -> Result<crate::store::repo::ObjectWrite, crate::error::AppError> {
    Ok(crate::store::repo::ObjectWrite {
        id,
        body: crate::wire::render::content_json(content)
            .map_err(|e| crate::error::AppError::Internal(e.to_string()))?,
        targets: targets.map(|t| t.iter().map(|t| t.as_str().to_owned()).collect()),
        now,
    })
}

impl crate::error::AppError {
    /// Names the object in a bare "not found" from the store.
    pub fn with_not_found(self, what: &str, id: &str) -> Self {
        match self {
            Self::NotFound(m) if m == "not found" => Self::not_found(what, id),
            other => other,
        }
    }
}
