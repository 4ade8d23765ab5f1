//! `sluice simulate`: a fleet of virtual flexible-load sites, each a real OpenADR 3.1 VEN over HTTP. With
//! the operator's credentials it issues one VEN client per site (`POST /ops/clients`), and each VEN
//! registers its ven; the operator side enrolls it as a site in the program. Then every site polls its
//! events, acknowledges and curtails (or not) as its model says (`model.rs`), and reports DEMAND every few
//! seconds. A live summary goes to stderr. The end-to-end tests and the dispatch benchmark drive it.

mod client;
mod enroll;
pub mod model;
mod push;
mod runner;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Mutex;

use self::client::Http;
use self::enroll::{ai_site, enroll_fleet, model_unit, program_and_telemetry_event};
use self::model::{Behavior, SiteModel};
use self::push::{Callbacks, serve_callbacks};
use self::runner::Runner;
use crate::clock::SharedClock;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Base URL of the VTN, e.g. `http://127.0.0.1:8080`.
    pub vtn: String,
    pub operator_id: String,
    pub operator_secret: String,
    pub sites: usize,
    /// Program the sites enroll in (created when missing).
    pub program: String,
    /// Names are `<prefix>-<n>`.
    pub prefix: String,
    pub report_every: Duration,
    pub poll_every: Duration,
    /// Miners' draw per site, MW.
    pub mining_mw: f64,
    /// Share of the sites that are AI data centers with miners beside them.
    pub ai_share: f64,
    /// Committed shed as a share of the site's maximum import.
    pub shed_share: f64,
    /// Mean delay from learning of an event to acting on it, seconds, and its ± jitter.
    pub response_secs: f64,
    pub jitter_secs: f64,
    pub ramp_secs: f64,
    /// The first `slow` sites respond after `slow_secs` instead.
    pub slow: usize,
    pub slow_secs: f64,
    /// The next `unresponsive` sites never respond.
    pub unresponsive: usize,
    /// Share of the remaining sites that never respond either, chosen by `seed`.
    pub failure_rate: f64,
    pub seed: u64,
    /// Stop after this long (`None`: until interrupted).
    pub run_for: Option<Duration>,
    /// Accept the VTN's self-signed certificate.
    pub insecure: bool,
    /// Print the live summary this often (`None`: never).
    pub summary_every: Option<Duration>,
    /// Learn of events on the VTN's MQTT binding (polling then only every minute, as a safety net).
    pub mqtt: bool,
    /// Learn of events by webhook: the simulator serves HTTPS callbacks on `bind` with this certificate and
    /// key, reachable by the VTN at `url` (polling then only every minute, as a safety net).
    pub webhook: Option<WebhookMode>,
}

/// Where the simulator's webhook callbacks are served.
#[derive(Debug, Clone)]
pub struct WebhookMode {
    pub bind: std::net::SocketAddr,
    /// Base URL the VTN posts to (`https://host:port`); callbacks are `<url>/sim/<clientID>`. Empty: the
    /// address bound (`https://127.0.0.1:<port>`, for a VTN on the same machine).
    pub url: String,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            vtn: "http://127.0.0.1:8080".into(),
            operator_id: String::new(),
            operator_secret: String::new(),
            sites: 20,
            program: "sim-program".into(),
            prefix: "sim".into(),
            report_every: Duration::from_secs(4),
            poll_every: Duration::from_secs(2),
            mining_mw: 40.0,
            ai_share: 0.0,
            shed_share: 0.8,
            response_secs: 5.0,
            jitter_secs: 3.0,
            ramp_secs: 20.0,
            slow: 0,
            slow_secs: 180.0,
            unresponsive: 0,
            failure_rate: 0.0,
            seed: 1,
            run_for: None,
            insecure: false,
            summary_every: Some(Duration::from_secs(5)),
            mqtt: false,
            webhook: None,
        }
    }
}

/// Counters shared by the sites (the live summary).
#[derive(Debug, Default)]
pub struct Stats {
    pub registered: AtomicUsize,
    pub events_seen: AtomicUsize,
    pub acks: AtomicUsize,
    pub reports_ok: AtomicU64,
    pub reports_failed: AtomicU64,
    pub polls: AtomicU64,
    /// Sum of the sites' loads, kW (integer for atomics).
    pub load_kw: AtomicU64,
    pub free_kw: AtomicU64,
}

