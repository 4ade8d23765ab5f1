//! Headers every response carries, whatever produced it (a handler, a refused token, a malformed URL):
//! the protections a browser honours, for the API page today and the operator's pages after it.
//!
//! - `X-Content-Type-Options: nosniff` everywhere: a JSON body naming HTML is never rendered as a page.
//! - `Cache-Control: no-store` unless the handler chose a policy: answers hold what one caller may see, and
//!   a shared cache or a browser's disk must not keep them (only the API page's script says otherwise).
//! - `Strict-Transport-Security` on responses served over TLS (`tls.hsts_max_age_secs`; a browser ignores
//!   it over plain HTTP, and a TLS-terminating proxy in front sets its own).
//! - On HTML pages: a `Content-Security-Policy` that allows this server's own scripts only, no framing by
//!   another site, no referrer.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;

/// What this server's responses add beyond the fixed headers: from the `tls` settings.
#[derive(Debug, Clone)]
pub struct ResponseHeaders {
    /// `Strict-Transport-Security`, on responses over TLS.
    hsts: Option<HeaderValue>,
}

impl ResponseHeaders {
    /// `hsts_max_age_secs` of 0 sends no `Strict-Transport-Security`.
    pub fn new(hsts_max_age_secs: u64) -> Self {
        Self {
            hsts: (hsts_max_age_secs > 0)
                .then(|| HeaderValue::from_str(&format!("max-age={hsts_max_age_secs}")).ok())
                .flatten(),
        }
    }
}

/// The policy of HTML pages: scripts, styles, images and requests from this server only; inline style
/// attributes allowed (the API page's components set them), inline scripts not; no plugins, no `<base>`
/// rewriting, forms posting only here, no framing (clickjacking).
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Middleware: adds the headers above to the response.
pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hsts = if req.app_config().secure() {
        req.app_data::<Data<ResponseHeaders>>().and_then(|h| h.hsts.clone())
    } else {
        None
    };
    let mut res = next.call(req).await?;
    set(res.headers_mut(), hsts);
    Ok(res)
}

fn set(h: &mut HeaderMap, hsts: Option<HeaderValue>) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(v) = hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case("text/html"))
        });
    if html {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        // For browsers that predate `frame-ancestors`.
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_policy_chosen_by_the_handler_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
        set(&mut h, None);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "public, max-age=86400");
        assert!(h.get(header::CONTENT_SECURITY_POLICY).is_none(), "not a page");
    }

    #[test]
    fn hsts_names_the_configured_age_and_zero_sends_none() {
        assert_eq!(ResponseHeaders::new(600).hsts.unwrap(), "max-age=600");
        assert!(ResponseHeaders::new(0).hsts.is_none());
    }
}
