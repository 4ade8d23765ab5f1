//! Settlement: importing meter data and prices, program rules, settlement runs and statements.
//! The functions take the database and the time rather than the whole server state, so the CLI runs
//! exactly what the API runs. Permission checks are the API's (operators only).

use crate::error::AppError;
use crate::service::AppState;
use crate::settle::meter::LineError;
use crate::store::Db;
use crate::store::settlement as db;

mod import;
mod load;
mod rules;
mod run;
mod statements;

pub use self::import::*;
pub use self::rules::*;
pub use self::run::*;
pub use self::statements::*;

fn rejected(errors: Vec<LineError>, count: usize, what: &str) -> AppError {
    let shown = errors.len();
    let detail = if count > shown {
        format!("{what} has {count} problems (the first {shown} are listed); nothing was imported")
    } else {
        format!("{what} has {count} problem(s); nothing was imported")
    };
    AppError::Rejected { detail, errors }
}

pub use crate::settle::engine::Period;
pub use crate::settle::export::Statement;
pub use crate::wire::settlement::{Format, MeterFormat};

/// A program's id, given its id or its name (the CLI accepts either).
pub fn program_by_key(db_: &Db, key: &str) -> Result<String, AppError> {
    db_.read_blocking(|c| db::program_by_id_or_name(c, key))?
        .ok_or_else(|| AppError::NotFound(format!("no program has the id or name {key:?}")))
}

/// Runs blocking settlement work (the functions of this module) off the async threads, for the actor of
/// the calling request.
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Db) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let db = state.db.clone();
    let actor = super::audit::Actor::current();
    tokio::task::spawn_blocking(move || super::audit::Actor::carry(actor, || f(&db)))
        .await
        .map_err(|e| AppError::Internal(format!("settlement task failed: {e}")))?
}
