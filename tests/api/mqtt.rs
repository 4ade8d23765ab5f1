//! The MQTT binding with the embedded broker (OpenADR 3.1 MQTT notifier endpoints, `/notifiers/mqtt/topics/…`): advertisement, topic endpoints and their
//! scopes, broker login with the OAuth2 token, access rules per VEN, and publication with privacy.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{As, TestApp, event, program, ven_object};

async fn mqtt_app() -> TestApp {
    TestApp::with_settings(|s| {
        s.mqtt.enabled = true;
        s.mqtt.bind = "127.0.0.1:0".into();
    })
    .await
}

/// The broker URI the VTN advertises.
async fn broker_uri(who: &As) -> String {
    let r = who.get("/notifiers").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["MQTT"]["URIS"][0].as_str().unwrap().to_owned()
}

/// A connected MQTT client and everything the broker sends it.
struct Mqtt {
    client: AsyncClient,
    incoming: mpsc::UnboundedReceiver<Packet>,
}

async fn connect(uri: &str, username: &str, password: &str) -> Result<Mqtt, String> {
    let rest = uri.strip_prefix("mqtt://").unwrap();
    let (host, port) = rest.rsplit_once(':').unwrap();
    let mut opts = MqttOptions::new(uuid::Uuid::new_v4().simple().to_string(), host, port.parse().unwrap());
    opts.set_credentials(username, password);
    opts.set_max_packet_size(1024 * 1024, 1024 * 1024);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no CONNACK".into()),
        }
    }
    let (tx, incoming) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(p) = event
                && tx.send(p).is_err()
            {
                break;
            }
        }
    });
    Ok(Mqtt { client, incoming })
}

impl Mqtt {
    async fn next(&mut self) -> Packet {
        match tokio::time::timeout(Duration::from_secs(10), self.incoming.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("nothing from the broker: {other:?}"),
        }
    }

    /// Subscribes and returns the broker's verdict.
    async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
        self.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        loop {
            if let Packet::SubAck(ack) = self.next().await {
                return ack.return_codes[0];
            }
        }
    }

    /// The next published message: (topic, JSON body).
    async fn message(&mut self) -> (String, Value) {
        loop {
            if let Packet::Publish(p) = self.next().await {
                return (p.topic.clone(), serde_json::from_slice(&p.payload).unwrap());
            }
        }
    }
}

#[actix_rt::test]
async fn notifiers_advertise_the_broker_and_its_oauth2_login() {
    let app = mqtt_app().await;
    let r = app.ven("v").get("/notifiers").await;
    assert_eq!(r.body["WEBHOOK"], true);
    let mqtt = &r.body["MQTT"];
    assert!(
        mqtt["URIS"][0].as_str().unwrap().starts_with("mqtt://127.0.0.1:"),
        "{}",
        r.text
    );
    assert_eq!(mqtt["serialization"], "JSON");
    assert_eq!(
        mqtt["authentication"],
        json!({"method": "OAUTH2_BEARER_TOKEN", "username": "{clientID}"})
    );

    let plain = TestApp::new().await;
    let r = plain.bl().get("/notifiers").await;
    assert_eq!(r.body, json!({"WEBHOOK": true}), "no MQTT key when the binding is off");
    plain
        .bl()
        .get("/notifiers/mqtt/topics/programs")
        .await
        .assert_problem(404);
}

