//! Who is calling: roles, scopes, the principal of a request; tokens and client secrets.

pub mod jwt;
pub mod limit;
pub mod roles;
pub mod secret;

use std::fmt;

use crate::error::AppError;
pub use crate::wire::auth::Role;
pub use roles::{Permission, Permissions};

/// OpenADR 3.1 scopes (yaml `securitySchemes`). `read_bl` is used by the yaml but never defined; it is
/// treated as `read_all` (docs/spec-decisions.md, "Auth").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    ReadAll,
    ReadTargets,
    ReadVenObjects,
    WritePrograms,
    WriteEvents,
    WriteReports,
    WriteSubscriptions,
    WriteVens,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Self::ReadAll,
        Self::ReadTargets,
        Self::ReadVenObjects,
        Self::WritePrograms,
        Self::WriteEvents,
        Self::WriteReports,
        Self::WriteSubscriptions,
        Self::WriteVens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadAll => "read_all",
            Self::ReadTargets => "read_targets",
            Self::ReadVenObjects => "read_ven_objects",
            Self::WritePrograms => "write_programs",
            Self::WriteEvents => "write_events",
            Self::WriteReports => "write_reports",
            Self::WriteSubscriptions => "write_subscriptions",
            Self::WriteVens => "write_vens",
        }
    }

    /// Parses a scope name; unknown names are `None` (and ignored by callers).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read_bl" => Some(Self::ReadAll),
            _ => Self::ALL.into_iter().find(|x| x.as_str() == s),
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u16);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |acc, s| acc | s.bit()))
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Parses a space-separated scope string, ignoring unknown names.
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self::of(&names.into_iter().filter_map(Scope::parse).collect::<Vec<_>>())
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The OAuth2 client id: the `clientID` written into VEN-created objects.
    pub client_id: String,
    pub scopes: Scopes,
    /// What a business-logic caller may do (`roles`); empty for a VEN.
    pub permissions: Permissions,
    /// The role the token names, when it names one (Sluice's own tokens do).
    pub role: Option<Role>,
}

impl Principal {
    /// The principal of a token whose scope list is `names`: OpenADR scopes and Sluice permissions. A
    /// business-logic token naming no permission has the `operator` role's (see `roles`).
    pub fn from_scope_names<'a>(client_id: String, names: impl IntoIterator<Item = &'a str> + Clone) -> Self {
        let scopes = Scopes::parse_list(names.clone());
        let mut permissions = Permissions::parse_list(names);
        if !scopes.contains(Scope::ReadAll) {
            permissions = Permissions::default();
        } else if permissions.is_empty() {
            permissions = Role::Operator.permissions();
        }
        Self {
            client_id,
            scopes,
            permissions,
            role: None,
        }
    }

    /// The principal of a token issued to `role`.
    pub fn of_role(client_id: String, role: Role) -> Self {
        Self {
            client_id,
            scopes: role.scopes(),
            permissions: role.permissions(),
            role: Some(role),
        }
    }

    /// The caller's role as the audit log names it: the token's, else `bl` or `ven` as the
    /// specification names the two kinds of client.
    pub fn role_name(&self) -> &'static str {
        match self.role {
            Some(r) => r.as_str(),
            None if self.is_business_logic() => "bl",
            None => "ven",
        }
    }

    /// Business logic: `read_all` grants unrestricted reads (Definition §Object Privacy).
    pub fn is_business_logic(&self) -> bool {
        self.scopes.contains(Scope::ReadAll)
    }

    /// 403 unless the token satisfies `access` and, for the business logic, holds `permission`.
    pub fn check(&self, access: Access, permission: Option<Permission>) -> Result<(), AppError> {
        if !access.admits(self.scopes) {
            let names = |scopes: &[Scope]| scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            return Err(AppError::Forbidden(match access {
                Access::AnyOf([one]) | Access::AllOf([one]) => {
                    format!("this operation needs the {} scope", one.as_str())
                }
                Access::AnyOf(scopes) => format!("this operation needs one of the scopes {}", names(scopes)),
                Access::AllOf(scopes) => format!("this operation needs the scopes {}", names(scopes)),
                Access::Public | Access::Token => "this operation is not open to this client".to_owned(),
            }));
        }
        match permission {
            Some(p) if self.is_business_logic() && !self.permissions.contains(p) => Err(AppError::Forbidden(format!(
                "this operation needs the {} permission; this caller has {}",
                p.as_str(),
                if self.permissions.is_empty() {
                    "none".to_owned()
                } else {
                    self.permissions.to_string()
                }
            ))),
            _ => Ok(()),
        }
    }
}

