//! Who may see which targeted object (OpenADR 3.1 Definition, "Object Privacy"; docs/spec-decisions.md,
//! "Identity and privacy"): the filter a reader's lists are restricted by, the targets it is shown, and the
//! site targets a site's ven holds. Pure rules over plain data: `service` and `notify` decide with these
//! functions, and `store` decides in the database with [`admits_sql`], this module's SQL form of
//! [`TargetFilter::admits`] (a test in `tests/api/privacy.rs` checks that both agree on both databases).

use std::collections::HashSet;
use std::sync::Arc;

/// Targets of the form `site:<siteID>` are held by the site's ven (granted with its own targets), so an
/// event can be addressed to exactly one site.
pub const SITE_TARGET_PREFIX: &str = "site:";

/// The target that addresses one site.
pub fn site_target(site_id: &str) -> String {
    format!("{SITE_TARGET_PREFIX}{site_id}")
}

/// Who a cached list was rendered for: the business logic (sees everything, no hiding) or the VENs holding
/// exactly these granted targets (the answer depends on nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Viewer {
    BusinessLogic,
    Granted(Arc<[String]>),
}

/// Which targeted objects (programs, events) a list may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetFilter {
    /// Every object.
    All,
    /// Objects without targets, and objects with at least one target in the set (a VEN's granted targets).
    UntargetedOr(Vec<String>),
    /// Objects with at least one target in the set.
    AnyOf(Vec<String>),
}

impl TargetFilter {
    /// Whether one object with `targets` passes this filter (the same rule the SQL applies).
    pub fn admits(&self, targets: Option<&[String]>) -> bool {
        let targets = targets.unwrap_or(&[]);
        match self {
            TargetFilter::All => true,
            TargetFilter::UntargetedOr(set) => targets.is_empty() || targets.iter().any(|t| set.contains(t)),
            TargetFilter::AnyOf(set) => targets.iter().any(|t| set.contains(t)),
        }
    }
}

impl TargetFilter {
    /// What [`admits_sql`] is bound with: whether every object passes, whether untargeted objects pass,
    /// and the set any of whose targets lets an object pass.
    pub fn sql_binds(&self) -> (bool, bool, &[String]) {
        match self {
            TargetFilter::All => (true, true, &[]),
            TargetFilter::UntargetedOr(set) => (false, true, set),
            TargetFilter::AnyOf(set) => (false, false, set),
        }
    }
}

/// [`TargetFilter::admits`] as an SQL condition, for statements that decide visibility in the database.
/// `object` is the alias of the object's row (`id` and `targeted` columns); its targets are rows of the
/// table `targets` (alias `t`, `target` column, `owner` naming the object). `see_all` and
/// `see_untargeted` are SQL boolean expressions for the first two of [`TargetFilter::sql_binds`];
/// `granted_join` (possibly empty) and `granted` say when `t.target` is in the set.
pub fn admits_sql(
    object: &str,
    targets: &str,
    owner: &str,
    see_all: &str,
    see_untargeted: &str,
    granted_join: &str,
    granted: &str,
) -> String {
    format!(
        "({see_all} OR (NOT {object}.targeted AND {see_untargeted}) \
         OR EXISTS (SELECT 1 FROM {targets} t {granted_join} WHERE t.{owner} = {object}.id AND {granted}))"
    )
}

/// How a reader's list of programs or events is restricted, and which targets it may see in them.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetScope {
    pub filter: TargetFilter,
    /// `None`: every target is shown (business logic).
    pub visible: Option<Arc<HashSet<String>>>,
}

/// The scope of a read of targeted objects (programs, events) by a reader resolved to a [`Viewer`].
///
/// - Business logic sees everything; query `targets` filter to objects having any of them.
/// - A VEN's granted targets are those of its ven, the ven's resources and its sites. Without query
///   targets it sees untargeted objects and objects sharing a target with its grants (a VEN need not send
///   targets). With query targets it sees objects sharing a target with (query ∩ granted). A VEN without
///   a ven object has no grants, so it sees only untargeted objects.
/// - Target hiding: a VEN is shown only the targets it was granted (and asked for).
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

/// [`scope_for_viewer`] for a VEN whose grants are known.
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
    fn ven_sees_untargeted_and_overlapping_objects() {
        let scope = scope_for_grants(s(&["g1"]), None);
        assert!(scope.admits(None));
        assert!(scope.admits(Some(&s(&["g1", "g2"]))));
        assert!(!scope.admits(Some(&s(&["g2"]))));
    }

    #[test]
    fn ven_without_grants_sees_only_untargeted() {
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
