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
use crate::auth::Principal;
use crate::auth::jwt::Authenticator;

/// Messages queued per connection; a client that lets its queue fill is disconnected (it reads the REST
/// API when it comes back), so a client that never reads pins no memory.
const QUEUE: usize = 4096;
/// Time a new connection has to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest packet before login: a CONNECT is small, and an anonymous peer gets no more.
const PRE_AUTH_MAX_PACKET: usize = 16 * 1024;
/// Time one packet may take to be written to a client before it is disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Filters handled per SUBSCRIBE packet, per connection, and sessions per client: a VEN needs a few;
/// beyond these a filter gets a failure code and a session is refused, at no cost to anyone else.
pub const MAX_FILTERS_PER_PACKET: usize = 64;
pub const MAX_FILTERS_PER_CONNECTION: usize = 256;
pub const MAX_SESSIONS_PER_CLIENT: usize = 4;

struct Client {
    /// The OpenADR clientID the session logged in as, and the token it logged in with (checked again by
    /// [`Broker::sessions`]' caller: a session ends when its token expires or its client is removed).
    client_id: String,
    token: String,
    filters: HashMap<String, QoS>,
    tx: mpsc::Sender<(String, Bytes, QoS)>,
}

/// Connected clients, and their subscriptions indexed by the literal levels before a filter's first
/// wildcard: a publication looks up each prefix of its topic (a handful of levels) instead of testing
/// every filter of 10,000 VENs. Every change is O(1): no lock is held for long.
#[derive(Default)]
struct Clients {
    clients: HashMap<u64, Client>,
    by_prefix: HashMap<String, HashMap<(u64, String), QoS>>,
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
    /// Adds (or updates) a filter of session `id`; false when the session has its most filters already.
    fn subscribe(&mut self, id: u64, filter: String, qos: QoS) -> bool {
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        if !c.filters.contains_key(&filter) && c.filters.len() >= MAX_FILTERS_PER_CONNECTION {
            return false;
        }
        c.filters.insert(filter.clone(), qos);
        let slot = self.by_prefix.entry(literal_prefix(&filter)).or_default();
        slot.insert((id, filter), qos);
        true
    }

