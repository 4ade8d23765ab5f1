//! MQTT topic names (the VTN chooses them; yaml `notifierOperationsTopics`). Objects every client may not
//! read go on business-logic topics; what a VEN may read goes on topics under its own clientID, so that
//! privacy holds by the broker's access rules alone (one rule for every VEN: `<prefix>/clients/<its
//! username>/#`), without clients filtering.
//!
//! ```text
//! <prefix>/programs/{create,update,delete}          every program (business logic)
//! <prefix>/programs/<programID>/{update,delete}     one program (business logic)
//! <prefix>/events/{…}, <prefix>/programs/<programID>/events/{…}, <prefix>/reports/{…},
//! <prefix>/subscriptions/{…}, <prefix>/vens/{…}, <prefix>/resources/{…}   (business logic)
//! <prefix>/clients/<clientID>/programs/{…}          programs that VEN may read, targets hidden
//! <prefix>/clients/<clientID>/events/{…}            events that VEN may read, targets hidden
//! <prefix>/clients/<clientID>/resources/{…}         its resources
//! <prefix>/clients/<clientID>/ven/{update,delete}   its ven
//! ```

use crate::wire::Operation;
use crate::wire::ops::{OperationTopics, TopicsResponse};

/// Topic names under one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

fn op_level(op: Operation) -> &'static str {
    match op {
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Delete => "delete",
        Operation::Read => "read",
    }
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The topics of one base: `<base>/create` (unless for one object), `/update`, `/delete`, `/+`.
    pub fn response(base: &str, with_create: bool) -> TopicsResponse {
        TopicsResponse {
            topics: OperationTopics {
                create: with_create.then(|| format!("{base}/create")),
                update: format!("{base}/update"),
                delete: format!("{base}/delete"),
                all: format!("{base}/+"),
            },
        }
    }

    /// `<base>/<operation>`.
    pub fn topic(base: &str, op: Operation) -> String {
        format!("{base}/{}", op_level(op))
    }

    /// Every object of a kind (`programs`, `events`, `reports`, `subscriptions`, `vens`, `resources`).
    pub fn all_of(&self, plural: &str) -> String {
        format!("{}/{plural}", self.prefix)
    }

    pub fn program(&self, program_id: &str) -> String {
        format!("{}/programs/{program_id}", self.prefix)
    }

    pub fn program_events(&self, program_id: &str) -> String {
        format!("{}/programs/{program_id}/events", self.prefix)
    }

    /// Everything under one VEN client: its subscriptions may match nothing else.
    pub fn client_scope(&self, client_id: &str) -> String {
        format!("{}/clients/{client_id}/", self.prefix)
    }

    /// `programs`, `events`, `resources` or `ven` for one VEN client.
    pub fn client(&self, client_id: &str, what: &str) -> String {
        format!("{}{what}", self.client_scope(client_id))
    }

    /// The whole tree (business-logic subscriptions may use any filter under it).
    pub fn root(&self) -> &str {
        &self.prefix
    }
}

/// Whether a client may subscribe to `filter`: the business logic to anything under the prefix, a VEN
/// only to filters that cannot match outside its own client scope (no wildcard above its clientID).
pub fn may_subscribe(topics: &Topics, filter: &str, client_id: &str, business_logic: bool) -> bool {
    if !rumqttc::mqttbytes::valid_filter(filter) {
        return false;
    }
    if business_logic {
        return filter == "#" || filter == topics.root() || filter.starts_with(&format!("{}/", topics.root()));
    }
    // The client id itself must not contain topic syntax, or a crafted id could widen its scope.
    if client_id.is_empty() || client_id.contains(['/', '+', '#']) {
        return false;
    }
    let scope = topics.client_scope(client_id);
    filter.starts_with(&scope) && filter.len() > scope.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_carry_update_and_delete_and_single_objects_have_no_create() {
        let t = Topics::new("openadr3");
        let all = Topics::response(&t.all_of("programs"), true).topics;
        assert_eq!(all.create.as_deref(), Some("openadr3/programs/create"));
        assert_eq!(all.update, "openadr3/programs/update");
        assert_eq!(all.all, "openadr3/programs/+");
        let one = Topics::response(&t.program("p1"), false).topics;
        assert_eq!(one.create, None);
        assert_eq!(one.delete, "openadr3/programs/p1/delete");
        assert!(rumqttc::mqttbytes::matches("openadr3/programs/update", &all.all));
    }

    #[test]
    fn a_ven_may_subscribe_only_inside_its_own_scope() {
        let t = Topics::new("openadr3");
        assert!(may_subscribe(&t, "openadr3/clients/ven-a/events/+", "ven-a", false));
        assert!(may_subscribe(&t, "openadr3/clients/ven-a/#", "ven-a", false));
        for refused in [
            "openadr3/clients/ven-b/events/create",
            "openadr3/clients/+/events/create",
            "openadr3/clients/#",
            "openadr3/#",
            "#",
            "openadr3/events/create",
            "openadr3/clients/ven-a",
            "openadr3/clients/ven-ab/events/create",
        ] {
            assert!(!may_subscribe(&t, refused, "ven-a", false), "{refused}");
        }
        assert!(may_subscribe(&t, "openadr3/#", "op", true));
        assert!(may_subscribe(&t, "openadr3/clients/+/events/create", "op", true));
        assert!(!may_subscribe(&t, "other/#", "op", true));
        assert!(!may_subscribe(&t, "openadr3/clients/a+b/x", "a+b", false));
    }
}
