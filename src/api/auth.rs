//! `/auth/server` and the built-in OAuth2 token endpoint `/auth/token`.

use actix_web::http::header;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post};
use base64::Engine;

use super::extract::read_body;
use crate::error::AppError;
use crate::service::{AppState, clients};
use crate::wire::Problem;
use crate::wire::auth::{AuthServerInfo, ClientCredentialRequest, ClientCredentialResponse};

/// Where the server says it is: the configured public URL, or else what the request names, believing
/// forwarding headers only from trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct PublicOrigin {
    pub url: Option<String>,
    pub trusted_proxies: Vec<crate::config::IpNet>,
}

impl PublicOrigin {
    /// The base URL (scheme and authority) for links in a response to `req`.
    fn base(&self, req: &HttpRequest) -> String {
        if let Some(url) = &self.url {
            return url.trim_end_matches('/').to_owned();
        }
        let from_proxy = req
            .peer_addr()
            .is_some_and(|peer| self.trusted_proxies.iter().any(|n| n.contains(peer.ip())));
        if from_proxy {
            let info = req.connection_info();
            if plausible_host(info.host()) && matches!(info.scheme(), "http" | "https") {
                return format!("{}://{}", info.scheme(), info.host());
            }
        }
        // Straight from the client: the scheme it connected with and the Host it asked for (it can only
        // mislead itself, and the answer is not cached), or this listener's own address.
        let scheme = if req.app_config().secure() { "https" } else { "http" };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .filter(|h| plausible_host(h))
            .map_or_else(|| req.app_config().local_addr().to_string(), str::to_owned);
        format!("{scheme}://{host}")
    }
}

/// A host and optional port, with nothing that could bend a URL (no `/`, `@`, `?`, `#`, spaces).
fn plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

/// Where to get a token (no authentication needed). Never cached: the answer depends on the request.
#[utoipa::path(tag = "auth", operation_id = "getAuthServerInfo", responses((status = 200, body = AuthServerInfo)))]
#[get("/auth/server")]
pub async fn get_auth_server_info(state: Data<AppState>, origin: Data<PublicOrigin>, req: HttpRequest) -> HttpResponse {
    let token_url = match state.auth.external_token_url() {
        Some(url) => url.to_owned(),
        None => format!("{}/auth/token", origin.base(&req)),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(serde_json::to_string(&AuthServerInfo { token_url }).unwrap_or_default())
}

/// OAuth2 client-credentials grant. Credentials in the form body (client_secret_post) or HTTP Basic
/// (client_secret_basic). Errors carry both the problem fields and RFC 6749's `error`.
#[utoipa::path(tag = "auth", operation_id = "fetchToken",
    request_body(content = ClientCredentialRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientCredentialResponse), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 429, body = Problem, headers(("Retry-After" = u64, description = "seconds until a request is admitted again"))),
        (status = 501, body = Problem)))]
#[post("/auth/token")]
pub async fn fetch_token(state: Data<AppState>, req: HttpRequest, payload: Payload) -> Result<HttpResponse, AppError> {
    clients::admit_address(&state, req.peer_addr().map(|a| a.ip()))?;
    let body = read_body(&req, payload.into_inner()).await?;
    let invalid = |e: String| AppError::OAuth {
        status: 400,
        error: "invalid_request",
        description: e,
    };
    let form: ClientCredentialRequest = if body.first() == Some(&b'{') {
        serde_json::from_slice(&body).map_err(|e| invalid(format!("token request body: {e}")))?
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| invalid(format!("token request form: {e}")))?
    };
    let basic = basic_credentials(&req)?;
    let resp = clients::token(&state, form, basic).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(serde_json::to_string(&resp).unwrap_or_default()))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, AppError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || AppError::OAuth {
        status: 401,
        error: "invalid_client",
        description: "malformed Basic credentials".into(),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}
