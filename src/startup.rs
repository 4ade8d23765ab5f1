//! Wiring: settings → database (migrated) → auth → HTTP server. Used by `main` and by the tests.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use anyhow::{Context, bail};

use crate::api;
use crate::api::extract::BodyLimits;
use crate::auth::jwt::{Authenticator, ExternalOptions};
use crate::auth::limit::Limiter;
use crate::clock::SharedClock;
use crate::config::{AuthMode, Settings};
use crate::notify::channel::{Channel, Channels};
use crate::notify::mqtt::MqttBinding;
use crate::notify::webhook::{WebhookClient, Webhooks};
use crate::notify::{Notifier, Worker};
use crate::service::AppState;
use crate::service::cache::{ReadCache, spawn_pg_listener};
use crate::service::clients::{JWT_SECRET, PEPPER_SECRET, load_secret};
use crate::store::{Db, DbOptions};

/// Opens the database and, unless told not to, applies pending migrations (a failure stops start-up).
pub fn open_db(settings: &Settings, migrate: bool) -> anyhow::Result<Db> {
    let opts = DbOptions {
        url: settings.database.url.clone(),
        pool_size: settings.database.pool_size,
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs),
        sqlite_sync: settings.database.sqlite_synchronous,
    };
    let db = Db::connect(&opts).with_context(|| format!("cannot open the database {}", redact(&opts.url)))?;
    if migrate {
        let applied = db
            .migrate_blocking()
            .context("database migration failed; the server will not start on a half-migrated schema")?;
        for v in applied {
            tracing::info!(version = %v, "applied migration");
        }
    }
    Ok(db)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Everything a request needs, built from settings.
pub async fn build_state(settings: &Settings, clock: SharedClock, migrate: bool) -> anyhow::Result<AppState> {
    build_state_with(settings, clock, migrate, Vec::new()).await
}

/// [`build_state`] with notification channels of the caller's beside the configured ones (served after
/// them; see `notify/channel.rs`).
pub async fn build_state_with(
    settings: &Settings,
    clock: SharedClock,
    migrate: bool,
    more_channels: Vec<Arc<dyn Channel>>,
) -> anyhow::Result<AppState> {
    let settings2 = settings.clone();
    let clock2 = clock.clone();
    let (db, pepper, jwt_key) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let db = open_db(&settings2, migrate)?;
        let pepper = load_secret(&db, &clock2, PEPPER_SECRET)?;
        let jwt_key = match &settings2.auth.signing_key {
            Some(k) => k.as_bytes().to_vec(),
            None => load_secret(&db, &clock2, JWT_SECRET)?,
        };
        Ok((db, pepper, jwt_key))
    })
    .await??;
    let auth = authenticator(settings, &jwt_key, clock.clone())?;
    let cache = Arc::new(ReadCache::new(settings.server.read_cache_bytes));
    if db.is_postgres() {
        // Other instances' writes reach this instance's cache through NOTIFY.
        spawn_pg_listener(settings.database.url.clone(), &cache, Duration::from_millis(50));
    }
    let notifier = Arc::new(Notifier::default());
    let auth = Arc::new(auth);
    let mqtt = if settings.mqtt.enabled {
        let tls = match (&settings.tls.cert, &settings.tls.key) {
            (Some(c), Some(k)) => Some(Arc::new(tls_config(c, k)?)),
            _ => None,
        };
        Some(MqttBinding::start(&settings.mqtt, tls, auth.clone(), None).await?)
    } else {
        None
    };
    let webhooks = WebhookClient::new(&settings.notifications).context("cannot set up the webhook client")?;
    let channels = channels(&webhooks, mqtt.as_ref(), more_channels);
    let state = AppState {
        db,
        clock,
        auth,
        pepper: pepper.into(),
        cache,
        notifier,
        webhooks,
        mqtt,
        channels,
        units: Arc::new(crate::flex::telemetry::UnitDefaults {
            power: settings.telemetry.default_power_units.clone(),
            energy: settings.telemetry.default_energy_units.clone(),
        }),
        seen: Arc::default(),
        views: Arc::default(),
        background: Arc::default(),
        revocations: Arc::default(),
        token_limits: Arc::new(crate::service::clients::TokenLimits {
            per_client: Limiter::per_minute(settings.auth.token_requests_per_minute_per_client),
            per_address: Limiter::per_minute(settings.auth.token_requests_per_minute_per_address),
        }),
    };
    // Tokens of credentials removed before this start are refused from the first request.
    let since = state.clock.now() - chrono::TimeDelta::seconds(settings.auth.token_ttl_secs + 60);
    let (db, revocations) = (state.db.clone(), state.revocations.clone());
    tokio::task::spawn_blocking(move || revocations.refresh(&db, since))
        .await
        .context("reading revocations failed")??;
    start_background(&state, settings);
    Ok(state)
}

