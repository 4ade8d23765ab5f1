//! Object privacy and targeting (OpenADR 3.1 Definition §Object Privacy; digest §2). Pure rules plus the
//! one lookup they need: the targets granted to a VEN client.

use std::collections::HashSet;
use std::sync::Arc;

use super::cache::Viewer;
use crate::auth::Principal;
use crate::store::repo::granted_targets;
use crate::store::{AnyConnection, StoreResult, TargetFilter};

/// How a reader's list of programs or events is restricted, and which targets it may see in them.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetScope {
    pub filter: TargetFilter,
    /// `None`: every target is shown (business logic).
    pub visible: Option<Arc<HashSet<String>>>,
}

/// The scope of a read of targeted objects (programs, events).
///
/// - Business logic sees everything; query `targets` filter to objects having any of them.
/// - A VEN's granted targets are those of its ven and the ven's resources. Without query targets it sees
///   untargeted objects and objects sharing a target with its grants (UG §8.13-5: a VEN need not send
///   targets). With query targets it sees objects sharing a target with (query ∩ granted). A VEN without
///   a ven object has no grants, so it sees only untargeted objects.
/// - Target hiding: a VEN is shown only the targets it was granted (and asked for).
pub fn target_scope(c: &mut AnyConnection, who: &Principal, requested: Option<&[String]>) -> StoreResult<TargetScope> {
    if who.is_business_logic() {
        return Ok(scope_for_viewer(&Viewer::BusinessLogic, requested));
    }
    let granted = granted_targets(c, &who.client_id)?.unwrap_or_default();
    Ok(scope_for_grants(granted, requested))
}

/// [`target_scope`] for a reader already resolved to a [`Viewer`].
pub fn scope_for_viewer(viewer: &Viewer, requested: Option<&[String]>) -> TargetScope {
    match viewer {
        Viewer::BusinessLogic => TargetScope {
            filter: match requested {
                Some(r) => TargetFilter::AnyOf(r.to_vec()),
                None => TargetFilter::All,
            },
            visible: None,
        },
        Viewer::Granted(g) => scope_for_grants(g.to_vec(), requested),
    }
}

/// [`target_scope`] for a VEN whose grants are known.
pub fn scope_for_grants(granted: Vec<String>, requested: Option<&[String]>) -> TargetScope {
    match requested {
        Some(r) => {
            let r: HashSet<&str> = r.iter().map(String::as_str).collect();
            let effective: Vec<String> = granted.into_iter().filter(|g| r.contains(g.as_str())).collect();
            let visible = effective.iter().cloned().collect();
            TargetScope {
                filter: TargetFilter::AnyOf(effective),
                visible: Some(Arc::new(visible)),
            }
        }
        None => {
            let visible = granted.iter().cloned().collect();
            TargetScope {
                filter: TargetFilter::UntargetedOr(granted),
                visible: Some(Arc::new(visible)),
            }
        }
    }
}

impl TargetScope {
    /// Whether one object with `targets` is readable under this scope (by-id reads).
    pub fn admits(&self, targets: Option<&[String]>) -> bool {
        self.filter.admits(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn checklist_54_57_ven_sees_untargeted_and_overlapping_objects() {
        let scope = scope_for_grants(s(&["g1"]), None);
        assert!(scope.admits(None));
        assert!(scope.admits(Some(&s(&["g1", "g2"]))));
        assert!(!scope.admits(Some(&s(&["g2"]))));
    }

    #[test]
    fn checklist_55_ven_without_grants_sees_only_untargeted() {
        let scope = scope_for_grants(vec![], None);
        assert!(scope.admits(None));
        assert!(!scope.admits(Some(&s(&["g1"]))));
    }

    #[test]
    fn query_targets_narrow_a_vens_grants() {
        let scope = scope_for_grants(s(&["g1", "g2"]), Some(&s(&["g2", "g3"])));
        assert!(!scope.admits(Some(&s(&["g1"]))));
        assert!(scope.admits(Some(&s(&["g2"]))));
        assert!(
            !scope.admits(Some(&s(&["g3"]))),
            "a target asked for but not granted gives nothing"
        );
        assert!(!scope.admits(None), "a target filter matches only targeted objects");
        assert_eq!(scope.visible.unwrap().iter().collect::<Vec<_>>(), vec!["g2"]);
    }
}
