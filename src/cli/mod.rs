//! The `sluice` command's subcommands, one file each, and what they share: where settings come from,
//! logging, progress on the terminal.

pub(crate) mod audit;
pub(crate) mod cert;
pub(crate) mod clients;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod mqtt;
pub(crate) mod rules;
pub(crate) mod serve;
pub(crate) mod settle;
pub(crate) mod simulate;

use std::path::PathBuf;

use anyhow::bail;
use sluice::config::Settings;

/// Where settings come from; flags override the file and the environment.
#[derive(clap::Args, Clone)]
pub(crate) struct Common {
    /// TOML configuration file.
    #[arg(long, env = "SLUICE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://sluice.db) or postgres://…
    #[arg(long)]
    pub(crate) database: Option<String>,
}

pub(crate) fn settings(common: &Common, bind: Option<String>) -> anyhow::Result<Settings> {
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

/// Runs an administration command as the server's console: its writes are audited as the
/// operating-system account that ran it, with the command's name as the action.
pub(crate) fn as_console<T>(command: &str, f: impl FnOnce() -> T) -> T {
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    sluice::service::audit::Actor::console(&user, command).sync_scope(f)
}

pub(crate) fn init_logging(s: &Settings) {
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

/// A progress line on stderr, redrawn at most five times a second.
pub(crate) struct Progress {
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

/// A refused file, with each problem on its own line.
pub(crate) fn rejection(e: sluice::error::AppError) -> anyhow::Error {
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
