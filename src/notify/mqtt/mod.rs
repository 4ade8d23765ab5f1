//! The OpenADR 3.1 MQTT binding: what `GET /notifiers` advertises, the topic names, and the publisher
//! (the embedded broker, or a client of an external broker such as Mosquitto).

pub mod broker;
mod channel;
pub mod topics;

pub use channel::MQTT;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::config::MqttSettings;
use crate::wire::ops::{MqttAuthentication, MqttBindingInfo};
use topics::Topics;

/// Where notifications are published.
#[derive(Clone, Debug)]
pub enum Publisher {
    Embedded(broker::Broker),
    External(rumqttc::AsyncClient),
}

/// What became of a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Received: by a session of the recipient VEN (embedded broker), or handed to the broker.
    Delivered,
    /// No session of the recipient VEN was connected and subscribed: MQTT keeps nothing for later.
    NoSession,
}

impl Publisher {
    /// Publishes one notification (QoS 1). The embedded broker hands it to every matching connected
    /// client at once, and for a VEN's own topic (`recipient`) says whether a session of that VEN got it;
    /// an external broker gets it through the client's queue (what happens next is the broker's).
    pub async fn publish(&self, topic: &str, payload: Bytes, recipient: Option<&str>) -> Result<Published, String> {
        match self {
            Publisher::Embedded(b) => Ok(match (b.publish(topic, payload, recipient), recipient) {
                (0, Some(_)) => Published::NoSession,
                _ => Published::Delivered,
            }),
            Publisher::External(c) => c
                .publish_bytes(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .map(|()| Published::Delivered)
                .map_err(|e| format!("publishing to the MQTT broker: {e}")),
        }
    }
}

/// Ends the embedded broker's sessions whose token no longer verifies (expired, or signed by a key no
/// longer trusted) or whose client was removed (built-in tokens: the clients table). Returns how many.
/// A token is checked at CONNECT; this keeps the check true for as long as the session lasts.
pub async fn end_revoked_sessions(
    broker: &broker::Broker,
    auth: &crate::auth::jwt::Authenticator,
    db: &crate::store::Db,
) -> crate::store::StoreResult<usize> {
    let sessions = broker.sessions();
    if sessions.is_empty() {
        return Ok(0);
    }
    let mut revoked = Vec::new();
    let mut alive = Vec::new();
    for (id, client, token) in sessions {
        match auth.verify(&token).await {
            Ok(_) => alive.push((id, client)),
            Err(_) => revoked.push(id),
        }
    }
    if auth.external_token_url().is_none() && !alive.is_empty() {
        let ids: Vec<String> = alive.iter().map(|(_, c)| c.clone()).collect();
        let known = db.read(move |c| crate::store::repo::existing_clients(c, &ids)).await?;
        revoked.extend(alive.iter().filter(|(_, c)| !known.contains(c)).map(|(id, _)| *id));
    }
    if !revoked.is_empty() {
        tracing::info!(
            sessions = revoked.len(),
            "MQTT sessions ended: token expired or client removed"
        );
        broker.disconnect(&revoked);
    }
    Ok(revoked.len())
}

/// The binding as configured and started.
#[derive(Clone, Debug)]
pub struct MqttBinding {
    pub info: MqttBindingInfo,
    pub topics: Arc<Topics>,
    pub publisher: Publisher,
}

impl MqttBinding {
    /// Starts the embedded broker (on `listener`) or connects to the external one.
    pub async fn start(
        s: &MqttSettings,
        tls: Option<Arc<rustls::ServerConfig>>,
        auth: Arc<crate::auth::jwt::Authenticator>,
        listener: Option<tokio::net::TcpListener>,
    ) -> anyhow::Result<Self> {
        let topics = Topics::new(&s.topic_prefix);
        let (publisher, uris, method, username) = if s.embedded {
            let listener = match listener {
                Some(l) => l,
                None => tokio::net::TcpListener::bind(&s.bind)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen for MQTT on {}: {e}", s.bind))?,
            };
            let scheme = if tls.is_some() { "mqtts" } else { "mqtt" };
            if tls.is_none() {
                tracing::warn!(
                    "the embedded MQTT broker runs without TLS: OpenADR 3.1 requires MQTTS; set tls.cert and tls.key"
                );
            }
            let b = broker::Broker::start(listener, tls, auth, topics.clone(), s.max_packet_bytes)?;
            let uri = format!("{scheme}://{}", b.addr());
            tracing::info!(%uri, "embedded MQTT broker listening");
            (
                Publisher::Embedded(b),
                vec![uri],
                "OAUTH2_BEARER_TOKEN".to_owned(),
                Some("{clientID}".to_owned()),
            )
        } else {
            let url = s.external_url.clone().unwrap_or_default();
            let client = external_client(s, &url)?;
            let username = (s.external_auth_method == "OAUTH2_BEARER_TOKEN").then(|| "{clientID}".to_owned());
            (
                Publisher::External(client),
                vec![url],
                s.external_auth_method.clone(),
                username,
            )
        };
        let uris = if s.uris.is_empty() { uris } else { s.uris.clone() };
        Ok(Self {
            info: MqttBindingInfo {
                uris,
                serialization: "JSON".into(),
                authentication: MqttAuthentication { method, username },
            },
            topics: Arc::new(topics),
            publisher,
        })
    }
}

/// A client of the external broker; its event loop runs in the background and reconnects by itself.
fn external_client(s: &MqttSettings, url: &str) -> anyhow::Result<rumqttc::AsyncClient> {
    let (tls, rest) = match url.strip_prefix("mqtts://") {
        Some(r) => (true, r),
        None => (false, url.strip_prefix("mqtt://").unwrap_or(url)),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse::<u16>()
                .map_err(|_| anyhow::anyhow!("mqtt.external_url: bad port"))?,
        ),
        None => (rest.to_owned(), if tls { 8883 } else { 1883 }),
    };
    let id = format!("sluice-{}", uuid::Uuid::new_v4().simple());
    let mut opts = rumqttc::MqttOptions::new(id, host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(s.max_packet_bytes, s.max_packet_bytes);
    if let (Some(u), Some(p)) = (&s.external_username, &s.external_password) {
        opts.set_credentials(u, p);
    }
    if tls {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        opts.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1024);
    tokio::spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                tracing::warn!(error = %e, "external MQTT broker connection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    Ok(client)
}

/// A Mosquitto ACL file that locks the topics as the embedded broker does: Sluice (`publisher`) writes
/// everything under the prefix, business-logic clients read everything, and every other client reads
/// only its own `clients/<username>/…` topics (its MQTT username must be its OpenADR clientID).
pub fn mosquitto_acl(prefix: &str, publisher: Option<&str>, operators: &[String]) -> String {
    let mut out = String::from(
        "# Mosquitto ACL for Sluice's OpenADR 3.1 MQTT notifications (generated by `sluice mqtt acl`).\n\
         # Use with acl_file in mosquitto.conf; VENs log in with their clientID as username.\n\n",
    );
    match publisher {
        Some(p) => out.push_str(&format!(
            "# Sluice publishes every notification.\nuser {p}\ntopic write {prefix}/#\n\n"
        )),
        None => out.push_str(
            "# Set mqtt.external_username so that only Sluice may publish; until then nobody is given\n\
             # write access here.\n\n",
        ),
    }
    for op in operators {
        out.push_str(&format!("# business logic\nuser {op}\ntopic read {prefix}/#\n\n"));
    }
    out.push_str(&format!(
        "# Every VEN reads only its own topics.\npattern read {prefix}/clients/%u/#\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::mosquitto_acl;

    #[test]
    fn the_mosquitto_acl_gives_each_ven_only_its_own_client_scope() {
        let acl = mosquitto_acl("openadr3", Some("sluice"), &["op-1".into()]);
        assert!(acl.contains("user sluice\ntopic write openadr3/#"));
        assert!(acl.contains("user op-1\ntopic read openadr3/#"));
        assert!(acl.ends_with("pattern read openadr3/clients/%u/#\n"));
        assert!(!mosquitto_acl("openadr3", None, &[]).contains("topic write"));
    }
}
