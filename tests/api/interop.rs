//! Interoperability with a real third-party implementation: OpenLEADR's own OpenADR 3.1 types decode every
//! kind of response body, and OpenLEADR's client runs a VEN and a business logic against a live Sluice.

use openleadr_client::{BusinessLogic, ClientCredentials, Filter, VirtualEndNode};
use openleadr_wire::event::{EventInterval, EventType, EventValuesMap};
use openleadr_wire::values_map::Value;
use serde_json::json;
use sluice::auth::Role;

use crate::support::{TestApp, event, program, ven_object};

#[actix_rt::test]
async fn openleadr_wire_decodes_every_kind_of_response() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let v = app.ven("v");
    let p = program(&bl, "p", &["g1"]).await;
    let e = event(&bl, &p, &["g1"]).await;
    let ven = ven_object(&bl, &v, "site", &["g1"]).await;
    let res = bl
        .post("/resources", &json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": v.client_id, "venID": ven, "resourceName": "rack", "targets": ["g1"]}))
        .await
        .id();
    let report = v
        .post("/reports", &json!({"eventID": e, "clientName": "site", "resources": [{"resourceName": "rack", "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [1.5]}]}]}]}))
        .await
        .id();
    let rx = crate::receiver::Receiver::start().await;
    let sub = v
        .post("/subscriptions", &json!({"clientName": "site", "programID": p, "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": rx.url("/site")}]}))
        .await
        .id();

    let _: openleadr_wire::Program = serde_json::from_value(bl.get(&format!("/programs/{p}")).await.body).unwrap();
    let _: Vec<openleadr_wire::Program> = serde_json::from_value(v.get("/programs").await.body).unwrap();
    let _: openleadr_wire::Event = serde_json::from_value(v.get(&format!("/events/{e}")).await.body).unwrap();
    let _: Vec<openleadr_wire::Event> = serde_json::from_value(v.get("/events").await.body).unwrap();
    let _: openleadr_wire::Report = serde_json::from_value(bl.get(&format!("/reports/{report}")).await.body).unwrap();
    let _: openleadr_wire::subscription::Subscription =
        serde_json::from_value(v.get(&format!("/subscriptions/{sub}")).await.body).unwrap();
    let _: openleadr_wire::Ven = serde_json::from_value(v.get(&format!("/vens/{ven}")).await.body).unwrap();
    let _: openleadr_wire::resource::Resource =
        serde_json::from_value(v.get(&format!("/resources/{res}")).await.body).unwrap();
    let _: openleadr_wire::problem::Problem = serde_json::from_value(v.get("/programs/nope").await.body).unwrap();
}

#[actix_rt::test]
async fn openleadr_client_runs_a_business_logic_and_a_ven_end_to_end() {
    let app = TestApp::new().await;
    let op = app.issued(Role::Operator, "op");
    let site = app.issued(Role::Ven, "site");
    let url = url::Url::parse(&format!("{}/", app.base)).unwrap();
    let bl = openleadr_client::Client::<BusinessLogic>::with_url(
        url.clone(),
        Some(ClientCredentials::new(op.client_id.clone(), op.client_secret.clone())),
    );
    let ven = openleadr_client::Client::<VirtualEndNode>::with_url(
        url,
        Some(ClientCredentials::new(
            site.client_id.clone(),
            site.client_secret.clone(),
        )),
    );

    // The operator creates a program and an event.
    let program = bl
        .create_program(openleadr_wire::program::ProgramRequest::new("interop"))
        .await
        .unwrap();
    let interval = EventInterval::new(
        0,
        vec![EventValuesMap {
            value_type: EventType::Simple,
            values: vec![Value::Integer(2)],
        }],
    );
    let request = program.new_event(vec![interval]).with_event_name("curtail");
    let created = program.create_event(request).await.unwrap();

    // The VEN registers itself and a resource, reads the event and reports on it.
    let my_ven = ven
        .create_ven(openleadr_wire::ven::VenVenRequest {
            ven_name: "site".into(),
            attributes: None,
        })
        .await
        .unwrap();
    my_ven.create_resource("rack-1", None).await.unwrap();
    let events = ven.get_event_list(None, Filter::none()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id(), created.id());
    assert_eq!(events[0].content().event_name.as_deref(), Some("curtail"));
    let report = events[0].new_report("site".into());
    events[0].create_report(report).await.unwrap();

    // The operator sees the VEN, its resource and its report.
    let vens = bl.get_ven_list(Filter::none()).await.unwrap();
    assert_eq!(vens.len(), 1);
    assert_eq!(vens[0].content().client_id.to_string(), site.client_id);
    assert_eq!(vens[0].get_all_resources(None).await.unwrap().len(), 1);
    let event = bl.get_event_by_id(created.id()).await.unwrap();
    assert_eq!(event.get_report_list(None).await.unwrap().len(), 1);
}
