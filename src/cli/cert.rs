//! `sluice cert dev`: development TLS material.

use std::path::PathBuf;

use clap::Subcommand;
use sluice::startup::write_dev_cert;

#[derive(Subcommand)]
pub(crate) enum CertAction {
    /// Write a self-signed certificate and key for localhost.
    Dev {
        #[arg(long, default_value = "certs")]
        out: PathBuf,
    },
}

/// Writes a self-signed certificate and key for localhost.
pub(crate) fn dev(out: &std::path::Path) -> anyhow::Result<()> {
    let (cert, key) = write_dev_cert(out)?;
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
