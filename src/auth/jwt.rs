//! Access tokens: issued by the built-in token endpoint (HS256 under a server key) or verified against an
//! external identity provider's public key or JWKS (cached, refreshed, never a panic when it is down).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Permissions, Principal, Role, Scopes};
use crate::clock::SharedClock;
use crate::error::AppError;

/// Allowed clock skew for `exp`/`nbf`, seconds.
const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    scope: String,
    /// The client's role when it was issued (for the audit log; what it may do is in `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    iat: i64,
    exp: i64,
    iss: String,
}

/// Verification of an external IdP's tokens.
#[derive(Debug, Clone)]
pub struct ExternalOptions {
    /// The IdP's token URL, advertised by `GET /auth/server`.
    pub token_url: String,
    pub jwks_url: Option<String>,
    /// PEM public key (RSA, EC or Ed25519) with its algorithm.
    pub public_key: Option<(String, Algorithm)>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// The claim holding the OpenADR clientID (default `sub`).
    pub client_id_claim: String,
    pub jwks_refresh: Duration,
    /// A token naming an unknown key fetches the JWKS again at most this often.
    pub jwks_min_refetch: Duration,
}

struct External {
    opts: ExternalOptions,
    static_key: Option<(DecodingKey, Algorithm)>,
    jwks: Option<Jwks>,
}

enum Mode {
    Internal {
        enc: EncodingKey,
        dec: DecodingKey,
        ttl_secs: i64,
    },
    External(Box<External>),
}

/// Issues and verifies access tokens.
pub struct Authenticator {
    mode: Mode,
    clock: SharedClock,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Internal { .. } => "internal",
            Mode::External(_) => "external",
        };
        f.debug_struct("Authenticator").field("mode", &mode).finish()
    }
}

pub const ISSUER: &str = "sluice";

impl Authenticator {
    /// Built-in token endpoint: HS256 with a key of at least 32 bytes.
    pub fn internal(key: &[u8], ttl_secs: i64, clock: SharedClock) -> Self {
        Self {
            mode: Mode::Internal {
                enc: EncodingKey::from_secret(key),
                dec: DecodingKey::from_secret(key),
                ttl_secs,
            },
            clock,
        }
    }

    /// External identity provider.
    pub fn external(opts: ExternalOptions, clock: SharedClock) -> Result<Self, String> {
        let static_key = match &opts.public_key {
            Some((pem, alg)) => Some((decoding_key_from_pem(pem, *alg)?, *alg)),
            None => None,
        };
        let jwks = opts
            .jwks_url
            .clone()
            .map(|url| Jwks::new(url, opts.jwks_refresh, opts.jwks_min_refetch));
        if static_key.is_none() && jwks.is_none() {
            return Err("external auth needs a public key or a JWKS URL".into());
        }
        Ok(Self {
            mode: Mode::External(Box::new(External { opts, static_key, jwks })),
            clock,
        })
    }

    /// The external token URL, when tokens come from an external IdP.
    pub fn external_token_url(&self) -> Option<&str> {
        match &self.mode {
            Mode::External(e) => Some(&e.opts.token_url),
            Mode::Internal { .. } => None,
        }
    }

    /// Issues a token for `client_id` of `role` with `scopes` and `permissions`; returns it with its
    /// lifetime in seconds.
    pub fn issue(
        &self,
        client_id: &str,
        role: Option<Role>,
        scopes: Scopes,
        permissions: Permissions,
    ) -> Result<(String, i64), AppError> {
        let Mode::Internal { enc, ttl_secs, .. } = &self.mode else {
            return Err(AppError::NotImplemented(
                "tokens are issued by the external identity provider".into(),
            ));
        };
        let now = self.clock.now().timestamp();
        let claims = Claims {
            sub: client_id.to_owned(),
            scope: scope_list(scopes, permissions),
            role: role.map(|r| r.as_str().to_owned()),
            iat: now,
            exp: now + ttl_secs,
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, enc)
            .map_err(|e| AppError::Internal(format!("token signing failed: {e}")))?;
        Ok((token, *ttl_secs))
    }

