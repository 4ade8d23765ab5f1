use serde_json::json;
use sluice::auth::Role;

use crate::support::{TestApp, program};

fn form(id: &str, secret: &str) -> String {
    format!("grant_type=client_credentials&client_id={id}&client_secret={secret}")
}

#[actix_rt::test]
async fn auth_server_names_the_token_url_without_a_token() {
    let app = TestApp::new().await;
    let r = app.anonymous().get("/auth/server").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["tokenURL"], format!("{}/auth/token", app.base));
}

#[actix_rt::test]
async fn client_credentials_in_the_form_body_get_a_bearer_token_that_works() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Operator, "op");
    let r = app
        .anonymous()
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            form(&c.client_id, &c.client_secret),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let mut bl = app.anonymous();
    bl.token = Some(token);
    program(&bl, "p1", &[]).await;
}

#[actix_rt::test]
async fn client_credentials_over_http_basic_are_accepted() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Ven, "v");
    let resp = app
        .http
        .post(format!("{}/auth/token", app.base))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["scope"].as_str().unwrap().contains("write_reports"));
}

#[actix_rt::test]
async fn wrong_secret_is_401_invalid_client() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Ven, "v");
    let r = app
        .anonymous()
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            form(&c.client_id, "nope"),
        )
        .await;
    r.assert_problem(401);
    assert_eq!(r.body["error"], "invalid_client");
    let r = app
        .anonymous()
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            form("nobody", "nope"),
        )
        .await;
    r.assert_problem(401);
}

#[actix_rt::test]
async fn password_grant_is_400_unsupported_grant_type() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Ven, "v");
    let body = format!(
        "grant_type=password&client_id={}&client_secret={}",
        c.client_id, c.client_secret
    );
    let r = app
        .anonymous()
        .post_raw("/auth/token", "application/x-www-form-urlencoded", body)
        .await;
    r.assert_problem(400);
    assert_eq!(r.body["error"], "unsupported_grant_type");
}

#[actix_rt::test]
async fn missing_client_id_is_400_invalid_request() {
    let app = TestApp::new().await;
    let r = app
        .anonymous()
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials&client_secret=x",
        )
        .await;
    r.assert_problem(400);
    assert_eq!(r.body["error"], "invalid_request");
}

#[actix_rt::test]
async fn requested_scopes_narrow_the_token() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Operator, "op");
    let body = format!("{}&scope=read_all%20made_up", form(&c.client_id, &c.client_secret));
    let r = app
        .anonymous()
        .post_raw("/auth/token", "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(
        r.body["scope"], "read_all sluice:read sluice:dispatch sluice:enroll sluice:settle",
        "the OpenADR scopes narrow; the role's permissions stay, limited by those scopes"
    );
    let mut narrowed = app.anonymous();
    narrowed.token = Some(r.body["access_token"].as_str().unwrap().to_owned());
    narrowed
        .post("/programs", &json!({"programName": "p"}))
        .await
        .assert_problem(403);
    assert_eq!(narrowed.get("/programs").await.status, 200);
}

/// A staff role's token carries its permissions beside its OpenADR scopes, and asking for
/// `sluice:read` alone narrows any business role to reading.
#[actix_rt::test]
async fn a_dispatcher_token_dispatches_but_cannot_write_programs_and_narrows_to_read_only() {
    let app = TestApp::new().await;
    let p = program(&app.bl(), "p1", &[]).await;
    let c = app.issued(Role::Dispatcher, "control-room");
    let token = |scope: &str| {
        let body = format!("{}&scope={scope}", form(&c.client_id, &c.client_secret));
        let anonymous = app.anonymous();
        async move {
            let r = anonymous
                .post_raw("/auth/token", "application/x-www-form-urlencoded", body)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let mut who = anonymous.clone();
            who.token = Some(r.body["access_token"].as_str().unwrap().to_owned());
            (r.body["scope"].as_str().unwrap().to_owned(), who)
        }
    };
    let (scope, dispatcher) = token("").await;
    assert_eq!(
        scope,
        "read_all write_events write_subscriptions sluice:read sluice:dispatch"
    );
    let event = json!({"programID": p, "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]});
    assert_eq!(dispatcher.post("/events", &event).await.status, 201);
    let refused = dispatcher.post("/programs", &json!({"programName": "p2"})).await;
    refused.assert_problem(403);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("write_programs"),
        "{}",
        refused.text
    );

    let (scope, reader) = token("read_all%20sluice:read").await;
    assert_eq!(scope, "read_all sluice:read");
    let refused = reader.post("/events", &event).await;
    refused.assert_problem(403);
    assert_eq!(reader.get("/events").await.body.as_array().unwrap().len(), 1);
}

/// Permissions are checked beside scopes: a token of the business logic holding `write_programs` but
/// only the settle permission (an analyst's, given `write_programs` for settlement rules) may not
/// create programs.
#[actix_rt::test]
async fn an_analyst_sets_settlement_rules_but_cannot_create_programs_with_the_same_scope() {
    let app = TestApp::new().await;
    let analyst = app.client(Role::Analyst, "settlement-desk");
    let refused = analyst.post("/programs", &json!({"programName": "p"})).await;
    refused.assert_problem(403);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("enroll permission"),
        "{}",
        refused.text
    );
    let p = program(&app.bl(), "p1", &[]).await;
    let r = analyst
        .put_raw(&format!("/ops/programs/{p}/settlement-rules"), "application/json", "{")
        .await;
    r.assert_problem(400);
}

