//! `problem` (zalando schema), the body of every 4xx and 5xx response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 7807 problem details as the OpenADR 3.1 `problem` schema declares them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// RFC 6749 error code, present on token endpoint errors so OAuth2 clients can read them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The problems of a rejected file (meter data, prices), each with its line (0: the whole file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<super::settlement::LineError>>,
}