    fn unsubscribe(&mut self, id: u64, filter: &str) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        if c.filters.remove(filter).is_some() {
            self.unindex(id, filter.to_owned());
        }
    }

    fn unindex(&mut self, id: u64, filter: String) {
        let key = literal_prefix(&filter);
        if let Some(slot) = self.by_prefix.get_mut(&key) {
            slot.remove(&(id, filter));
            if slot.is_empty() {
                self.by_prefix.remove(&key);
            }
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(c) = self.clients.remove(&id) {
            for f in c.filters.into_keys() {
                self.unindex(id, f);
            }
        }
    }

    fn sessions_of(&self, client_id: &str) -> usize {
        self.clients.values().filter(|c| c.client_id == client_id).count()
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
        // The broker runs on a thread and runtime of its own: however busy its clients keep it, the
        // notification worker, the latency pass and the HTTP workers do not wait for it.
        let listener = listener.into_std()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let accept = async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "the MQTT broker cannot listen");
                    return;
                }
            };
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
        };
        std::thread::Builder::new()
            .name("sluice-mqtt".into())
            .spawn(move || runtime.block_on(accept))?;
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
            for ((id, filter), qos) in slot {
                if matches(topic, filter) {
                    let q = best.entry(*id).or_insert(*qos);
                    if (*qos as u8) > (*q as u8) {
                        *q = *qos;
                    }
                }
            }
        }
        let mut n = 0;
        let mut stalled = Vec::new();
        for (id, qos) in best {
            let Some(c) = reg.clients.get(&id) else { continue };
            match c.tx.try_send((topic.to_owned(), payload.clone(), qos)) {
                Ok(()) if recipient.is_none_or(|r| r == c.client_id) => n += 1,
                Ok(()) => {}
                // A client that does not take its queue is disconnected rather than stalling everyone or
                // pinning memory; OpenADR clients recover by reading the REST API.
                Err(mpsc::error::TrySendError::Full(_)) => stalled.push(id),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        drop(reg);
        if !stalled.is_empty() {
            tracing::info!(
                sessions = stalled.len(),
                "MQTT sessions that stopped reading were disconnected"
            );
            self.disconnect(&stalled);
        }
        n
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(s: &mut S, p: Packet, max: usize) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(64);
    p.write(&mut buf, max).map_err(|e| e.to_string())?;
    match tokio::time::timeout(WRITE_TIMEOUT, s.write_all(&buf)).await {
        Ok(written) => written.map_err(|e| e.to_string()),
        Err(_) => Err("the client does not read: write timed out".into()),
    }
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
        let (principal, token, keep_alive) = self.login(&mut rd, &mut wr, &mut buf).await?;
        let business_logic = principal.is_business_logic();
        let (tx, mut rx) = mpsc::channel::<(String, Bytes, QoS)>(QUEUE);
        if !self.register(id, &principal.client_id, token, tx) {
            let refuse = Packet::ConnAck(ConnAck::new(ConnectReturnCode::ServiceUnavailable, false));
            write_packet(&mut wr, refuse, self.max_packet).await?;
            return Err(format!(
                "refused: {MAX_SESSIONS_PER_CLIENT} sessions of this client already"
            ));
        }
        write_packet(
            &mut wr,
            Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
            self.max_packet,
        )
        .await?;
        // Keep-alive: a client silent for 1.5 × its interval is gone (MQTT 3.1.1 §3.1.2.10).
        let idle = match keep_alive {
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
                    let answer = match packet {
                        Packet::Subscribe(s) => {
                            let codes = self.subscribe(id, &principal.client_id, business_logic, &s.filters);
                            Packet::SubAck(SubAck::new(s.pkid, codes))
                        }
                        Packet::Unsubscribe(u) => {
                            let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
                            for t in &u.topics {
                                reg.unsubscribe(id, t);
                            }
                            Packet::UnsubAck(UnsubAck::new(u.pkid))
                        }
                        Packet::PingReq => Packet::PingResp,
                        Packet::PubAck(_) => continue,
                        Packet::Publish(_) => return Err("clients may not publish to the notification broker".into()),
                        other => return Err(format!("unexpected packet {other:?}")),
                    };
                    write_packet(&mut wr, answer, self.max_packet).await?;
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

    /// Reads the CONNECT (in time, and small: nobody is logged in yet) and checks its token
    /// (OAUTH2_BEARER_TOKEN: username is the clientID, password the access token it was issued); refuses
    /// with CONNACK 4 otherwise. Returns who logged in, the token and the keep-alive asked for.
    async fn login<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        rd: &mut R,
        wr: &mut W,
        buf: &mut BytesMut,
    ) -> Result<(Principal, String, u16), String> {
        let pre_auth = self.max_packet.min(PRE_AUTH_MAX_PACKET);
        let connect = match tokio::time::timeout(CONNECT_TIMEOUT, read_packet(rd, buf, pre_auth)).await {
            Ok(Ok(Some(Packet::Connect(c)))) => c,
            Ok(Ok(_)) => return Err("the first packet was not CONNECT".into()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("no CONNECT in time".into()),
        };
        let principal = match &connect.login {
            Some(login) => match self.auth.verify(&login.password).await {
                Ok(p) if p.client_id == login.username || login.username == "{clientID}" => Some(p),
                _ => None,
            },
            None => None,
        };
        let Some(principal) = principal else {
            let refuse = Packet::ConnAck(ConnAck::new(ConnectReturnCode::BadUserNamePassword, false));
            write_packet(wr, refuse, self.max_packet).await?;
            return Err("refused: no valid token".into());
        };
        let token = connect.login.map(|l| l.password).unwrap_or_default();
        Ok((principal, token, connect.keep_alive))
    }

    /// Registers the session, unless its client already has as many as it may.
    fn register(&self, id: u64, client_id: &str, token: String, tx: mpsc::Sender<(String, Bytes, QoS)>) -> bool {
        let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
        if reg.sessions_of(client_id) >= MAX_SESSIONS_PER_CLIENT {
            return false;
        }
        let client = Client {
            client_id: client_id.to_owned(),
            token,
            filters: HashMap::new(),
            tx,
        };
        reg.clients.insert(id, client);
        true
    }

    /// Grants each filter the client may read (`may_subscribe`), at QoS 0 or 1; the SUBACK codes.
    fn subscribe(
        &self,
        id: u64,
        client_id: &str,
        business_logic: bool,
        filters: &[rumqttc::mqttbytes::v4::SubscribeFilter],
    ) -> Vec<SubscribeReasonCode> {
        let mut codes = vec![SubscribeReasonCode::Failure; filters.len()];
        let mut granted = Vec::new();
        // Past the per-packet limit, filters fail without being looked at.
        for (i, f) in filters.iter().enumerate().take(MAX_FILTERS_PER_PACKET) {
            if may_subscribe(&self.topics, &f.path, client_id, business_logic) {
                let qos = if f.qos == QoS::AtMostOnce {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                granted.push((i, f.path.clone(), qos));
            } else {
                tracing::info!(client = %client_id, filter = %f.path, "MQTT subscription refused");
            }
        }
        if filters.len() > MAX_FILTERS_PER_PACKET {
            tracing::info!(client = %client_id, filters = filters.len(), "MQTT SUBSCRIBE past the per-packet limit");
        }
        let mut reg = self.registry.clients.lock().unwrap_or_else(|p| p.into_inner());
        for (i, path, qos) in granted {
            if reg.subscribe(id, path, qos) {
                codes[i] = SubscribeReasonCode::Success(qos);
            }
        }
        codes
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
