//! The `sluice` command: serve, migrate, manage OAuth2 clients, make development certificates, simulate a
//! fleet, import meter data and prices, set settlement rules, settle, export. Each subcommand's body is in
//! `src/cli/`.

mod cli;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use sluice::clock::{SharedClock, SystemClock};

use cli::Common;
use cli::audit::AuditAction;
use cli::cert::CertAction;
use cli::clients::ClientAction;
use cli::export::ExportAction;
use cli::import::ImportAction;
use cli::mqtt::MqttAction;
use cli::rules::RulesAction;
use cli::simulate::SimulateArgs;

#[derive(Parser)]
#[command(name = "sluice", version, about = "OpenADR 3.1 VTN for flexible loads")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// The audit log: verify its hash chain.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { common, bind } => {
            let s = cli::settings(&common, bind)?;
            cli::init_logging(&s);
            actix_web::rt::System::new().block_on(cli::serve::serve(s, clock))
        }
        Command::Migrate { common, revert } => cli::serve::migrate(&common, revert),
        Command::Client { action } => {
            let command = match &action {
                ClientAction::Add { .. } => "client add",
                ClientAction::List { .. } => "client list",
                ClientAction::Remove { .. } => "client remove",
                ClientAction::Rotate { .. } => "client rotate",
            };
            cli::as_console(command, || cli::clients::client(action, clock))
        }
        Command::Simulate(args) => actix_web::rt::System::new().block_on(cli::simulate::simulate(*args, clock)),
        Command::Cert {
            action: CertAction::Dev { out },
        } => cli::cert::dev(&out),
        Command::Mqtt {
            action: MqttAction::Acl { common },
        } => cli::mqtt::acl(&common),
        Command::Import { action } => cli::as_console("import", || cli::import::import(action, &clock)),
        Command::Rules { action } => cli::as_console("rules", || cli::rules::rules(action, &clock)),
        Command::Settle {
            program,
            from,
            to,
            common,
        } => cli::as_console("settle", || cli::settle::run(&program, from, to, &common, &clock)),
        Command::Audit { action } => cli::audit::audit(action, &clock),
        Command::Export { action } => cli::export::export(action),
        Command::Openapi => {
            println!("{}", sluice::api::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}
