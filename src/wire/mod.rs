//! OpenADR 3.1 JSON types. Imports neither diesel nor actix: this is the protocol, nothing else.

pub mod auth;
pub mod calendar;
pub mod decimal;
pub mod objects;
pub mod ops;
pub mod primitives;
pub mod problem;
pub mod query;
pub mod render;
pub mod rules;
pub mod settlement;
pub mod sites;
pub mod strict;

pub use objects::*;
pub use primitives::{Currency, Name, ObjectId, Target, Text, Uri, WireDateTime, WireDuration, format_time, in_range};
pub use problem::Problem;
pub use render::{StoredObject, TargetView};

/// `skip`/`limit` of a list request (already validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub skip: i64,
    pub limit: i64,
}