/// The token verifier the settings name: Sluice's own (HS256 with the stored or configured key), or an
/// external identity provider's (its public key or JWKS).
fn authenticator(settings: &Settings, jwt_key: &[u8], clock: SharedClock) -> anyhow::Result<Authenticator> {
    Ok(match settings.auth.mode {
        AuthMode::Internal => Authenticator::internal(jwt_key, settings.auth.token_ttl_secs, clock),
        AuthMode::External => {
            let a = &settings.auth;
            let public_key = match &a.public_key_file {
                Some(f) => Some((
                    std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
                    a.public_key_algorithm
                        .parse()
                        .map_err(|e| anyhow::anyhow!("auth.public_key_algorithm: {e}"))?,
                )),
                None => None,
            };
            let opts = ExternalOptions {
                token_url: a.external_token_url.clone().unwrap_or_default(),
                jwks_url: a.jwks_url.clone(),
                public_key,
                audience: a.audience.clone(),
                issuer: a.issuer.clone(),
                client_id_claim: a.client_id_claim.clone(),
                jwks_refresh: Duration::from_secs(a.jwks_refresh_secs),
                jwks_min_refetch: Duration::from_secs(a.jwks_min_refetch_secs),
            };
            Authenticator::external(opts, clock).map_err(|e| anyhow::anyhow!(e))?
        }
    })
}

/// The notification channels this instance runs (`notify/channel.rs`): webhooks always, the MQTT
/// binding when enabled, then `more`. A new channel is registered here.
fn channels(webhooks: &WebhookClient, mqtt: Option<&MqttBinding>, more: Vec<Arc<dyn Channel>>) -> Channels {
    let mut channels: Vec<Arc<dyn Channel>> = vec![Arc::new(Webhooks {
        client: webhooks.clone(),
    })];
    channels.extend(mqtt.map(|m| Arc::new(m.clone()) as Arc<dyn Channel>));
    channels.extend(more);
    Channels::new(channels)
}

/// Starts the tasks beside the server (see `service/background.rs`): fan-out and delivery (whatever a
/// previous run left pending resumes now), the MQTT session check, the audit sealer, the latency pass.
fn start_background(state: &AppState, settings: &Settings) {
    let grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
    let worker = Worker {
        db: state.db.clone(),
        clock: state.clock.clone(),
        channels: state.channels.clone(),
        settings: settings.notifications.clone(),
        notifier: state.notifier.clone(),
        owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        shares: Arc::new(crate::notify::Shares::new(
            settings.notifications.per_client_concurrency,
        )),
    };
    state
        .background
        .spawn("notification worker", worker.run(state.background.token(), grace));
    if let Some(crate::notify::mqtt::MqttBinding {
        publisher: crate::notify::mqtt::Publisher::Embedded(broker),
        ..
    }) = &state.mqtt
    {
        let (broker, auth, db) = (broker.clone(), state.auth.clone(), state.db.clone());
        let every = Duration::from_secs(settings.mqtt.session_check_secs);
        state.background.every("MQTT session check", every, move || {
            let (broker, auth, db) = (broker.clone(), auth.clone(), db.clone());
            async move {
                if let Err(e) = crate::notify::mqtt::end_revoked_sessions(&broker, &auth, &db).await {
                    tracing::warn!(error = %e, "checking MQTT sessions failed; retrying");
                }
            }
        });
    }
    let (revoking, ttl) = (state.clone(), settings.auth.token_ttl_secs);
    let every = Duration::from_millis(settings.auth.revocation_poll_ms);
    state.background.every("revocation check", every, move || {
        // A token issued before this has expired: older revocations need not be read.
        let since = revoking.clock.now() - chrono::TimeDelta::seconds(ttl + 60);
        crate::service::clients::revocation_pass(revoking.clone(), since)
    });
    let sealing = state.clone();
    let every = Duration::from_millis(settings.audit.seal_interval_ms);
    state.background.every("audit sealer", every, move || {
        crate::service::audit::seal_pass(sealing.clone())
    });
    state.background.spawn(
        "latency pass",
        crate::service::latency::run(state.clone(), settings.latency.clone(), state.background.token()),
    );
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    tls: bool,
    cache: Arc<ReadCache>,
    background: Arc<crate::service::background::Background>,
    /// How long shutdown waits for in-flight requests, then for the background tasks.
    grace: Duration,
}

