//! The one lookup the privacy rules of `crate::privacy` need: the targets granted to a VEN client.

use crate::auth::Principal;
use crate::privacy::{TargetScope, Viewer, scope_for_grants, scope_for_viewer};
use crate::store::repo::granted_targets;
use crate::store::{AnyConnection, StoreResult};

/// The scope of a read of targeted objects (programs, events) by `who` ([`scope_for_viewer`] says how).
pub fn target_scope(c: &mut AnyConnection, who: &Principal, requested: Option<&[String]>) -> StoreResult<TargetScope> {
    if who.is_business_logic() {
        return Ok(scope_for_viewer(&Viewer::BusinessLogic, requested));
    }
    let granted = granted_targets(c, &who.client_id)?.unwrap_or_default();
    Ok(scope_for_grants(granted, requested))
}
