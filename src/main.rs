//! The `sluice` command: serve, migrate, manage OAuth2 clients, make development certificates.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use sluice::auth::Role;
use sluice::clock::{SharedClock, SystemClock};
use sluice::config::Settings;
use sluice::service::clients::{self, PEPPER_SECRET};
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
    /// MQTT binding helpers.
    Mqtt {
        #[command(subcommand)]
        action: MqttAction,
    },
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
