//! Extractors: the bearer principal, JSON bodies with a size limit and a timeout, and query parameters
//! (parsed by hand so repeated keys form arrays and unknown keys are ignored).

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
use crate::service::MAX_LIMIT;
use crate::wire::Page;
use crate::wire::{Name, ObjectId};

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

/// Most values one array query parameter (`targets`) may have.
pub const MAX_QUERY_VALUES: usize = 50;

/// Query parameters. Repeated keys (`targets=a&targets=b`, also `targets[]=`) form arrays.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(qs: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(qs.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    fn values<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key || k.strip_suffix("[]") == Some(key))
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key`.
    pub fn one<'a>(&'a self, key: &str) -> Option<&'a str> {
        self.values(key).last()
    }

    /// An identifier parameter (programID, eventID, venID). A malformed one matches nothing, so it is a 400.
    pub fn object_id(&self, key: &str) -> Result<Option<String>, AppError> {
        self.one(key)
            .map(|v| {
                ObjectId::parse(v)
                    .map(ObjectId::into_string)
                    .map_err(|e| AppError::BadRequest(format!("{key}: {e}")))
            })
            .transpose()
    }

    /// A 1..128 character name parameter.
    pub fn name(&self, key: &str) -> Result<Option<String>, AppError> {
        self.one(key)
            .map(|v| {
                Name::parse(v)
                    .map(Name::into_string)
                    .map_err(|e| AppError::BadRequest(format!("{key}: {e}")))
            })
            .transpose()
    }

    /// All values of an array parameter, sorted and without repeats (the order means nothing, and the
    /// read cache keys on them); `None` when absent. At most [`MAX_QUERY_VALUES`].
    pub fn names(&self, key: &str) -> Result<Option<Vec<String>>, AppError> {
        let mut v: Vec<String> = self
            .values(key)
            .map(|v| {
                Name::parse(v)
                    .map(Name::into_string)
                    .map_err(|e| AppError::BadRequest(format!("{key}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        v.sort_unstable();
        v.dedup();
        if v.len() > MAX_QUERY_VALUES {
            return Err(AppError::BadRequest(format!(
                "{key}: at most {MAX_QUERY_VALUES} values, got {}",
                v.len()
            )));
        }
        Ok((!v.is_empty()).then_some(v))
    }

    fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, AppError> {
        self.one(key)
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(AppError::BadRequest(format!(
                    "{key} must be an integer in {min}..={max}, got {v:?}"
                ))),
            })
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, AppError> {
        self.one(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(AppError::BadRequest(format!("{key} must be true or false, got {v:?}"))),
            })
            .transpose()
    }

    /// `skip` ≥ 0 and `limit` 0..=50 (yaml); default limit 50.
    pub fn page(&self) -> Result<Page, AppError> {
        Ok(crate::service::page(
            self.int("skip", 0, i64::from(i32::MAX))?,
            self.int("limit", 0, MAX_LIMIT)?,
        ))
    }

    /// `skip` ≥ 0 and `limit` 0..=`max` (default `max`): Sluice's own series endpoints, where 50 is too few.
    pub fn long_page(&self, max: i64) -> Result<Page, AppError> {
        Ok(Page {
            skip: self.int("skip", 0, i64::from(i32::MAX))?.unwrap_or(0),
            limit: self.int("limit", 0, max)?.unwrap_or(max),
        })
    }

    /// An RFC 3339 date-time parameter.
    pub fn time(&self, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
        self.one(key)
            .map(|v| {
                crate::wire::WireDateTime::parse(v)
                    .map(|t| t.0)
                    .map_err(|e| AppError::BadRequest(format!("{key}: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checklist_37_repeated_targets_form_an_array() {
        let q = Query::parse("targets=g1&targets=g2&unknown=1");
        assert_eq!(
            q.names("targets").unwrap(),
            Some(vec!["g1".to_owned(), "g2".to_owned()])
        );
        assert_eq!(
            Query::parse("targets%5B%5D=a").names("targets").unwrap(),
            Some(vec!["a".to_owned()])
        );
    }

    #[test]
    fn checklist_34_limits_are_enforced() {
        assert!(Query::parse("limit=51").page().is_err());
        assert!(Query::parse("limit=-1").page().is_err());
        assert!(Query::parse("skip=-1").page().is_err());
        assert_eq!(
            Query::parse("skip=3&limit=0").page().unwrap(),
            Page { skip: 3, limit: 0 }
        );
        assert_eq!(Query::parse("").page().unwrap(), Page { skip: 0, limit: 50 });
    }
}
