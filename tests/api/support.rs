//! Test harness: a real Sluice server on a free port over a fresh database (a SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set), a manual clock, and helpers per role.

use std::net::TcpListener;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde_json::{Value, json};
use sluice::auth::Role;
use sluice::clock::{ManualClock, SharedClock};
use sluice::config::Settings;
use sluice::notify::channel::Channel;
use sluice::service::{AppState, clients};
use sluice::startup::{Application, build_state, build_state_with};

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(admin) => {
                let admin = without_tls(&admin);
                let name = format!("sluice_t_{}", uuid::Uuid::new_v4().simple());
                let mut c = diesel::PgConnection::establish(&admin).expect("TEST_DATABASE_URL must reach PostgreSQL");
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
                let url = match base.rfind('/') {
                    Some(i) if i > "postgres://".len() => format!("{}/{name}?{query}", &base[..i]),
                    _ => format!("{base}/{name}?{query}"),
                };
                TestDb {
                    url,
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
        }
    }
}

/// The tests reach PostgreSQL on loopback without TLS (unless the URL says otherwise). With TLS, libpq
/// sets up OpenSSL, whose exit handlers free its state while other threads of the test binary may still
/// be inside libpq (r2d2 re-establishing connections of pools whose test database is already dropped):
/// the binary then dies at exit ("malloc_consolidate(): invalid chunk size") after every test passed.
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable&gssencmode=disable")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut c) = diesel::PgConnection::establish(admin)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Several Sluice instances on one database are a PostgreSQL setup (SQLite is one process's embedded
/// database): true when the suite runs on PostgreSQL, otherwise says why the test is skipped.
pub fn several_instances_possible() -> bool {
    let pg = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if !pg {
        eprintln!("TEST_DATABASE_URL is not set: several instances need PostgreSQL; .ci/run sets it");
    }
    pg
}

/// The time every test starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap()
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    pub db_url: String,
    _db: Option<TestDb>,
}