    /// Verifies a bearer token and returns its principal (401 when invalid or expired).
    pub async fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let invalid = |why: &str| AppError::Unauthorized(format!("invalid access token: {why}"));
        match &self.mode {
            Mode::Internal { dec, .. } => {
                let mut v = Validation::new(Algorithm::HS256);
                v.validate_exp = false; // checked below against the injectable clock
                v.set_issuer(&[ISSUER]);
                v.set_required_spec_claims(&["exp", "sub"]);
                let data = jsonwebtoken::decode::<Claims>(token, dec, &v).map_err(|e| invalid(&e.to_string()))?;
                self.check_times(Some(data.claims.exp), None)?;
                let mut who = Principal::from_scope_names(data.claims.sub, data.claims.scope.split(' '));
                who.role = data.claims.role.as_deref().and_then(Role::parse);
                Ok(who)
            }
            Mode::External(ext) => {
                let External { opts, static_key, jwks } = &**ext;
                let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e.to_string()))?;
                let (key, alg) = match (jwks, static_key) {
                    (Some(jwks), _) => jwks.key_for(header.kid.as_deref()).await?,
                    (None, Some((k, a))) => (k.clone(), *a),
                    (None, None) => return Err(invalid("no verification key configured")),
                };
                if header.alg != alg {
                    return Err(invalid("unexpected signing algorithm"));
                }
                let mut v = Validation::new(alg);
                v.validate_exp = false;
                v.set_required_spec_claims(&["exp"]);
                match &opts.audience {
                    Some(aud) => v.set_audience(&[aud]),
                    None => v.validate_aud = false,
                }
                if let Some(iss) = &opts.issuer {
                    v.set_issuer(&[iss]);
                }
                let data =
                    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map_err(|e| invalid(&e.to_string()))?;
                let claims = data.claims;
                self.check_times(
                    claims.get("exp").and_then(serde_json::Value::as_i64),
                    claims.get("nbf").and_then(serde_json::Value::as_i64),
                )?;
                principal_from_claims(&claims, &opts.client_id_claim).ok_or_else(|| invalid("no client id claim"))
            }
        }
    }

    fn check_times(&self, exp: Option<i64>, nbf: Option<i64>) -> Result<(), AppError> {
        let now = self.clock.now().timestamp();
        match exp {
            Some(exp) if exp + LEEWAY_SECS > now => {}
            _ => return Err(AppError::Unauthorized("access token expired".into())),
        }
        if nbf.is_some_and(|nbf| nbf - LEEWAY_SECS > now) {
            return Err(AppError::Unauthorized("access token not yet valid".into()));
        }
        Ok(())
    }
}

/// Scopes from `scope` (space-separated or array), `scp` and `roles`; the client id from `claim`, falling
/// back to `client_id`, `azp` and `sub` (IdPs differ: Keycloak uses `azp`, Entra `appid`/`sub`).
fn principal_from_claims(claims: &serde_json::Value, claim: &str) -> Option<Principal> {
    let client_id = [claim, "client_id", "azp", "sub"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(serde_json::Value::as_str))?
        .to_owned();
    let mut names: Vec<String> = Vec::new();
    for key in ["scope", "scp", "roles"] {
        match claims.get(key) {
            Some(serde_json::Value::String(s)) => names.extend(s.split_whitespace().map(str::to_owned)),
            Some(serde_json::Value::Array(a)) => names.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned))),
            _ => {}
        }
    }
    Some(Principal::from_scope_names(client_id, names.iter().map(String::as_str)))
}

/// The `scope` of a token: its OpenADR scopes, then its Sluice permissions.
pub fn scope_list(scopes: Scopes, permissions: Permissions) -> String {
    let mut names: Vec<&str> = scopes.iter().map(super::Scope::as_str).collect();
    names.extend(permissions.scope_names());
    names.join(" ")
}

fn decoding_key_from_pem(pem: &str, alg: Algorithm) -> Result<DecodingKey, String> {
    let key = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        other => {
            return Err(format!("algorithm {other:?} needs a shared secret, not a public key"));
        }
    };
    key.map_err(|e| format!("cannot read the public key: {e}"))
}

