//! `AppError`: the one error that reaches HTTP. Services return it; `api` renders it as a problem body.
//!
//! 4xx variants carry a message meant for the client. 5xx variants carry a message for the log only: the
//! client gets a generic detail and the request id to quote.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The path exists, with other methods: `allow` lists them (the `Allow` header, RFC 9110 §15.5.6).
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// An OAuth2 token endpoint error (RFC 6749 §5.2): status and `error` code.
    #[error("{description}")]
    OAuth {
        status: u16,
        error: &'static str,
        description: String,
    },
    /// A file (meter data, prices) with problems: each is listed, with its line where it has one.
    #[error("{detail}")]
    Rejected {
        detail: String,
        errors: Vec<crate::wire::settlement::LineError>,
    },
    /// Over a rate limit: the `Retry-After` header says when to try again (RFC 6585 §4).
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Rejected { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::RequestTimeout(_) => 408,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge(_) => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::TooManyRequests { .. } => 429,
            Self::OAuth { status, .. } => *status,
            Self::Internal(_) => 500,
            Self::NotImplemented(_) => 501,
            Self::Unavailable(_) => 503,
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::NotFound(format!("{what} {id:?} not found"))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(c) => Self::Conflict(format!("conflicts with an existing object ({c})")),
            StoreError::ForeignKey(c) => Self::Conflict(format!("a referenced object does not exist ({c})")),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}
