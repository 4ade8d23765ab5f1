//! Settings: defaults ← optional TOML file ← `SLUICE_` environment variables (sections separated by `__`,
//! e.g. `SLUICE_DATABASE__URL`). Validated once at start, reporting every problem together.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::store::{DbUrl, SqliteSync};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub tls: TlsSettings,
    pub log: LogSettings,
    pub notifications: NotificationSettings,
    pub mqtt: MqttSettings,
    pub telemetry: TelemetrySettings,
    pub latency: LatencySettings,
    pub audit: AuditSettings,
}

/// The audit log (`service::audit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// How often new entries are sealed into the hash chain, milliseconds.
    pub seal_interval_ms: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { seal_interval_ms: 1000 }
    }
}

/// Response-latency measurement (docs/demand-response.md, "Response latency"; the shares and windows are unverified defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LatencySettings {
    /// How often metrics are brought up to date with new telemetry, seconds.
    pub interval_secs: u64,
    /// Baseline: mean load in this window before notification, seconds.
    pub baseline_secs: i64,
    /// Share of the commitment that counts as a start of response.
    pub start_share: f64,
    /// Share of the commitment that counts as sustained.
    pub sustain_share: f64,
    /// Window after an event in which snapback is looked for, seconds.
    pub snapback_secs: i64,
}

impl Default for LatencySettings {
    fn default() -> Self {
        Self {
            interval_secs: 5,
            baseline_secs: 300,
            start_share: 0.05,
            sustain_share: 0.95,
            snapback_secs: 900,
        }
    }
}

impl LatencySettings {
    pub fn thresholds(&self) -> crate::flex::latency::Thresholds {
        crate::flex::latency::Thresholds {
            baseline_secs: self.baseline_secs,
            start_share: self.start_share,
            sustain_share: self.sustain_share,
            snapback_secs: self.snapback_secs,
        }
    }
}

