//! `sluice simulate`: a fleet of simulated sites as OpenADR VENs against a VTN.

use anyhow::{Context, bail};
use sluice::clock::SharedClock;

#[derive(clap::Args)]
pub(crate) struct SimulateArgs {
    /// Base URL of the VTN.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) vtn: String,
    /// Number of sites.
    #[arg(long, default_value_t = 20)]
    pub(crate) sites: usize,
    /// The operator's credentials: `CLIENT_ID:SECRET`, or the JSON line `sluice client add` printed.
    #[arg(long, env = "SLUICE_SIM_OPERATOR")]
    pub(crate) operator_credentials: String,
    /// Program the sites enroll in (created when missing).
    #[arg(long, default_value = "sim-program")]
    pub(crate) program: String,
    /// Site names are PREFIX-N (default: sim-<random>).
    #[arg(long)]
    pub(crate) prefix: Option<String>,
    /// Seconds between DEMAND reports of each site.
    #[arg(long, default_value_t = 4.0)]
    pub(crate) report_secs: f64,
    /// Seconds between event polls of each site.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) poll_secs: f64,
    /// Miners' draw per site, MW.
    #[arg(long, default_value_t = 40.0)]
    pub(crate) mining_mw: f64,
    /// Share of sites that are AI data centers with miners beside them (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) ai_share: f64,
    /// Mean seconds from learning of an event to acting on it.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) response_secs: f64,
    /// ± seconds of jitter on the response.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) jitter_secs: f64,
    /// Seconds to ramp to the new level.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) ramp_secs: f64,
    /// The first N sites respond slowly.
    #[arg(long, default_value_t = 0)]
    pub(crate) slow: usize,
    /// How slowly, seconds.
    #[arg(long, default_value_t = 180.0)]
    pub(crate) slow_secs: f64,
    /// The next N sites never respond.
    #[arg(long, default_value_t = 0)]
    pub(crate) unresponsive: usize,
    /// Share of the other sites that never respond (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) failure_rate: f64,
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub(crate) duration_secs: Option<u64>,
    /// Accept the VTN's self-signed certificate.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) summary_secs: f64,
    /// How sites learn of events: `poll` (GET /events every --poll-secs), `mqtt` (the VTN's MQTT binding) or
    /// `webhook` (HTTPS callbacks served by the simulator); with a push, polling is once a minute.
    #[arg(long, default_value = "poll", value_parser = ["poll", "mqtt", "webhook"])]
    pub(crate) notify: String,
    /// Webhook mode: the address the callbacks are served on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) webhook_bind: String,
    /// Webhook mode: the base URL the VTN reaches them at (default: https:// and the address bound).
    #[arg(long)]
    pub(crate) webhook_url: Option<String>,
    /// Webhook mode: PEM certificate and key of the callbacks (default: a self-signed pair written to a
    /// temporary directory; the VTN must trust it, e.g. with notifications.extra_ca_file).
    #[arg(long)]
    pub(crate) webhook_cert: Option<std::path::PathBuf>,
    #[arg(long)]
    pub(crate) webhook_key: Option<std::path::PathBuf>,
}

pub(crate) fn webhook_mode(a: &SimulateArgs) -> anyhow::Result<Option<sluice::sim::WebhookMode>> {
    if a.notify != "webhook" {
        return Ok(None);
    }
    let bind = a
        .webhook_bind
        .parse()
        .with_context(|| format!("--webhook-bind {:?} is not an address", a.webhook_bind))?;
    let (cert, key) = match (&a.webhook_cert, &a.webhook_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => {
            let dir = std::env::temp_dir().join(format!("sluice-sim-{}", std::process::id()));
            let (c, k) = sluice::startup::write_dev_cert(&dir)?;
            eprintln!(
                "webhook callbacks use the self-signed certificate {}: the VTN must trust it (notifications.extra_ca_file)",
                c.display()
            );
            (c, k)
        }
        _ => bail!("--webhook-cert and --webhook-key go together"),
    };
    Ok(Some(sluice::sim::WebhookMode {
        bind,
        url: a.webhook_url.clone().unwrap_or_default(),
        cert,
        key,
    }))
}

pub(crate) async fn simulate(a: SimulateArgs, clock: SharedClock) -> anyhow::Result<()> {
    let (operator_id, operator_secret) = match serde_json::from_str::<serde_json::Value>(&a.operator_credentials) {
        Ok(v) => (
            v["client_id"].as_str().unwrap_or_default().to_owned(),
            v["client_secret"].as_str().unwrap_or_default().to_owned(),
        ),
        Err(_) => match a.operator_credentials.split_once(':') {
            Some((id, secret)) => (id.to_owned(), secret.to_owned()),
            None => bail!("--operator-credentials is CLIENT_ID:SECRET or the JSON line of `sluice client add`"),
        },
    };
    for (name, v) in [("--ai-share", a.ai_share), ("--failure-rate", a.failure_rate)] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} must be within 0..=1");
        }
    }
    if a.report_secs <= 0.0 || a.poll_secs <= 0.0 {
        bail!("--report-secs and --poll-secs must be positive");
    }
    let webhook = webhook_mode(&a)?;
    let cfg = sluice::sim::SimConfig {
        vtn: a.vtn,
        operator_id,
        operator_secret,
        sites: a.sites,
        program: a.program,
        prefix: a
            .prefix
            .unwrap_or_else(|| format!("sim-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])),
        report_every: std::time::Duration::from_secs_f64(a.report_secs),
        poll_every: std::time::Duration::from_secs_f64(a.poll_secs),
        mining_mw: a.mining_mw,
        ai_share: a.ai_share,
        response_secs: a.response_secs,
        jitter_secs: a.jitter_secs,
        ramp_secs: a.ramp_secs,
        slow: a.slow,
        slow_secs: a.slow_secs,
        unresponsive: a.unresponsive,
        failure_rate: a.failure_rate,
        seed: a.seed,
        run_for: a.duration_secs.map(std::time::Duration::from_secs),
        insecure: a.insecure,
        summary_every: Some(std::time::Duration::from_secs_f64(a.summary_secs.max(0.1))),
        mqtt: a.notify == "mqtt",
        webhook,
        ..sluice::sim::SimConfig::default()
    };
    let total = cfg.sites;
    let run_for = cfg.run_for;
    let fleet = sluice::sim::start(cfg, clock).await?;
    eprintln!(
        "{} sites running in program {}; Ctrl-C stops",
        fleet.sites.len(),
        fleet.program_id
    );
    match run_for {
        Some(d) => tokio::time::sleep(d).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    let stats = fleet.stats.clone();
    fleet.stop().await;
    eprintln!("{}", sluice::sim::summary(&stats, total));
    Ok(())
}
