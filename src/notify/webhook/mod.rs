//! Webhooks, the OpenADR 3.1 notification binding every VTN offers (Def §Subscriptions): a change goes
//! to each callback of each subscription whose objects, operations, programID and targets match it and
//! whose client may read the object; it is POSTed there by [`WebhookClient`] (`client.rs`: the SSRF
//! guard, the echo handshake, the POST).

mod client;

pub use client::*;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::notify::channel::{Address, Attempt, Audience, Channel, Needs, Pacing, Subscriber};
use crate::privacy::{Viewer, scope_for_grants, scope_for_viewer};
use crate::store::outbox::{ChangeRow, Claimed};
use crate::wire::ObjectType;
use crate::wire::Text;
use crate::wire::ops::NotifiersResponse;

/// The name webhook notifications carry.
pub const WEBHOOK: &str = "WEBHOOK";

/// The webhook channel.
pub struct Webhooks {
    pub client: WebhookClient,
}

impl Channel for Webhooks {
    fn name(&self) -> &'static str {
        WEBHOOK
    }

    fn advertise(&self, notifiers: &mut NotifiersResponse) {
        notifiers.webhook = true;
    }

    fn needs(&self) -> Needs {
        Needs {
            subscriptions: true,
            vens: false,
            every_change: false,
        }
    }

    fn plan(&self, audience: &Audience, change: &ChangeRow, out: &mut Vec<Address>) {
        for sub in audience.subscribers.iter().filter(|s| change.seq > s.from_seq) {
            out.extend(deliveries(sub, audience.grants_of(&sub.client_id), change));
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing::Concurrent
    }

    fn keeps_address_health(&self) -> bool {
        true
    }

    fn deliver(&self, n: Claimed) -> BoxFuture<'_, Attempt> {
        async move {
            match (self.client)
                .post(&n.callback_url, n.bearer_token.as_deref(), n.payload, &n.id)
                .await
            {
                Ok(status) => Attempt::Delivered { status: Some(status) },
                Err(f) => Attempt::Failed(f),
            }
        }
        .boxed()
    }
}