/// Reading VEN reports as site telemetry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Units of power payloads (DEMAND, SETPOINT, …) whose report names none: `W`, `KW`, `MW` or `GW`.
    pub default_power_units: String,
    /// Units of energy payloads (USAGE, READING, …) whose report names none: `WH`, `KWH`, `MWH` or `GWH`.
    pub default_energy_units: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            default_power_units: "KW".into(),
            default_energy_units: "KWH".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    /// Public base URL (e.g. `https://vtn.example.com`) used in `/auth/server`; derived from the request's
    /// Host header when empty (set it whenever the server is reachable from other machines).
    pub public_url: Option<String>,
    /// Addresses (`10.0.0.5`) or networks (`10.0.0.0/8`, `fd00::/8`) of reverse proxies whose `Forwarded`
    /// and `X-Forwarded-*` headers are believed; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// Limit of a file uploaded to the API (meter data, prices); larger files go through `sluice import`.
    pub max_upload_bytes: usize,
    /// Seconds a client has to send its request headers and body.
    pub request_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is held.
    pub keep_alive_secs: u64,
    /// Seconds in-flight requests get to finish on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Bytes of rendered program and event lists kept in memory (0 turns the read cache off).
    pub read_cache_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (default `sqlite://sluice.db`) or `postgres://…`.
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    /// SQLite only: `full` (survives power loss) or `normal` (survives a process crash).
    pub sqlite_synchronous: SqliteSync,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Sluice issues tokens at `/auth/token` to clients made with `sluice client add`.
    Internal,
    /// Tokens come from an external identity provider; `/auth/token` answers 501.
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// Lifetime of issued tokens, seconds.
    pub token_ttl_secs: i64,
    /// HS256 signing key for issued tokens (at least 32 bytes). When empty a key is generated on first
    /// start and kept in the database, so every instance on one database shares it.
    pub signing_key: Option<String>,
    /// External mode: the IdP's token URL, advertised at `/auth/server`.
    pub external_token_url: Option<String>,
    /// External mode: the IdP's JWKS URL (keys cached, refreshed every `jwks_refresh_secs`).
    pub jwks_url: Option<String>,
    /// External mode: a PEM public key file instead of a JWKS.
    pub public_key_file: Option<PathBuf>,
    /// Algorithm of `public_key_file` (RS256, ES256, EdDSA, …).
    pub public_key_algorithm: String,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// The claim holding the OpenADR clientID.
    pub client_id_claim: String,
    pub jwks_refresh_secs: u64,
    /// External mode: a token naming a key the cached JWKS lacks fetches it again at most this often.
    pub jwks_min_refetch_secs: u64,
    /// Token requests admitted per minute for one client id (in bursts of as many); more get 429.
    pub token_requests_per_minute_per_client: u32,
    /// Token requests admitted per minute from one source address; more get 429.
    pub token_requests_per_minute_per_address: u32,
    /// How often each instance looks for credentials removed elsewhere (their tokens stop working then),
    /// milliseconds.
    pub revocation_poll_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain; with `key`, Sluice serves HTTPS (TLS 1.2+) and no plain HTTP.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `Strict-Transport-Security: max-age` of responses served over TLS, seconds (0: none).
    pub hsts_max_age_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            // One year: browsers keep to HTTPS across visits months apart.
            hsts_max_age_secs: 31_536_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `sluice=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

/// Webhook notifications (subscriptions' callbacks).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Whether this instance delivers notifications (every instance records them; several may deliver).
    pub deliver: bool,
    /// Accept `http://` callback URLs (local setups and tests only: the spec requires https).
    pub allow_http: bool,
    /// Let callbacks reach loopback addresses (local setups and tests only).
    pub allow_loopback: bool,
    /// Let callbacks reach private, link-local and unique-local addresses (a utility's own network).
    pub allow_private: bool,
    /// Extra PEM CA certificates trusted for callback TLS (besides the public web roots).
    pub extra_ca_file: Option<PathBuf>,
    /// Seconds one delivery attempt may take, on any channel (a webhook POST, a publication).
    pub timeout_secs: u64,
    /// Seconds the subscription echo check may take.
    pub echo_timeout_secs: u64,
    /// Attempts before a notification is given up (dead letter).
    pub max_attempts: u32,
    /// First retry delay, milliseconds; doubled per attempt, with ±20% jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay, seconds.
    pub backoff_max_secs: u64,
    /// Consecutive failures after which a callback URL is shown as broken.
    pub broken_after: u32,
    /// Notification POSTs in flight at once, per instance.
    pub concurrency: usize,
    /// Of those, at most this many for one client's callbacks: a receiver that holds POSTs open (slow or
    /// hostile) delays only its own client's notifications.
    pub per_client_concurrency: usize,
    /// Most `objectOperations` in one subscription.
    pub max_operations_per_subscription: u32,
    /// Most distinct callback URLs in one subscription (each is echo-checked and POSTed to).
    pub max_callback_urls_per_subscription: u32,
    /// Most subscriptions one VEN client may hold (the business logic is not limited).
    pub max_subscriptions_per_client: u32,
    /// Milliseconds between checks for due retries and other instances' work.
    pub poll_interval_ms: u64,
    /// Seconds a claimed notification stays with its instance before another may take it over.
    pub lease_secs: u64,
    /// Days a finished notification (delivered, failed or cancelled) is kept for the operator's view; older
    /// ones are deleted in the background. Response latency keeps its own record of when a VEN was
    /// notified, so it loses nothing.
    pub retention_days: u32,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            deliver: true,
            allow_http: false,
            allow_loopback: false,
            allow_private: false,
            extra_ca_file: None,
            timeout_secs: 10,
            echo_timeout_secs: 10,
            max_attempts: 12,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            broken_after: 5,
            concurrency: 256,
            per_client_concurrency: 16,
            max_operations_per_subscription: 10,
            max_callback_urls_per_subscription: 3,
            max_subscriptions_per_client: 20,
            poll_interval_ms: 1000,
            lease_secs: 60,
            retention_days: 30,
        }
    }
}

