//! Roles and permissions of the business logic: one table saying what each role may do. Every operation
//! names the permission a business-logic caller needs (`api::access::OPERATIONS`); VENs are governed by
//! their OpenADR scopes and the object privacy rules alone.
//!
//! A token carries its permissions as scopes named `sluice:<permission>` beside its OpenADR scopes, so
//! an external identity provider grants them the way it grants any scope. A business-logic token naming
//! no Sluice permission is read as the `operator` role (every business permission but administration):
//! the specification's BL clients keep working unchanged.

use std::fmt;

use super::{Role, Scope, Scopes};

/// What a caller of the business logic may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read everything (programs, events, reports, sites, dispatches, statements) and subscribe to it.
    Read,
    /// Dispatches, price signals, events and their cancellation.
    Dispatch,
    /// Programs, sites, enrollments, vens, resources and VEN credentials.
    Enroll,
    /// Meter data, prices, settlement rules and settlement runs.
    Settle,
    /// Staff users and OAuth clients of the business logic.
    Administer,
    /// Read the audit log: administrators and the read-only desk (auditors), not those whose actions it
    /// records for review.
    Audit,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Self::Read,
        Self::Dispatch,
        Self::Enroll,
        Self::Settle,
        Self::Administer,
        Self::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Dispatch => "dispatch",
            Self::Enroll => "enroll",
            Self::Settle => "settle",
            Self::Administer => "administer",
            Self::Audit => "audit",
        }
    }

    /// The name a token's scope list gives it.
    pub fn scope_name(self) -> &'static str {
        match self {
            Self::Read => "sluice:read",
            Self::Dispatch => "sluice:dispatch",
            Self::Enroll => "sluice:enroll",
            Self::Settle => "sluice:settle",
            Self::Administer => "sluice:administer",
            Self::Audit => "sluice:audit",
        }
    }

    /// The OpenADR scopes the operations this permission opens ask for: a token of a role carries those
    /// of its permissions (OpenADR 3.1 `securitySchemes`; the `/ops` operations ask `read_all` and the
    /// write scope of what they change).
    pub fn scopes(self) -> Scopes {
        Scopes::of(match self {
            Self::Read => &[Scope::ReadAll, Scope::WriteSubscriptions],
            Self::Dispatch => &[Scope::ReadAll, Scope::WriteEvents],
            Self::Enroll => &[Scope::ReadAll, Scope::WritePrograms, Scope::WriteVens],
            Self::Settle => &[Scope::ReadAll, Scope::WritePrograms],
            Self::Administer | Self::Audit => &[Scope::ReadAll],
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of permissions.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// The permissions named in a scope list (`sluice:dispatch`); other names are ignored.
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let found: Vec<Permission> = names
            .into_iter()
            .filter_map(|n| Permission::ALL.into_iter().find(|p| p.scope_name() == n))
            .collect();
        Self::of(&found)
    }

    /// The OpenADR scopes these permissions need.
    pub fn scopes(self) -> Scopes {
        self.iter().fold(Scopes::default(), |acc, p| acc.union(p.scopes()))
    }

    /// The scope names a token carries for these permissions.
    pub fn scope_names(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Permission::scope_name)
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Permission::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

impl Role {
    /// What the role may do: the role table of the README.
    pub fn permissions(self) -> Permissions {
        use Permission::{Administer, Audit, Dispatch, Enroll, Read, Settle};
        Permissions::of(match self {
            Self::Admin => &[Read, Dispatch, Enroll, Settle, Administer, Audit],
            Self::Operator => &[Read, Dispatch, Enroll, Settle],
            Self::Dispatcher => &[Read, Dispatch],
            Self::Enrollment => &[Read, Enroll],
            Self::Analyst => &[Read, Settle],
            Self::Viewer => &[Read, Audit],
            Self::Ven => &[],
        })
    }

    /// The OpenADR scopes a token of this role carries: a VEN's are those the Alliance test suite's
    /// fixture gives a VEN; the business logic's follow from its permissions.
    pub fn scopes(self) -> Scopes {
        match self {
            Self::Ven => Scopes::of(&[
                Scope::ReadTargets,
                Scope::ReadVenObjects,
                Scope::WriteReports,
                Scope::WriteSubscriptions,
                Scope::WriteVens,
            ]),
            _ => self.permissions().scopes(),
        }
    }

    /// The role table as the README shows it: one row per role, one column per permission.
    pub fn table() -> String {
        let mut out = String::from("| role |");
        for p in Permission::ALL {
            out.push_str(&format!(" {} |", p.as_str()));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(Permission::ALL.len()));
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Ven) {
            out.push_str(&format!("\n| `{}` |", role.as_str()));
            for p in Permission::ALL {
                out.push_str(if role.permissions().contains(p) {
                    " ✓ |"
                } else {
                    "   |"
                });
            }
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_keeps_every_scope_it_had_and_every_business_permission_but_administration() {
        let operator = Role::Operator.scopes();
        for s in [
            Scope::ReadAll,
            Scope::WritePrograms,
            Scope::WriteEvents,
            Scope::WriteSubscriptions,
            Scope::WriteVens,
        ] {
            assert!(operator.contains(s), "{s:?}");
        }
        assert!(!operator.contains(Scope::WriteReports));
        assert!(!Role::Operator.permissions().contains(Permission::Administer));
        assert!(Role::Admin.permissions().contains(Permission::Administer));
    }

    #[test]
    fn a_viewer_token_cannot_write_events_and_an_analyst_cannot_write_vens() {
        assert!(!Role::Viewer.scopes().contains(Scope::WriteEvents));
        assert!(!Role::Analyst.scopes().contains(Scope::WriteVens));
        assert!(Role::Dispatcher.scopes().contains(Scope::WriteEvents));
    }

    #[test]
    fn permission_scope_names_round_trip() {
        let all = Permissions::of(&Permission::ALL);
        assert_eq!(Permissions::parse_list(all.scope_names()), all);
        assert!(Permissions::parse_list(["read", "write_events", "sluice:nothing"]).is_empty());
    }
}
