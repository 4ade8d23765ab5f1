//! OAuth2 clients of the built-in token endpoint: administration (CLI) and the client-credentials grant.

use crate::auth::secret::{hash_secret, new_client_id, new_client_secret, verify_secret};
use crate::auth::{Permissions, Role, Scopes};
use crate::clock::SharedClock;
use crate::error::AppError;
use crate::store::repo::{self, ClientRow};
use crate::store::{Db, StoreResult};
use crate::wire::auth::{ClientCredentialRequest, ClientCredentialResponse};

use super::AppState;
use super::audit::Subject;
use crate::wire::Operation;

/// Name of the server secret keying client-secret hashes.
pub const PEPPER_SECRET: &str = "client_secret_pepper";
/// Name of the server secret signing built-in tokens when configuration gives no key.
pub const JWT_SECRET: &str = "jwt_hs256_key";

pub use crate::wire::ops::IssuedClient;

/// The server-wide secret `name`, generated (256 random bits) on first use and shared by every instance.
pub fn load_secret(db: &Db, clock: &SharedClock, name: &str) -> StoreResult<Vec<u8>> {
    let now = clock.now();
    let value = db.write_blocking(|c| repo::server_secret(c, name, now, || crate::auth::secret::random_token(32)))?;
    Ok(value.into_bytes())
}

/// Every client, oldest first.
pub fn list(db: &Db) -> Result<Vec<repo::ClientRow>, AppError> {
    Ok(db.read_blocking(repo::list_clients)?)
}

/// Removes a client: no new token is issued to it, and every instance refuses the tokens it holds once
/// it next looks for revocations (`auth.revocation_poll_ms`). Whether there was one.
pub fn remove(db: &Db, clock: &SharedClock, id: &str) -> Result<bool, AppError> {
    let now = clock.now();
    super::commit::commit_blocking(db, now, |c| {
        c.audited(Subject::of("CLIENT", id, Operation::Delete, &()));
        let removed = repo::delete_client(c, id)?;
        if removed {
            repo::insert_revocation(c, id, now)?;
        }
        Ok(removed)
    })
}

/// A rotated client's new secret, shown once, and until when the previous one is still accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotated {
    pub client_id: String,
    pub client_secret: String,
    pub previous_secret_valid_until: String,
}

/// Gives a client a new secret; its previous one stays accepted for `grace`, so the client can be
/// reconfigured without an outage. `None` when there is no such client.
pub fn rotate(
    db: &Db,
    clock: &SharedClock,
    pepper: &[u8],
    id: &str,
    grace: chrono::TimeDelta,
) -> Result<Option<Rotated>, AppError> {
    let now = clock.now();
    let secret = new_client_secret();
    let hash = hash_secret(pepper, &secret);
    let until = now + grace;
    let rotated = super::commit::commit_blocking(db, now, |c| {
        c.audited(Subject::of("CLIENT", id, Operation::Update, &("rotated", id, until)));
        Ok(repo::rotate_client(c, id, &hash, until)?)
    })?;
    Ok(rotated.then(|| Rotated {
        client_id: id.to_owned(),
        client_secret: secret,
        previous_secret_valid_until: crate::wire::format_time(&until),
    }))
}

/// The subjects (client ids, user ids) whose tokens are refused before they expire: removed on this
/// instance or any other on the database.
#[derive(Debug, Default)]
pub struct Revocations {
    /// The last revocation row read.
    seen: std::sync::Mutex<i64>,
    subjects: std::sync::RwLock<std::collections::HashSet<String>>,
}

impl Revocations {
    pub fn is_revoked(&self, subject: &str) -> bool {
        self.subjects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(subject)
    }

