//! `sluice mqtt acl`: the Mosquitto ACL for an external broker.

use clap::Subcommand;
use sluice::service::clients;
use sluice::startup::open_db;

use super::{Common, settings};

#[derive(Subcommand)]
pub(crate) enum MqttAction {
    /// Print a Mosquitto ACL file for an external broker (business-logic clients from the database).
    Acl {
        #[command(flatten)]
        common: Common,
    },
}

/// Prints the ACL file.
pub(crate) fn acl(common: &Common) -> anyhow::Result<()> {
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let operators: Vec<String> = clients::list(&db)?
        .into_iter()
        .filter(|c| c.role == "operator")
        .map(|c| c.client_id)
        .collect();
    print!(
        "{}",
        sluice::notify::mqtt::mosquitto_acl(&s.mqtt.topic_prefix, s.mqtt.external_username.as_deref(), &operators)
    );
    Ok(())
}
