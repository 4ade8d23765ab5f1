//! End to end: a real server and the fleet simulator's 20 sites, real OpenADR VENs over HTTP.
//! A 50 MW dispatch is planned, delivered and measured; the deliberately slow site and the one that never
//! responds show as such.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::auth::Role;
use sluice::sim::{SimConfig, model::Behavior};

use crate::support::{As, TestApp};

/// Polls `check` until it gives a value or `limit` passes (the simulator runs in real time).
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Brings latency up to date and reads the dispatch until `n` of its sites have ramped.
async fn ramped(app: &TestApp, bl: &As, id: &str, n: usize) -> Value {
    eventually(Duration::from_secs(60), &format!("{n} sites ramped"), || async move {
        app.refresh_latency().await;
        let d = bl.get(&format!("/ops/dispatches/{id}")).await.body;
        let ramped = d["sites"]
            .as_array()?
            .iter()
            .filter(|s| s["status"] == "RAMPED")
            .count();
        (ramped == n).then_some(d)
    })
    .await
}

#[actix_rt::test]
async fn twenty_simulated_sites_deliver_a_50_mw_dispatch_and_the_slow_and_silent_ones_show() {
    let app = TestApp::real_time().await;
    let op = app.issued(Role::Operator, "grid-ops");
    let cfg = SimConfig {
        vtn: app.base.clone(),
        operator_id: op.client_id.clone(),
        operator_secret: op.client_secret.clone(),
        sites: 20,
        program: "ERS-10".into(),
        prefix: "e2e".into(),
        report_every: Duration::from_millis(1000),
        poll_every: Duration::from_millis(500),
        // 3.125 MW of miners, 80 % committed: 2.5 MW a site, so 50 MW needs all twenty.
        mining_mw: 3.125,
        shed_share: 0.8,
        response_secs: 0.5,
        jitter_secs: 0.3,
        ramp_secs: 2.0,
        slow: 1,
        slow_secs: 10.0,
        unresponsive: 1,
        summary_every: None,
        ..SimConfig::default()
    };
    let fleet = sluice::sim::start(cfg, Arc::new(sluice::clock::SystemClock))
        .await
        .unwrap();
    assert_eq!(fleet.sites.len(), 20);
    assert!(matches!(fleet.sites[0].behavior, Behavior::Responds { delay_secs } if delay_secs > 9.0));
    assert_eq!(fleet.sites[1].behavior, Behavior::Unresponsive);
    let (slow, silent) = (fleet.sites[0].site_id.clone(), fleet.sites[1].site_id.clone());
    // Every site has reported its load before the dispatch (the baseline).
    let stats = fleet.stats.clone();
    eventually(Duration::from_secs(30), "two reports from every site", || {
        let n = stats.reports_ok.load(Ordering::Relaxed);
        async move { (n >= 40).then_some(()) }
    })
    .await;

    let bl = app.client(Role::Operator, "dispatcher");
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": fleet.program_id, "targetMW": "50", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["plannedMW"], "50");
    assert_eq!(r.body["sites"].as_array().unwrap().len(), 20);
    let id = r.id();

    // Wait until every site but the silent one has ramped.
    let d = ramped(&app, &bl, &id, 19).await;
    let sites = d["sites"].as_array().unwrap();
    let of = |id: &str| sites.iter().find(|s| s["siteID"] == id).unwrap();
    // The silent site saw the event but never acknowledged or moved.
    let s = of(&silent);
    assert_eq!(s["status"], "NOTIFIED", "{s}");
    assert_eq!(s["notifiedVia"], "POLL");
    assert!(
        s.get("tStartSecs").is_none() && s.get("acknowledgedDateTime").is_none(),
        "{s}"
    );
    // The slow site took about ten seconds more than any other.
    let t90 = |s: &Value| s["t90Secs"].as_f64().unwrap();
    let fastest_others = sites
        .iter()
        .filter(|s| s["siteID"] != slow.as_str() && s["siteID"] != silent.as_str())
        .map(t90)
        .fold(0.0_f64, f64::max);
    assert!(
        fastest_others < 8.0,
        "normal sites ramp within seconds: {fastest_others}"
    );
    assert!(
        t90(of(&slow)) > fastest_others + 4.0,
        "slow {} vs others {fastest_others}",
        t90(of(&slow))
    );
    assert!(of(&slow)["tAckSecs"].as_f64().unwrap() > 8.0);
    // Delivered: 19 sites × 2.5 MW, within telemetry noise.
    let delivered: f64 = d["deliveredMW"].as_str().unwrap().parse().unwrap();
    assert!((45.0..=50.5).contains(&delivered), "delivered {delivered} MW");
    fleet.stop().await;
}

