//! The flexible-load domain, as pure functions over plain data: the obligation calendar, reading VEN
//! reports as telemetry, response latency, merit order. Imports neither diesel nor actix; the service
//! layer loads the data, calls these, and stores what they return.

pub mod calendar;
pub mod dispatch;
pub mod latency;
pub mod telemetry;

/// Megawatts, prices and money are exact decimals.
pub type Decimal = rust_decimal::Decimal;

/// Targets of the form `site:<siteID>` are held by the site's ven (granted with its own targets), so an
/// event can be addressed to exactly one site.
pub const SITE_TARGET_PREFIX: &str = "site:";

/// The target that addresses one site.
pub fn site_target(site_id: &str) -> String {
    format!("{SITE_TARGET_PREFIX}{site_id}")
}
