//! `sluice settle`: settle a program for a period, with progress.

use sluice::clock::SharedClock;
use sluice::service::settlement;
use sluice::startup::open_db;

use super::{Common, Progress, settings};

/// Settles `program` (id or name) for the UTC days `from..=to` and prints the run.
pub(crate) fn run(
    program: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    common: &Common,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let program = settlement::program_by_key(&db, program)?;
    let mut bar = Progress::new("settling");
    let run = settlement::settle(
        &db,
        &program,
        settlement::Period { from, to },
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