#[actix_rt::test]
async fn external_idp_mode_answers_501_and_names_the_external_token_url() {
    let key = rcgen::KeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("idp.pem");
    std::fs::write(&pem, key.public_key_pem()).unwrap();
    let app = TestApp::with_settings(|s| {
        s.auth.mode = sluice::config::AuthMode::External;
        s.auth.external_token_url = Some("https://idp.example.com/token".into());
        s.auth.public_key_file = Some(pem.clone());
        s.auth.public_key_algorithm = "ES256".into();
    })
    .await;
    let r = app.anonymous().get("/auth/server").await;
    assert_eq!(r.body["tokenURL"], "https://idp.example.com/token");
    let r = app
        .anonymous()
        .post_raw("/auth/token", "application/x-www-form-urlencoded", form("a", "b"))
        .await;
    r.assert_problem(501);

    // A token signed by the IdP's key, with scopes as an array claim, is accepted.
    let exp = sluice::wire::WireDateTime(crate::support::t0()).0.timestamp() + 600;
    let claims = json!({"sub": "idp-client", "scp": ["read_all", "write_programs"], "exp": exp});
    let enc = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &enc,
    )
    .unwrap();
    let mut bl = app.anonymous();
    bl.token = Some(token);
    program(&bl, "from-idp", &[]).await;
}

#[actix_rt::test]
async fn protected_endpoints_without_a_token_are_401_with_a_bearer_challenge() {
    let app = TestApp::new().await;
    for path in [
        "/programs",
        "/events",
        "/reports",
        "/subscriptions",
        "/vens",
        "/resources",
        "/programs/x",
    ] {
        let r = app.anonymous().get(path).await;
        r.assert_problem(401);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"), "{path}");
    }
}

#[actix_rt::test]
async fn garbage_and_expired_tokens_are_401() {
    let app = TestApp::new().await;
    let mut garbage = app.anonymous();
    garbage.token = Some("not.a.jwt".into());
    garbage.get("/programs").await.assert_problem(401);
    let bl = app.bl();
    assert_eq!(bl.get("/programs").await.status, 200);
    app.clock.advance(chrono::TimeDelta::hours(2));
    bl.get("/programs").await.assert_problem(401);
}

#[actix_rt::test]
async fn writes_without_the_scope_are_403() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ven = app.ven("v1");
    ven.post("/programs", &json!({"programName": "p"}))
        .await
        .assert_problem(403);
    let p = program(&bl, "p", &[]).await;
    ven.post("/events", &json!({"programID": p})).await.assert_problem(403);
    let e = crate::support::event(&bl, &p, &[]).await;
    ven.put(&format!("/events/{e}"), &json!({"programID": p}))
        .await
        .assert_problem(403);
    ven.delete(&format!("/events/{e}")).await.assert_problem(403);
    let report = json!({"eventID": e, "clientName": "bl", "resources": []});
    bl.post("/reports", &report).await.assert_problem(403);
}

