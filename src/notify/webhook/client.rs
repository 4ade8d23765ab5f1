//! The HTTP side of webhooks: callback URL checks, the echo handshake, and notification POSTs, behind an
//! SSRF guard. Callback URLs come from VENs, so every request is hostile until proven otherwise: only
//! https (unless allowed), no redirects, and no private, loopback or link-local destinations unless the
//! configuration allows them. Names are resolved by a guarded resolver, so a name cannot point at a
//! refused address; IP literals are checked before the request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::NotificationSettings;
use crate::notify::channel::CallFailure;

/// Which destination addresses are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    pub allow_private: bool,
}

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressKind {
    Public,
    Loopback,
    /// Private, link-local, shared (CGNAT) and unique-local ranges: the operator's own networks and cloud
    /// metadata services.
    Private,
    /// Never a destination: unspecified, multicast, broadcast, reserved.
    Never,
}

/// IPv4 ranges that are never a callback's destination besides the obvious ones (RFC 6890's special-purpose
/// registry): IETF protocol assignments, the three documentation networks, benchmarking.
const NEVER_V4: [(u32, u32); 5] = [
    (0xc000_0000, 24), // 192.0.0.0/24
    (0xc000_0200, 24), // 192.0.2.0/24
    (0xc612_0000, 15), // 198.18.0.0/15
    (0xc633_6400, 24), // 198.51.100.0/24
    (0xcb00_7100, 24), // 203.0.113.0/24
];

/// Cloud platform endpoints outside the private ranges (Azure's wire server), as private as a metadata
/// service on 169.254.169.254.
const PLATFORM_V4: [u32; 1] = [0xa83f_8110]; // 168.63.129.16

fn in_v4(ip: u32, (net, len): (u32, u32)) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    ip & mask == net & mask
}

fn kind_of(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let bits = u32::from(v4);
            if v4.is_loopback() {
                AddressKind::Loopback
            } else if v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || o[0] == 0
                || o[0] >= 240
                || NEVER_V4.iter().any(|r| in_v4(bits, *r))
            {
                AddressKind::Never
            } else if v4.is_private()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || PLATFORM_V4.contains(&bits)
            {
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return kind_of(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let low_v4 = || IpAddr::V4(std::net::Ipv4Addr::from(u128::from(v6) as u32));
            if v6.is_loopback() {
                AddressKind::Loopback
            } else if v6.is_unspecified() || v6.is_multicast() {
                AddressKind::Never
            } else if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64's well-known prefix 64:ff9b::/96 reaches the IPv4 address in its low 32 bits.
                kind_of(low_v4())
            } else if seg[0] == 0x2002 {
                // 6to4 2002::/16 reaches the IPv4 address in bits 16..48.
                let v4 = std::net::Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8);
                kind_of(IpAddr::V4(v4))
            } else if seg[..6] == [0; 6] || (seg[0] == 0x2001 && seg[1] == 0) {
                // IPv4-compatible ::/96 (deprecated) and Teredo 2001::/32 (the IPv4 address obfuscated):
                // tunnels to wherever the embedded address leads.
                AddressKind::Never
            } else if (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1)
            {
                // Unique-local, link-local, site-local fec0::/10, and NAT64's local-use 64:ff9b:1::/48.
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
    }
}

impl AddressPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        match kind_of(ip) {
            AddressKind::Public => true,
            AddressKind::Loopback => self.allow_loopback,
            AddressKind::Private => self.allow_private,
            AddressKind::Never => false,
        }
    }
}

/// Resolves names and keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to addresses that callbacks may not reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

fn failure(reason: impl Into<String>) -> CallFailure {
    CallFailure {
        status: None,
        reason: reason.into(),
    }
}

