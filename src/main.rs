//! The `sluice` command: serve, migrate, manage OAuth2 clients, make development certificates.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use sluice::auth::Role;
use sluice::clock::{SharedClock, SystemClock};
use sluice::config::Settings;
use sluice::service::clients::{self, PEPPER_SECRET};
use sluice::service::settlement;
use sluice::settle::engine::Period;
use sluice::startup::{Application, open_db, redact, write_dev_cert};
use sluice::store::repo;

#[derive(Parser)]
#[command(name = "sluice", version, about = "OpenADR 3.1 VTN for flexible loads")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where settings come from; flags override the file and the environment.
#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://sluice.db) or postgres://…
    #[arg(long)]
    database: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the VTN.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations (or revert the newest).
    Migrate {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        revert: bool,
    },
    /// Manage OAuth2 clients of the built-in token endpoint.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// Development TLS material.
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Run a fleet of simulated flexible-load sites as OpenADR 3.1 VENs against a VTN.
    Simulate(Box<SimulateArgs>),
    /// MQTT binding helpers.
    Mqtt {
        #[command(subcommand)]
        action: MqttAction,
    },
    /// Import meter data or prices.
    Import {
        #[command(subcommand)]
        action: ImportAction,
    },
    /// A program's settlement rules (JSON, as `PUT /ops/programs/{id}/settlement-rules` takes them).
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Settle a program for a period: a statement per enrolled site (UTC days, both included).
    Settle {
        /// Program id or name.
        #[arg(long)]
        program: String,
        #[arg(long)]
        from: chrono::NaiveDate,
        #[arg(long)]
        to: chrono::NaiveDate,
        #[command(flatten)]
        common: Common,
    },
    /// Export a statement, or a chart of one of its events.
    Export {
        #[command(subcommand)]
        action: ExportAction,
    },
}

