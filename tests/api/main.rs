//! API tests against a real server, named after the behavior they check; module comments name the
//! sections of the OpenADR 3.1 Definition they come from. The suite runs on SQLite by default and on
//! PostgreSQL with `TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod audit;
mod auth;
mod dispatch;
mod errors;
mod hostile;
mod interop;
mod mqtt;
mod notifications;
mod objects;
mod openapi;
mod platform;
mod privacy;
mod receiver;
mod roles;
mod settlement;
mod simulator;
mod sites;
mod support;
