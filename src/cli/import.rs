//! `sluice import meter|prices`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sluice::clock::SharedClock;
use sluice::service::settlement;
use sluice::startup::open_db;

use super::{Common, Progress, rejection, settings};

#[derive(Subcommand)]
pub(crate) enum ImportAction {
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

pub(crate) fn import(action: ImportAction, clock: &SharedClock) -> anyhow::Result<()> {
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
            let r = settlement::import_prices(&db, input, clock.now()).map_err(rejection)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
    }
}
