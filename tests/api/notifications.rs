//! Webhook notifications (OpenADR 3.1 Definition §Subscriptions and §Webhooks): the echo handshake,
//! delivery of every change to the subscriptions it matches with the subscriber's privacy, retries, dead
//! letters, ordering, and durability across a SIGKILL. Receivers are real HTTPS servers (`receiver.rs`).

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use sluice::auth::Role;
use sluice::notify::channel::{Address, Attempt, Audience, CallFailure, Channel, Needs, Pacing};
use sluice::store::outbox::{ChangeRow, Claimed};

use crate::receiver::{Echo, Receiver};
use crate::support::{As, TestApp, TestDb, event, program, ven_object};

fn subscription(name: &str, url: &str, objects: Value, operations: Value) -> Value {
    json!({"clientName": name, "objectOperations": [
        {"objects": objects, "operations": operations, "callbackUrl": url, "bearerToken": format!("token-{name}")}
    ]})
}

async fn subscribe(who: &As, body: &Value) -> String {
    let r = who.post("/subscriptions", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

/// The notifications the operator sees for `query`.
async fn notifications(bl: &As, query: &str) -> Vec<Value> {
    let r = bl.get(&format!("/ops/notifications?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

/// Waits until the operator's view of `query` satisfies `done` (a deadline, not a delay), nudging the
/// in-process worker when there is one.
async fn poll_notifications(
    app: Option<&TestApp>,
    bl: &As,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = notifications(bl, query).await;
        if done(&list) {
            return list;
        }
        assert!(std::time::Instant::now() < deadline, "gave up waiting: {list:#?}");
        if let Some(app) = app {
            app.state.notifier.check_due();
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_notifications(app: &TestApp, bl: &As, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    poll_notifications(Some(app), bl, query, done).await
}

#[actix_rt::test]
async fn a_plain_http_callback_is_refused_and_nothing_is_stored() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    let r = ven
        .post(
            "/subscriptions",
            &subscription("v", "http://127.0.0.1:9/cb", json!(["EVENT"]), json!(["CREATE"])),
        )
        .await;
    r.assert_problem(400);
    assert!(r.body["detail"].as_str().unwrap().contains("https"), "{}", r.text);
    assert_eq!(ven.get("/subscriptions").await.body, json!([]));
}

#[actix_rt::test]
async fn the_callback_echoes_a_random_value_before_the_subscription_is_created() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let ven = app.ven("v");
    let body = subscription("v", &rx.url("/hook?site=7"), json!(["EVENT"]), json!(["CREATE"]));
    subscribe(&ven, &body).await;
    subscribe(&ven, &body).await;
    let echoes = rx.echoes();
    assert_eq!(echoes.len(), 2, "one handshake per create");
    assert_ne!(echoes[0], echoes[1], "the echo value is random");
    assert!(echoes[0].len() >= 16);
}

#[actix_rt::test]
async fn a_wrong_echo_or_an_error_status_refuses_the_subscription() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let ven = app.ven("v");
    let body = subscription("v", &rx.url("/cb"), json!(["EVENT"]), json!(["CREATE"]));
    rx.set_echo(Echo::Wrong);
    let r = ven.post("/subscriptions", &body).await;
    r.assert_problem(400);
    assert!(r.body["detail"].as_str().unwrap().contains("echo"), "{}", r.text);
    rx.set_echo(Echo::Status(500));
    ven.post("/subscriptions", &body).await.assert_problem(400);
    assert_eq!(ven.get("/subscriptions").await.body, json!([]));

    // An update is checked the same way, and a refused update leaves the subscription as it was.
    rx.set_echo(Echo::Correct);
    let id = subscribe(&ven, &body).await;
    rx.set_echo(Echo::Wrong);
    let mut changed = body.clone();
    changed["clientName"] = json!("renamed");
    ven.put(&format!("/subscriptions/{id}"), &changed)
        .await
        .assert_problem(400);
    assert_eq!(ven.get(&format!("/subscriptions/{id}")).await.body["clientName"], "v");
}

#[actix_rt::test]
async fn every_event_change_is_posted_in_order_with_the_bearer_token() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let ven = app.ven("v");
    subscribe(
        &ven,
        &subscription(
            "v",
            &rx.url("/events"),
            json!(["EVENT"]),
            json!(["CREATE", "UPDATE", "DELETE"]),
        ),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let created = rx.wait_posts(1).await;
    assert_eq!(created[0].body["objectType"], "EVENT");
    assert_eq!(created[0].body["operation"], "CREATE");
    assert_eq!(
        created[0].body["object"],
        ven.get(&format!("/events/{e}")).await.body,
        "the full event, as the VEN reads it"
    );
    assert_eq!(created[0].authorization.as_deref(), Some("Bearer token-v"));
    assert_eq!(created[0].path, "/events");

    let mut update = ven.get(&format!("/events/{e}")).await.body;
    update["eventName"] = json!("renamed");
    assert_eq!(bl.put(&format!("/events/{e}"), &update).await.status, 200);
    assert_eq!(bl.delete(&format!("/events/{e}")).await.status, 200);
    let all = rx.wait_posts(3).await;
    let ops: Vec<&str> = all.iter().map(|r| r.body["operation"].as_str().unwrap()).collect();
    assert_eq!(ops, ["CREATE", "UPDATE", "DELETE"]);
    assert_eq!(all[1].body["object"]["eventName"], "renamed");
    assert_eq!(all[2].body["object"]["id"], e.as_str());
    let ids: std::collections::HashSet<_> = all.iter().map(|r| r.notification_id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each notification carries its own id");

    // The operator sees each as delivered (once the outcome is recorded), with the time it was delivered.
    let seen = wait_notifications(&app, &bl, &format!("eventID={e}"), |l| {
        l.len() == 3 && l.iter().all(|n| n["state"] == "delivered")
    })
    .await;
    for n in &seen {
        assert_eq!(n["state"], "delivered", "{n}");
        assert_eq!(n["attempts"], 1);
        assert!(n["deliveredDateTime"].is_string(), "{n}");
    }
}

#[actix_rt::test]
async fn a_program_subscription_hears_nothing_of_other_programs() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let (p1, p2) = (program(&bl, "p1", &[]).await, program(&bl, "p2", &[]).await);
    let mut body = subscription("op", &rx.url("/p1"), json!(["EVENT"]), json!(["CREATE"]));
    body["programID"] = json!(p1);
    subscribe(&bl, &body).await;
    let other = event(&bl, &p2, &[]).await;
    let mine = event(&bl, &p1, &[]).await;
    let got = rx.wait_posts(1).await;
    assert_eq!(got[0].body["object"]["id"], mine.as_str());
    assert!(notifications(&bl, &format!("objectID={other}")).await.is_empty());
}

#[actix_rt::test]
async fn a_ven_never_hears_of_an_event_targeted_only_at_another_ven() {
    let app = TestApp::new().await;
    let (rx_a, rx_b) = (Receiver::start().await, Receiver::start().await);
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &["g1"]).await;
    ven_object(&bl, &b, "site-b", &["g2"]).await;
    let sub_a = subscribe(
        &a,
        &subscription("a", &rx_a.url("/a"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    subscribe(
        &b,
        &subscription("b", &rx_b.url("/b"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &["g1", "secret"]).await;

    let got = rx_a.wait_posts(1).await;
    assert_eq!(got[0].body["object"]["id"], e.as_str());
    assert_eq!(
        got[0].body["object"]["targets"],
        json!(["g1"]),
        "target hiding applies to notifications too"
    );
    // Every notification of a change is made at once: the event went to A's subscription alone.
    let made = notifications(&bl, &format!("objectID={e}")).await;
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(made[0]["subscriptionID"], sub_a.as_str());
    assert!(rx_b.posts().is_empty());
}

#[actix_rt::test]
async fn vens_hear_only_of_their_own_reports_and_the_business_logic_of_all() {
    let app = TestApp::new().await;
    let (rx_a, rx_op) = (Receiver::start().await, Receiver::start().await);
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    subscribe(
        &a,
        &subscription("a", &rx_a.url("/a"), json!(["REPORT"]), json!(["CREATE"])),
    )
    .await;
    subscribe(
        &bl,
        &subscription("op", &rx_op.url("/op"), json!(["REPORT"]), json!(["CREATE"])),
    )
    .await;
    let report = |name: &str| json!({"eventID": e, "clientName": name, "resources": []});
    let rb = b.post("/reports", &report("b")).await.id();
    let ra = a.post("/reports", &report("a")).await.id();
    let op = rx_op.wait_posts(2).await;
    let op_ids: Vec<&str> = op.iter().map(|r| r.body["object"]["id"].as_str().unwrap()).collect();
    assert_eq!(op_ids, [rb.as_str(), ra.as_str()]);
    let mine = rx_a.wait_posts(1).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].body["object"]["id"], ra.as_str());
    assert_eq!(notifications(&bl, &format!("objectID={rb}")).await.len(), 1);
}

#[actix_rt::test]
async fn a_failed_delivery_is_retried_after_its_backoff_and_then_delivered() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    rx.set_post_status(503);
    let p = program(&bl, "p", &[]).await;
    let failed = wait_notifications(&app, &bl, &format!("objectID={p}"), |l| {
        l.len() == 1 && l[0]["attempts"] == 1 && l[0]["lastStatus"] == 503
    })
    .await;
    assert_eq!(failed[0]["state"], "pending");
    assert!(failed[0]["lastError"].as_str().unwrap().contains("503"));
    assert!(failed[0]["nextAttemptDateTime"].is_string());

    // Not before its time: the retry is due one backoff (1 s ± 20%) later on the injected clock.
    rx.set_post_status(200);
    app.clock.advance(chrono::Duration::seconds(2));
    app.state.notifier.check_due();
    let got = rx.wait_posts(1).await;
    assert_eq!(got[0].body["object"]["id"], p.as_str());
    let done = wait_notifications(&app, &bl, &format!("objectID={p}"), |l| l[0]["state"] == "delivered").await;
    assert_eq!(done[0]["attempts"], 2);
}

/// A channel of the test's own, as an e-mail or SMS channel would be: it hears every change of a
/// program (subscribed to or not), sends each to the desk, and its first attempt at each fails.
struct Desk {
    attempts: std::sync::Mutex<Vec<(String, String)>>,
}

impl Channel for Desk {
    fn name(&self) -> &'static str {
        "DESK"
    }

    fn advertise(&self, _: &mut sluice::wire::ops::NotifiersResponse) {}

    fn needs(&self) -> Needs {
        Needs {
            every_change: true,
            ..Needs::default()
        }
    }

    fn plan(&self, _: &Audience, change: &ChangeRow, out: &mut Vec<Address>) {
        if change.object.object_type == sluice::wire::ObjectType::Program {
            out.push(Address {
                source: "desk".into(),
                client_id: String::new(),
                to: "desk@utility.example".into(),
                credential: None,
                visible: None,
            });
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing::Concurrent
    }

    fn deliver(&self, n: Claimed) -> BoxFuture<'_, Attempt> {
        let mut attempts = self.attempts.lock().unwrap();
        let first = !attempts.iter().any(|(id, _)| *id == n.id);
        attempts.push((n.id, n.payload));
        Box::pin(std::future::ready(if first {
            Attempt::Failed(CallFailure {
                status: None,
                reason: "mail server busy".into(),
            })
        } else {
            Attempt::Delivered { status: None }
        }))
    }
}

#[actix_rt::test]
async fn a_channel_registered_at_start_up_hears_changes_and_its_failures_are_retried_by_the_worker() {
    let desk = Arc::new(Desk {
        attempts: Default::default(),
    });
    let app = TestApp::with_channel(desk.clone()).await;
    let bl = app.bl();
    // No subscription: the channel asked for every change.
    let p = program(&bl, "p", &[]).await;
    // (`attempts` counts a claim at once; the outcome is recorded when the attempt ends.)
    let failed = wait_notifications(&app, &bl, &format!("objectID={p}"), |l| {
        l.len() == 1 && l[0]["lastError"].is_string()
    })
    .await;
    assert_eq!(failed[0]["attempts"], 1);
    assert_eq!(failed[0]["channel"], "DESK");
    assert_eq!(failed[0]["state"], "pending");
    assert!(failed[0]["lastError"].as_str().unwrap().contains("mail server busy"));

    app.clock.advance(chrono::Duration::seconds(2));
    app.state.notifier.check_due();
    let done = wait_notifications(&app, &bl, &format!("objectID={p}"), |l| l[0]["state"] == "delivered").await;
    assert_eq!(done[0]["attempts"], 2);
    let attempts = desk.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    let sent: Value = serde_json::from_str(&attempts[1].1).unwrap();
    assert_eq!(sent["objectType"], "PROGRAM");
    assert_eq!(sent["operation"], "CREATE");
    assert_eq!(sent["object"]["id"], p.as_str());
    // Advertised only by what it writes into `/notifiers`: nothing here.
    assert_eq!(bl.get("/notifiers").await.body, json!({"WEBHOOK": true}));
}

#[actix_rt::test]
async fn after_the_last_attempt_a_notification_is_a_dead_letter_and_its_callback_is_shown_broken() {
    let app = TestApp::with_settings(|s| {
        s.notifications.max_attempts = 2;
        s.notifications.broken_after = 2;
    })
    .await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    rx.set_post_status(500);
    let p = program(&bl, "p", &[]).await;
    wait_notifications(&app, &bl, &format!("objectID={p}"), |l| {
        l.len() == 1 && l[0]["lastStatus"] == 500
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(5));
    let dead = wait_notifications(&app, &bl, &format!("objectID={p}"), |l| l[0]["state"] == "failed").await;
    assert_eq!(dead[0]["attempts"], 2);
    assert!(dead[0]["failedDateTime"].is_string());
    assert!(
        dead[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts")
    );
    let broken = bl.get("/ops/callbacks?broken=true").await;
    assert_eq!(broken.status, 200, "{}", broken.text);
    assert_eq!(broken.body[0]["callbackUrl"], rx.url("/op"));
    assert_eq!(broken.body[0]["consecutiveFailures"], 2);
    assert_eq!(notifications(&bl, "state=failed").await.len(), 1);
    bl.get("/ops/notifications?state=lost").await.assert_problem(400);
    app.ven("v").get("/ops/notifications").await.assert_problem(403);
}

#[actix_rt::test]
async fn a_receiver_that_was_down_gets_every_missed_notification_in_order_per_object() {
    let app = TestApp::new().await;
    let mut rx = Receiver::start().await;
    let bl = app.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["EVENT"]), json!(["CREATE", "UPDATE"])),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    rx.stop().await;
    let e = event(&bl, &p, &[]).await;
    let mut body = bl.get(&format!("/events/{e}")).await.body;
    for n in 1..=3 {
        body["eventName"] = json!(format!("v{n}"));
        assert_eq!(bl.put(&format!("/events/{e}"), &body).await.status, 200);
    }
    // Only the oldest is attempted while it is undelivered; the rest wait behind it.
    let waiting = wait_notifications(&app, &bl, &format!("objectID={e}"), |l| {
        l.len() == 4 && l[0]["lastError"].is_string()
    })
    .await;
    assert!(waiting[1..].iter().all(|n| n["attempts"] == 0), "{waiting:#?}");
    assert!(
        waiting[0]["lastError"].as_str().unwrap().contains("onnect"),
        "{}",
        waiting[0]
    );

    rx.restart();
    app.clock.advance(chrono::Duration::seconds(5));
    app.state.notifier.check_due();
    let got = rx.wait_posts(4).await;
    let seen: Vec<(String, Value)> = got
        .iter()
        .map(|r| {
            (
                r.body["operation"].as_str().unwrap().to_owned(),
                r.body["object"]["eventName"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("CREATE".to_owned(), Value::Null),
            ("UPDATE".to_owned(), json!("v1")),
            ("UPDATE".to_owned(), json!("v2")),
            ("UPDATE".to_owned(), json!("v3")),
        ]
    );
}

#[actix_rt::test]
async fn deleting_a_subscription_cancels_what_it_has_not_received() {
    let app = TestApp::new().await;
    let mut rx = Receiver::start().await;
    let bl = app.bl();
    let sub = subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    rx.stop().await;
    let p = program(&bl, "p", &[]).await;
    wait_notifications(&app, &bl, &format!("objectID={p}"), |l| {
        l.len() == 1 && l[0]["lastError"].is_string()
    })
    .await;
    assert_eq!(bl.delete(&format!("/subscriptions/{sub}")).await.status, 200);
    let n = notifications(&bl, &format!("objectID={p}")).await;
    assert_eq!(n[0]["state"], "cancelled");
}

#[actix_rt::test]
async fn notifiers_offer_webhooks_to_any_authenticated_client() {
    let app = TestApp::new().await;
    for who in [app.bl(), app.ven("v")] {
        let r = who.get("/notifiers").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["WEBHOOK"], true);
    }
    app.anonymous().get("/notifiers").await.assert_problem(401);
}

/// A running `sluice serve` process on `db_url`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db_url: &str) -> Self {
        Self::start_with(db_url, &[])
    }

    /// A server whose environment also holds `env` (set last: it overrides the settings above).
    fn start_with(db_url: &str, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--database", db_url])
            .env("SLUICE_NOTIFICATIONS__ALLOW_LOOPBACK", "true")
            .env("SLUICE_NOTIFICATIONS__EXTRA_CA_FILE", crate::receiver::test_cert().0)
            .env("SLUICE_NOTIFICATIONS__BACKOFF_BASE_MS", "50")
            .env("SLUICE_NOTIFICATIONS__BACKOFF_MAX_SECS", "1")
            .env("SLUICE_NOTIFICATIONS__TIMEOUT_SECS", "2")
            .env("SLUICE_NOTIFICATIONS__LEASE_SECS", "3")
            .env("SLUICE_NOTIFICATIONS__MAX_ATTEMPTS", "1000")
            .env("SLUICE_LOG__LEVEL", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_up(&self, http: &reqwest::Client) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(std::time::Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no draining, no cleanup
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM, as a service manager stopping the server does.
    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits until the HTTP listener is closed: shutdown has begun.
    async fn wait_down(&self, http: &reqwest::Client) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while http.get(format!("{}/health", self.base)).send().await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "server kept listening after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit.
    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The business logic of a `sluice serve` process: a client made by the CLI, with a token from the server.
async fn operator_of(http: &reqwest::Client, server: &Server, db_url: &str) -> As {
    client_of(http, server, db_url, Role::Operator).await
}

/// A client of `role` made by the CLI, with a token from the server.
async fn client_of(http: &reqwest::Client, server: &Server, db_url: &str, role: Role) -> As {
    let role = role.as_str();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["client", "add", "--role", role, "--name", role, "--database", db_url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r: Value = http
        .post(format!("{}/auth/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c["client_id"].as_str().unwrap()),
            ("client_secret", c["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    As {
        base: server.base.clone(),
        http: http.clone(),
        token: Some(r["access_token"].as_str().unwrap().to_owned()),
        client_id: c["client_id"].as_str().unwrap().to_owned(),
    }
}

#[actix_rt::test]
async fn notifications_pending_when_the_server_is_killed_are_all_delivered_after_restart() {
    let db = TestDb::new();
    let rx = Receiver::start().await;
    let http = reqwest::Client::new();
    let server = Server::start(&db.url);
    server.wait_up(&http).await;
    let bl = operator_of(&http, &server, &db.url).await;
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    rx.set_post_status(503);
    let p = program(&bl, "p", &[]).await;
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(event(&bl, &p, &[]).await);
    }
    // Every notification exists and at least one delivery has failed: work is pending at the kill.
    poll_notifications(None, &bl, "state=pending", |l| {
        l.len() == 5 && l.iter().any(|n| n["attempts"].as_i64() >= Some(1))
    })
    .await;
    server.kill();

    rx.set_post_status(200);
    let server = Server::start(&db.url);
    server.wait_up(&http).await;
    rx.wait_posts(5).await;
    poll_notifications(None, &bl.on_base(&server.base), "state=pending", <[Value]>::is_empty).await;
    let got = rx.posts();
    let ids: Vec<&str> = got.iter().map(|r| r.body["object"]["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = events.iter().map(String::as_str).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "each event's notification arrives exactly once");
    drop(server);
}

/// SIGTERM stops the server from taking new work, but a delivery under way is finished: the server waits
/// for the receiver's answer, records the notification delivered, and then exits cleanly. A restart sends
/// nothing again.
#[actix_rt::test]
async fn a_delivery_under_way_at_sigterm_is_finished_and_recorded_before_the_server_exits() {
    let db = TestDb::new();
    let rx = Receiver::start().await;
    let http = reqwest::Client::new();
    // A receiver slower than the default timeout would make the attempt fail: here it is within it.
    let slow = [
        ("SLUICE_NOTIFICATIONS__TIMEOUT_SECS", "20"),
        ("SLUICE_NOTIFICATIONS__LEASE_SECS", "60"),
    ];
    let mut server = Server::start_with(&db.url, &slow);
    server.wait_up(&http).await;
    let bl = operator_of(&http, &server, &db.url).await;
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    rx.hold_answers();
    program(&bl, "p", &[]).await;
    rx.wait_posts(1).await;
    server.terminate();
    // The HTTP listener is closed, the delivery's answer still held: the server is shutting down.
    server.wait_down(&http).await;
    rx.release_answers();
    let status = server.wait_exit().await;
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    let server = Server::start_with(&db.url, &slow);
    server.wait_up(&http).await;
    let bl = bl.on_base(&server.base);
    let delivered = notifications(&bl, "state=delivered").await;
    assert_eq!(delivered.len(), 1, "recorded delivered before the exit: {delivered:?}");
    assert_eq!(delivered[0]["attempts"], 1, "{delivered:?}");
    assert!(notifications(&bl, "state=pending").await.is_empty());
    assert_eq!(rx.posts().len(), 1, "sent once");
}

/// Several instances are a PostgreSQL setup (SQLite is one process's embedded database).
#[actix_rt::test]
async fn two_instances_on_one_postgres_deliver_every_notification_exactly_once() {
    if !crate::support::several_instances_possible() {
        return;
    }
    let first = TestApp::new().await;
    let second = first.second_instance().await;
    let rx = Receiver::start().await;
    let bl = first.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    let mut events = Vec::new();
    for i in 0..40 {
        // Writes alternate between the instances; both workers fan out and deliver.
        let via = if i % 2 == 0 { bl.clone() } else { bl.on(&second) };
        events.push(event(&via, &p, &[]).await);
    }
    rx.wait_posts(events.len()).await;
    wait_notifications(&first, &bl, "state=pending", |l| l.is_empty()).await;
    let posts = rx.posts();
    let mut delivered: Vec<String> = posts
        .iter()
        .map(|r| r.body["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    events.sort();
    assert_eq!(delivered, events, "every event's notification once, none twice");
}

#[actix_rt::test]
async fn a_subscription_hears_only_of_changes_made_after_it_exists() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let before = program(&bl, "before", &[]).await;
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    let after = program(&bl, "after", &[]).await;
    let got = rx.wait_posts(1).await;
    assert_eq!(got[0].body["object"]["id"], after.as_str());
    wait_notifications(&app, &bl, "state=pending", |l| l.is_empty()).await;
    assert!(notifications(&bl, &format!("objectID={before}")).await.is_empty());
    assert_eq!(rx.posts().len(), 1);
}

#[actix_rt::test]
async fn targets_granted_through_a_resource_bring_notifications_with_only_those_targets() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let v = app.ven("v");
    let ven = ven_object(&bl, &v, "site", &[]).await;
    let r = bl
        .post("/resources", &json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": v.client_id, "venID": ven, "resourceName": "rack-1", "targets": ["r1"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    subscribe(
        &v,
        &subscription("v", &rx.url("/v"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    event(&bl, &p, &["other"]).await;
    let e = event(&bl, &p, &["r1", "other"]).await;
    let got = rx.wait_posts(1).await;
    assert_eq!(
        got[0].body["object"]["id"],
        e.as_str(),
        "the event it may not read was not sent"
    );
    assert_eq!(got[0].body["object"]["targets"], json!(["r1"]));
    assert_eq!(got[0].body["targets"], json!(["r1"]));
}

/// The same with two `sluice serve` processes (what a deployment behind a load balancer runs).
#[actix_rt::test]
async fn two_sluice_processes_on_one_postgres_deliver_every_notification_exactly_once() {
    if !crate::support::several_instances_possible() {
        return;
    }
    let db = TestDb::new();
    let rx = Receiver::start().await;
    let http = reqwest::Client::new();
    let (one, two) = (Server::start(&db.url), Server::start(&db.url));
    one.wait_up(&http).await;
    two.wait_up(&http).await;
    let bl = operator_of(&http, &one, &db.url).await;
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    let p = program(&bl, "p", &[]).await;
    let mut events = Vec::new();
    for i in 0..40 {
        let via = if i % 2 == 0 { bl.clone() } else { bl.on_base(&two.base) };
        events.push(event(&via, &p, &[]).await);
    }
    rx.wait_posts(events.len()).await;
    poll_notifications(None, &bl, "state=pending", <[Value]>::is_empty).await;
    let mut delivered: Vec<String> = rx
        .posts()
        .iter()
        .map(|r| r.body["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    events.sort();
    assert_eq!(delivered, events, "every event's notification once, none twice");
}

#[actix_rt::test]
async fn an_event_sent_to_an_enrolled_site_is_measured_from_its_webhook_delivery() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let rx = Receiver::start().await;
    let ven = app.ven("site-v");
    let ven_id = ven_object(&bl, &ven, "site-v", &[]).await;
    let site = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "s", "venID": ven_id, "kind": "MINING", "maxImportMW": "30"}),
        )
        .await;
    let site_id = site.id();
    let p = program(&bl, "p", &[]).await;
    let r = bl
        .post(
            "/ops/enrollments",
            &json!({"siteID": site_id, "programID": p, "shedMW": "20", "offerPrice": "1", "start": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    subscribe(
        &ven,
        &subscription("site-v", &rx.url("/cb"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    // An event made with the OpenADR API (not a dispatch), addressed to the site.
    let r = bl
        .post(
            "/events",
            &json!({"programID": p, "targets": [site.body["target"]],
                "intervalPeriod": {"start": "2026-07-01T12:10:00Z", "duration": "PT1H"},
                "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}),
        )
        .await;
    let e = r.id();
    rx.wait_posts(1).await;
    let delivered = wait_notifications(&app, &bl, &format!("eventID={e}"), |l| {
        l.len() == 1 && l[0]["state"] == "delivered"
    })
    .await;
    app.refresh_latency().await;
    let l = bl.get(&format!("/ops/events/{e}/latency")).await;
    assert_eq!(l.body.as_array().unwrap().len(), 1, "{}", l.text);
    assert_eq!(l.body[0]["siteID"], site_id.as_str());
    assert_eq!(l.body[0]["committedMW"], "20");
    assert_eq!(l.body[0]["notifiedVia"], "WEBHOOK");
    assert_eq!(l.body[0]["notifiedDateTime"], delivered[0]["deliveredDateTime"]);
    // An untargeted event of another program with no enrolled sites is not tracked.
    let other = program(&bl, "other", &[]).await;
    let e2 = event(&bl, &other, &[]).await;
    app.refresh_latency().await;
    assert_eq!(bl.get(&format!("/ops/events/{e2}/latency")).await.body, json!([]));
}

/// The callback check answers a VEN the same way whatever went wrong on the network, so it cannot be used
/// to tell a closed port from an unknown name (a scan of what the server can reach).
#[actix_rt::test]
async fn a_refused_callback_is_not_told_what_the_network_said() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut details = Vec::new();
    for url in [
        format!("https://127.0.0.1:{closed}/cb"),
        "https://no-such-host.invalid/cb".to_owned(),
    ] {
        let r = ven
            .post(
                "/subscriptions",
                &subscription("v", &url, json!(["EVENT"]), json!(["CREATE"])),
            )
            .await;
        r.assert_problem(400);
        details.push(r.body["detail"].as_str().unwrap().replace(&url, "URL"));
    }
    assert!(
        details[0].contains("callbackUrl"),
        "refused for its callback: {}",
        details[0]
    );
    assert_eq!(details[0], details[1]);
    for leak in ["connection", "dns", "lookup", "os error", "timed out", "tcp"] {
        assert!(!details[0].to_lowercase().contains(leak), "{}", details[0]);
    }
}

/// A proxy in the server's environment resolves callback hosts itself, past the address guard: callbacks
/// never go through one.
#[actix_rt::test]
async fn callbacks_ignore_proxies_set_in_the_environment() {
    let db = TestDb::new();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let http = reqwest::Client::new();
    let server = Server::start_with(
        &db.url,
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("ALL_PROXY", proxy_url.as_str()),
            ("http_proxy", proxy_url.as_str()),
            ("https_proxy", proxy_url.as_str()),
            ("SLUICE_NOTIFICATIONS__ALLOW_HTTP", "true"),
            ("SLUICE_NOTIFICATIONS__ALLOW_LOOPBACK", "false"),
            ("SLUICE_NOTIFICATIONS__ECHO_TIMEOUT_SECS", "2"),
        ],
    );
    server.wait_up(&http).await;
    let ven = client_of(&http, &server, &db.url, Role::Ven).await;
    for url in ["http://localhost:9/admin", "https://localhost/admin"] {
        let r = ven
            .post(
                "/subscriptions",
                &subscription("v", url, json!(["EVENT"]), json!(["CREATE"])),
            )
            .await;
        r.assert_problem(400);
        assert!(r.body["detail"].as_str().unwrap().contains("callbackUrl"), "{}", r.text);
    }
    match proxy.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a callback went to the environment's proxy: {other:?}"),
    }
}

/// Delivery is at least once (an HTTP callback's answer can be lost with the instance that awaited it): a
/// notification whose outcome was not recorded within its lease is sent again, with the same id and the
/// same body, for the receiver to drop as a duplicate.
#[actix_rt::test]
async fn a_redelivery_carries_the_same_notification_id_and_body() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    rx.hold_answers();
    program(&bl, "p", &[]).await;
    app.state.notifier.check_due();
    rx.wait_posts(1).await;
    // The answer is still outstanding when the lease runs out: the notification is claimed and sent again.
    let lease = sluice::config::NotificationSettings::default().lease_secs as i64;
    app.clock.advance(chrono::TimeDelta::seconds(lease + 1));
    app.state.notifier.check_due();
    let posts = rx.wait_posts(2).await;
    rx.release_answers();
    assert!(posts[0].notification_id.is_some());
    assert_eq!(posts[0].notification_id, posts[1].notification_id);
    assert_eq!(posts[0].body, posts[1].body);
    wait_notifications(&app, &bl, "state=pending", <[Value]>::is_empty).await;
    let done = notifications(&bl, "state=delivered").await;
    assert_eq!(done.len(), 1, "one notification, delivered: {done:?}");
}

/// Finished notifications are kept for `notifications.retention_days`, then deleted; pending ones are
/// never deleted, whatever their age.
#[actix_rt::test]
async fn finished_notifications_are_deleted_after_their_retention_and_pending_ones_are_kept() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    subscribe(
        &bl,
        &subscription("op", &rx.url("/op"), json!(["PROGRAM"]), json!(["CREATE"])),
    )
    .await;
    program(&bl, "delivered", &[]).await;
    wait_notifications(&app, &bl, "state=delivered", |l| l.len() == 1).await;
    rx.set_post_status(503);
    program(&bl, "still-pending", &[]).await;
    wait_notifications(&app, &bl, "state=pending", |l| {
        l.len() == 1 && l[0]["attempts"].as_i64() >= Some(1)
    })
    .await;
    let days = sluice::config::NotificationSettings::default().retention_days;
    let after = |d: u32| crate::support::t0() + chrono::TimeDelta::days(i64::from(d));
    assert_eq!(
        sluice::notify::prune(&app.state.db, after(days - 1), days)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sluice::notify::prune(&app.state.db, after(days + 1), days)
            .await
            .unwrap(),
        1
    );
    assert!(notifications(&bl, "state=delivered").await.is_empty());
    assert_eq!(notifications(&bl, "state=pending").await.len(), 1);
}

/// One VEN's receiver holding every POST open (a tarpit) cannot take the delivery slots other VENs'
/// notifications need: each client has its own share of them.
#[actix_rt::test]
async fn a_tarpit_receiver_of_one_ven_does_not_delay_another_vens_notifications() {
    let app = TestApp::with_settings(|s| {
        s.notifications.concurrency = 4;
        s.notifications.per_client_concurrency = 2;
        s.notifications.timeout_secs = 120;
        s.notifications.lease_secs = 600;
    })
    .await;
    let (rx_a, rx_b) = (Receiver::start().await, Receiver::start().await);
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    subscribe(
        &a,
        &subscription("a", &rx_a.url("/a"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    subscribe(
        &b,
        &subscription("b", &rx_b.url("/b"), json!(["EVENT"]), json!(["CREATE"])),
    )
    .await;
    rx_b.hold_answers();
    let p = program(&bl, "p", &[]).await;
    for _ in 0..8 {
        event(&bl, &p, &[]).await;
    }
    app.state.notifier.check_due();
    // B's receiver answers nothing for two minutes; A hears of every event meanwhile.
    rx_a.wait_posts(8).await;
    assert!(
        rx_b.posts().len() <= 2,
        "B holds no more than its share: {}",
        rx_b.posts().len()
    );
    rx_b.release_answers();
    rx_b.wait_posts(8).await;
}

/// A subscription cannot multiply the server's outbound requests: operations, distinct callback URLs per
/// subscription and subscriptions per VEN are limited, and a request past a limit is refused, naming it,
/// before any callback is called.
#[actix_rt::test]
async fn subscriptions_past_the_limits_are_refused_before_any_callback_is_called() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let ven = app.ven("v");
    let limits = sluice::config::NotificationSettings::default();
    let operations = |n: usize, urls: usize| -> Value {
        let ops: Vec<Value> = (0..n)
            .map(|i| json!({"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": rx.url(&format!("/cb{}", i % urls))}))
            .collect();
        json!({"clientName": "v", "objectOperations": ops})
    };
    let r = ven.post("/subscriptions", &operations(300, 300)).await;
    r.assert_problem(400);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("objectOperations") && detail.contains(&limits.max_operations_per_subscription.to_string()),
        "{detail}"
    );
    let urls = limits.max_callback_urls_per_subscription as usize;
    let r = ven.post("/subscriptions", &operations(urls + 1, urls + 1)).await;
    r.assert_problem(400);
    assert!(
        r.body["detail"].as_str().unwrap().contains("callback URLs"),
        "{}",
        r.text
    );
    assert!(rx.echoes().is_empty(), "nothing was called for refused subscriptions");

    for _ in 0..limits.max_subscriptions_per_client {
        subscribe(&ven, &operations(1, 1)).await;
    }
    let r = ven.post("/subscriptions", &operations(1, 1)).await;
    r.assert_problem(400);
    assert!(
        r.body["detail"].as_str().unwrap().contains("subscriptions"),
        "{}",
        r.text
    );
}

/// Write operations that change no OpenADR object, so record no change and notify no one: the operator's
/// own records (sites, enrollments, credentials, meter data, prices, settlement). Every other write is
/// exercised below; a new write operation belongs in one place or the other.
const WRITES_WITHOUT_OBJECT_CHANGES: &[(&str, &str)] = &[
    ("POST", "/auth/token"),
    ("POST", "/ops/sites"),
    ("PUT", "/ops/sites/{siteID}"),
    ("DELETE", "/ops/sites/{siteID}"),
    ("POST", "/ops/enrollments"),
    ("PUT", "/ops/enrollments/{enrollmentID}"),
    ("DELETE", "/ops/enrollments/{enrollmentID}"),
    ("POST", "/ops/clients"),
    ("POST", "/ops/meter-data"),
    ("POST", "/ops/prices"),
    ("PUT", "/ops/programs/{programID}/settlement-rules"),
    ("POST", "/ops/settlements"),
];

/// Writes whose object changes are one per event they send, checked with dispatch (`tests/api/dispatch.rs`).
const WRITES_OF_SEVERAL_EVENTS: &[(&str, &str)] = &[
    ("POST", "/ops/dispatches"),
    ("POST", "/ops/dispatches/{dispatchID}/cancel"),
];

/// Every write of an OpenADR object records exactly one change — one notification to a subscriber that
/// sees everything, made in the same fan-out pass as any other change of that commit — and wakes the
/// notifier, so the notification goes out now rather than at the next poll.
#[actix_rt::test]
async fn every_object_write_records_exactly_one_change_and_wakes_the_notifier() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let ven = app.ven("v");
    let all = json!(["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]);
    subscribe(
        &bl,
        &subscription("bl", &rx.url("/all"), all, json!(["CREATE", "UPDATE", "DELETE"])),
    )
    .await;

    let mut exercised: Vec<(&str, &str)> = Vec::new();
    // One write: `send` does it and returns the object's id; then exactly one notification of it.
    macro_rules! write {
        ($method:literal, $path:literal, $op:literal, $send:expr) => {{
            let before = app.state.notifier.wakes();
            let r = $send;
            assert!(r.status == 200 || r.status == 201, "{} {}: {}", $method, $path, r.text);
            let id = r.body["id"].as_str().unwrap().to_owned();
            assert!(
                app.state.notifier.wakes() > before,
                "{} {} woke the notifier",
                $method,
                $path
            );
            let label = format!("{} {} ({id})", $method, $path);
            rx.wait_for(&label, |p| {
                p.body["operation"] == $op && p.body["object"]["id"] == id.as_str()
            })
            .await;
            let rows: Vec<Value> = notifications(&bl, &format!("objectID={id}"))
                .await
                .into_iter()
                .filter(|n| n["operation"] == $op)
                .collect();
            assert_eq!(rows.len(), 1, "{label}: {rows:?}");
            exercised.push(($method, $path));
            id
        }};
    }

    let p = write!(
        "POST",
        "/programs",
        "CREATE",
        bl.post("/programs", &json!({"programName": "p"})).await
    );
    write!(
        "PUT",
        "/programs/{programID}",
        "UPDATE",
        bl.put(&format!("/programs/{p}"), &json!({"programName": "p2"})).await
    );
    let event_body = json!({"programID": p, "intervalPeriod": {"start": "2026-07-01T14:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]});
    let e = write!("POST", "/events", "CREATE", bl.post("/events", &event_body).await);
    write!(
        "PUT",
        "/events/{eventID}",
        "UPDATE",
        bl.put(&format!("/events/{e}"), &event_body).await
    );
    let ven_body = json!({"objectType": "BL_VEN_REQUEST", "clientID": ven.client_id, "venName": "v"});
    let v = write!("POST", "/vens", "CREATE", bl.post("/vens", &ven_body).await);
    write!(
        "PUT",
        "/vens/{venID}",
        "UPDATE",
        bl.put(&format!("/vens/{v}"), &ven_body).await
    );
    let resource_body = json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": ven.client_id, "venID": v,
        "resourceName": "miners"});
    let res = write!(
        "POST",
        "/resources",
        "CREATE",
        bl.post("/resources", &resource_body).await
    );
    write!(
        "PUT",
        "/resources/{resourceID}",
        "UPDATE",
        bl.put(&format!("/resources/{res}"), &resource_body).await
    );
    let report_body = json!({"eventID": e, "clientName": "v", "resources": []});
    let rep = write!("POST", "/reports", "CREATE", ven.post("/reports", &report_body).await);
    write!(
        "PUT",
        "/reports/{reportID}",
        "UPDATE",
        ven.put(&format!("/reports/{rep}"), &report_body).await
    );
    write!(
        "DELETE",
        "/reports/{reportID}",
        "DELETE",
        ven.delete(&format!("/reports/{rep}")).await
    );
    let sub_body = subscription("v", &rx.url("/v"), json!(["EVENT"]), json!(["CREATE"]));
    let sub = write!(
        "POST",
        "/subscriptions",
        "CREATE",
        ven.post("/subscriptions", &sub_body).await
    );
    write!(
        "PUT",
        "/subscriptions/{subscriptionID}",
        "UPDATE",
        ven.put(&format!("/subscriptions/{sub}"), &sub_body).await
    );
    write!(
        "DELETE",
        "/subscriptions/{subscriptionID}",
        "DELETE",
        ven.delete(&format!("/subscriptions/{sub}")).await
    );
    write!(
        "DELETE",
        "/resources/{resourceID}",
        "DELETE",
        bl.delete(&format!("/resources/{res}")).await
    );
    write!(
        "DELETE",
        "/vens/{venID}",
        "DELETE",
        bl.delete(&format!("/vens/{v}")).await
    );
    write!(
        "DELETE",
        "/events/{eventID}",
        "DELETE",
        bl.delete(&format!("/events/{e}")).await
    );
    write!(
        "POST",
        "/ops/price-signals",
        "CREATE",
        bl.post(
            "/ops/price-signals",
            &json!({"programID": p, "currency": "USD", "intervalDuration": "PT15M",
            "prices": ["45.10"]})
        )
        .await
    );
    write!(
        "DELETE",
        "/programs/{programID}",
        "DELETE",
        bl.delete(&format!("/programs/{p}")).await
    );

    let mut classified: Vec<(&str, &str)> = exercised;
    classified.extend(WRITES_WITHOUT_OBJECT_CHANGES);
    classified.extend(WRITES_OF_SEVERAL_EVENTS);
    classified.sort();
    let mut writes: Vec<(&str, &str)> = sluice::api::access::OPERATIONS
        .iter()
        .filter(|o| o.method != "GET")
        .map(|o| (o.method, o.path))
        .collect();
    writes.sort();
    assert_eq!(
        classified, writes,
        "every write operation is exercised here or named as changing no object"
    );
}
