//! The one lookup the privacy rules of `crate::privacy` need: the targets granted to a VEN client. Both
//! readers of it go through here: `AppState::viewer` (cached per generation, for reads) and
//! [`target_scope`] (inside a write's transaction).

use std::sync::Arc;

use crate::auth::Principal;
use crate::privacy::{TargetScope, Viewer, scope_for_viewer};
use crate::store::repo::granted_targets;
use crate::store::{AnyConnection, StoreResult};

/// The targets granted to a VEN client (`None`: the client has registered no ven).
pub fn grants(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<Arc<[String]>>> {
    Ok(granted_targets(c, client_id)?.map(Into::into))
}

/// A VEN client as a reader of targeted objects: one without a ven holds no grants, so it reads
/// untargeted objects only.
pub fn ven_viewer(grants: Option<Arc<[String]>>) -> Viewer {
    Viewer::Granted(grants.unwrap_or_else(|| Arc::from(Vec::new())))
}

/// The scope of a read of targeted objects (programs, events) by `who` ([`scope_for_viewer`] says how),
/// its grants read in the caller's transaction.
pub fn target_scope(c: &mut AnyConnection, who: &Principal, requested: Option<&[String]>) -> StoreResult<TargetScope> {
    let viewer = if who.is_business_logic() {
        Viewer::BusinessLogic
    } else {
        ven_viewer(grants(c, &who.client_id)?)
    };
    Ok(scope_for_viewer(&viewer, requested))
}
