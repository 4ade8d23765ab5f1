//! The MQTT binding as a notification channel (OpenADR 3.1 MQTT notifier binding): a change is
//! published on the business-logic topics of its kind (and of its program), and on the topics of every
//! VEN that may read it, with that VEN's targets only.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::topics::Topics;
use super::{MqttBinding, Published};
use crate::notify::channel::{Address, Attempt, Audience, CallFailure, Channel, Needs, Pacing};
use crate::privacy::scope_for_grants;
use crate::store::outbox::{ChangeRow, Claimed};
use crate::wire::ops::NotifiersResponse;
use crate::wire::{ObjectType, Operation};

/// The name MQTT notifications carry.
pub const MQTT: &str = "MQTT";

/// Publications per claim (publishing is in-process or a client queue: cheap).
const BATCH: i64 = 16384;

impl Channel for MqttBinding {
    fn name(&self) -> &'static str {
        MQTT
    }

    fn advertise(&self, notifiers: &mut NotifiersResponse) {
        notifiers.mqtt = Some(self.info.clone());
    }

    fn needs(&self) -> Needs {
        Needs {
            subscriptions: false,
            vens: true,
            // Every change is published on the topics, subscribed to by REST or not.
            every_change: true,
        }
    }

    fn plan(&self, audience: &Audience, change: &ChangeRow, out: &mut Vec<Address>) {
        publications(&self.topics, change, &audience.vens, out);
    }

    fn pacing(&self) -> Pacing {
        Pacing::Inline { batch: BATCH }
    }

    /// A VEN's notification (its own topic) that no session of that VEN received is not delivered (it
    /// would count as the VEN's notice in response latency): it fails at once, since MQTT keeps nothing
    /// for a session that connects later.
    fn deliver(&self, n: Claimed) -> BoxFuture<'_, Attempt> {
        async move {
            let recipient = (!n.client_id.is_empty()).then_some(n.client_id.as_str());
            match self
                .publisher
                .publish(&n.callback_url, n.payload.into(), recipient)
                .await
            {
                Ok(Published::Delivered) => Attempt::Delivered { status: None },
                Ok(Published::NoSession) => {
                    Attempt::Final("no session of the VEN was connected and subscribed to the topic".into())
                }
                Err(reason) => Attempt::Failed(CallFailure { status: None, reason }),
            }
        }
        .boxed()
    }
}

fn publication(topic: String, client_id: String, visible: Option<Arc<HashSet<String>>>) -> Address {
    Address {
        source: topic.clone(),
        client_id,
        to: topic,
        credential: None,
        visible,
    }
}

/// Where a change is published: the business-logic topics of its kind (and of its program), and the
/// topics of every VEN in `vens` that may read it, with that VEN's targets only.
pub fn publications(t: &Topics, change: &ChangeRow, vens: &[(String, Vec<String>)], out: &mut Vec<Address>) {
    let kind = change.object.object_type;
    let op = change.operation;
    let o = &change.object;
    let plural = match kind {
        ObjectType::Program => "programs",
        ObjectType::Event => "events",
        ObjectType::Report => "reports",
        ObjectType::Subscription => "subscriptions",
        ObjectType::Ven => "vens",
        ObjectType::Resource => "resources",
    };
    out.push(publication(Topics::topic(&t.all_of(plural), op), String::new(), None));
    let to_readers = |what: &str, out: &mut Vec<Address>| {
        for (client, grants) in vens {
            let scope = scope_for_grants(grants.clone(), None);
            if scope.admits(o.targets.as_deref()) {
                out.push(publication(
                    Topics::topic(&t.client(client, what), op),
                    client.clone(),
                    scope.visible,
                ));
            }
        }
    };
    match kind {
        ObjectType::Program => {
            if op != Operation::Create {
                out.push(publication(Topics::topic(&t.program(&o.id), op), String::new(), None));
            }
            to_readers("programs", out);
        }
        ObjectType::Event => {
            if let Some(p) = &change.program_id {
                out.push(publication(
                    Topics::topic(&t.program_events(p), op),
                    String::new(),
                    None,
                ));
            }
            to_readers("events", out);
        }
        ObjectType::Ven => {
            if let Some(owner) = &change.owner
                && op != Operation::Create
            {
                out.push(publication(
                    Topics::topic(&t.client(owner, "ven"), op),
                    owner.clone(),
                    None,
                ));
            }
        }
        ObjectType::Resource => {
            if let Some(owner) = &change.owner {
                out.push(publication(
                    Topics::topic(&t.client(owner, "resources"), op),
                    owner.clone(),
                    None,
                ));
            }
        }
        ObjectType::Report | ObjectType::Subscription => {}
    }
}
