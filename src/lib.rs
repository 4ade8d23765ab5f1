//! Sluice: an OpenADR 3.1 VTN for flexible loads.
//!
//! Layers point one way, from `api` and the CLI through `service` to `store` and the pure `flex`, `settle`,
//! `privacy` and `wire`; `startup` wires everything together for `main` and the tests. `layers.rs` lists
//! what each module may import, and its test holds the code to it.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod flex;
#[cfg(test)]
mod layers;
pub mod notify;
pub mod privacy;
pub mod service;
pub mod settle;
pub mod sim;
pub mod startup;
pub mod store;
pub mod wire;
