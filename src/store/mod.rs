//! Storage: diesel over SQLite or PostgreSQL, one code path. Imports no actix.

pub mod audit;
pub mod conn;
pub mod dialect;
pub mod dispatch;
pub mod error;
pub mod outbox;
pub mod repo;
pub mod schema;
pub mod settlement;
pub mod sites;

pub use conn::{AnyConnection, Db, DbOptions, DbUrl, SqliteSync};
pub use error::{StoreError, StoreResult};