/// The callbacks of `sub` that `change` goes to (none when it does not match or the subscriber may not
/// read the object), each with the targets the subscriber may see. `grants`: the subscriber's granted
/// targets when it is a VEN.
pub fn deliveries(sub: &Subscriber, grants: &[String], change: &ChangeRow) -> Vec<Address> {
    let kind = change.object.object_type;
    if let Some(p) = &sub.req.program_id
        && change.program_id.as_deref() != Some(p.as_str())
    {
        return Vec::new();
    }
    let requested: Option<Vec<String>> = sub
        .req
        .targets
        .as_ref()
        .map(|t| t.iter().map(|t| t.as_str().to_owned()).collect());
    let targets = change.object.targets.as_deref();
    let visible = match kind {
        ObjectType::Program | ObjectType::Event => {
            let scope = if sub.business_logic {
                scope_for_viewer(&Viewer::BusinessLogic, requested.as_deref())
            } else {
                scope_for_grants(grants.to_vec(), requested.as_deref())
            };
            if !scope.admits(targets) {
                return Vec::new();
            }
            scope.visible
        }
        ObjectType::Report | ObjectType::Subscription | ObjectType::Ven | ObjectType::Resource => {
            if !sub.business_logic && change.owner.as_deref() != Some(sub.client_id.as_str()) {
                return Vec::new();
            }
            // Subscription targets narrow the objects that carry targets (vens, resources).
            if let Some(r) = &requested
                && matches!(kind, ObjectType::Ven | ObjectType::Resource)
                && !targets.unwrap_or(&[]).iter().any(|t| r.contains(t))
            {
                return Vec::new();
            }
            None
        }
    };
    let mut out: Vec<Address> = Vec::new();
    for oo in &sub.req.object_operations {
        if !oo.objects.contains(&kind) || !oo.operations.contains(&change.operation) {
            continue;
        }
        let url = oo.callback_url.as_str();
        let token = oo.bearer_token.as_ref().map(Text::as_str);
        if out.iter().any(|d| d.to == url && d.credential.as_deref() == token) {
            continue;
        }
        out.push(Address {
            source: sub.id.clone(),
            client_id: sub.client_id.clone(),
            to: url.to_owned(),
            credential: token.map(str::to_owned),
            visible: visible.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::fanout::payload;
    use crate::wire::{Operation, StoredObject};
    use chrono::{TimeZone, Utc};

    fn sub(business_logic: bool, json: serde_json::Value) -> Subscriber {
        Subscriber {
            id: "s1".into(),
            client_id: "ven-a".into(),
            business_logic,
            req: serde_json::from_value(json).unwrap(),
            from_seq: 0,
        }
    }

    fn change(kind: ObjectType, op: Operation, targets: Option<&[&str]>, owner: Option<&str>) -> ChangeRow {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        ChangeRow {
            seq: 1,
            operation: op,
            object: StoredObject {
                id: "o1".into(),
                object_type: kind,
                created: t,
                modified: t,
                body: "{\"programID\":\"p1\"}".into(),
                targets: targets.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            },
            program_id: Some("p1".into()),
            event_id: Some("o1".into()),
            owner: owner.map(str::to_owned),
        }
    }

    fn events_sub(extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({"clientName": "a", "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": "https://a.example/cb", "bearerToken": "T"}
        ]});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    #[test]
    fn matching_operations_go_to_the_callback_with_its_token() {
        let s = sub(false, events_sub(serde_json::json!({})));
        let d = deliveries(&s, &[], &change(ObjectType::Event, Operation::Create, None, None));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to, "https://a.example/cb");
        assert_eq!(d[0].credential.as_deref(), Some("T"));
        assert!(deliveries(&s, &[], &change(ObjectType::Event, Operation::Delete, None, None)).is_empty());
        assert!(deliveries(&s, &[], &change(ObjectType::Program, Operation::Create, None, None)).is_empty());
    }

    #[test]
    fn program_filter_excludes_other_programs() {
        let s = sub(false, events_sub(serde_json::json!({"programID": "p2"})));
        assert!(deliveries(&s, &[], &change(ObjectType::Event, Operation::Create, None, None)).is_empty());
    }

    #[test]
    fn a_ven_hears_only_of_events_it_may_read_and_sees_only_its_targets() {
        let s = sub(false, events_sub(serde_json::json!({})));
        let targeted = change(ObjectType::Event, Operation::Create, Some(&["g1", "secret"]), None);
        assert!(deliveries(&s, &["g2".into()], &targeted).is_empty());
        let d = deliveries(&s, &["g1".into()], &targeted);
        assert_eq!(d.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&payload(&targeted, d[0].visible.as_deref())).unwrap();
        assert_eq!(body["object"]["targets"], serde_json::json!(["g1"]));
        assert_eq!(body["targets"], serde_json::json!(["g1"]));
        assert_eq!(body["operation"], "CREATE");
        assert_eq!(body["objectType"], "EVENT");
    }

    #[test]
    fn a_ven_hears_only_of_its_own_reports_and_the_business_logic_of_all() {
        let mut v = events_sub(serde_json::json!({}));
        v["objectOperations"][0]["objects"] = serde_json::json!(["REPORT"]);
        let own = change(ObjectType::Report, Operation::Create, None, Some("ven-a"));
        let other = change(ObjectType::Report, Operation::Create, None, Some("ven-b"));
        let ven = sub(false, v.clone());
        assert_eq!(deliveries(&ven, &[], &own).len(), 1);
        assert!(deliveries(&ven, &[], &other).is_empty());
        let bl = sub(true, v);
        assert_eq!(deliveries(&bl, &[], &other).len(), 1);
    }

    #[test]
    fn subscription_targets_narrow_what_the_business_logic_hears() {
        let bl = sub(true, events_sub(serde_json::json!({"targets": ["g1"]})));
        assert_eq!(
            deliveries(
                &bl,
                &[],
                &change(ObjectType::Event, Operation::Update, Some(&["g1"]), None)
            )
            .len(),
            1
        );
        assert!(
            deliveries(
                &bl,
                &[],
                &change(ObjectType::Event, Operation::Update, Some(&["g2"]), None)
            )
            .is_empty()
        );
    }
}