    /// Reads the revocations made since the last look, back to `since` (a token issued before then has
    /// expired anyway); how many it found.
    pub fn refresh(&self, db: &Db, since: chrono::DateTime<chrono::Utc>) -> StoreResult<usize> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = db.read_blocking(|c| repo::revocations_after(c, *seen, since))?;
        if let Some((last, _)) = found.last() {
            *seen = *last;
        }
        let mut subjects = self.subjects.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        subjects.extend(found.iter().map(|(_, s)| s.clone()));
        Ok(found.len())
    }
}

/// One look for revocations made since `since`, off the async threads.
pub async fn revocation_pass(state: AppState, since: chrono::DateTime<chrono::Utc>) {
    let (db, revocations) = (state.db.clone(), state.revocations.clone());
    match tokio::task::spawn_blocking(move || revocations.refresh(&db, since)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reading revocations failed; retrying"),
        Err(e) => tracing::warn!(error = %e, "the revocation check stopped; retrying"),
    }
}

/// Rate limits of the token endpoint: per client id and per source address.
#[derive(Debug)]
pub struct TokenLimits {
    pub per_client: crate::auth::limit::Limiter,
    pub per_address: crate::auth::limit::Limiter,
}

fn too_many(who: &str, wait: std::time::Duration) -> AppError {
    AppError::TooManyRequests {
        detail: format!("too many token requests {who}; try again later"),
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// Counts a token request from `source` against its address's allowance: 429 beyond it.
pub fn admit_address(state: &AppState, source: Option<std::net::IpAddr>) -> Result<(), AppError> {
    match source {
        Some(ip) => state
            .token_limits
            .per_address
            .check(&ip.to_string(), std::time::Instant::now())
            .map_err(|wait| too_many("from this address", wait)),
        None => Ok(()),
    }
}

/// A client as its audit entry names it: its id, name and role (never its secret's hash).
fn client_subject(row: &ClientRow) -> Subject {
    Subject::of(
        "CLIENT",
        &row.client_id,
        Operation::Create,
        &(&row.client_id, &row.client_name, &row.role),
    )
}

/// Creates a client with a fresh id and secret.
pub fn add(db: &Db, clock: &SharedClock, pepper: &[u8], role: Role, name: &str) -> Result<IssuedClient, AppError> {
    let client_id = new_client_id(role.as_str());
    let client_secret = new_client_secret();
    let row = ClientRow {
        client_id: client_id.clone(),
        client_name: name.to_owned(),
        role: role.as_str().to_owned(),
        secret_hash: hash_secret(pepper, &client_secret),
        created: clock.now(),
        previous: None,
    };
    super::commit::commit_blocking(db, row.created, |c| {
        c.audited(client_subject(&row));
        Ok(repo::insert_client(c, &row)?)
    })?;
    Ok(IssuedClient {
        client_id,
        client_secret,
        role,
    })
}

fn oauth(status: u16, error: &'static str, description: impl Into<String>) -> AppError {
    AppError::OAuth {
        status,
        error,
        description: description.into(),
    }
}

/// `POST /auth/token`, client-credentials grant. Credentials come from the form (client_secret_post) or
/// from HTTP Basic (client_secret_basic); `scope` may narrow the role's scopes, and unknown names are ignored.
pub async fn token(
    state: &AppState,
    form: ClientCredentialRequest,
    basic: Option<(String, String)>,
) -> Result<ClientCredentialResponse, AppError> {
    if state.auth.external_token_url().is_some() {
        return Err(AppError::NotImplemented(
            "tokens are issued by the external identity provider named by GET /auth/server".into(),
        ));
    }
    match form.grant_type.as_deref() {
        None | Some("") => return Err(oauth(400, "invalid_request", "grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(oauth(
                400,
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported; use client_credentials"),
            ));
        }
    }
    let (client_id, secret) = match (
        form.client_id.filter(|s| !s.is_empty()),
        form.client_secret.filter(|s| !s.is_empty()),
        basic,
    ) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some((id, secret))) => (id, secret),
        (None, _, None) => return Err(oauth(400, "invalid_request", "client_id is required")),
        (Some(_), None, None) => {
            return Err(oauth(400, "invalid_request", "client_secret is required"));
        }
    };
    if client_id.len() > 4096 || secret.len() > 4096 {
        return Err(oauth(
            400,
            "invalid_request",
            "client_id and client_secret are at most 4096 characters",
        ));
    }
    // Whatever way it came (form, JSON, Basic), a clientID is text: one with a NUL names no client.
    if crate::wire::Text::parse(client_id.as_str()).is_err() {
        return Err(oauth(401, "invalid_client", "unknown client or wrong secret"));
    }
    state
        .token_limits
        .per_client
        .check(&client_id, std::time::Instant::now())
        .map_err(|wait| too_many("for this client", wait))?;
    let id = client_id.clone();
    let row = state.db.read(move |c| repo::get_client(c, &id)).await?;
    let now = state.clock.now();
    let row = match row {
        Some(r) if secret_matches(&state.pepper, &secret, &r, now) => r,
        _ => {
            return Err(oauth(401, "invalid_client", "unknown client or wrong secret"));
        }
    };
    let role = Role::parse(&row.role)
        .ok_or_else(|| AppError::Internal(format!("client {client_id} has role {:?}", row.role)))?;
    let (scopes, permissions) = narrowed(role, form.scope.as_deref());
    let (access_token, expires_in) = state.auth.issue(&row.client_id, Some(role), scopes, permissions)?;
    Ok(ClientCredentialResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        scope: Some(crate::auth::jwt::scope_list(scopes, permissions)),
    })
}