#[actix_rt::test]
async fn business_logic_reads_every_event() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let a = crate::support::event(&bl, &p, &["g1"]).await;
    let b = crate::support::event(&bl, &p, &[]).await;
    let r = bl.get("/events").await;
    assert_eq!(r.ids(), vec![a, b]);
}

/// An identity provider's JWKS endpoint serving `keys`, whose answers can be held back.
struct Idp {
    url: String,
    keys: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
    hold: tokio::sync::watch::Sender<bool>,
    /// Fetches asked for so far, and fetches still waiting for their answer.
    asked: tokio::sync::watch::Receiver<usize>,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Idp {
    async fn start(keys: serde_json::Value) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let keys = std::sync::Arc::new(std::sync::Mutex::new(keys));
        let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (hold, held) = tokio::sync::watch::channel(false);
        let (count, asked) = tokio::sync::watch::channel(0usize);
        let (served, opened) = (keys.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (keys, open, mut held) = (served.clone(), opened.clone(), held.clone());
                open.fetch_add(1, Ordering::SeqCst);
                count.send_modify(|n| *n += 1);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let mut gone = false;
                    while *held.borrow_and_update() && !gone {
                        tokio::select! {
                            changed = held.changed() => gone = changed.is_err(),
                            read = s.read(&mut buf) => gone = !matches!(read, Ok(n) if n > 0),
                        }
                    }
                    if !gone {
                        let body = keys.lock().unwrap().to_string();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Idp {
            url,
            keys,
            hold,
            asked,
            open,
        }
    }

    async fn wait_asked(&mut self, n: usize) {
        let deadline = std::time::Duration::from_secs(10);
        tokio::time::timeout(deadline, self.asked.wait_for(|got| *got >= n))
            .await
            .expect("the JWKS was not fetched")
            .unwrap();
    }

    fn open_fetches(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A P-256 key as a JWK with `kid`, and a token it signs for `sub` with business-logic scopes.
fn idp_key(kid: &str) -> (serde_json::Value, impl Fn(&str) -> String) {
    use base64::Engine;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = key.public_key_raw().to_vec(); // 0x04 ‖ x ‖ y
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                     "kid": kid, "alg": "ES256", "use": "sig"});
    let enc = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let kid = kid.to_owned();
    let sign = move |sub: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.clone());
        let exp = crate::support::t0().timestamp() + 600;
        jsonwebtoken::encode(&header, &json!({"sub": sub, "scope": "read_all", "exp": exp}), &enc).unwrap()
    };
    (jwk, sign)
}

/// A token naming a key the cached JWKS lacks makes one fetch; tokens of known keys are served from the
/// cache meanwhile, however long the identity provider takes to answer.
#[actix_rt::test]
async fn a_slow_jwks_fetch_for_an_unknown_key_does_not_hold_up_tokens_of_known_keys() {
    let (jwk_a, sign_a) = idp_key("a");
    let (jwk_b, sign_b) = idp_key("b");
    let mut idp = Idp::start(json!({"keys": [jwk_a.clone()]})).await;
    let url = idp.url.clone();
    let app = TestApp::with_settings(|s| {
        s.auth.mode = sluice::config::AuthMode::External;
        s.auth.external_token_url = Some("https://idp.example.com/token".into());
        s.auth.jwks_url = Some(url);
        s.auth.jwks_min_refetch_secs = 0;
    })
    .await;
    let as_token = |t: String| {
        let mut who = app.anonymous();
        who.token = Some(t);
        who
    };
    let (a, b) = (as_token(sign_a("client-a")), as_token(sign_b("client-b")));
    assert_eq!(a.get("/programs").await.status, 200);
    idp.wait_asked(1).await;

    // Key b is rolled out; the identity provider is slow to answer the fetch b's first token causes.
    *idp.keys.lock().unwrap() = json!({"keys": [jwk_a, jwk_b]});
    idp.hold.send_replace(true);
    let waiting = tokio::spawn(async move { b.get("/programs").await.status });
    idp.wait_asked(2).await;
    assert_eq!(a.get("/programs").await.status, 200);
    assert_eq!(
        idp.open_fetches(),
        1,
        "a's token was served while b's fetch was still under way"
    );
    idp.hold.send_replace(false);
    assert_eq!(waiting.await.unwrap(), 200, "the new key is used once fetched");
}

