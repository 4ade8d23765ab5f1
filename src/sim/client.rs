//! The simulator's HTTP side: an OAuth2 client-credentials token per client, and typed calls to the VTN
//! (requests and responses are the wire types the server itself reads and writes, so a change to them
//! fails to compile here rather than at a site's first poll).

use anyhow::{anyhow, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::wire::auth::ClientCredentialResponse;
use crate::wire::{Name, ObjectId};

/// An object as the VTN returns it: its id beside the content it was created with.
#[derive(Debug, Clone, Deserialize)]
pub struct Seen<T> {
    pub id: ObjectId,
    #[serde(flatten)]
    pub content: T,
}

/// Just the id of a created or listed object.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    pub id: ObjectId,
}

/// A name the simulator makes up, checked as the server will check it.
pub fn name(s: impl Into<String>) -> anyhow::Result<Name> {
    Name::parse(s).map_err(|e| anyhow!(e))
}

/// The items of a list that read as `T`; an item that does not (another VTN's extension, a 3.0
/// leftover) is skipped rather than failing the whole page.
pub fn each<T: DeserializeOwned>(items: Vec<serde_json::Value>) -> Vec<T> {
    (items.into_iter())
        .filter_map(|v| match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::debug!(error = %e, "list item skipped");
                None
            }
        })
        .collect()
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

/// Token requests a VEN makes before giving up on a rate-limited VTN.
const TOKEN_ATTEMPTS: usize = 5;

impl Http {
    /// A token for `id`. Over the VTN's rate limit (429: a whole fleet starting from one address), it
    /// waits as long as `Retry-After` says, a few times, as a well-behaved client does.
    pub async fn token(&self, id: &str, secret: &str) -> anyhow::Result<String> {
        for _ in 0..TOKEN_ATTEMPTS {
            let r = self
                .client
                .post(format!("{}/auth/token", self.base))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret),
                ])
                .send()
                .await?;
            let status = r.status();
            let wait = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let body = r.text().await?;
            match (status.as_u16(), wait) {
                (429, Some(secs)) => tokio::time::sleep(std::time::Duration::from_secs(secs.clamp(1, 60))).await,
                _ if status.is_success() => {
                    return Ok(serde_json::from_str::<ClientCredentialResponse>(&body)?.access_token);
                }
                _ => bail!("token for {id}: {status} {body}"),
            }
        }
        bail!("token for {id}: still rate-limited after {TOKEN_ATTEMPTS} attempts")
    }

    /// One request; its status and body as text.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&B>,
    ) -> anyhow::Result<(u16, String)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// One request that must succeed, its answer read as `R`.
    pub async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&B>,
    ) -> anyhow::Result<R> {
        let (status, text) = self.send(method.clone(), path, token, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {text}");
        }
        serde_json::from_str(&text).map_err(|e| anyhow!("{method} {path}: unexpected answer ({e}): {text}"))
    }

    /// `GET path`, read as `R`.
    pub async fn get<R: DeserializeOwned>(&self, path: &str, token: &str) -> anyhow::Result<R> {
        self.call(reqwest::Method::GET, path, token, None::<&()>).await
    }

    /// `POST path`, the answer read as `R`.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &B,
    ) -> anyhow::Result<R> {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }
}