/// Whether `secret` is the client's, or its previous one within the rotation's grace period.
fn secret_matches(pepper: &[u8], secret: &str, row: &ClientRow, now: chrono::DateTime<chrono::Utc>) -> bool {
    verify_secret(pepper, secret, &row.secret_hash)
        || row
            .previous
            .as_ref()
            .is_some_and(|(hash, until)| now < *until && verify_secret(pepper, secret, hash))
}

/// The scopes and permissions of a token for `role`, narrowed to those `asked` names (RFC 6749 §3.3).
/// Scopes and permissions narrow separately: asking for `read_all` alone keeps the role's permissions,
/// which the narrowed scopes then limit; a request naming nothing the role has gets the whole role.
fn narrowed(role: Role, asked: Option<&str>) -> (Scopes, Permissions) {
    let (mut scopes, mut permissions) = (role.scopes(), role.permissions());
    if let Some(asked) = asked {
        let s = scopes.intersect(Scopes::parse_list(asked.split_whitespace()));
        if !s.is_empty() {
            scopes = s;
        }
        let p = permissions.intersect(Permissions::parse_list(asked.split_whitespace()));
        if !p.is_empty() {
            permissions = p;
        }
    }
    (scopes, permissions)
}

/// `POST /ops/clients`: the business logic issues credentials for a VEN (a mining site's controller, the
/// fleet simulator). Only VEN clients: operator credentials are made with the CLI, on the server itself.
pub async fn issue_ven(state: &AppState, name: crate::wire::Name) -> Result<IssuedClient, AppError> {
    if state.auth.external_token_url().is_some() {
        return Err(AppError::NotImplemented(
            "clients are managed by the external identity provider named by GET /auth/server".into(),
        ));
    }
    let client_id = new_client_id(Role::Ven.as_str());
    let client_secret = new_client_secret();
    let row = ClientRow {
        client_id: client_id.clone(),
        client_name: name.into_string(),
        role: Role::Ven.as_str().to_owned(),
        secret_hash: hash_secret(&state.pepper, &client_secret),
        created: state.clock.now(),
        previous: None,
    };
    state
        .commit(move |tx| {
            tx.audited(client_subject(&row));
            Ok(repo::insert_client(tx, &row)?)
        })
        .await?;
    Ok(IssuedClient {
        client_id,
        client_secret,
        role: Role::Ven,
    })
}
