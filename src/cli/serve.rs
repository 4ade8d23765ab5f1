//! `sluice serve` and `sluice migrate`.

use sluice::clock::SharedClock;
use sluice::config::Settings;
use sluice::startup::{Application, open_db, redact};

use super::{Common, settings};

pub(crate) async fn serve(s: Settings, clock: SharedClock) -> anyhow::Result<()> {
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

/// Applies pending migrations, or reverts the newest.
pub(crate) fn migrate(common: &Common, revert: bool) -> anyhow::Result<()> {
    let s = settings(common, None)?;
    super::init_logging(&s);
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
