//! The embedded MQTT 3.1.1 broker `sluice serve` runs when MQTT is enabled, so one machine needs nothing
//! else. It is a notification broker, not a general one: clients log in with their OAuth2 token
//! (username = clientID, password = access token; OpenADR 3.1 `OAUTH2_BEARER_TOKEN`), subscribe within
//! what the access rules allow ([`may_subscribe`]), and receive what Sluice publishes. Clients do not
//! publish. QoS 0 and 1 (a QoS 2 subscription is granted QoS 1); no retained messages or persistent sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet, Publish, SubAck, SubscribeReasonCode, UnsubAck};
use rumqttc::mqttbytes::{QoS, matches};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::topics::{Topics, may_subscribe};
use crate::auth::jwt::Authenticator;

/// Messages queued per connection before the broker gives up on a client that does not read.
const QUEUE: usize = 4096;
/// Time a new connection has to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Client {
    /// The OpenADR clientID the session logged in as, and the token it logged in with (checked again by
    /// [`Broker::sessions`]' caller: a session ends when its token expires or its client is removed).
    client_id: String,
    token: String,
    filters: Vec<(String, QoS)>,
    tx: mpsc::Sender<(String, Bytes, QoS)>,
}

/// Connected clients, and their subscriptions indexed by the literal levels before a filter's first
/// wildcard: a publication looks up each prefix of its topic (a handful of levels) instead of testing
/// every filter of 10,000 VENs.
#[derive(Default)]
struct Clients {
    clients: HashMap<u64, Client>,
    by_prefix: HashMap<String, Vec<(u64, String, QoS)>>,
}

/// `a/b/+/c` → `a/b`; `a/b` → `a/b`; `#` → ``.
fn literal_prefix(filter: &str) -> String {
    filter
        .split('/')
        .take_while(|l| *l != "+" && *l != "#")
        .collect::<Vec<_>>()
        .join("/")
}

impl Clients {
    fn subscribe(&mut self, id: u64, filter: String, qos: QoS) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        c.filters.retain(|(f, _)| *f != filter);
        c.filters.push((filter.clone(), qos));
        let slot = self.by_prefix.entry(literal_prefix(&filter)).or_default();
        slot.retain(|(i, f, _)| !(*i == id && *f == filter));
        slot.push((id, filter, qos));
    }

    fn unsubscribe(&mut self, id: u64, filter: &str) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.filters.retain(|(f, _)| f != filter);
        }
        let key = literal_prefix(filter);
        if let Some(slot) = self.by_prefix.get_mut(&key) {
            slot.retain(|(i, f, _)| !(*i == id && f == filter));
            if slot.is_empty() {
                self.by_prefix.remove(&key);
            }
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(c) = self.clients.remove(&id) {
            for (f, _) in c.filters {
                let key = literal_prefix(&f);
                if let Some(slot) = self.by_prefix.get_mut(&key) {
                    slot.retain(|(i, _, _)| *i != id);
                    if slot.is_empty() {
                        self.by_prefix.remove(&key);
                    }
                }
            }
        }
    }
}

#[derive(Default)]
struct Registry {
    clients: Mutex<Clients>,
}

/// A running embedded broker.
#[derive(Clone)]
pub struct Broker {
    registry: Arc<Registry>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("addr", &self.addr).finish()
    }
}

struct Conn {
    auth: Arc<Authenticator>,
    topics: Topics,
    registry: Arc<Registry>,
    max_packet: usize,
}

