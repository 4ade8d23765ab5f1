//! The seam every notification channel plugs into. A channel says where a committed change goes
//! (`plan`, run by fan-out for each change), how its claimed notifications are delivered (`pacing`,
//! `deliver`, run by the worker) and what `GET /notifiers` tells clients about it (`advertise`). The
//! channels are registered once at start-up ([`Channels`], built by `startup`); fan-out, the worker and
//! `/notifiers` know nothing else of them. Webhooks (`notify/webhook`) and the MQTT binding
//! (`notify/mqtt`) are the two implementations; a new channel is one more file and one more line where
//! `startup` registers the channels.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::store::outbox::{ChangeRow, Claimed, SubscriberRow};
use crate::wire::SubscriptionRequest;
use crate::wire::ops::NotifiersResponse;

/// One place a change goes on a channel: a row of `notifications` once planned.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    /// What asked for it: the subscription (webhooks) or the topic (MQTT).
    pub source: String,
    /// The client it is for (empty: no one client, e.g. a business-logic topic). Deliveries of one
    /// client share its slots, and a VEN's notice in response latency is the first delivery to it.
    pub client_id: String,
    /// Where it is sent: a callback URL, a topic.
    pub to: String,
    /// Sent with it (a webhook's bearer token).
    pub credential: Option<String>,
    /// The targets its reader may see (`None`: all).
    pub visible: Option<Arc<HashSet<String>>>,
}

/// Why a callback URL was refused or a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub status: Option<u16>,
    pub reason: String,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// How one delivery attempt went; the worker turns it into the recorded outcome (retries with backoff,
/// up to `notifications.max_attempts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: Option<u16>,
    },
    /// Failed; a later attempt may succeed.
    Failed(CallFailure),
    /// Failed in a way no retry mends (for MQTT: nobody was there to receive it, and nothing is kept).
    Final(String),
}

/// How a channel's claimed notifications are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Each delivery is cheap and local (a publication to a broker): up to `batch` are claimed at once
    /// and delivered one after another.
    Inline { batch: i64 },
    /// Each delivery waits on a remote party (an HTTP POST): deliveries run concurrently within the
    /// instance's slots (`notifications.concurrency`) and each client's share of them.
    Concurrent,
}

/// What a channel needs read before it can plan a batch of changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The subscriptions interested in the batch's object types.
    pub subscriptions: bool,
    /// Every VEN that may read a program or event of the batch, with its granted targets.
    pub vens: bool,
    /// Every change, subscribed to or not (otherwise a change is recorded in the outbox only when some
    /// subscription names its kind of object).
    pub every_change: bool,
}

/// A stored subscription, parsed.
pub struct Subscriber {
    pub id: String,
    pub client_id: String,
    pub business_logic: bool,
    pub req: SubscriptionRequest,
    /// Changes up to this sequence number predate the subscription.
    pub from_seq: i64,
}

impl Subscriber {
    pub fn parse(row: SubscriberRow) -> Option<Self> {
        match serde_json::from_str::<SubscriptionRequest>(&row.body) {
            Ok(req) => Some(Self {
                id: row.id,
                client_id: row.client_id,
                business_logic: row.business_logic,
                req,
                from_seq: row.from_seq,
            }),
            Err(e) => {
                tracing::error!(subscription = %row.id, error = %e, "stored subscription does not parse; skipped");
                None
            }
        }
    }
}

/// Who may hear of a batch of changes, read once per batch (by `fanout::plan`) for all channels.
#[derive(Default)]
pub struct Audience {
    /// The subscriptions interested in the batch's object types ([`Needs::subscriptions`]).
    pub subscribers: Vec<Subscriber>,
    /// Each VEN client's granted targets among the targets of the batch's programs and events.
    pub grants: HashMap<String, Vec<String>>,
    /// Every VEN that may read a program or event of the batch, with its grants ([`Needs::vens`]).
    pub vens: Vec<(String, Vec<String>)>,
}

impl Audience {
    /// A VEN client's granted targets among the batch's targets.
    pub fn grants_of(&self, client_id: &str) -> &[String] {
        self.grants.get(client_id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A notification channel.
pub trait Channel: Send + Sync + 'static {
    /// The name its notifications carry (`notifications.channel`, `notifiedVia`), e.g. `WEBHOOK`.
    fn name(&self) -> &'static str;

    /// Writes what `GET /notifiers` says of this channel.
    fn advertise(&self, notifiers: &mut NotifiersResponse);

    /// What planning needs read first.
    fn needs(&self) -> Needs;

    /// Where `change` goes on this channel, and what each reader may see of it.
    fn plan(&self, audience: &Audience, change: &ChangeRow, out: &mut Vec<Address>);

    /// How its claimed notifications are delivered.
    fn pacing(&self) -> Pacing;

    /// Whether the health of each address is kept (`/ops/callbacks`: consecutive failures, broken).
    fn keeps_address_health(&self) -> bool {
        false
    }

    /// Makes one attempt at delivering a claimed notification.
    fn deliver(&self, n: Claimed) -> BoxFuture<'_, Attempt>;
}

/// The channels this instance runs, in the order they are served, and what they need together (fixed at
/// start-up: every write asks).
#[derive(Clone, Default)]
pub struct Channels {
    list: Arc<Vec<Arc<dyn Channel>>>,
    needs: Needs,
}

impl Channels {
    pub fn new(channels: Vec<Arc<dyn Channel>>) -> Self {
        let needs = channels.iter().fold(Needs::default(), |a, c| {
            let n = c.needs();
            Needs {
                subscriptions: a.subscriptions || n.subscriptions,
                vens: a.vens || n.vens,
                every_change: a.every_change || n.every_change,
            }
        });
        Self {
            list: Arc::new(channels),
            needs,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Channel>> {
        self.list.iter()
    }

    /// What the channels together need read before planning.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// `GET /notifiers`: what every channel advertises.
    pub fn notifiers(&self) -> NotifiersResponse {
        let mut r = NotifiersResponse::default();
        for c in self.iter() {
            c.advertise(&mut r);
        }
        r
    }
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|c| c.name())).finish()
    }
}