/// The error and its causes in one line (reqwest's top-level message alone rarely says what went wrong).
fn describe(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Most bytes of a callback's answer that are read (the echo value; anything longer is wrong anyway).
const MAX_ANSWER_BYTES: usize = 4096;

/// The client all webhook traffic goes through.
#[derive(Clone)]
pub struct WebhookClient {
    /// Deliveries, from the notification worker.
    http: reqwest::Client,
    /// Echo checks, from request handlers. A pool of its own: a pooled connection is driven by a task on
    /// the runtime that opened it, and an HTTP worker's runtime ends at shutdown, while deliveries under
    /// way must still finish.
    echo_http: reqwest::Client,
    policy: AddressPolicy,
    allow_http: bool,
    echo_timeout: Duration,
    /// What one subscription, and one client, may ask for.
    pub limits: SubscriptionLimits,
}

/// Limits on subscriptions, so that one VEN cannot multiply the server's outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionLimits {
    pub operations: usize,
    pub callback_urls: usize,
    pub per_client: i64,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("policy", &self.policy)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl WebhookClient {
    pub fn new(s: &NotificationSettings) -> anyhow::Result<Self> {
        let policy = AddressPolicy {
            allow_loopback: s.allow_loopback,
            allow_private: s.allow_private,
        };
        let builder = || -> anyhow::Result<reqwest::Client> {
            let mut builder = reqwest::Client::builder()
                // No HTTP_PROXY/HTTPS_PROXY from the environment: a proxy resolves names itself, past the
                // guarded resolver, and would carry callbacks to loopback or metadata addresses.
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(GuardedResolver { policy }))
                .connect_timeout(Duration::from_secs(s.timeout_secs.min(10)))
                .timeout(Duration::from_secs(s.timeout_secs))
                .pool_idle_timeout(Duration::from_secs(30))
                .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION"), " (OpenADR 3.1 VTN)"));
            if let Some(path) = &s.extra_ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("notifications.extra_ca_file {}: {e}", path.display()))?;
                for cert in reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| anyhow::anyhow!("notifications.extra_ca_file {}: {e}", path.display()))?
                {
                    builder = builder.add_root_certificate(cert);
                }
            }
            Ok(builder.build()?)
        };
        Ok(Self {
            http: builder()?,
            echo_http: builder()?,
            policy,
            allow_http: s.allow_http,
            echo_timeout: Duration::from_secs(s.echo_timeout_secs),
            limits: SubscriptionLimits {
                operations: s.max_operations_per_subscription as usize,
                callback_urls: s.max_callback_urls_per_subscription as usize,
                per_client: i64::from(s.max_subscriptions_per_client),
            },
        })
    }

    /// A callback URL must be https (Def §Webhooks; http only where configuration allows it), name a host,
    /// carry no credentials, and not be an IP literal the policy refuses.
    pub fn check_url(&self, url: &str) -> Result<Url, CallFailure> {
        let parsed = Url::parse(url).map_err(|e| failure(format!("callbackUrl {url:?} is not a URL: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(failure(format!("callbackUrl {url:?} must use https"))),
            other => return Err(failure(format!("callbackUrl {url:?} has scheme {other:?}; use https"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(failure(format!("callbackUrl {url:?} must not carry credentials")));
        }
        let ip = match parsed.host() {
            None => return Err(failure(format!("callbackUrl {url:?} names no host"))),
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
        };
        if let Some(ip) = ip
            && !self.policy.allows(ip)
        {
            return Err(failure(format!(
                "callbackUrl {url:?} points at {ip}, an address callbacks may not reach"
            )));
        }
        Ok(parsed)
    }

    /// The subscription handshake: `GET callbackUrl?echo=<random>` must answer 200 with that value.
    /// The value is accepted bare or as a JSON string (clients differ).
    ///
    /// What went wrong on the network (refused, no such name, timed out, which status) is logged, not
    /// returned: the VEN that sent the URL learns only that the handshake failed, so the check cannot be
    /// used to scan what the server can reach.
    pub async fn verify_echo(&self, url: &str) -> Result<(), CallFailure> {
        let target = self.check_url(url)?;
        self.echo(target).await.map_err(|f| {
            tracing::info!(callback = %url, detail = %f, "callback echo handshake failed");
            failure(format!(
                "{url} did not pass the echo handshake (GET with ?echo=<value> must answer 200 with the value)"
            ))
        })
    }

    async fn echo(&self, mut target: Url) -> Result<(), CallFailure> {
        let url = target.to_string();
        let challenge = uuid::Uuid::new_v4().simple().to_string();
        target.query_pairs_mut().append_pair("echo", &challenge);
        let resp = self
            .echo_http
            .get(target)
            .timeout(self.echo_timeout)
            .send()
            .await
            .map_err(|e| failure(format!("echo request to {url} failed: {}", describe(&e))))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(CallFailure {
                status: Some(status),
                reason: format!("echo request to {url} answered {status}, not 200"),
            });
        }
        let answer = read_capped(resp)
            .await
            .map_err(|e| failure(format!("echo answer from {url}: {e}")))?;
        let answer = answer.trim();
        let unquoted = serde_json::from_str::<String>(answer).ok();
        if answer == challenge || unquoted.as_deref() == Some(challenge.as_str()) {
            Ok(())
        } else {
            Err(CallFailure {
                status: Some(status),
                reason: format!("{url} did not echo the value it was sent"),
            })
        }
    }

    /// POSTs one notification. Any 2xx is delivered; everything else (3xx included: redirects are not
    /// followed) is a failure with its reason.
    pub async fn post(
        &self,
        url: &str,
        bearer: Option<&str>,
        payload: String,
        notification_id: &str,
    ) -> Result<u16, CallFailure> {
        let target = self.check_url(url)?;
        let mut req = self
            .http
            .post(target)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Sluice-Notification-Id", notification_id)
            .body(payload);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| failure(describe(&e)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let reason = if status.is_redirection() {
                "redirect refused (callbacks are not followed elsewhere)".to_owned()
            } else {
                status.canonical_reason().unwrap_or("error").to_owned()
            };
            Err(CallFailure {
                status: Some(status.as_u16()),
                reason,
            })
        }
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<String, String> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_ANSWER_BYTES {
            return Err(format!("answer longer than {MAX_ANSWER_BYTES} bytes"));
        }
    }
    String::from_utf8(buf).map_err(|_| "answer is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_loopback_and_link_local_destinations_are_refused_by_default() {
        let strict = AddressPolicy {
            allow_loopback: false,
            allow_private: false,
        };
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!strict.allows(ip(refused)), "{refused} must be refused");
        }
        assert!(strict.allows(ip("93.184.216.34")));
        assert!(strict.allows(ip("2606:2800:220:1::1")));
    }

    #[test]
    fn special_purpose_ranges_and_ipv6_forms_embedding_a_refused_ipv4_address_are_refused() {
        let strict = AddressPolicy {
            allow_loopback: false,
            allow_private: false,
        };
        for refused in [
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.7",
            "203.0.113.9",
            "168.63.129.16",
            "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe",                   // NAT64 of 169.254.169.254
            "64:ff9b:1::a00:1",                     // local-use NAT64
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::1",                    // 6to4 of 169.254.169.254
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
            "::7f00:1",                             // IPv4-compatible 127.0.0.1
            "::a9fe:a9fe",                          // IPv4-compatible 169.254.169.254
            "fec0::1",                              // site-local
        ] {
            assert!(!strict.allows(ip(refused)), "{refused} must be refused");
        }
        // Neighbours of the refused ranges, and NAT64 / 6to4 of a public address, are ordinary destinations.
        for allowed in [
            "192.0.3.1",
            "198.17.255.1",
            "198.20.0.1",
            "203.0.114.1",
            "168.63.129.17",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(strict.allows(ip(allowed)), "{allowed} must be allowed");
        }
    }

    #[test]
    fn configuration_can_allow_loopback_without_allowing_private_networks() {
        let local = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(local.allows(ip("127.0.0.1")));
        assert!(local.allows(ip("::1")));
        assert!(!local.allows(ip("10.0.0.1")));
        assert!(!local.allows(ip("0.0.0.0")), "unspecified is never a destination");
    }

    fn client(allow_http: bool) -> WebhookClient {
        let s = NotificationSettings {
            allow_http,
            ..NotificationSettings::default()
        };
        WebhookClient::new(&s).unwrap()
    }

    #[test]
    fn plain_http_callbacks_are_refused_unless_allowed() {
        assert!(client(false).check_url("http://example.com/cb").is_err());
        assert!(client(true).check_url("http://example.com/cb").is_ok());
        assert!(client(false).check_url("https://example.com/cb").is_ok());
        assert!(client(false).check_url("ftp://example.com/cb").is_err());
        assert!(client(false).check_url("https://user:pw@example.com/cb").is_err());
        assert!(client(false).check_url("https://127.0.0.1/cb").is_err());
        assert!(client(false).check_url("https://[::1]/cb").is_err());
    }
}