impl Broker {
    /// Listens on `listener` (TLS when `tls` is given) and serves until the process ends.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        auth: Arc<Authenticator>,
        topics: Topics,
        max_packet: usize,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let registry = Arc::new(Registry::default());
        let conn = Arc::new(Conn {
            auth,
            topics,
            registry: registry.clone(),
            max_packet,
        });
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let ids = Arc::new(AtomicU64::new(1));
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = conn.clone();
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let result = match acceptor {
                        Some(a) => match a.accept(stream).await {
                            Ok(tls) => conn.serve(id, tls).await,
                            Err(e) => Err(format!("TLS handshake: {e}")),
                        },
                        None => conn.serve(id, stream).await,
                    };
                    conn.registry
                        .clients
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(id);
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "MQTT connection closed");
                    }
                });
            }
        });
        Ok(Self { registry, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every connected session: (connection, clientID, the token it logged in with).
    pub fn sessions(&self) -> Vec<(u64, String, String)> {
        let reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
        (reg.clients.iter())
            .map(|(id, c)| (*id, c.client_id.clone(), c.token.clone()))
            .collect()
    }

    /// Ends these sessions: they get nothing more, and their connections close.
    pub fn disconnect(&self, ids: &[u64]) {
        let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            // Dropping the session's queue sender ends its connection's loop.
            reg.remove(*id);
        }
    }

    /// Hands `payload` to every connected client with a matching subscription. Returns how many sessions
    /// got it: of `recipient` only when one is named (a VEN's own topic), of anyone otherwise.
    pub fn publish(&self, topic: &str, payload: Bytes, recipient: Option<&str>) -> usize {
        let reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
        // The best QoS per client over its matching filters.
        let mut best: HashMap<u64, QoS> = HashMap::new();
        let levels: Vec<&str> = topic.split('/').collect();
        for k in 0..=levels.len() {
            let Some(slot) = reg.by_prefix.get(&levels[..k].join("/")) else {
                continue;
            };
            for (id, filter, qos) in slot {
                if matches(topic, filter) {
                    let q = best.entry(*id).or_insert(*qos);
                    if (*qos as u8) > (*q as u8) {
                        *q = *qos;
                    }
                }
            }
        }
        let mut n = 0;
        for (id, qos) in best {
            // A client too slow to take its queue loses the message rather than stalling everyone;
            // OpenADR clients recover by reading the REST API.
            if let Some(c) = reg.clients.get(&id)
                && c.tx.try_send((topic.to_owned(), payload.clone(), qos)).is_ok()
                && recipient.is_none_or(|r| r == c.client_id)
            {
                n += 1;
            }
        }
        n
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(s: &mut S, p: Packet, max: usize) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(64);
    p.write(&mut buf, max).map_err(|e| e.to_string())?;
    s.write_all(&buf).await.map_err(|e| e.to_string())
}

/// Reads the next packet, or `None` at end of stream.
async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Packet>, String> {
    loop {
        match Packet::read(buf, max) {
            Ok(p) => return Ok(Some(p)),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        if s.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Ok(None);
        }
    }
}

impl Conn {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, id: u64, stream: S) -> Result<(), String> {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut buf = BytesMut::with_capacity(1024);
        let connect = match tokio::time::timeout(CONNECT_TIMEOUT, read_packet(&mut rd, &mut buf, self.max_packet)).await
        {
            Ok(Ok(Some(Packet::Connect(c)))) => c,
            Ok(Ok(_)) => return Err("the first packet was not CONNECT".into()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("no CONNECT in time".into()),
        };
        // OAUTH2_BEARER_TOKEN: username is the clientID, password the access token it was issued.
        let principal = match &connect.login {
            Some(login) => match self.auth.verify(&login.password).await {
                Ok(p) if p.client_id == login.username || login.username == "{clientID}" => Some(p),
                _ => None,
            },
            None => None,
        };
        let Some(principal) = principal else {
            let refuse = Packet::ConnAck(ConnAck::new(ConnectReturnCode::BadUserNamePassword, false));
            write_packet(&mut wr, refuse, self.max_packet).await?;
            return Err("refused: no valid token".into());
        };
        let business_logic = principal.is_business_logic();
        write_packet(
            &mut wr,
            Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
            self.max_packet,
        )
        .await?;
        let (tx, mut rx) = mpsc::channel::<(String, Bytes, QoS)>(QUEUE);
        self.registry
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clients
            .insert(
                id,
                Client {
                    client_id: principal.client_id.clone(),
                    token: connect.login.as_ref().map(|l| l.password.clone()).unwrap_or_default(),
                    filters: Vec::new(),
                    tx,
                },
            );
        // Keep-alive: a client silent for 1.5 × its interval is gone (MQTT 3.1.1 §3.1.2.10).
        let idle = match connect.keep_alive {
            0 => Duration::from_secs(24 * 3600),
            k => Duration::from_millis(u64::from(k) * 1500),
        };
        let mut pkid: u16 = 0;
        loop {
            tokio::select! {
                packet = tokio::time::timeout(idle, read_packet(&mut rd, &mut buf, self.max_packet)) => {
                    let packet = match packet {
                        Err(_) => return Err("keep-alive expired".into()),
                        Ok(Err(e)) => return Err(e),
                        Ok(Ok(None)) | Ok(Ok(Some(Packet::Disconnect))) => return Ok(()),
                        Ok(Ok(Some(p))) => p,
                    };
                    match packet {
                        Packet::Subscribe(s) => {
                            let mut codes = Vec::with_capacity(s.filters.len());
                            let mut granted = Vec::new();
                            for f in &s.filters {
                                if may_subscribe(&self.topics, &f.path, &principal.client_id, business_logic) {
                                    let qos = if f.qos == QoS::AtMostOnce { QoS::AtMostOnce } else { QoS::AtLeastOnce };
                                    granted.push((f.path.clone(), qos));
                                    codes.push(SubscribeReasonCode::Success(qos));
                                } else {
                                    tracing::info!(client = %principal.client_id, filter = %f.path, "MQTT subscription refused");
                                    codes.push(SubscribeReasonCode::Failure);
                                }
                            }
                            {
                                let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
                                for (path, qos) in granted {
                                    reg.subscribe(id, path, qos);
                                }
                            }
                            write_packet(&mut wr, Packet::SubAck(SubAck::new(s.pkid, codes)), self.max_packet).await?;
                        }
                        Packet::Unsubscribe(u) => {
                            {
                                let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
                                for t in &u.topics {
                                    reg.unsubscribe(id, t);
                                }
                            }
                            write_packet(&mut wr, Packet::UnsubAck(UnsubAck::new(u.pkid)), self.max_packet).await?;
                        }
                        Packet::PingReq => write_packet(&mut wr, Packet::PingResp, self.max_packet).await?,
                        Packet::PubAck(_) => {}
                        Packet::Publish(_) => return Err("clients may not publish to the notification broker".into()),
                        other => return Err(format!("unexpected packet {other:?}")),
                    }
                }
                out = rx.recv() => {
                    let Some((topic, payload, qos)) = out else { return Ok(()) };
                    let mut p = Publish::from_bytes(topic, qos, payload);
                    if qos != QoS::AtMostOnce {
                        pkid = pkid.checked_add(1).unwrap_or(1);
                        p.pkid = pkid;
                    }
                    write_packet(&mut wr, Packet::Publish(p), self.max_packet).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn subscriptions_are_indexed_by_their_levels_before_the_first_wildcard() {
        assert_eq!(
            literal_prefix("openadr3/clients/a/events/+"),
            "openadr3/clients/a/events"
        );
        assert_eq!(
            literal_prefix("openadr3/clients/a/events/create"),
            "openadr3/clients/a/events/create"
        );
        assert_eq!(literal_prefix("openadr3/+/x"), "openadr3");
        assert_eq!(literal_prefix("#"), "");
    }
}