/// A token from the token endpoint for `id`/`secret`: the response.
async fn token_for(app: &TestApp, id: &str, secret: &str) -> crate::support::Resp {
    app.anonymous()
        .post_raw("/auth/token", "application/x-www-form-urlencoded", form(id, secret))
        .await
}

/// Removing a client (here with the CLI, as an administrator does) revokes the tokens it already holds on
/// every instance, when each next looks for revocations — not when the tokens expire.
#[actix_rt::test]
async fn a_removed_clients_live_tokens_are_refused_on_every_instance() {
    let one = TestApp::new().await;
    let mut instances = vec![];
    if crate::support::several_instances_possible() {
        instances.push(one.second_instance().await);
    }
    let c = one.issued(Role::Ven, "site-17");
    let mut ven = one.anonymous();
    ven.token = Some(
        token_for(&one, &c.client_id, &c.client_secret).await.body["access_token"]
            .as_str()
            .unwrap()
            .into(),
    );
    assert_eq!(ven.get("/events").await.status, 200);
    for other in &instances {
        assert_eq!(ven.on(other).get("/events").await.status, 200);
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["client", "remove", &c.client_id, "--database", &one.db_url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // This instance looks now; the others on their own, within their poll interval.
    one.state
        .revocations
        .refresh(&one.state.db, chrono::DateTime::UNIX_EPOCH)
        .unwrap();
    ven.get("/events").await.assert_problem(401);
    for other in &instances {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut status = 200;
        while std::time::Instant::now() < deadline {
            status = ven.on(other).get("/events").await.status;
            if status == 401 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            status, 401,
            "the second instance refuses the token within its poll interval"
        );
    }
    assert_eq!(token_for(&one, &c.client_id, &c.client_secret).await.status, 401);
}

/// A rotated client's previous secret works for the grace period, then only the new one does.
#[actix_rt::test]
async fn a_rotated_secret_keeps_the_old_one_for_the_grace_period() {
    let app = TestApp::new().await;
    let c = app.issued(Role::Ven, "site-17");
    let rotated = sluice::service::clients::rotate(
        &app.state.db,
        &app.state.clock,
        &app.state.pepper,
        &c.client_id,
        chrono::TimeDelta::hours(1),
    )
    .unwrap()
    .unwrap();
    assert_ne!(rotated.client_secret, c.client_secret);
    assert_eq!(rotated.previous_secret_valid_until, "2026-07-01T13:00:00Z");
    assert_eq!(token_for(&app, &c.client_id, &c.client_secret).await.status, 200);
    assert_eq!(token_for(&app, &c.client_id, &rotated.client_secret).await.status, 200);
    app.clock.advance(chrono::TimeDelta::minutes(61));
    let old = token_for(&app, &c.client_id, &c.client_secret).await;
    old.assert_problem(401);
    assert_eq!(old.body["error"], "invalid_client");
    assert_eq!(token_for(&app, &c.client_id, &rotated.client_secret).await.status, 200);
}

/// Token requests beyond a client's allowance get 429 with Retry-After — wrong secrets count too — and
/// another client is not slowed; an address has an allowance of its own across clients.
#[actix_rt::test]
async fn token_requests_over_the_allowance_get_429_without_slowing_other_clients() {
    let app = TestApp::with_settings(|s| {
        s.auth.token_requests_per_minute_per_client = 3;
        s.auth.token_requests_per_minute_per_address = 8;
    })
    .await;
    let (a, b) = (app.issued(Role::Ven, "a"), app.issued(Role::Ven, "b"));
    assert_eq!(token_for(&app, &a.client_id, "wrong").await.status, 401);
    for _ in 0..2 {
        assert_eq!(token_for(&app, &a.client_id, &a.client_secret).await.status, 200);
    }
    let refused = token_for(&app, &a.client_id, &a.client_secret).await;
    refused.assert_problem(429);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "one request every 20 s: {wait}");
    assert_eq!(token_for(&app, &b.client_id, &b.client_secret).await.status, 200);

    // This address has made five requests (the one refused for its client counts: the address is
    // checked first); it may make eight a minute, whatever the client.
    let mut statuses = vec![];
    for i in 0..4 {
        let c = app.issued(Role::Ven, &format!("c{i}"));
        statuses.push(token_for(&app, &c.client_id, &c.client_secret).await.status);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
}