#[actix_rt::test]
async fn program_topics_have_update_and_delete_and_one_program_has_no_create() {
    let app = mqtt_app().await;
    let bl = app.bl();
    let all = bl.get("/notifiers/mqtt/topics/programs").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let topics = &all.body["topics"];
    assert_eq!(topics["CREATE"], "openadr3/programs/create");
    assert_eq!(topics["UPDATE"], "openadr3/programs/update");
    assert_eq!(topics["DELETE"], "openadr3/programs/delete");
    let p = program(&bl, "p", &[]).await;
    let one = bl.get(&format!("/notifiers/mqtt/topics/programs/{p}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert!(one.body["topics"].get("CREATE").is_none(), "{}", one.text);
    assert_eq!(one.body["topics"]["UPDATE"], format!("openadr3/programs/{p}/update"));
    bl.get("/notifiers/mqtt/topics/programs/nope").await.assert_problem(404);
    let events = bl.get(&format!("/notifiers/mqtt/topics/programs/{p}/events")).await;
    assert_eq!(
        events.body["topics"]["CREATE"],
        format!("openadr3/programs/{p}/events/create")
    );
    for path in ["events", "reports", "subscriptions", "vens", "resources"] {
        let r = bl.get(&format!("/notifiers/mqtt/topics/{path}")).await;
        assert_eq!(
            r.body["topics"]["DELETE"],
            format!("openadr3/{path}/delete"),
            "{}",
            r.text
        );
    }
    // Topics carrying every object are the business logic's.
    app.ven("v")
        .get("/notifiers/mqtt/topics/events")
        .await
        .assert_problem(403);
}

#[actix_rt::test]
async fn a_ven_gets_its_own_topics_and_403_for_another_vens() {
    let app = mqtt_app().await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    let ven_a = ven_object(&bl, &a, "site-a", &[]).await;
    let ven_b = ven_object(&bl, &b, "site-b", &[]).await;
    let own = a.get(&format!("/notifiers/mqtt/topics/vens/{ven_a}/events")).await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(
        own.body["topics"]["CREATE"],
        format!("openadr3/clients/{}/events/create", a.client_id)
    );
    for what in ["", "/events", "/programs", "/resources"] {
        a.get(&format!("/notifiers/mqtt/topics/vens/{ven_b}{what}"))
            .await
            .assert_problem(403);
    }
    let ven = a.get(&format!("/notifiers/mqtt/topics/vens/{ven_a}")).await;
    assert!(ven.body["topics"].get("CREATE").is_none());
    a.get("/notifiers/mqtt/topics/vens/nope/events")
        .await
        .assert_problem(404);
    assert_eq!(
        bl.get(&format!("/notifiers/mqtt/topics/vens/{ven_b}/events"))
            .await
            .status,
        200
    );
}

#[actix_rt::test]
async fn the_broker_logs_vens_in_by_token_and_refuses_other_vens_topics() {
    let app = mqtt_app().await;
    let (a, b) = (app.ven("a"), app.ven("b"));
    let uri = broker_uri(&a).await;
    assert!(
        connect(&uri, &a.client_id, "not-a-token").await.is_err(),
        "a bad token is refused at CONNECT"
    );
    assert!(
        connect(&uri, &b.client_id, a.token.as_deref().unwrap()).await.is_err(),
        "a token is good only for its own clientID"
    );
    let mut m = connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.unwrap();
    let b_topic = format!("openadr3/clients/{}/events/create", b.client_id);
    assert_eq!(m.subscribe(&b_topic).await, SubscribeReasonCode::Failure);
    assert_eq!(
        m.subscribe("openadr3/clients/+/events/create").await,
        SubscribeReasonCode::Failure
    );
    assert_eq!(
        m.subscribe("openadr3/events/create").await,
        SubscribeReasonCode::Failure
    );
    assert_eq!(m.subscribe("#").await, SubscribeReasonCode::Failure);
    let own = format!("openadr3/clients/{}/events/+", a.client_id);
    assert_eq!(m.subscribe(&own).await, SubscribeReasonCode::Success(QoS::AtLeastOnce));
    // The literal username "{clientID}" advertised by /notifiers works too.
    connect(&uri, "{clientID}", b.token.as_deref().unwrap()).await.unwrap();
}

#[actix_rt::test]
async fn events_are_published_on_the_advertised_topics_and_never_to_vens_that_may_not_read_them() {
    let app = mqtt_app().await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    let ven_a = ven_object(&bl, &a, "site-a", &["g1"]).await;
    let ven_b = ven_object(&bl, &b, "site-b", &["g2"]).await;
    let uri = broker_uri(&a).await;
    let topic_of = |who: &As, ven: &str| {
        let (who, ven) = (who.clone(), ven.to_owned());
        async move {
            who.get(&format!("/notifiers/mqtt/topics/vens/{ven}/events")).await.body["topics"]["CREATE"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut ma = connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.unwrap();
    let mut mb = connect(&uri, &b.client_id, b.token.as_deref().unwrap()).await.unwrap();
    let mut mbl = connect(&uri, &bl.client_id, bl.token.as_deref().unwrap())
        .await
        .unwrap();
    let topic_a = topic_of(&a, &ven_a).await;
    let topic_b = topic_of(&b, &ven_b).await;
    ma.subscribe(&topic_a).await;
    mb.subscribe(&topic_b).await;
    let all = bl.get("/notifiers/mqtt/topics/events").await.body["topics"]["CREATE"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        mbl.subscribe(&all).await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );

    let p = program(&bl, "p", &[]).await;
    let for_a = event(&bl, &p, &["g1", "secret"]).await;
    let for_all = event(&bl, &p, &[]).await;

    let (topic, body) = ma.message().await;
    assert_eq!(topic, topic_a);
    assert_eq!(body["objectType"], "EVENT");
    assert_eq!(body["operation"], "CREATE");
    assert_eq!(body["object"]["id"], for_a.as_str());
    assert_eq!(
        body["object"]["targets"],
        json!(["g1"]),
        "VEN topics carry only the VEN's targets"
    );
    // B's first message is the untargeted event: the one targeted at A never reached it.
    let (topic, body) = mb.message().await;
    assert_eq!(topic, topic_b);
    assert_eq!(body["object"]["id"], for_all.as_str());
    // The business logic sees both, with every target.
    let (_, first) = mbl.message().await;
    assert_eq!(first["object"]["id"], for_a.as_str());
    assert_eq!(first["object"]["targets"], json!(["g1", "secret"]));
    let (_, second) = mbl.message().await;
    assert_eq!(second["object"]["id"], for_all.as_str());
}

/// Mosquitto for the external-broker tests: `TEST_MQTT_URL`, or the machine's on 127.0.0.1:1883.
fn mosquitto_url() -> Option<String> {
    let url = std::env::var("TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let addr = url.strip_prefix("mqtt://")?.to_owned();
    match std::net::TcpStream::connect(&addr) {
        Ok(_) => Some(url),
        Err(_) => {
            eprintln!("no MQTT broker at {url}: external-broker test skipped; .ci/run starts Mosquitto");
            None
        }
    }
}

#[actix_rt::test]
async fn with_an_external_broker_sluice_publishes_every_change_as_a_client() {
    let Some(url) = mosquitto_url() else { return };
    // A prefix of its own: the broker is shared with whatever else runs on this machine.
    let prefix = format!("sluice-test-{}", uuid::Uuid::new_v4().simple());
    let (url2, prefix2) = (url.clone(), prefix.clone());
    let app = TestApp::with_settings(move |s| {
        s.mqtt.enabled = true;
        s.mqtt.embedded = false;
        s.mqtt.external_url = Some(url2);
        s.mqtt.external_auth_method = "ANONYMOUS".into();
        s.mqtt.topic_prefix = prefix2;
    })
    .await;
    let bl = app.bl();
    let r = bl.get("/notifiers").await;
    assert_eq!(r.body["MQTT"]["URIS"], json!([url]));
    assert_eq!(r.body["MQTT"]["authentication"], json!({"method": "ANONYMOUS"}));
    let mut m = connect(&url, "", "").await.unwrap();
    let topic = bl.get("/notifiers/mqtt/topics/events").await.body["topics"]["ALL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(topic, format!("{prefix}/events/+"));
    m.subscribe(&topic).await;
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let (t, body) = m.message().await;
    assert_eq!(t, format!("{prefix}/events/create"));
    assert_eq!(body["object"]["id"], e.as_str());
}

/// A private Mosquitto with password logins and the ACL `sluice mqtt acl` generates.
struct LockedMosquitto {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for LockedMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts it on `port` (reserved by the caller, so the VTN can be configured first).
fn locked_mosquitto_on(port: u16, acl: &str, users: &[(&str, &str)]) -> Option<LockedMosquitto> {
    if std::process::Command::new("mosquitto").arg("-h").output().is_err() {
        eprintln!("mosquitto is not installed: ACL test skipped; .ci/run installs it");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    for (user, pass) in users {
        let ok = std::process::Command::new("mosquitto_passwd")
            .args(["-b", passwd.to_str().unwrap(), user, pass])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let acl_file = dir.path().join("acl");
    std::fs::write(&acl_file, acl).unwrap();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\n",
            passwd.display(),
            acl_file.display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("mosquitto")
        .args(["-c", conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(LockedMosquitto { child, port, _dir: dir })
}

#[actix_rt::test]
async fn on_mosquitto_the_generated_acl_keeps_each_ven_to_its_own_topics() {
    let prefix = "openadr3";
    let acl = sluice::notify::mqtt::mosquitto_acl(prefix, Some("sluice"), &[]);
    let (a_pass, b_pass) = ("pass-a", "pass-b");
    // The VTN is configured with the broker's port first; the broker starts once the VEN clients (whose
    // clientIDs are their usernames) exist. Sluice's client keeps retrying until then.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::with_settings(move |s| {
        s.mqtt.enabled = true;
        s.mqtt.embedded = false;
        s.mqtt.external_url = Some(format!("mqtt://127.0.0.1:{port}"));
        s.mqtt.external_username = Some("sluice".into());
        s.mqtt.external_password = Some("sluice-pass".into());
    })
    .await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    let Some(broker) = locked_mosquitto_on(
        port,
        &acl,
        &[
            ("sluice", "sluice-pass"),
            (&a.client_id, a_pass),
            (&b.client_id, b_pass),
        ],
    ) else {
        return;
    };
    ven_object(&bl, &a, "site-a", &["g1"]).await;
    ven_object(&bl, &b, "site-b", &["g2"]).await;
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut ma = connect(&url, &a.client_id, a_pass).await.unwrap();
    // Mosquitto grants the subscription but never delivers what the ACL forbids.
    ma.subscribe(&format!("{prefix}/clients/{}/events/+", b.client_id))
        .await;
    ma.subscribe(&format!("{prefix}/events/+")).await;
    ma.subscribe(&format!("{prefix}/clients/{}/events/+", a.client_id))
        .await;
    let p = program(&bl, "p", &[]).await;
    let for_b = event(&bl, &p, &["g2"]).await;
    let for_a = event(&bl, &p, &["g1"]).await;
    let (topic, body) = ma.message().await;
    assert_eq!(topic, format!("{prefix}/clients/{}/events/create", a.client_id));
    assert_eq!(
        body["object"]["id"],
        for_a.as_str(),
        "B's event ({for_b}) never reached A"
    );
}

#[actix_rt::test]
async fn with_certificates_the_embedded_broker_speaks_mqtts_only() {
    let (cert, key) = crate::receiver::test_cert();
    let app = TestApp::with_settings(|s| {
        s.mqtt.enabled = true;
        s.mqtt.bind = "127.0.0.1:0".into();
        s.tls.cert = Some(cert.clone());
        s.tls.key = Some(key.clone());
    })
    .await;
    let bl = app.bl();
    let a = app.ven("a");
    let ven_a = ven_object(&bl, &a, "site-a", &[]).await;
    let uri = broker_uri(&a).await;
    let hostport = uri.strip_prefix("mqtts://").expect("advertised as mqtts").to_owned();
    assert!(
        connect(&format!("mqtt://{hostport}"), &a.client_id, a.token.as_deref().unwrap())
            .await
            .is_err(),
        "no plain MQTT on the TLS port"
    );

    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let mut opts = MqttOptions::new("tls-client", host, port.parse().unwrap());
    opts.set_credentials(&a.client_id, a.token.as_deref().unwrap());
    opts.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
        std::sync::Arc::new(tls),
    )));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    let topic = a.get(&format!("/notifiers/mqtt/topics/vens/{ven_a}/events")).await.body["topics"]["CREATE"]
        .as_str()
        .unwrap()
        .to_owned();
    client.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
    let received = async {
        let mut p = None;
        loop {
            match eventloop.poll().await.unwrap() {
                Event::Incoming(Packet::SubAck(_)) if p.is_none() => {
                    p = Some(program(&bl, "p", &[]).await);
                    event(&bl, p.as_ref().unwrap(), &[]).await;
                }
                Event::Incoming(Packet::Publish(m)) => return serde_json::from_slice::<Value>(&m.payload).unwrap(),
                _ => {}
            }
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("a notification over MQTTS");
    assert_eq!(body["operation"], "CREATE");
    assert_eq!(body["objectType"], "EVENT");
}

impl Mqtt {
    /// Whether the broker closed the connection (within a deadline; messages still queued are skipped).
    async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

/// The operator's view of `client`'s notifications once none is pending any more.
async fn settled_notifications(app: &TestApp, bl: &As, client: &str) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        app.state.notifier.check_due();
        let r = bl.get(&format!("/ops/notifications?clientID={client}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = r.body.as_array().unwrap().clone();
        if !list.is_empty() && list.iter().all(|n| n["state"] != "pending") {
            return list;
        }
        assert!(std::time::Instant::now() < deadline, "still pending: {list:#?}");
        tokio::task::yield_now().await;
    }
}

/// A session is only as good as its credentials: checked at CONNECT, and again for as long as it lasts.
#[actix_rt::test]
async fn an_mqtt_session_ends_when_its_client_is_removed_or_its_token_expires() {
    let app = mqtt_app().await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &[]).await;
    ven_object(&bl, &b, "site-b", &[]).await;
    let uri = broker_uri(&a).await;
    let mut ma = connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.unwrap();
    let mut mb = connect(&uri, &b.client_id, b.token.as_deref().unwrap()).await.unwrap();
    let Some(sluice::notify::mqtt::MqttBinding {
        publisher: sluice::notify::mqtt::Publisher::Embedded(broker),
        ..
    }) = app.state.mqtt.clone()
    else {
        panic!("the embedded broker runs");
    };
    let check = || sluice::notify::mqtt::end_revoked_sessions(&broker, &app.state.auth, &app.state.db);
    assert_eq!(check().await.unwrap(), 0, "valid sessions stay");

    // `sluice client remove a`: a's session ends, b's does not.
    let id = a.client_id.clone();
    app.state
        .db
        .write(move |c| sluice::store::repo::delete_client(c, &id))
        .await
        .unwrap();
    assert_eq!(check().await.unwrap(), 1);
    assert!(ma.closed().await, "the removed client's session is closed");
    assert_eq!(
        mb.subscribe("openadr3/clients/+/events/create").await,
        SubscribeReasonCode::Failure
    );

    // An hour later b's token has expired: so has its session.
    app.clock.advance(chrono::TimeDelta::hours(2));
    assert_eq!(check().await.unwrap(), 1);
    assert!(mb.closed().await, "the session of an expired token is closed");
}

/// "Delivered" on MQTT means a session of the VEN received it: a publication on a VEN's topic while it
/// has no session fails (and so is no notice in its response latency); one it receives is delivered.
#[actix_rt::test]
async fn a_ven_notification_no_session_received_is_not_delivered() {
    let app = mqtt_app().await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &[]).await;
    let ven_b = ven_object(&bl, &b, "site-b", &[]).await;
    let uri = broker_uri(&b).await;
    let mut mb = connect(&uri, &b.client_id, b.token.as_deref().unwrap()).await.unwrap();
    let topic = b.get(&format!("/notifiers/mqtt/topics/vens/{ven_b}/events")).await.body["topics"]["CREATE"]
        .as_str()
        .unwrap()
        .to_owned();
    mb.subscribe(&topic).await;
    let p = program(&bl, "p", &[]).await;
    let ev = event(&bl, &p, &[]).await;
    assert_eq!(mb.message().await.1["object"]["id"], ev.as_str());

    let of_a = settled_notifications(&app, &bl, &a.client_id).await;
    let n = of_a.iter().find(|n| n["objectID"] == ev.as_str()).unwrap();
    assert_eq!(
        (n["channel"].as_str(), n["state"].as_str()),
        (Some("MQTT"), Some("failed")),
        "{n}"
    );
    assert!(n["lastError"].as_str().unwrap().contains("no session"), "{n}");
    let of_b = settled_notifications(&app, &bl, &b.client_id).await;
    let n = of_b.iter().find(|n| n["objectID"] == ev.as_str()).unwrap();
    assert_eq!(n["state"], "delivered", "{n}");
}

/// SUBSCRIBE packets of 10,000 valid filters each (as many as the broker's largest packet holds) cost the broker no more than its limits allow: the filters
/// past the per-packet limit fail unexamined, the session holds at most its limit of filters, and other
/// clients are served meanwhile.
#[actix_rt::test]
async fn a_flood_of_subscribe_filters_is_cut_at_the_limits_and_others_are_served() {
    use sluice::notify::mqtt::broker::{MAX_FILTERS_PER_CONNECTION, MAX_FILTERS_PER_PACKET};
    let app = mqtt_app().await;
    let bl = app.bl();
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &[]).await;
    let ven_b = ven_object(&bl, &b, "site-b", &[]).await;
    let uri = broker_uri(&a).await;
    let own = format!("openadr3/clients/{}/events", a.client_id);
    let mut flood = connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.unwrap();
    let mut total_granted = 0;
    for round in 0..5 {
        let filters: Vec<rumqttc::SubscribeFilter> = (0..10_000)
            .map(|i| rumqttc::SubscribeFilter::new(format!("{own}/x{round}-{i}"), QoS::AtLeastOnce))
            .collect();
        flood.client.subscribe_many(filters).await.unwrap();
        let codes = loop {
            if let Packet::SubAck(ack) = flood.next().await {
                break ack.return_codes;
            }
        };
        assert_eq!(codes.len(), 10_000);
        let granted = codes
            .iter()
            .filter(|c| matches!(c, SubscribeReasonCode::Success(_)))
            .count();
        assert!(granted <= MAX_FILTERS_PER_PACKET, "{granted}");
        total_granted += granted;
    }
    assert_eq!(
        total_granted, MAX_FILTERS_PER_CONNECTION,
        "the session holds its most filters, no more"
    );

    // Meanwhile another VEN subscribes and hears of a new event.
    let mut mb = connect(&uri, &b.client_id, b.token.as_deref().unwrap()).await.unwrap();
    let topic = b.get(&format!("/notifiers/mqtt/topics/vens/{ven_b}/events")).await.body["topics"]["CREATE"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        mb.subscribe(&topic).await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    let p = program(&bl, "p", &[]).await;
    let ev = event(&bl, &p, &[]).await;
    assert_eq!(mb.message().await.1["object"]["id"], ev.as_str());
}

/// One client holds a few sessions at most: more are refused at CONNECT.
#[actix_rt::test]
async fn a_client_cannot_open_more_than_its_sessions() {
    use sluice::notify::mqtt::broker::MAX_SESSIONS_PER_CLIENT;
    let app = mqtt_app().await;
    let a = app.ven("a");
    let uri = broker_uri(&a).await;
    let mut open = Vec::new();
    for _ in 0..MAX_SESSIONS_PER_CLIENT {
        open.push(connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.unwrap());
    }
    assert!(connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.is_err());
    open.pop().unwrap().client.disconnect().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while connect(&uri, &a.client_id, a.token.as_deref().unwrap()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "a closed session frees its place");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