impl Application {
    /// Binds `settings.server.bind` (port 0 picks a free port) and builds the server.
    pub async fn build(settings: &Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let state = build_state(settings, clock, true).await?;
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        Self::with_listener(settings, state, listener)
    }

    pub fn with_listener(settings: &Settings, state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let cache = state.cache.clone();
        let background = state.background.clone();
        let grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let limits = BodyLimits {
            max_bytes: settings.server.max_body_bytes,
            max_upload_bytes: settings.server.max_upload_bytes,
            timeout: Duration::from_secs(settings.server.request_timeout_secs),
        };
        let origin = api::auth::PublicOrigin {
            url: settings.server.public_url.clone(),
            trusted_proxies: (settings.server.trusted_proxies.iter())
                .filter_map(|p| crate::config::IpNet::parse(p).ok())
                .collect(),
        };
        if origin.url.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                bind = %addr,
                "server.public_url is not set: /auth/server names the host each request asks for; set it to \
                 the URL VENs should use"
            );
        }
        let openapi = api::openapi_json();
        let headers = api::headers::ResponseHeaders::new(settings.tls.hsts_max_age_secs);
        let mut server =
            HttpServer::new(move || api::app(state.clone(), limits, origin.clone(), openapi.clone(), headers.clone()))
                .disable_signals()
                .shutdown_timeout(settings.server.shutdown_timeout_secs)
                .client_request_timeout(Duration::from_secs(settings.server.request_timeout_secs))
                .keep_alive(Duration::from_secs(settings.server.keep_alive_secs));
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        // Database work runs on blocking threads; beyond the pool's size they would only wait for a
        // connection (and hold memory), so all workers together get as many as the pool has connections.
        let blocking = (settings.database.pool_size as usize).div_ceil(workers).max(2);
        server = server.workers(workers).worker_max_blocking_threads(blocking);
        let tls = match (&settings.tls.cert, &settings.tls.key) {
            (Some(cert), Some(key)) => {
                server = server.listen_rustls_0_23(listener, tls_config(cert, key)?)?;
                true
            }
            _ => {
                server = server.listen(listener)?;
                false
            }
        };
        Ok(Self {
            server: server.run(),
            addr,
            tls,
            cache,
            background,
            grace,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish, then stops the background
    /// tasks: deliveries under way finish and are recorded (each up to the shutdown timeout); claimed
    /// notifications not yet sent stay claimed, and another instance takes them over when their lease
    /// ends.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        handle.stop(true).await;
        server.await??;
        tracing::info!("shutting down: finishing deliveries under way");
        self.background.shutdown(self.grace).await;
        self.cache.stop_listening();
        Ok(())
    }

    /// The server future, for callers that stop it through [`Application::handle`].
    pub fn into_server(self) -> Server {
        self.server
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// rustls server configuration: TLS 1.2 and 1.3 only (rustls has nothing older), no client auth.
pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(config)
}

/// Writes a self-signed development certificate and key for localhost (`sluice cert dev`).
pub fn write_dev_cert(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let cert_path = dir.join("dev-cert.pem");
    let key_path = dir.join("dev-key.pem");
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, signing_key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn database_passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://sluice.db"), "sqlite://sluice.db");
    }
}
