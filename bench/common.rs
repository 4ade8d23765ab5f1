//! What the benchmark drivers share: their command-line arguments and the VTN's token endpoint.

use serde_json::Value;

/// The value after `name` on the command line.
pub fn arg(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| panic!("missing {name}"))
}

/// An access token by client credentials.
pub async fn token(http: &reqwest::Client, vtn: &str, id: &str, secret: &str) -> String {
    let r: Value = http
        .post(format!("{vtn}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}
