//! The MQTT binding with the embedded broker (checklist 69–74): advertisement, topic endpoints and their
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
async fn checklist_69_notifiers_advertise_the_broker_and_its_oauth2_login() {
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
async fn checklist_70_71_program_topics_have_update_and_delete_and_one_program_has_no_create() {
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
async fn checklist_72_a_ven_gets_its_own_topics_and_403_for_another_vens() {
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
async fn checklist_73_the_broker_logs_vens_in_by_token_and_refuses_other_vens_topics() {
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
async fn checklist_74_events_are_published_on_the_advertised_topics_and_never_to_vens_that_may_not_read_them() {
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
