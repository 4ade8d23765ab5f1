//! The flexible-load domain, as pure functions over plain data: the obligation calendar, reading VEN
//! reports as telemetry, response latency, merit order. Imports neither diesel nor actix; the service
//! layer loads the data, calls these, and stores what they return.

pub mod calendar;
pub mod dispatch;
pub mod latency;
pub mod telemetry;

/// Megawatts, prices and money are exact decimals.
pub type Decimal = rust_decimal::Decimal;