#[derive(Subcommand)]
enum ImportAction {
    /// Revenue-meter interval data: CSV (site_id, meter_id, channel, interval_start_utc, interval_end_utc,
    /// kwh, avg_kw, quality, source) or Green Button XML. All or nothing.
    Meter {
        file: PathBuf,
        /// csv or greenbutton (default: from the file name).
        #[arg(long)]
        format: Option<String>,
        /// Green Button: the site (id or name) the meter is.
        #[arg(long)]
        site: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Prices per MWh: CSV (series, interval_start_utc, interval_end_utc, price).
    Prices {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum RulesAction {
    /// Store a new version of a program's rules from a JSON file.
    Set {
        #[arg(long)]
        program: String,
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Print the newest version.
    Show {
        #[arg(long)]
        program: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum ExportAction {
    /// A statement as CSV, JSON or XML (to stdout, or --out).
    Statement {
        id: String,
        #[arg(long, default_value = "json", value_parser = ["csv", "json", "xml"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Every statement a settlement run issued, in one file (CSV rows under one header, a JSON array, or
    /// XML), for billing imports.
    Run {
        id: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "json", "xml"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// An SVG chart of an event of a statement: baseline, actual and the committed level.
    Chart {
        id: String,
        /// Default: the statement's first event.
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Base URL of the VTN.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    vtn: String,
    /// Number of sites.
    #[arg(long, default_value_t = 20)]
    sites: usize,
    /// The operator's credentials: `CLIENT_ID:SECRET`, or the JSON line `sluice client add` printed.
    #[arg(long, env = "SLUICE_SIM_OPERATOR")]
    operator_credentials: String,
    /// Program the sites enroll in (created when missing).
    #[arg(long, default_value = "sim-program")]
    program: String,
    /// Site names are PREFIX-N (default: sim-<random>).
    #[arg(long)]
    prefix: Option<String>,
    /// Seconds between DEMAND reports of each site.
    #[arg(long, default_value_t = 4.0)]
    report_secs: f64,
    /// Seconds between event polls of each site.
    #[arg(long, default_value_t = 2.0)]
    poll_secs: f64,
    /// Miners' draw per site, MW.
    #[arg(long, default_value_t = 40.0)]
    mining_mw: f64,
    /// Share of sites that are AI data centers with miners beside them (0..=1).
    #[arg(long, default_value_t = 0.0)]
    ai_share: f64,
    /// Mean seconds from learning of an event to acting on it.
    #[arg(long, default_value_t = 5.0)]
    response_secs: f64,
    /// ± seconds of jitter on the response.
    #[arg(long, default_value_t = 3.0)]
    jitter_secs: f64,
    /// Seconds to ramp to the new level.
    #[arg(long, default_value_t = 20.0)]
    ramp_secs: f64,
    /// The first N sites respond slowly.
    #[arg(long, default_value_t = 0)]
    slow: usize,
    /// How slowly, seconds.
    #[arg(long, default_value_t = 180.0)]
    slow_secs: f64,
    /// The next N sites never respond.
    #[arg(long, default_value_t = 0)]
    unresponsive: usize,
    /// Share of the other sites that never respond (0..=1).
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Accept the VTN's self-signed certificate.
    #[arg(long)]
    insecure: bool,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 5.0)]
    summary_secs: f64,
    /// How sites learn of events: `poll` (GET /events every --poll-secs), `mqtt` (the VTN's MQTT binding) or
    /// `webhook` (HTTPS callbacks served by the simulator); with a push, polling is once a minute.
    #[arg(long, default_value = "poll", value_parser = ["poll", "mqtt", "webhook"])]
    notify: String,
    /// Webhook mode: the address the callbacks are served on.
    #[arg(long, default_value = "127.0.0.1:0")]
    webhook_bind: String,
    /// Webhook mode: the base URL the VTN reaches them at (default: https:// and the address bound).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Webhook mode: PEM certificate and key of the callbacks (default: a self-signed pair written to a
    /// temporary directory; the VTN must trust it, e.g. with notifications.extra_ca_file).
    #[arg(long)]
    webhook_cert: Option<std::path::PathBuf>,
    #[arg(long)]
    webhook_key: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum MqttAction {
    /// Print a Mosquitto ACL file for an external broker (business-logic clients from the database).
    Acl {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Operator,
    Ven,
}

#[derive(Subcommand)]
enum ClientAction {
    /// Create a client; prints {"client_id","client_secret","role"} as one JSON line.
    Add {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// List clients (secrets are never shown again).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a client; its tokens stop working when they expire.
    Remove {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum CertAction {
    /// Write a self-signed certificate and key for localhost.
    Dev {
        #[arg(long, default_value = "certs")]
        out: PathBuf,
    },
}

fn settings(common: &Common, bind: Option<String>) -> anyhow::Result<Settings> {
    let mut s = match Settings::layered(common.config.as_deref()) {
        Ok(s) => s,
        Err(errs) => bail!("invalid configuration:\n  - {}", errs.join("\n  - ")),
    };
    if let Some(db) = &common.database {
        s.database.url = db.clone();
    }
    if let Some(b) = bind {
        s.server.bind = b;
    }
    if let Err(errs) = s.validate() {
        bail!("invalid configuration:\n  - {}", errs.join("\n  - "));
    }
    Ok(s)
}

fn init_logging(s: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&s.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if s.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { common, bind } => {
            let s = settings(&common, bind)?;
            init_logging(&s);
            actix_web::rt::System::new().block_on(serve(s, clock))
        }
        Command::Migrate { common, revert } => {
            let s = settings(&common, None)?;
            init_logging(&s);
            let db = open_db(&s, false)?;
            if revert {
                let v = db.revert_last_blocking()?;
                eprintln!("reverted {v}");
            } else {
                let applied = db.migrate_blocking()?;
                eprintln!("{} migration(s) applied to {}", applied.len(), redact(&s.database.url));
            }
            Ok(())
        }
        Command::Client { action } => client(action, clock),
        Command::Simulate(args) => actix_web::rt::System::new().block_on(simulate(*args, clock)),
        Command::Cert {
            action: CertAction::Dev { out },
        } => {
            let (cert, key) = write_dev_cert(&out)?;
            eprintln!(
                "wrote {} and {} (self-signed, for development only; never commit the key)\n\
                 serve HTTPS with SLUICE_TLS__CERT={} SLUICE_TLS__KEY={}",
                cert.display(),
                key.display(),
                cert.display(),
                key.display()
            );
            Ok(())
        }
        Command::Mqtt {
            action: MqttAction::Acl { common },
        } => {
            let s = settings(&common, None)?;
            let db = open_db(&s, true)?;
            let operators: Vec<String> = db
                .read_blocking(repo::list_clients)?
                .into_iter()
                .filter(|c| c.role == "operator")
                .map(|c| c.client_id)
                .collect();
            print!(
                "{}",
                sluice::notify::mqtt::mosquitto_acl(
                    &s.mqtt.topic_prefix,
                    s.mqtt.external_username.as_deref(),
                    &operators
                )
            );
            Ok(())
        }
        Command::Import { action } => import(action, &clock),
        Command::Rules { action } => rules(action, &clock),
        Command::Settle {
            program,
            from,
            to,
            common,
        } => {
            let s = settings(&common, None)?;
            let db = open_db(&s, true)?;
            let program = program_id(&db, &program)?;
            let mut bar = Progress::new("settling");
            let run = settlement::settle(
                &db,
                &program,
                Period { from, to },
                "cli",
                clock.now(),
                &mut |done, of| {
                    bar.of(done as u64, of as u64, "sites");
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish();
            println!("{}", serde_json::to_string_pretty(&run)?);
            eprintln!(
                "run {}: {} site(s), {} statement(s) issued, {} unchanged, total {}",
                run.run_id, run.sites, run.issued, run.unchanged, run.total
            );
            Ok(())
        }
        Command::Export { action } => export(action),
        Command::Openapi => {
            println!("{}", sluice::api::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn serve(s: Settings, clock: SharedClock) -> anyhow::Result<()> {
    let app = Application::build(&s, clock).await?;
    if app.is_tls() {
        tracing::info!(addr = %app.addr(), database = %redact(&s.database.url), "Sluice serving HTTPS");
    } else {
        tracing::warn!(
            addr = %app.addr(),
            "serving plain HTTP: OpenADR 3.1 requires HTTPS; set tls.cert and tls.key (sluice cert dev makes a development pair) or terminate TLS in front"
        );
        tracing::info!(addr = %app.addr(), database = %redact(&s.database.url), "Sluice serving HTTP");
    }
    app.run_until_stopped().await
}

/// A progress line on stderr, redrawn at most five times a second.
struct Progress {
    what: &'static str,
    started: std::time::Instant,
    drawn: Option<std::time::Instant>,
}

impl Progress {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            started: std::time::Instant::now(),
            drawn: None,
        }
    }

    fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self
            .drawn
            .is_some_and(|d| now - d < std::time::Duration::from_millis(200))
        {
            return false;
        }
        self.drawn = Some(now);
        true
    }

    fn count(&mut self, n: u64, unit: &str) {
        if self.due() {
            let rate = n as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            eprint!("\r{}: {n} {unit} ({rate:.0}/s)   ", self.what);
        }
    }

    fn of(&mut self, done: u64, of: u64, unit: &str) {
        if self.due() || done == of {
            let width: usize = 30;
            let filled = (done.min(of) * width as u64)
                .checked_div(of)
                .map_or(width, |f| f as usize);
            eprint!(
                "\r{}: [{}{}] {done}/{of} {unit}   ",
                self.what,
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
        }
    }

    fn finish(&self) {
        eprintln!(" done in {:.1} s", self.started.elapsed().as_secs_f64());
    }
}

/// A program named by id or by name.
fn program_id(db: &sluice::store::Db, key: &str) -> anyhow::Result<String> {
    let found = db.read_blocking(|c| sluice::store::settlement::program_by_id_or_name(c, key))?;
    found.ok_or_else(|| anyhow::anyhow!("no program has the id or name {key:?}"))
}

fn import(action: ImportAction, clock: &SharedClock) -> anyhow::Result<()> {
    match action {
        ImportAction::Meter {
            file,
            format,
            site,
            common,
        } => {
            let s = settings(&common, None)?;
            let db = open_db(&s, true)?;
            let format = match format.as_deref() {
                Some(f) => settlement::MeterFormat::parse(f)
                    .ok_or_else(|| anyhow::anyhow!("format {f:?} is not csv or greenbutton"))?,
                None if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) => {
                    settlement::MeterFormat::GreenButton
                }
                None => settlement::MeterFormat::Csv,
            };
            let input = std::io::BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
            );
            let o = settlement::ImportOptions {
                format,
                file_name: file.file_name().map(|n| n.to_string_lossy().into_owned()),
                site: site.as_deref(),
                by: "cli",
                now: clock.now(),
            };
            let mut bar = Progress::new("importing");
            let done = settlement::import_meter(&db, input, &o, &mut |n| bar.count(n, "readings"));
            bar.finish();
            match done {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                    let secs = bar.started.elapsed().as_secs_f64().max(1e-3);
                    eprintln!(
                        "{} readings in {secs:.1} s: {:.0} readings/s",
                        r.counts.readings,
                        r.counts.readings as f64 / secs
                    );
                    Ok(())
                }
                Err(e) => Err(rejection(e)),
            }
        }
        ImportAction::Prices { file, common } => {
            let s = settings(&common, None)?;
            let db = open_db(&s, true)?;
            let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let r = settlement::import_prices(&db, input).map_err(rejection)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
    }
}

/// A refused file, with each problem on its own line.
fn rejection(e: sluice::error::AppError) -> anyhow::Error {
    match e {
        sluice::error::AppError::Rejected { detail, errors } => {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| {
                    if e.line > 0 {
                        format!("  line {}: {}", e.line, e.message)
                    } else {
                        format!("  {}", e.message)
                    }
                })
                .collect();
            anyhow::anyhow!("{detail}\n{}", lines.join("\n"))
        }
        e => anyhow::anyhow!("{e}"),
    }
}

fn rules(action: RulesAction, clock: &SharedClock) -> anyhow::Result<()> {
    let (program, common) = match &action {
        RulesAction::Set { program, common, .. } | RulesAction::Show { program, common } => (program, common),
    };
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let program = program_id(&db, program)?;
    let v = match &action {
        RulesAction::Set { file, .. } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let rules =
                serde_json::from_str(&text).with_context(|| format!("{} is not settlement rules", file.display()))?;
            settlement::put_rules(&db, &program, rules, "cli", clock.now())
        }
        RulesAction::Show { .. } => settlement::get_rules(&db, &program),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn export(action: ExportAction) -> anyhow::Result<()> {
    let (common, out) = match &action {
        ExportAction::Statement { common, out, .. }
        | ExportAction::Run { common, out, .. }
        | ExportAction::Chart { common, out, .. } => (common, out),
    };
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let text = match &action {
        ExportAction::Statement { id, format, .. } => {
            let statement = settlement::get_statement(&db, id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let format = sluice::settle::export::Format::parse(format).unwrap_or(sluice::settle::export::Format::Json);
            sluice::settle::export::render(&statement, format)
        }
        ExportAction::Run { id, format, .. } => {
            let statements = settlement::run_statements(&db, id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let format = sluice::settle::export::Format::parse(format).unwrap_or(sluice::settle::export::Format::Csv);
            sluice::settle::export::render_many(&statements, format)
        }
        ExportAction::Chart { id, event, .. } => {
            settlement::chart(&db, id, event.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn webhook_mode(a: &SimulateArgs) -> anyhow::Result<Option<sluice::sim::WebhookMode>> {
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

async fn simulate(a: SimulateArgs, clock: SharedClock) -> anyhow::Result<()> {
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

fn client(action: ClientAction, clock: SharedClock) -> anyhow::Result<()> {
    let common = match &action {
        ClientAction::Add { common, .. } | ClientAction::List { common } | ClientAction::Remove { common, .. } => {
            common.clone()
        }
    };
    let s = settings(&common, None)?;
    let db = open_db(&s, true)?;
    match action {
        ClientAction::Add { role, name, .. } => {
            let pepper = clients::load_secret(&db, &clock, PEPPER_SECRET)?;
            let role = match role {
                RoleArg::Operator => Role::Operator,
                RoleArg::Ven => Role::Ven,
            };
            let issued = clients::add(&db, &clock, &pepper, role, &name)?;
            println!("{}", serde_json::to_string(&issued)?);
        }
        ClientAction::List { .. } => {
            for c in db.read_blocking(repo::list_clients)? {
                println!(
                    "{}",
                    serde_json::json!({"client_id": c.client_id, "name": c.client_name, "role": c.role, "created": sluice::wire::format_time(&c.created)})
                );
            }
        }
        ClientAction::Remove { id, .. } => {
            let removed = db
                .write_blocking(|c| repo::delete_client(c, &id))
                .context("cannot remove the client")?;
            if !removed {
                bail!("no client {id:?}");
            }
            eprintln!("removed {id}");
        }
    }
    Ok(())
}
