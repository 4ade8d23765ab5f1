//! Extractors: the caller's principal, JSON bodies and uploads with a size limit and a timeout, and the
//! operation's query parameter struct.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{BytesMut, Data};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::error::AppError;

/// Limits on request bodies, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// Files (meter data, prices) may be larger than request bodies.
    pub max_upload_bytes: usize,
    pub timeout: Duration,
}

/// The authenticated caller, as [`super::access::authorize`] verified it before the handler ran.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| AppError::Internal("the operation takes a caller but declares no token".into())),
        )
    }
}

/// The body, read whole within the size limit and the timeout.
pub async fn read_body(req: &HttpRequest, payload: Payload) -> Result<BytesMut, AppError> {
    read_limited(req, payload, false).await
}

/// An uploaded file, read whole within the upload limit and the timeout. Meter data and prices are text
/// (CSV, or XML, where NUL is not a character at all): a NUL byte is refused, as in all text Sluice takes
/// (`wire::primitives::Text`).
pub async fn read_upload(req: &HttpRequest, payload: Payload) -> Result<BytesMut, AppError> {
    let body = read_limited(req, payload, true).await?;
    if let Some(at) = body.iter().position(|b| *b == 0) {
        return Err(AppError::BadRequest(format!(
            "the file has a NUL byte at offset {at}: meter data and prices are UTF-8 text"
        )));
    }
    Ok(body)
}

async fn read_limited(req: &HttpRequest, mut payload: Payload, upload: bool) -> Result<BytesMut, AppError> {
    let mut limits = req
        .app_data::<Data<BodyLimits>>()
        .map(|l| *l.get_ref())
        .unwrap_or(BodyLimits {
            max_bytes: 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        });
    if upload {
        limits.max_bytes = limits.max_upload_bytes;
    }
    let too_large = || AppError::PayloadTooLarge(format!("request bodies are limited to {} bytes", limits.max_bytes));
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limits.max_bytes
    {
        return Err(too_large());
    }
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| AppError::BadRequest(format!("request body could not be read: {e}")))?;
            if body.len() + chunk.len() > limits.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(limits.timeout, read)
        .await
        .map_err(|_| AppError::RequestTimeout("the request body did not arrive in time".into()))?
}

/// A JSON request body, validated by deserializing into the wire type (400 with serde's message on failure).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, payload).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(AppError::BadRequest("a JSON request body is required".into()));
            }
            serde_json::from_slice(&body)
                .map(JsonBody)
                .map_err(|e| AppError::BadRequest(format!("invalid request body: {e}")))
        })
    }
}

/// The operation's query parameters, filled into its parameter struct (`wire::query`): 400 naming the
/// parameter that is wrong.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            crate::wire::query::from_query(req.query_string())
                .map(Params)
                .map_err(AppError::BadRequest),
        )
    }
}