/// A response: status, headers and the body parsed as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `id` of the returned object.
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
            .to_owned()
    }

    /// Asserts a problem body whose `status` matches the HTTP status (Definition §Problem).
    #[track_caller]
    pub fn assert_problem(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.body["status"], status,
            "problem status must equal the HTTP status: {}",
            self.text
        );
        assert!(self.body["title"].is_string(), "{}", self.text);
        assert!(
            self.body["instance"].as_str().is_some_and(|i| i.len() >= 3),
            "{}",
            self.text
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        self
    }

    pub fn ids(&self) -> Vec<String> {
        self.body
            .as_array()
            .unwrap_or_else(|| panic!("not an array: {}", self.text))
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A client of the server: a bearer token (or none).
#[derive(Clone)]
pub struct As {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    pub client_id: String,
}

impl As {
    /// The same client talking to another instance.
    pub fn on(&self, app: &TestApp) -> As {
        As {
            base: app.base.clone(),
            ..self.clone()
        }
    }

    /// The same client talking to a server at `base`.
    pub fn on_base(&self, base: &str) -> As {
        As {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let rb = match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// `method` on `path` with a malformed JSON body where the method carries one: an admitted caller
    /// gets a 400 or 404 and changes nothing, a refused one 401 or 403.
    pub async fn probe(&self, method: &str, path: &str) -> Resp {
        match method {
            "GET" => self.get(path).await,
            "DELETE" => self.delete(path).await,
            "POST" => self.post_raw(path, "application/json", "{").await,
            "PUT" => self.put_raw(path, "application/json", "{").await,
            other => panic!("no probe for {other}"),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Resp {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn put_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Resp {
        self.send(
            self.http
                .put(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion future need not be awaited.
        drop(self.handle.stop(false));
        // No thread may be inside libpq when the test binary exits (its TLS state is torn down then).
        self.state.cache.stop_listening();
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_settings(|_| {}).await
    }

    pub async fn with_settings(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::build(tweak, false, Vec::new()).await
    }

    /// A server with a notification channel of the test's own registered beside the configured ones.
    pub async fn with_channel(channel: Arc<dyn Channel>) -> Self {
        Self::build(|_| {}, false, vec![channel]).await
    }

    /// A server on the wall clock, for tests with real VENs that keep their own time (the simulator);
    /// `clock` is then not the server's.
    pub async fn real_time() -> Self {
        Self::build(|_| {}, true, Vec::new()).await
    }

    /// [`TestApp::real_time`] with settings of the test's own.
    pub async fn real_time_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::build(tweak, true, Vec::new()).await
    }

    async fn build(tweak: impl FnOnce(&mut Settings), real_time: bool, channels: Vec<Arc<dyn Channel>>) -> Self {
        let db = TestDb::new();
        let mut settings = Settings::default();
        settings.database.url = db.url.clone();
        settings.database.pool_size = 4;
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = Some(1);
        settings.server.shutdown_timeout_secs = 1;
        // Webhook receivers in the tests listen on loopback with the test certificate.
        settings.notifications.allow_loopback = true;
        settings.notifications.extra_ca_file = Some(crate::receiver::test_cert().0.clone());
        // Tests bring latency up to date themselves (`TestApp::refresh_latency`), at the moment they choose.
        settings.latency.interval_secs = 86_400;
        tweak(&mut settings);
        let clock = Arc::new(ManualClock::new(t0()));
        let shared: SharedClock = if real_time {
            Arc::new(sluice::clock::SystemClock)
        } else {
            clock.clone()
        };
        let state = build_state_with(&settings, shared, true, channels)
            .await
            .expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::with_listener(&settings, state.clone(), listener).expect("server");
        let scheme = if app.is_tls() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{}", app.addr().port());
        let handle = app.handle();
        actix_rt::spawn(app.into_server());
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        TestApp {
            base,
            state,
            clock,
            http,
            handle,
            db_url: db.url.clone(),
            _db: Some(db),
        }
    }

    /// Brings response-latency metrics up to date now, as the background pass would.
    pub async fn refresh_latency(&self) -> usize {
        let th = sluice::config::LatencySettings::default().thresholds();
        sluice::service::latency::refresh(&self.state, &th, &mut Default::default())
            .await
            .unwrap()
    }

    /// Another server on the same database, as a second instance behind a load balancer would be.
    pub async fn second_instance(&self) -> TestApp {
        let mut settings = Settings::default();
        settings.database.url = self.db_url.clone();
        settings.database.pool_size = 4;
        settings.server.workers = Some(1);
        settings.notifications.allow_loopback = true;
        settings.notifications.extra_ca_file = Some(crate::receiver::test_cert().0.clone());
        let shared: SharedClock = self.clock.clone();
        let state = build_state(&settings, shared, true).await.expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::with_listener(&settings, state.clone(), listener).expect("server");
        let base = format!("http://127.0.0.1:{}", app.addr().port());
        let handle = app.handle();
        actix_rt::spawn(app.into_server());
        TestApp {
            base,
            state,
            clock: self.clock.clone(),
            http: self.http.clone(),
            handle,
            db_url: self.db_url.clone(),
            _db: None,
        }
    }

    pub fn anonymous(&self) -> As {
        As {
            base: self.base.clone(),
            http: self.http.clone(),
            token: None,
            client_id: String::new(),
        }
    }

    /// A client with a token for `role`, created directly (the token endpoint has tests of its own).
    pub fn client(&self, role: Role, name: &str) -> As {
        let issued = clients::add(&self.state.db, &self.state.clock, &self.state.pepper, role, name).unwrap();
        let (token, _) = self
            .state
            .auth
            .issue(&issued.client_id, Some(role), role.scopes(), role.permissions())
            .unwrap();
        As {
            base: self.base.clone(),
            http: self.http.clone(),
            token: Some(token),
            client_id: issued.client_id,
        }
    }

    /// A client whose token carries exactly `scopes`.
    pub fn with_scopes(&self, scopes: sluice::auth::Scopes) -> As {
        let (token, _) = self
            .state
            .auth
            .issue("scope-probe", None, scopes, Default::default())
            .unwrap();
        As {
            base: self.base.clone(),
            http: self.http.clone(),
            token: Some(token),
            client_id: "scope-probe".into(),
        }
    }

    /// The business logic.
    pub fn bl(&self) -> As {
        self.client(Role::Operator, "operator")
    }

    /// A VEN client (no ven object yet).
    pub fn ven(&self, name: &str) -> As {
        self.client(Role::Ven, name)
    }

    /// Issues a client through the CLI's code path and returns its id and secret.
    pub fn issued(&self, role: Role, name: &str) -> clients::IssuedClient {
        clients::add(&self.state.db, &self.state.clock, &self.state.pepper, role, name).unwrap()
    }
}

/// A documented path with every `{parameter}` filled with an id no object has.
pub fn probe_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| if seg.starts_with('{') { "probe-1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// A program with this name, created by `bl`; returns its id.
pub async fn program(bl: &As, name: &str, targets: &[&str]) -> String {
    let mut body = serde_json::json!({"programName": name});
    if !targets.is_empty() {
        body["targets"] = serde_json::json!(targets);
    }
    let r = bl.post("/programs", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

/// An event of `program` with `targets`; returns its id.
pub async fn event(bl: &As, program: &str, targets: &[&str]) -> String {
    let mut body = serde_json::json!({
        "programID": program,
        "intervalPeriod": {"start": "2026-07-01T14:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]
    });
    if !targets.is_empty() {
        body["targets"] = serde_json::json!(targets);
    }
    let r = bl.post("/events", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

/// A ven for `ven`'s client with `targets`, created by the business logic; returns its id.
pub async fn ven_object(bl: &As, ven: &As, name: &str, targets: &[&str]) -> String {
    let r = bl
        .post("/vens", &serde_json::json!({"objectType": "BL_VEN_REQUEST", "clientID": ven.client_id, "venName": name, "targets": targets}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

pub struct Site {
    pub id: String,
    pub ven: As,
}

/// A site of `max` MW with an enrollment in `program`: `shed` MW at `price`, needing `notice`.
pub async fn enrolled(
    app: &TestApp,
    bl: &As,
    program: &str,
    name: &str,
    (max, shed, price, notice): (&str, &str, &str, &str),
) -> Site {
    let ven = app.ven(name);
    let ven_id = ven_object(bl, &ven, name, &[]).await;
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": name, "venID": ven_id, "kind": "MINING", "maxImportMW": max}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    let r = bl
        .post(
            "/ops/enrollments",
            &json!({"siteID": id, "programID": program, "shedMW": shed, "offerPrice": price, "notice": notice,
                    "ramp": "PT5M", "start": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    Site { id, ven }
}

pub fn demand(event: &str, name: &str, points: &[(&str, f64)]) -> Value {
    json!({
        "eventID": event, "clientName": name,
        "payloadDescriptors": [{"payloadType": "DEMAND", "units": "MW"}],
        "resources": [{"resourceName": "SITE", "intervals": points.iter().enumerate().map(|(i, (at, mw))| json!({
            "id": i, "intervalPeriod": {"start": at, "duration": "PT1M"},
            "payloads": [{"type": "DEMAND", "values": [mw]}]
        })).collect::<Vec<_>>()}]
    })
}