/// Five fast sites that learn of events by push (`push` sets MQTT or webhooks): once every site has
/// subscribed (webhooks) and reported, a 40 MW dispatch goes out; returns the dispatch once all five ramped.
async fn five_pushed_sites_ramp(app: &TestApp, prefix: &str, push: impl FnOnce(&mut SimConfig)) -> Value {
    let op = app.issued(Role::Operator, "grid-ops");
    let mut cfg = SimConfig {
        vtn: app.base.clone(),
        operator_id: op.client_id.clone(),
        operator_secret: op.client_secret.clone(),
        sites: 5,
        program: format!("{prefix}-program"),
        prefix: prefix.into(),
        report_every: Duration::from_millis(1000),
        // Polling only as a once-a-minute safety net: the dispatch must arrive by push.
        poll_every: Duration::from_secs(60),
        mining_mw: 10.0,
        shed_share: 0.8,
        response_secs: 0.3,
        jitter_secs: 0.1,
        ramp_secs: 1.0,
        summary_every: None,
        ..SimConfig::default()
    };
    push(&mut cfg);
    let webhooks = cfg.webhook.is_some();
    let fleet = sluice::sim::start(cfg, Arc::new(sluice::clock::SystemClock))
        .await
        .unwrap();
    let bl = app.client(Role::Operator, "dispatcher");
    let stats = fleet.stats.clone();
    eventually(
        Duration::from_secs(30),
        "two reports (and a subscription) from every site",
        || {
            let n = stats.reports_ok.load(Ordering::Relaxed);
            let bl = &bl;
            async move {
                let subs = if webhooks {
                    bl.get("/subscriptions").await.body.as_array()?.len()
                } else {
                    5
                };
                (n >= 10 && subs == 5).then_some(())
            }
        },
    )
    .await;
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": fleet.program_id, "targetMW": "40", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    let d = ramped(app, &bl, &id, 5).await;
    fleet.stop().await;
    d
}

#[actix_rt::test]
async fn simulated_sites_on_mqtt_learn_of_a_dispatch_by_push_and_are_measured_from_it() {
    let app = TestApp::real_time_with(|s| {
        s.mqtt.enabled = true;
        s.mqtt.bind = "127.0.0.1:0".into();
    })
    .await;
    let d = five_pushed_sites_ramp(&app, "mq", |c| c.mqtt = true).await;
    for s in d["sites"].as_array().unwrap() {
        assert_eq!(s["notifiedVia"], "MQTT", "{s}");
        assert!(s["t90Secs"].as_f64().unwrap() < 10.0, "{s}");
    }
}

#[actix_rt::test]
async fn simulated_sites_on_webhooks_learn_of_a_dispatch_by_callback_and_are_measured_from_it() {
    // The test VTN trusts the test certificate and may call loopback addresses.
    let app = TestApp::real_time().await;
    let (cert, key) = crate::receiver::test_cert();
    let d = five_pushed_sites_ramp(&app, "wh", |c| {
        c.webhook = Some(sluice::sim::WebhookMode {
            bind: "127.0.0.1:0".parse().unwrap(),
            url: String::new(),
            cert: cert.clone(),
            key: key.clone(),
        })
    })
    .await;
    for s in d["sites"].as_array().unwrap() {
        assert_eq!(s["notifiedVia"], "WEBHOOK", "{s}");
        assert!(s["t90Secs"].as_f64().unwrap() < 10.0, "{s}");
    }
}