/// A cached JWKS.
struct Jwks {
    url: String,
    http: reqwest::Client,
    refresh: Duration,
    min_refetch: Duration,
    /// The cached set; held only to read or replace it, never across a fetch.
    state: Arc<std::sync::Mutex<JwksState>>,
    /// Held by the one fetch under way (single flight): requests needing a key not yet known wait for
    /// it; requests whose key is known are served from the cache meanwhile.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct JwksState {
    set: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl Jwks {
    fn new(url: String, refresh: Duration, min_refetch: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            url,
            http,
            refresh,
            min_refetch,
            state: Arc::default(),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, JwksState> {
        lock(&self.state)
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), AppError> {
        let (set, stale) = {
            let s = self.state();
            (s.set.clone(), s.fetched_at.is_none_or(|t| t.elapsed() > self.refresh))
        };
        if let Some(set) = &set
            && let Some(k) = pick(set, kid)
        {
            if stale {
                // Refreshed by whichever request finds the set stale and no fetch under way; this
                // request, and every other, is served from the cache meanwhile.
                if let Ok(flight) = self.fetching.clone().try_lock_owned() {
                    let (url, http, state) = (self.url.clone(), self.http.clone(), self.state.clone());
                    tokio::spawn(async move {
                        if let Some(fresh) = fetch(&http, &url).await {
                            store(&state, fresh);
                        }
                        drop(flight);
                    });
                }
            }
            return k;
        }
        // Unknown key: fetch again (one fetch at a time, at most every `min_refetch`).
        let set = self.refetch().await.or(set);
        match set {
            Some(set) => {
                pick(&set, kid).unwrap_or_else(|| Err(AppError::Unauthorized("token signed by an unknown key".into())))
            }
            None => Err(AppError::Unavailable(
                "the identity provider's keys cannot be fetched".into(),
            )),
        }
    }

    async fn refetch(&self) -> Option<Arc<JwkSet>> {
        let _flight = self.fetching.lock().await;
        {
            let mut s = self.state();
            if s.last_attempt.is_some_and(|t| t.elapsed() < self.min_refetch) {
                return s.set.clone();
            }
            s.last_attempt = Some(Instant::now());
        }
        match fetch(&self.http, &self.url).await {
            Some(set) => Some(store(&self.state, set)),
            None => {
                tracing::warn!(url = %self.url, "JWKS fetch failed; keeping the cached keys");
                self.state().set.clone()
            }
        }
    }
}

fn lock(state: &std::sync::Mutex<JwksState>) -> std::sync::MutexGuard<'_, JwksState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn store(state: &std::sync::Mutex<JwksState>, set: JwkSet) -> Arc<JwkSet> {
    let set = Arc::new(set);
    let mut s = lock(state);
    s.set = Some(set.clone());
    s.fetched_at = Some(Instant::now());
    set
}

async fn fetch(http: &reqwest::Client, url: &str) -> Option<JwkSet> {
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<JwkSet>().await.ok()
}

fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Result<(DecodingKey, Algorithm), AppError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => set.keys.first()?,
        None => return None,
    };
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok())
        .or(match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Some(Algorithm::ES256),
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
            jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => None,
        });
    let Some(alg) = alg else {
        return Some(Err(AppError::Unauthorized(
            "token signed by an unsupported key type".into(),
        )));
    };
    Some(
        DecodingKey::from_jwk(jwk)
            .map(|k| (k, alg))
            .map_err(|e| AppError::Unauthorized(format!("unusable signing key: {e}"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, Scope};
    use crate::clock::ManualClock;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        let a = Authenticator::internal(&[7u8; 32], 3600, clock.clone());
        let (token, ttl) = a
            .issue("ven-1", Some(Role::Ven), Role::Ven.scopes(), Role::Ven.permissions())
            .unwrap();
        assert_eq!(ttl, 3600);
        let p = rt().block_on(a.verify(&token)).unwrap();
        assert_eq!(p.client_id, "ven-1");
        assert!(p.scopes.contains(Scope::WriteReports));
        clock.advance(TimeDelta::seconds(3600 + LEEWAY_SECS + 1));
        assert!(matches!(
            rt().block_on(a.verify(&token)),
            Err(AppError::Unauthorized(_))
        ));
    }

    #[test]
    fn tokens_of_another_key_are_refused() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let a = Authenticator::internal(&[7u8; 32], 3600, clock.clone());
        let b = Authenticator::internal(&[8u8; 32], 3600, clock);
        let (token, _) = b
            .issue("x", None, Role::Operator.scopes(), Role::Operator.permissions())
            .unwrap();
        assert!(matches!(
            rt().block_on(a.verify(&token)),
            Err(AppError::Unauthorized(_))
        ));
        assert!(matches!(
            rt().block_on(a.verify("garbage")),
            Err(AppError::Unauthorized(_))
        ));
    }

    #[test]
    fn external_claims_accept_scope_strings_arrays_and_roles() {
        let c = serde_json::json!({"azp": "ven-9", "scp": ["read_targets"], "roles": ["write_reports"]});
        let p = principal_from_claims(&c, "client_id").unwrap();
        assert_eq!(p.client_id, "ven-9");
        assert!(p.scopes.contains(Scope::ReadTargets) && p.scopes.contains(Scope::WriteReports));
    }

    #[test]
    fn unreachable_jwks_answers_unavailable_without_panicking() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let opts = ExternalOptions {
            token_url: "https://idp.invalid/token".into(),
            jwks_url: Some("http://127.0.0.1:9/jwks".into()),
            public_key: None,
            audience: None,
            issuer: None,
            client_id_claim: "sub".into(),
            jwks_refresh: Duration::from_secs(300),
            jwks_min_refetch: Duration::from_secs(10),
        };
        let a = Authenticator::external(opts, clock).unwrap();
        // A syntactically valid RS256 token (signature irrelevant: the key cannot be fetched).
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.c2ln";
        assert!(matches!(rt().block_on(a.verify(token)), Err(AppError::Unavailable(_))));
    }
}