/// Who may call an operation. Each operation declares one (`api::access`); it is checked before the
/// request's parameters or body are read, and written into the OpenAPI document's `security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: token requests, the authorization server's address, health.
    Public,
    /// Any valid token.
    Token,
    /// A token with at least one of these scopes.
    AnyOf(&'static [Scope]),
    /// A token with every one of these scopes.
    AllOf(&'static [Scope]),
}

impl Access {
    /// Reading programs and events: `read_targets`, or `read_all` which covers every read (OpenADR 3.1
    /// Definition §Object Privacy).
    pub const READ_TARGETS: Self = Self::AnyOf(&[Scope::ReadAll, Scope::ReadTargets]);
    /// Reading reports, subscriptions, vens and resources: `read_ven_objects`, or `read_all`.
    pub const READ_VEN_OBJECTS: Self = Self::AnyOf(&[Scope::ReadAll, Scope::ReadVenObjects]);
    /// Reading what only the business logic may read (every `/ops/` read).
    pub const READ_ALL: Self = Self::AllOf(&[Scope::ReadAll]);

    /// Whether a token carrying `scopes` may call the operation (`Public` and `Token` admit any token).
    pub fn admits(self, scopes: Scopes) -> bool {
        match self {
            Self::Public | Self::Token => true,
            Self::AnyOf(any) => any.iter().any(|s| scopes.contains(*s)),
            Self::AllOf(all) => all.iter().all(|s| scopes.contains(*s)),
        }
    }

    /// The alternatives as OpenAPI writes them: each inner list is one way in (all of its scopes
    /// needed); empty when no token is needed.
    pub fn requirements(self) -> Vec<Vec<&'static str>> {
        match self {
            Self::Public => Vec::new(),
            Self::Token => vec![Vec::new()],
            Self::AnyOf(any) => any.iter().map(|s| vec![s.as_str()]).collect(),
            Self::AllOf(all) => vec![all.iter().map(|s| s.as_str()).collect()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_ignore_unknown_names_and_map_read_bl() {
        let s = Scopes::parse_list("read_bl write_events openid".split(' '));
        assert!(s.contains(Scope::ReadAll));
        assert!(s.contains(Scope::WriteEvents));
        assert_eq!(s.to_string(), "read_all write_events");
    }

    #[test]
    fn any_of_admits_one_scope_and_all_of_needs_every_one() {
        let ven = Role::Ven.scopes();
        let operator = Role::Operator.scopes();
        assert!(Access::READ_TARGETS.admits(ven) && Access::READ_TARGETS.admits(operator));
        assert!(!Access::READ_ALL.admits(ven));
        let ops_write = Access::AllOf(&[Scope::ReadAll, Scope::WriteEvents]);
        assert!(ops_write.admits(operator));
        assert!(!ops_write.admits(Scopes::of(&[Scope::WriteEvents])));
        assert!(Access::Token.admits(Scopes::default()));
        assert_eq!(
            Access::READ_VEN_OBJECTS.requirements(),
            vec![vec!["read_all"], vec!["read_ven_objects"]]
        );
        assert_eq!(ops_write.requirements(), vec![vec!["read_all", "write_events"]]);
    }

    #[test]
    fn operator_lacks_write_reports_and_ven_lacks_read_all() {
        assert!(!Role::Operator.scopes().contains(Scope::WriteReports));
        assert!(!Role::Ven.scopes().contains(Scope::ReadAll));
        assert!(Role::Ven.scopes().contains(Scope::WriteReports));
    }
}
