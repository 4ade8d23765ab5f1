//! Bodies of `/auth/server` and `/auth/token`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(AuthServerInfo, ClientCredentialResponse; deserialize_only: ClientCredentialRequest);

/// `authServerInfo`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct AuthServerInfo {
    #[serde(rename = "tokenURL")]
    pub token_url: String,
}

/// `clientCredentialRequest` (form-urlencoded). Every field is optional here so that a missing one is
/// reported as an OAuth2 `invalid_request` rather than a generic parse failure.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct ClientCredentialRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
}

/// `clientCredentialResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct ClientCredentialResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Who a client or a member of staff is. The specification names two kinds of client (Definition
/// §Security): the utility's business logic (BL) and VENs. Sluice divides the business logic into roles
/// (`auth::roles` says what each may do): `operator` is a machine with every business permission but
/// administration, as the specification's BL; the others are the roles of a demand-response desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Ven,
    Admin,
    Dispatcher,
    Enrollment,
    Analyst,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Self::Admin,
        Self::Dispatcher,
        Self::Enrollment,
        Self::Analyst,
        Self::Viewer,
        Self::Operator,
        Self::Ven,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Ven => "ven",
            Self::Admin => "admin",
            Self::Dispatcher => "dispatcher",
            Self::Enrollment => "enrollment",
            Self::Analyst => "analyst",
            Self::Viewer => "viewer",
        }
    }

    /// A role by name; `bl` is the specification's name of the operator.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bl" => Some(Self::Operator),
            _ => Self::ALL.into_iter().find(|r| r.as_str() == s),
        }
    }
}