/// The OpenADR 3.1 MQTT notification binding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSettings {
    /// Offer the MQTT binding (`GET /notifiers` then lists it).
    pub enabled: bool,
    /// Run the embedded broker in `sluice serve` (VENs log in with their OAuth2 token). When false, Sluice
    /// publishes to the broker at `external_url`.
    pub embedded: bool,
    /// The embedded broker's listen address (MQTTS with `tls.cert`/`tls.key`, plain MQTT otherwise).
    pub bind: String,
    /// Broker URIs advertised to clients in `GET /notifiers` (default: derived from `bind`, or
    /// `external_url`).
    pub uris: Vec<String>,
    /// First level of every topic.
    pub topic_prefix: String,
    /// External broker: `mqtt://host:port` or `mqtts://host:port`.
    pub external_url: Option<String>,
    /// External broker: Sluice's own login.
    pub external_username: Option<String>,
    pub external_password: Option<String>,
    /// External broker: how clients authenticate, as advertised (`ANONYMOUS` or `OAUTH2_BEARER_TOKEN`).
    pub external_auth_method: String,
    /// Largest MQTT packet accepted or sent, bytes.
    pub max_packet_bytes: usize,
    /// Embedded broker: how often sessions are checked again; one whose token expired or whose client
    /// was removed is disconnected.
    pub session_check_secs: u64,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            embedded: true,
            bind: "127.0.0.1:1883".into(),
            uris: Vec::new(),
            topic_prefix: "openadr3".into(),
            external_url: None,
            external_username: None,
            external_password: None,
            external_auth_method: "OAUTH2_BEARER_TOKEN".into(),
            max_packet_bytes: 1024 * 1024,
            session_check_secs: 10,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            request_timeout_secs: 30,
            keep_alive_secs: 75,
            shutdown_timeout_secs: 30,
            workers: None,
            read_cache_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://sluice.db".into(),
            pool_size: 8,
            connect_timeout_secs: 5,
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Internal,
            token_ttl_secs: 3600,
            signing_key: None,
            external_token_url: None,
            jwks_url: None,
            public_key_file: None,
            public_key_algorithm: "RS256".into(),
            audience: None,
            issuer: None,
            client_id_claim: "sub".into(),
            jwks_refresh_secs: 300,
            jwks_min_refetch_secs: 10,
            token_requests_per_minute_per_client: 30,
            token_requests_per_minute_per_address: 300,
            revocation_poll_ms: 1000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given), then `SLUICE_*` variables, and validates the result.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Vec<String>> {
        let settings = Self::layered(file)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The layered settings, not yet validated (command-line flags go on top before validation).
    pub fn layered(file: Option<&std::path::Path>) -> Result<Self, Vec<String>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(vec![format!("config file {} does not exist", f.display())]);
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("SLUICE_").split("__"));
        fig.extract()
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    /// Every problem at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        self.check_server(&mut errs);
        self.check_auth(&mut errs);
        self.check_notifications(&mut errs);
        self.check_telemetry(&mut errs);
        self.check_mqtt(&mut errs);
        if !matches!(self.log.format.as_str(), "text" | "json") {
            errs.push(format!("log.format {:?} must be text or json", self.log.format));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// The HTTP server and the database.
    fn check_server(&self, errs: &mut Vec<String>) {
        if self.server.bind.parse::<SocketAddr>().is_err() {
            errs.push(format!(
                "server.bind {:?} is not an address like 127.0.0.1:8080",
                self.server.bind
            ));
        }
        if let Some(u) = &self.server.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            errs.push(format!("server.public_url {u:?} must start with http:// or https://"));
        }
        for p in &self.server.trusted_proxies {
            if let Err(e) = IpNet::parse(p) {
                errs.push(format!("server.trusted_proxies: {e}"));
            }
        }
        if self.server.max_body_bytes < 1024 {
            errs.push("server.max_body_bytes must be at least 1024".into());
        }
        if self.server.max_upload_bytes < self.server.max_body_bytes {
            errs.push("server.max_upload_bytes must be at least server.max_body_bytes".into());
        }
        if self.server.request_timeout_secs == 0 {
            errs.push("server.request_timeout_secs must be positive".into());
        }
        if let Err(e) = DbUrl::parse(&self.database.url) {
            errs.push(format!("database.url: {e}"));
        }
        if self.database.pool_size == 0 {
            errs.push("database.pool_size must be positive".into());
        }
    }

    /// Tokens, the external identity provider, TLS.
    fn check_auth(&self, errs: &mut Vec<String>) {
        if self.auth.token_ttl_secs < 60 {
            errs.push("auth.token_ttl_secs must be at least 60".into());
        }
        let a = &self.auth;
        if a.token_requests_per_minute_per_client == 0
            || a.token_requests_per_minute_per_address == 0
            || a.revocation_poll_ms == 0
        {
            errs.push(
                "auth.token_requests_per_minute_per_client, token_requests_per_minute_per_address and revocation_poll_ms must be positive"
                    .into(),
            );
        }
        if let Some(k) = &self.auth.signing_key
            && k.len() < 32
        {
            errs.push("auth.signing_key must be at least 32 bytes".into());
        }
        if self.auth.mode == AuthMode::External {
            if self.auth.external_token_url.is_none() {
                errs.push("auth.external_token_url is required in external mode".into());
            }
            if self.auth.jwks_url.is_none() && self.auth.public_key_file.is_none() {
                errs.push("external mode needs auth.jwks_url or auth.public_key_file".into());
            }
            if let Some(f) = &self.auth.public_key_file
                && !f.exists()
            {
                errs.push(format!("auth.public_key_file {} does not exist", f.display()));
            }
            if self
                .auth
                .public_key_algorithm
                .parse::<jsonwebtoken::Algorithm>()
                .is_err()
            {
                errs.push(format!(
                    "auth.public_key_algorithm {:?} is not a JWT algorithm",
                    self.auth.public_key_algorithm
                ));
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(c), Some(k)) => {
                for (what, p) in [("tls.cert", c), ("tls.key", k)] {
                    if !p.exists() {
                        errs.push(format!("{what} {} does not exist", p.display()));
                    }
                }
            }
            (None, None) => {}
            _ => errs.push("tls.cert and tls.key go together".into()),
        }
    }

    /// Delivery, its limits and retention.
    fn check_notifications(&self, errs: &mut Vec<String>) {
        let n = &self.notifications;
        if n.per_client_concurrency == 0 || n.per_client_concurrency > n.concurrency {
            errs.push("notifications.per_client_concurrency must be 1..=notifications.concurrency".into());
        }
        if n.max_operations_per_subscription == 0
            || n.max_callback_urls_per_subscription == 0
            || n.max_subscriptions_per_client == 0
        {
            errs.push("notifications.max_* subscription limits must be positive".into());
        }
        if self.notifications.retention_days == 0 {
            errs.push("notifications.retention_days must be at least 1".into());
        }
        if n.timeout_secs == 0 || n.echo_timeout_secs == 0 {
            errs.push("notifications.timeout_secs and echo_timeout_secs must be positive".into());
        }
        if n.max_attempts == 0 || n.broken_after == 0 || n.concurrency == 0 {
            errs.push("notifications.max_attempts, broken_after and concurrency must be positive".into());
        }
        if n.lease_secs <= n.timeout_secs {
            errs.push("notifications.lease_secs must be longer than notifications.timeout_secs".into());
        }
        if n.poll_interval_ms == 0 || n.backoff_base_ms == 0 {
            errs.push("notifications.poll_interval_ms and backoff_base_ms must be positive".into());
        }
        if let Some(f) = &n.extra_ca_file
            && !f.exists()
        {
            errs.push(format!("notifications.extra_ca_file {} does not exist", f.display()));
        }
    }

    /// Report units, the latency pass and the audit sealer.
    fn check_telemetry(&self, errs: &mut Vec<String>) {
        use crate::flex::telemetry::{Quantity, unit_factor};
        let t = &self.telemetry;
        if !matches!(unit_factor(&t.default_power_units), Some((_, Quantity::Power))) {
            errs.push(format!(
                "telemetry.default_power_units {:?} must be W, KW, MW or GW",
                t.default_power_units
            ));
        }
        if !matches!(unit_factor(&t.default_energy_units), Some((_, Quantity::Energy))) {
            errs.push(format!(
                "telemetry.default_energy_units {:?} must be WH, KWH, MWH or GWH",
                t.default_energy_units
            ));
        }
        if self.audit.seal_interval_ms == 0 {
            errs.push("audit.seal_interval_ms must be positive".into());
        }
        let l = &self.latency;
        if l.interval_secs == 0 || l.baseline_secs <= 0 || l.snapback_secs < 0 {
            errs.push(
                "latency.interval_secs and latency.baseline_secs must be positive, latency.snapback_secs not negative"
                    .into(),
            );
        }
        for (name, v) in [
            ("latency.start_share", l.start_share),
            ("latency.sustain_share", l.sustain_share),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                errs.push(format!("{name} must be in (0, 1]"));
            }
        }
    }

    /// The MQTT binding.
    fn check_mqtt(&self, errs: &mut Vec<String>) {
        let m = &self.mqtt;
        if m.session_check_secs == 0 {
            errs.push("mqtt.session_check_secs must be positive".into());
        }
        if m.enabled {
            if m.embedded && m.bind.parse::<SocketAddr>().is_err() {
                errs.push(format!("mqtt.bind {:?} is not an address like 127.0.0.1:1883", m.bind));
            }
            if !m.embedded {
                match &m.external_url {
                    Some(u) if u.starts_with("mqtt://") || u.starts_with("mqtts://") => {}
                    Some(u) => errs.push(format!("mqtt.external_url {u:?} must start with mqtt:// or mqtts://")),
                    None => errs.push("mqtt.external_url is required when mqtt.embedded is false".into()),
                }
            }
            if !matches!(m.external_auth_method.as_str(), "ANONYMOUS" | "OAUTH2_BEARER_TOKEN") {
                errs.push("mqtt.external_auth_method must be ANONYMOUS or OAUTH2_BEARER_TOKEN".into());
            }
            if m.topic_prefix.is_empty() || m.topic_prefix.contains(['+', '#', '/']) {
                errs.push("mqtt.topic_prefix must be one non-empty topic level without wildcards".into());
            }
        }
    }
}

/// An address or a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or a network like 10.0.0.0/8");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_sqlite() {
        let s = Settings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.database.url, "sqlite://sluice.db");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut s = Settings::default();
        s.server.bind = "nope".into();
        s.database.url = ":memory:".into();
        s.auth.mode = AuthMode::External;
        let errs = s.validate().unwrap_err();
        assert!(errs.len() >= 4, "{errs:?}");
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closure returns figment::Error")]
    fn toml_file_and_environment_layer_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, "[server]\nbind = \"0.0.0.0:9000\"\n[database]\npool_size = 3\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_DATABASE__POOL_SIZE", "5");
            let s = Settings::load(Some(&path)).unwrap();
            assert_eq!(s.server.bind, "0.0.0.0:9000");
            assert_eq!(s.database.pool_size, 5);
            Ok(())
        });
    }

    #[test]
    fn trusted_proxy_networks_contain_exactly_their_addresses() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("fd00::1".parse().unwrap()));
        let one = IpNet::parse("fd00::7").unwrap();
        assert!(one.contains("fd00::7".parse().unwrap()) && !one.contains("fd00::8".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0.0/x", ""] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }
}