/// One simulated site as enrolled.
#[derive(Debug, Clone)]
pub struct SimSite {
    pub name: String,
    pub site_id: String,
    pub ven_id: String,
    pub client_id: String,
    pub(crate) client_secret: String,
    pub behavior: Behavior,
    /// What the site offered per MWh: it follows price signals at or above it.
    pub offer_price: f64,
}

/// A running fleet.
pub struct Fleet {
    pub sites: Vec<SimSite>,
    pub stats: Arc<Stats>,
    pub program_id: String,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    server: Option<actix_web::dev::ServerHandle>,
}

impl Fleet {
    /// Stops every site and waits for them.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(s) = self.server {
            s.stop(false).await;
        }
    }
}

/// Sets up `cfg.sites` sites and starts them; returns at once with the running fleet.
pub async fn start(cfg: SimConfig, clock: SharedClock) -> anyhow::Result<Fleet> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(cfg.insecure)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build()?;
    let http = Arc::new(Http {
        client,
        base: cfg.vtn.trim_end_matches('/').to_owned(),
    });
    let op = http
        .token(&cfg.operator_id, &cfg.operator_secret)
        .await
        .context("operator token")?;
    let (program, telemetry) = program_and_telemetry_event(&http, &op, &cfg.program).await?;
    let stats = Arc::new(Stats::default());
    let sites = enroll_fleet(&http, &op, &cfg, &program, &stats, clock.now()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let callbacks: Callbacks = Arc::default();
    let mut cfg = cfg;
    let server = match &cfg.webhook {
        Some(w) => {
            let (handle, url) = serve_callbacks(w, callbacks.clone())?;
            if let Some(w) = cfg.webhook.as_mut() {
                w.url = url;
            }
            Some(handle)
        }
        None => None,
    };
    for (n, site) in sites.iter().enumerate() {
        let runner = Runner {
            http: http.clone(),
            site: site.clone(),
            model: Arc::new(Mutex::new(site_model(&cfg, n, site))),
            program: program.clone(),
            telemetry: telemetry.clone(),
            stats: stats.clone(),
            clock: clock.clone(),
            stop: stop.clone(),
            cfg: cfg.clone(),
            offset: Duration::from_millis(
                (model_unit(cfg.seed ^ 0x0FF, n as i64) * cfg.report_every.as_millis() as f64) as u64,
            ),
            callbacks: callbacks.clone(),
        };
        tasks.push(tokio::spawn(runner.run()));
    }
    if let Some(every) = cfg.summary_every {
        let (stats, stop, total) = (stats.clone(), stop.clone(), cfg.sites);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            while !stop.load(Ordering::Acquire) {
                tick.tick().await;
                eprintln!("{}", summary(&stats, total));
            }
        }));
    }
    if let Some(d) = cfg.run_for {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.store(true, Ordering::Release);
        });
    }
    Ok(Fleet {
        sites,
        stats,
        program_id: program,
        stop,
        tasks,
        server,
    })
}

/// Site `n`'s model: its miners, its AI load when it has one, its cap and its behaviour.
fn site_model(cfg: &SimConfig, n: usize, site: &SimSite) -> SiteModel {
    let (ai, max_import) = ai_site(cfg, n);
    SiteModel {
        mining_mw: cfg.mining_mw,
        ai_mw: if ai { cfg.mining_mw * 0.5 } else { 0.0 },
        cap_mw: max_import,
        behavior: site.behavior,
        ramp_secs: cfg.ramp_secs,
        noise: 0.02,
        seed: cfg.seed.wrapping_add(n as u64),
        instructions: Vec::new(),
    }
}

/// One line of the live summary.
pub fn summary(s: &Stats, total: usize) -> String {
    let load = s.load_kw.load(Ordering::Relaxed) as f64 / 1000.0;
    let free = s.free_kw.load(Ordering::Relaxed) as f64 / 1000.0;
    format!(
        "sites {}/{total} | events seen {} | acks {} | polls {} | reports {} ok {} failed | load {load:.1} MW, curtailed {:.1} MW",
        s.registered.load(Ordering::Relaxed),
        s.events_seen.load(Ordering::Relaxed),
        s.acks.load(Ordering::Relaxed),
        s.polls.load(Ordering::Relaxed),
        s.reports_ok.load(Ordering::Relaxed),
        s.reports_failed.load(Ordering::Relaxed),
        (free - load).max(0.0),
    )
}
