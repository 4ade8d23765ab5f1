//! Fan-out benchmark (driven by `bench/fanout.sh`): N VENs, each with a webhook subscription (receivers on
//! loopback in this process) and an MQTT connection to the embedded broker; one event targeted at all of
//! them. Reports the operator's POST latency and, from the moment the POST returned, when each VEN heard
//! of the event by webhook and by MQTT (p50, p99, last).
//!
//!   bench-fanout seed --database URL --vens N --vens-file vens.txt    (before the server starts)
//!   bench-fanout --vtn http://127.0.0.1:18092 --mqtt mqtt://127.0.0.1:18883 --operator ID:SECRET \
//!          --vens-file vens.txt --cert-dir DIR

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use common::{arg, token};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};

struct Arrivals {
    /// Nanoseconds after `start` per VEN (0: not yet).
    webhook: Vec<std::sync::atomic::AtomicU64>,
    mqtt: Vec<std::sync::atomic::AtomicU64>,
    webhook_count: AtomicUsize,
    mqtt_count: AtomicUsize,
    start: std::sync::Mutex<Option<Instant>>,
}

impl Arrivals {
    fn mark(&self, which: &[std::sync::atomic::AtomicU64], count: &AtomicUsize, i: usize) {
        let Some(start) = *self.start.lock().unwrap() else {
            return;
        };
        if let Some(slot) = which.get(i)
            && slot.load(Ordering::Relaxed) == 0
        {
            slot.store(start.elapsed().as_nanos().max(1) as u64, Ordering::Relaxed);
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn receive(req: HttpRequest, _body: Bytes, arrivals: Data<Arrivals>) -> HttpResponse {
    if let Some(echo) = req.query_string().strip_prefix("echo=") {
        return HttpResponse::Ok().body(echo.to_owned());
    }
    let i: usize = req
        .match_info()
        .get("i")
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    arrivals.mark(&arrivals.webhook, &arrivals.webhook_count, i);
    HttpResponse::Ok().finish()
}

/// Latencies (ms, sorted) of 20 sequential POST /events targeted at nobody: what the operator waits
/// for, with or without subscribers around.
async fn post_latencies(http: &reqwest::Client, vtn: &str, op: &str, program: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = http
            .post(format!("{vtn}/events"))
            .bearer_auth(op)
            .json(&json!({"programID": program["id"], "targets": ["nobody"], "intervals": []}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Waits until no notification is pending (what the operator's delivery view shows).
async fn settle(http: &reqwest::Client, vtn: &str, op: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let pending: Value = http
            .get(format!("{vtn}/ops/notifications?state=pending&limit=1"))
            .bearer_auth(op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if pending.as_array().is_some_and(Vec::is_empty) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, slots: &[std::sync::atomic::AtomicU64], post_ms: f64) -> (usize, f64, f64, f64) {
    let mut ms: Vec<f64> = slots
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .filter(|&n| n > 0)
        .map(|n| (n as f64 / 1e6 - post_ms).max(0.0))
        .collect();
    ms.sort_by(f64::total_cmp);
    let r = (
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "  {name:<8} {:>6} of {} delivered   p50 {:>8.1} ms   p99 {:>8.1} ms   last {:>8.1} ms",
        r.0,
        slots.len(),
        r.1,
        r.2,
        r.3
    );
    r
}

/// Makes the operator and N VEN clients straight in the database (10,000 `sluice client add` processes
/// would take minutes); prints the operator as ID:SECRET and writes the VENs to the file.
fn seed() {
    use sluice::auth::Role;
    use sluice::service::clients;
    let mut settings = sluice::config::Settings::default();
    settings.database.url = arg("--database");
    let db = sluice::startup::open_db(&settings, true).unwrap();
    let clock: sluice::clock::SharedClock = Arc::new(sluice::clock::SystemClock);
    let pepper = clients::load_secret(&db, &clock, clients::PEPPER_SECRET).unwrap();
    let n: usize = arg("--vens").parse().unwrap();
    let op = clients::add(&db, &clock, &pepper, Role::Operator, "bench-operator").unwrap();
    let mut lines = String::new();
    for i in 0..n {
        let v = clients::add(&db, &clock, &pepper, Role::Ven, &format!("site-{i}")).unwrap();
        lines.push_str(&format!("{}:{}\n", v.client_id, v.client_secret));
        if (i + 1) % 2000 == 0 {
            eprintln!("  {} VEN clients", i + 1);
        }
    }
    std::fs::write(arg("--vens-file"), lines).unwrap();
    println!("{}:{}", op.client_id, op.client_secret);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("seed") {
        seed();
    } else {
        run();
    }
}

#[actix_web::main]
async fn run() {
    let vtn = arg("--vtn");
    let mqtt_uri = arg("--mqtt");
    let operator = arg("--operator");
    let cert_dir = std::path::PathBuf::from(arg("--cert-dir"));
    let vens: Vec<(String, String)> = std::fs::read_to_string(arg("--vens-file"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let n = vens.len();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let (op_id, op_secret) = operator.split_once(':').unwrap();
    let op = token(&http, &vtn, op_id, op_secret).await;

    // Receivers: one HTTPS server, one path per VEN.
    let arrivals = Data::new(Arrivals {
        webhook: (0..n).map(|_| Default::default()).collect(),
        mqtt: (0..n).map(|_| Default::default()).collect(),
        webhook_count: AtomicUsize::new(0),
        mqtt_count: AtomicUsize::new(0),
        start: std::sync::Mutex::new(None),
    });
    let tls = sluice::startup::tls_config(&cert_dir.join("dev-cert.pem"), &cert_dir.join("dev-key.pem")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let a2 = arrivals.clone();
    let server = HttpServer::new(move || App::new().app_data(a2.clone()).route("/v/{i}", web::to(receive)))
        .workers(1)
        .max_connections(100_000)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);

    let program: Value = http
        .post(format!("{vtn}/programs"))
        .bearer_auth(&op)
        .json(&json!({"programName": format!("fanout-{}", uuid::Uuid::new_v4().simple())}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let without = post_latencies(&http, &vtn, &op, &program).await;

    eprintln!("tokens for {n} VENs…");
    let tokens: Vec<String> = stream::iter(vens.iter())
        .map(|(id, secret)| {
            let http = http.clone();
            let vtn = vtn.clone();
            async move { token(&http, &vtn, id, secret).await }
        })
        .buffered(64)
        .collect()
        .await;

    eprintln!("vens, subscriptions (each with its echo handshake)…");
    let done = AtomicUsize::new(0);
    stream::iter(vens.iter().enumerate())
        .for_each_concurrent(32, |(i, (id, _))| {
            let (http, vtn, op, tokens, done) = (http.clone(), vtn.clone(), op.clone(), &tokens, &done);
            async move {
                let r = http
                    .post(format!("{vtn}/vens"))
                    .bearer_auth(&op)
                    .json(&json!({"objectType": "BL_VEN_REQUEST", "clientID": id, "venName": format!("site-{i}"), "targets": ["fleet"]}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "ven {i}: {}", r.text().await.unwrap_or_default());
                let r = http
                    .post(format!("{vtn}/subscriptions"))
                    .bearer_auth(&tokens[i])
                    .json(&json!({"clientName": format!("site-{i}"), "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": format!("https://127.0.0.1:{port}/v/{i}"), "bearerToken": "bench"}]}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "subscription {i}: {}", r.text().await.unwrap_or_default());
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d % 1000 == 0 {
                    eprintln!("  {d}/{n}");
                }
            }
        })
        .await;

    eprintln!("MQTT connections…");
    let rest = mqtt_uri.strip_prefix("mqtt://").unwrap();
    let (host, mport) = rest.rsplit_once(':').unwrap();
    let mport: u16 = mport.parse().unwrap();
    let connected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    for (i, (id, _)) in vens.iter().enumerate() {
        let mut opts = rumqttc::MqttOptions::new(format!("bench-{i}"), host, mport);
        opts.set_credentials(id, &tokens[i]);
        opts.set_keep_alive(Duration::from_secs(60));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
        client
            .subscribe(format!("openadr3/clients/{id}/events/create"), rumqttc::QoS::AtMostOnce)
            .await
            .unwrap();
        let (arrivals, connected) = (arrivals.clone(), connected.clone());
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(_))) => {
                        arrivals.mark(&arrivals.mqtt, &arrivals.mqtt_count, i);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("MQTT client {i}: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        clients.push(client);
    }
    while connected.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("  {n} subscribed");

    let event = json!({
        "programID": program["id"], "targets": ["fleet"], "eventName": "curtail-all",
        "intervalPeriod": {"start": "2030-01-01T14:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]
    });

    // Registering 10,000 VENs made notifications of its own (MQTT publishes every change): measure from a
    // quiet system.
    settle(&http, &vtn, &op).await;
    let with_subscribers = post_latencies(&http, &vtn, &op, &program).await;
    settle(&http, &vtn, &op).await;

    eprintln!("one event to all {n}…");
    // Arrivals are timed from the POST's start; the POST's own time is subtracted below, so figures are
    // from the moment it returned (a delivery that beat the response counts as 0).
    let sent = Instant::now();
    *arrivals.start.lock().unwrap() = Some(sent);
    let r = http
        .post(format!("{vtn}/events"))
        .bearer_auth(&op)
        .json(&event)
        .send()
        .await
        .unwrap();
    let post_ms = sent.elapsed().as_secs_f64() * 1e3;
    assert!(r.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(120);
    while (arrivals.webhook_count.load(Ordering::Relaxed) < n || arrivals.mqtt_count.load(Ordering::Relaxed) < n)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("fan-out to {n} VENs, times from the POST's return");
    println!(
        "  POST /events, no subscribers yet:        p50 {:>6.1} ms   p99 {:>6.1} ms",
        percentile(&without, 50.0),
        percentile(&without, 99.0)
    );
    println!(
        "  POST /events, {n} subscribers present: p50 {:>6.1} ms   p99 {:>6.1} ms",
        percentile(&with_subscribers, 50.0),
        percentile(&with_subscribers, 99.0)
    );
    println!("  POST /events fanned out to all:          {post_ms:.1} ms");
    summary("webhook", &arrivals.webhook, post_ms);
    summary("mqtt", &arrivals.mqtt, post_ms);
    drop(clients);
}
