//! `AppError` → problem body. `instance` is the request id (also in the log line and `X-Request-Id`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::error::AppError;
use crate::wire::Problem;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware.
    pub static REQUEST_ID: String;
}

/// `urn:uuid:…` of the current request, when inside one.
pub fn current_instance() -> Option<String> {
    REQUEST_ID.try_with(|id| format!("urn:uuid:{id}")).ok()
}

fn title(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

impl AppError {
    /// The problem body of this error.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = if status >= 500 && !matches!(self, AppError::NotImplemented(_) | AppError::Unavailable(_)) {
            // Internal details stay in the log; the client gets the request id to quote.
            "the server failed to handle this request; quote the instance when reporting it".to_owned()
        } else {
            self.to_string()
        };
        let (error, error_description) = match self {
            AppError::OAuth { error, description, .. } => (Some((*error).to_owned()), Some(description.clone())),
            _ => (None, None),
        };
        Problem {
            problem_type: "about:blank".into(),
            title: title(status).into(),
            status,
            detail: Some(detail),
            instance: current_instance(),
            error,
            error_description,
            errors: match self {
                AppError::Rejected { errors, .. } => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(status = problem.status, error = %self, "request failed");
        } else {
            tracing::debug!(status = problem.status, error = %self, "request refused");
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        if problem.status == 401 {
            // RFC 6750 §3; the token endpoint's 401 (invalid_client) uses Basic per RFC 6749 §5.2.
            let challenge = if matches!(self, AppError::OAuth { .. }) {
                "Basic realm=\"sluice\""
            } else {
                "Bearer realm=\"sluice\", error=\"invalid_token\""
            };
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
        }
        if let AppError::TooManyRequests { retry_after_secs, .. } = self {
            resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let AppError::MethodNotAllowed { allow, .. } = self
            && let Ok(v) = HeaderValue::from_str(allow)
        {
            resp.insert_header((header::ALLOW, v));
        }
        if matches!(self, AppError::OAuth { .. }) {
            resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        }
        resp.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}
