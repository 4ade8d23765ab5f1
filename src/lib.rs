//! Sluice: an OpenADR 3.1 VTN for flexible loads.
//!
//! Layers point one way: `wire` ← `store` ← `service` ← `api`; `auth`, `config` and `clock` sit beside
//! them, and `startup` wires everything together for `main` and the tests.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod flex;
pub mod notify;
pub mod service;
pub mod settle;
pub mod sim;
pub mod startup;
pub mod store;
pub mod wire;
