//! `sluice simulate`: a fleet of virtual flexible-load sites, each a real OpenADR 3.1 VEN over HTTP. With
//! the operator's credentials it issues one VEN client per site (`POST /ops/clients`), and each VEN
//! registers its ven; the operator side enrolls it as a site in the program. Then every site polls its
//! events, acknowledges and curtails (or not) as its model says (`model.rs`), and reports DEMAND every few
//! seconds. A live summary goes to stderr. The end-to-end tests and the dispatch benchmark drive it.

pub mod model;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use self::model::{Behavior, Instruction, SiteModel};
use crate::clock::SharedClock;
use crate::wire::format_time;

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
    client_secret: String,
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

/// Where each site's pushed events go, by clientID.
type Callbacks = Arc<std::sync::Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<Value>>>>;

/// The webhook callbacks of every site: `GET …?echo=x` answers `x` (the subscription handshake), `POST`
/// takes a notification and hands its event to the site.
fn serve_callbacks(w: &WebhookMode, callbacks: Callbacks) -> anyhow::Result<(actix_web::dev::ServerHandle, String)> {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    async fn handle(req: HttpRequest, body: web::Bytes, callbacks: web::Data<Callbacks>) -> HttpResponse {
        let client = req.match_info().get("client").unwrap_or_default().to_owned();
        if req.method() == actix_web::http::Method::GET {
            let echo = form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == "echo")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            return HttpResponse::Ok().body(echo);
        }
        let Ok(n) = serde_json::from_slice::<Value>(&body) else {
            return HttpResponse::BadRequest().finish();
        };
        let tx = callbacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&client)
            .cloned();
        match tx {
            Some(tx) if n["objectType"] == "EVENT" => {
                let _ = tx.send(n["object"].clone());
                HttpResponse::Ok().finish()
            }
            Some(_) => HttpResponse::Ok().finish(),
            None => HttpResponse::NotFound().finish(),
        }
    }
    let tls = crate::startup::tls_config(&w.cert, &w.key)?;
    let data = web::Data::new(callbacks);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/sim/{client}", web::to(handle))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind_rustls_0_23(w.bind, tls)?;
    let url = match (w.url.is_empty(), server.addrs().first()) {
        (true, Some(a)) => format!("https://{a}"),
        _ => w.url.clone(),
    };
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((handle, url))
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn token(&self, id: &str, secret: &str) -> anyhow::Result<String> {
        let r = self
            .client
            .post(format!("{}/auth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("token for {id}: {status} {body}");
        }
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no access_token in {body}"))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.send(method.clone(), path, token, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }
}

fn behavior_of(cfg: &SimConfig, n: usize) -> Behavior {
    let jitter = (model_unit(cfg.seed, n as i64) * 2.0 - 1.0) * cfg.jitter_secs;
    if n < cfg.slow {
        Behavior::Responds {
            delay_secs: (cfg.slow_secs + jitter).max(0.0),
        }
    } else if n < cfg.slow + cfg.unresponsive || model_unit(cfg.seed ^ 0xFA11, n as i64) < cfg.failure_rate {
        Behavior::Unresponsive
    } else {
        Behavior::Responds {
            delay_secs: (cfg.response_secs + jitter).max(0.0),
        }
    }
}

fn model_unit(seed: u64, n: i64) -> f64 {
    model::unit(seed ^ 0x5151, n)
}

/// Whether site `n` is an AI data center with miners beside it, and its maximum import (MW).
fn ai_site(cfg: &SimConfig, n: usize) -> (bool, f64) {
    let ai = model_unit(cfg.seed ^ 0xA1, n as i64) < cfg.ai_share;
    (ai, cfg.mining_mw * if ai { 1.25 } else { 1.0 })
}

/// Finds or creates the program and its report-only telemetry event; returns (program, event).
async fn program_and_telemetry_event(http: &Http, op: &str, name: &str) -> anyhow::Result<(String, String)> {
    let mut program = None;
    let mut skip = 0;
    loop {
        let page = http
            .ok(
                reqwest::Method::GET,
                &format!("/programs?skip={skip}&limit=50"),
                op,
                None,
            )
            .await?;
        let items = page.as_array().cloned().unwrap_or_default();
        if let Some(p) = items.iter().find(|p| p["programName"] == name) {
            program = p["id"].as_str().map(str::to_owned);
            break;
        }
        if items.len() < 50 {
            break;
        }
        skip += 50;
    }
    let program = match program {
        Some(p) => p,
        None => http
            .ok(
                reqwest::Method::POST,
                "/programs",
                op,
                Some(&json!({"programName": name, "payloadDescriptors": [
                    {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}]})),
            )
            .await?["id"]
            .as_str()
            .ok_or_else(|| anyhow!("program without id"))?
            .to_owned(),
    };
    let events = http
        .ok(
            reqwest::Method::GET,
            &format!("/events?programID={program}&limit=50"),
            op,
            None,
        )
        .await?;
    let existing = events
        .as_array()
        .and_then(|a| a.iter().find(|e| e["eventName"] == "telemetry"))
        .and_then(|e| e["id"].as_str().map(str::to_owned));
    let event = match existing {
        Some(e) => e,
        // A report-only event (3.1): no intervals, it asks every VEN of the program for DEMAND.
        None => http
            .ok(
                reqwest::Method::POST,
                "/events",
                op,
                Some(&json!({"programID": program, "eventName": "telemetry",
                    "reportDescriptors": [{"payloadType": "DEMAND", "readingType": "DIRECT_READ", "units": "KW"}]})),
            )
            .await?["id"]
            .as_str()
            .ok_or_else(|| anyhow!("event without id"))?
            .to_owned(),
    };
    Ok((program, event))
}

/// Enrolls site `n`: its VEN client, ven, site and enrollment.
async fn enroll(
    http: &Http,
    op: &str,
    cfg: &SimConfig,
    program: &str,
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<SimSite> {
    let name = format!("{}-{n}", cfg.prefix);
    let issued = http
        .ok(reqwest::Method::POST, "/ops/clients", op, Some(&json!({"name": name})))
        .await
        .context("issuing the site's VEN client")?;
    let client_id = issued["client_id"].as_str().unwrap_or_default().to_owned();
    let client_secret = issued["client_secret"].as_str().unwrap_or_default().to_owned();
    let ven_token = http.token(&client_id, &client_secret).await?;
    let ven = http
        .ok(
            reqwest::Method::POST,
            "/vens",
            &ven_token,
            Some(&json!({"objectType": "VEN_VEN_REQUEST", "venName": name})),
        )
        .await
        .context("registering the ven")?;
    let (ai, max) = ai_site(cfg, n);
    let site = http
        .ok(
            reqwest::Method::POST,
            "/ops/sites",
            op,
            Some(
                &json!({"siteName": name, "venID": ven["id"], "kind": if ai { "AI_MINING" } else { "MINING" },
                "maxImportMW": format!("{max:.3}"), "location": "simulated"}),
            ),
        )
        .await
        .context("creating the site")?;
    let site_id = site["id"].as_str().unwrap_or_default().to_owned();
    let price = 50.0 + (model_unit(cfg.seed ^ 0x9E, n as i64) * 100.0).round();
    http.ok(
        reqwest::Method::POST,
        "/ops/enrollments",
        op,
        Some(&json!({"siteID": site_id, "programID": program,
            "shedMW": format!("{:.3}", cfg.mining_mw * cfg.shed_share), "offerPrice": format!("{price:.2}"),
            "ramp": format!("PT{}S", cfg.ramp_secs.ceil() as i64), "start": format_time(&(now - chrono::Duration::days(1)))})),
    )
    .await
    .context("enrolling the site")?;
    Ok(SimSite {
        name,
        site_id,
        ven_id: ven["id"].as_str().unwrap_or_default().to_owned(),
        client_id,
        client_secret,
        behavior: behavior_of(cfg, n),
        offer_price: price,
    })
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
    let now = clock.now();
    // Enroll a few at a time: a large fleet should not open thousands of connections at once.
    let mut sites = Vec::with_capacity(cfg.sites);
    for chunk in (0..cfg.sites).collect::<Vec<_>>().chunks(16) {
        let mut joins = Vec::new();
        for &n in chunk {
            let (http, op, cfg, program) = (http.clone(), op.clone(), cfg.clone(), program.clone());
            joins.push(tokio::spawn(
                async move { enroll(&http, &op, &cfg, &program, n, now).await },
            ));
        }
        for j in joins {
            sites.push(j.await??);
            stats.registered.fetch_add(1, Ordering::Relaxed);
        }
        if cfg.summary_every.is_some() {
            eprint!("\renrolled {}/{} sites", sites.len(), cfg.sites);
        }
    }
    if cfg.summary_every.is_some() {
        eprintln!();
    }
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
        let (ai, max_import) = ai_site(&cfg, n);
        let model = SiteModel {
            mining_mw: cfg.mining_mw,
            ai_mw: if ai { cfg.mining_mw * 0.5 } else { 0.0 },
            cap_mw: max_import,
            behavior: site.behavior,
            ramp_secs: cfg.ramp_secs,
            noise: 0.02,
            seed: cfg.seed.wrapping_add(n as u64),
            instructions: Vec::new(),
        };
        let runner = Runner {
            http: http.clone(),
            site: site.clone(),
            model: Arc::new(Mutex::new(model)),
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

struct Runner {
    http: Arc<Http>,
    site: SimSite,
    model: Arc<Mutex<SiteModel>>,
    program: String,
    telemetry: String,
    stats: Arc<Stats>,
    clock: SharedClock,
    stop: Arc<AtomicBool>,
    cfg: SimConfig,
    /// Spreads the sites' reports over the reporting period.
    offset: Duration,
    callbacks: Callbacks,
}

/// Reads the instructions of an event as the VEN sees it: a dispatch's level, or, from a PRICE event, each
/// interval whose price reaches the site's offer (it then sheds its commitment, down to `shed_level_mw`).
fn instructions(e: &Value, seen: DateTime<Utc>, offer: f64, shed_level_mw: f64) -> Vec<Instruction> {
    let parse = || -> Option<Vec<Instruction>> {
        let id = e["id"].as_str()?;
        let start = crate::wire::WireDateTime::parse(e["intervalPeriod"]["start"].as_str()?)
            .ok()?
            .0;
        let length = e["intervalPeriod"]["duration"]
            .as_str()
            .and_then(|d| crate::wire::WireDuration::parse(d).ok())
            .and_then(|d| d.to_chrono());
        let intervals = e["intervals"].as_array()?;
        let mut out = Vec::new();
        for (n, interval) in intervals.iter().enumerate() {
            for p in interval["payloads"].as_array()? {
                let v = p["values"][0].as_f64();
                let (level, load_up) = match (p["type"].as_str(), v) {
                    (Some("IMPORT_CAPACITY_LIMIT"), Some(kw)) => (kw / 1000.0, false),
                    (Some("DISPATCH_SETPOINT"), Some(kw)) => (kw / 1000.0, true),
                    (Some("PRICE"), Some(price)) if price >= offer => (shed_level_mw, false),
                    _ => continue,
                };
                let (from, to) = match (p["type"].as_str(), length) {
                    (Some("PRICE"), Some(len)) => (start + len * n as i32, Some(start + len * (n as i32 + 1))),
                    _ => (start, length.map(|l| start + l)),
                };
                out.push(Instruction {
                    key: format!("{id}#{n}"),
                    event_id: id.to_owned(),
                    level_mw: level,
                    load_up,
                    start: from,
                    end: to,
                    seen,
                });
            }
        }
        Some(out)
    };
    parse().unwrap_or_default()
}

impl Runner {
    async fn run(self) {
        let mut token = String::new();
        tokio::time::sleep(self.offset).await;
        let mut report = tokio::time::interval(self.cfg.report_every);
        let mut poll = tokio::time::interval(if self.cfg.mqtt || self.cfg.webhook.is_some() {
            self.cfg.poll_every.max(Duration::from_secs(60))
        } else {
            self.cfg.poll_every
        });
        let (pushed_tx, mut pushed) = tokio::sync::mpsc::unbounded_channel::<Value>();
        if self.cfg.mqtt {
            tokio::spawn(listen_mqtt(
                self.http.clone(),
                self.site.clone(),
                self.stop.clone(),
                pushed_tx,
            ));
        } else if let Some(w) = &self.cfg.webhook {
            self.callbacks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(self.site.client_id.clone(), pushed_tx);
            let (http, site, program) = (self.http.clone(), self.site.clone(), self.program.clone());
            let url = format!("{}/sim/{}", w.url.trim_end_matches('/'), site.client_id);
            tokio::spawn(async move {
                // The subscription: every event of the program this VEN may read, created or changed.
                let body = json!({"clientName": site.name, "programID": program, "objectOperations": [
                    {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": url}]});
                let subscribed = async {
                    let token = http.token(&site.client_id, &site.client_secret).await?;
                    http.ok(reqwest::Method::POST, "/subscriptions", &token, Some(&body))
                        .await
                };
                if let Err(e) = subscribed.await {
                    tracing::warn!(site = %site.name, error = %e, "webhook subscription refused; the site polls once a minute");
                }
            });
        }
        let mut last_load_kw = 0u64;
        let mut last_free_kw = 0u64;
        while !self.stop.load(Ordering::Acquire) {
            if token.is_empty() {
                match self.http.token(&self.site.client_id, &self.site.client_secret).await {
                    Ok(t) => token = t,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            tokio::select! {
                Some(event) = pushed.recv() => {
                    self.ingest(&Value::Array(vec![event]), &token).await;
                }
                _ = poll.tick() => {
                    if let Err(Unauthorized) = self.poll(&token).await { token.clear(); }
                }
                _ = report.tick() => {
                    let now = self.clock.now();
                    let (load, free, event) = {
                        let m = self.model.lock().await;
                        // A responding site reports on the event it is following; one that ignores events
                        // (its controller is down, its meter gateway is not) keeps reporting on the standing
                        // telemetry event.
                        let active = m
                            .instructions
                            .iter()
                            .rev()
                            .filter(|i| m.reacts_at(i).is_some_and(|r| r <= now))
                            .find(|i| i.start <= now && i.end.is_none_or(|e| now < e));
                        let mut free_model = m.clone();
                        free_model.instructions.clear();
                        (m.load_at(now), free_model.load_at(now), active.map(|i| i.event_id.clone()))
                    };
                    let load_kw = (load * 1000.0).round() as u64;
                    let free_kw = (free * 1000.0).round() as u64;
                    self.stats.load_kw.fetch_add(load_kw, Ordering::Relaxed);
                    self.stats.load_kw.fetch_sub(last_load_kw, Ordering::Relaxed);
                    self.stats.free_kw.fetch_add(free_kw, Ordering::Relaxed);
                    self.stats.free_kw.fetch_sub(last_free_kw, Ordering::Relaxed);
                    last_load_kw = load_kw;
                    last_free_kw = free_kw;
                    let body = json!({
                        "eventID": event.unwrap_or_else(|| self.telemetry.clone()),
                        "clientName": self.site.name,
                        "payloadDescriptors": [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "DEMAND", "readingType": "DIRECT_READ", "units": "KW"}],
                        "resources": [{"resourceName": "SITE", "intervals": [{"id": 0,
                            "intervalPeriod": {"start": format_time(&now), "duration": format!("PT{}S", self.cfg.report_every.as_secs().max(1))},
                            "payloads": [{"type": "DEMAND", "values": [load_kw]}]}]}]
                    });
                    match self.http.send(reqwest::Method::POST, "/reports", &token, Some(&body)).await {
                        Ok((201, _)) => { self.stats.reports_ok.fetch_add(1, Ordering::Relaxed); }
                        Ok((401, _)) => { token.clear(); self.stats.reports_failed.fetch_add(1, Ordering::Relaxed); }
                        _ => { self.stats.reports_failed.fetch_add(1, Ordering::Relaxed); }
                    }
                }
            }
        }
    }

    /// Reads the site's events; new instructions enter the model, and the site acknowledges each one when
    /// it starts acting on it (an OPERATING_STATE report; unresponsive sites never do).
    async fn poll(&self, token: &str) -> Result<(), Unauthorized> {
        self.stats.polls.fetch_add(1, Ordering::Relaxed);
        let path = format!("/events?programID={}&limit=50", self.program);
        let events = match self.http.send(reqwest::Method::GET, &path, token, None).await {
            Ok((200, v)) => v,
            Ok((401, _)) => return Err(Unauthorized),
            _ => return Ok(()),
        };
        self.ingest(&events, token).await;
        Ok(())
    }

    /// Takes in events (a polled list, or one pushed by MQTT).
    async fn ingest(&self, events: &Value, token: &str) {
        let now = self.clock.now();
        let mut fresh = Vec::new();
        {
            let mut m = self.model.lock().await;
            let shed_level = m.mining_mw * (1.0 - self.cfg.shed_share);
            for e in events.as_array().into_iter().flatten() {
                let mut new_event = false;
                for i in instructions(e, now, self.site.offer_price, shed_level) {
                    if let Some(known) = m.instructions.iter_mut().find(|k| k.key == i.key) {
                        // An update (a cancellation shortens the event): keep when it was first seen.
                        known.end = i.end;
                        known.level_mw = i.level_mw;
                        continue;
                    }
                    if !new_event && !m.instructions.iter().any(|k| k.event_id == i.event_id) {
                        new_event = true;
                        self.stats.events_seen.fetch_add(1, Ordering::Relaxed);
                        if let Some(at) = m.reacts_at(&i) {
                            fresh.push((i.event_id.clone(), at.max(now)));
                        }
                    }
                    m.instructions.push(i);
                }
            }
        }
        for (event, at) in fresh {
            let (http, site, stats, clock) = (
                self.http.clone(),
                self.site.clone(),
                self.stats.clone(),
                self.clock.clone(),
            );
            let token = token.to_owned();
            tokio::spawn(async move {
                let wait = (at - clock.now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let ack = json!({"eventID": event, "clientName": site.name, "resources": [{"resourceName": "SITE",
                    "intervals": [{"id": 0, "payloads": [{"type": "OPERATING_STATE", "values": ["RUNNING_CURTAILED"]}]}]}]});
                if let Ok((201, _)) = http.send(reqwest::Method::POST, "/reports", &token, Some(&ack)).await {
                    stats.acks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
}

struct Unauthorized;

/// Listens on the VTN's MQTT binding for the site's events and forwards each event object; reconnects
/// with a fresh token when the connection drops.
async fn listen_mqtt(
    http: Arc<Http>,
    site: SimSite,
    stop: Arc<AtomicBool>,
    out: tokio::sync::mpsc::UnboundedSender<Value>,
) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    while !stop.load(Ordering::Acquire) {
        let attempt = async {
            let token = http.token(&site.client_id, &site.client_secret).await?;
            let notifiers = http.ok(reqwest::Method::GET, "/notifiers", &token, None).await?;
            let uri = notifiers["MQTT"]["URIS"][0]
                .as_str()
                .ok_or_else(|| anyhow!("the VTN offers no MQTT binding"))?
                .to_owned();
            let rest = uri
                .strip_prefix("mqtt://")
                .ok_or_else(|| anyhow!("the simulator speaks plain mqtt:// only, not {uri}"))?;
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| anyhow!("no port in {uri}"))?;
            let topics = http
                .ok(
                    reqwest::Method::GET,
                    &format!("/notifiers/mqtt/topics/vens/{}/events", site.ven_id),
                    &token,
                    None,
                )
                .await?;
            let mut opts = MqttOptions::new(format!("sim-{}", site.client_id), host, port.parse()?);
            opts.set_credentials(site.client_id.clone(), token);
            opts.set_keep_alive(Duration::from_secs(30));
            opts.set_max_packet_size(1 << 20, 1 << 20);
            let (client, mut events) = AsyncClient::new(opts, 64);
            for op in ["CREATE", "UPDATE"] {
                if let Some(t) = topics["topics"][op].as_str() {
                    client.subscribe(t, QoS::AtLeastOnce).await?;
                }
            }
            while !stop.load(Ordering::Acquire) {
                match tokio::time::timeout(Duration::from_secs(1), events.poll()).await {
                    Err(_) => continue,
                    Ok(Err(e)) => return Err(anyhow!("MQTT connection lost: {e}")),
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        if let Ok(n) = serde_json::from_slice::<Value>(&p.payload)
                            && n["objectType"] == "EVENT"
                        {
                            let _ = out.send(n["object"].clone());
                        }
                    }
                    Ok(Ok(_)) => {}
                }
            }
            anyhow::Ok(())
        };
        if let Err(e) = attempt.await {
            tracing::debug!(site = %site.name, error = %e, "MQTT listener; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_site_follows_the_price_intervals_that_reach_its_offer() {
        let seen = Utc.with_ymd_and_hms(2027, 7, 1, 15, 0, 0).unwrap();
        let e = json!({"id": "p1", "intervalPeriod": {"start": "2027-07-01T16:00:00Z", "duration": "PT15M"},
        "intervals": [
            {"id": 0, "payloads": [{"type": "PRICE", "values": [45.1]}]},
            {"id": 1, "payloads": [{"type": "PRICE", "values": [950]}]},
            {"id": 2, "payloads": [{"type": "PRICE", "values": [1200]}]}
        ]});
        let got = instructions(&e, seen, 900.0, 8.0);
        let spans: Vec<(String, DateTime<Utc>)> = got.iter().map(|i| (i.key.clone(), i.start)).collect();
        assert_eq!(
            spans,
            vec![
                ("p1#1".into(), Utc.with_ymd_and_hms(2027, 7, 1, 16, 15, 0).unwrap()),
                ("p1#2".into(), Utc.with_ymd_and_hms(2027, 7, 1, 16, 30, 0).unwrap()),
            ]
        );
        assert!(
            got.iter()
                .all(|i| i.level_mw == 8.0 && i.event_id == "p1" && !i.load_up)
        );
        assert_eq!(got[1].end, Some(Utc.with_ymd_and_hms(2027, 7, 1, 16, 45, 0).unwrap()));
    }

    #[test]
    fn a_dispatch_event_is_one_instruction_at_its_level() {
        let seen = Utc.with_ymd_and_hms(2027, 7, 1, 15, 0, 0).unwrap();
        let e = json!({"id": "d1", "intervalPeriod": {"start": "2027-07-01T15:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [
                {"type": "IMPORT_CAPACITY_LIMIT", "values": [8000]}, {"type": "SIMPLE", "values": [2]}]}]});
        let got = instructions(&e, seen, 900.0, 1.0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].level_mw, 8.0);
        assert_eq!(got[0].end, Some(Utc.with_ymd_and_hms(2027, 7, 1, 16, 0, 0).unwrap()));
    }
}
