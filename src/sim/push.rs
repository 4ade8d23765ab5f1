//! Events pushed to the simulated sites: the HTTPS server of their webhook callbacks, and a listener
//! per site on the VTN's MQTT binding. Either hands each event notification's object to its site.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use serde::Deserialize;

use super::client::Http;
use super::runner::Event;
use super::{SimSite, WebhookMode};
use crate::wire::ObjectType;
use crate::wire::ops::{NotifiersResponse, TopicsResponse};

/// A notification (yaml `schemas.notification`) as far as a site reads it.
#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "objectType")]
    object_type: ObjectType,
    object: serde_json::Value,
}

/// The event a notification carries, if it carries one a site can read.
fn event_of(n: Notification) -> Option<Event> {
    if n.object_type != ObjectType::Event {
        return None;
    }
    serde_json::from_value(n.object).ok()
}

/// [`event_of`] a notification's bytes.
fn pushed_event(body: &[u8]) -> Option<Event> {
    serde_json::from_slice(body).ok().and_then(event_of)
}

/// Where each site's pushed events go, by clientID.
pub(super) type Callbacks = Arc<std::sync::Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<Event>>>>;

/// The webhook callbacks of every site: `GET …?echo=x` answers `x` (the subscription handshake), `POST`
/// takes a notification and hands its event to the site.
pub(super) fn serve_callbacks(
    w: &WebhookMode,
    callbacks: Callbacks,
) -> anyhow::Result<(actix_web::dev::ServerHandle, String)> {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    async fn handle(req: HttpRequest, body: web::Bytes, callbacks: web::Data<Callbacks>) -> HttpResponse {
        let client = req.match_info().get("client").unwrap_or_default().to_owned();
        if req.method() == actix_web::http::Method::GET {
            let echo = form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == "echo")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            return HttpResponse::Ok().body(echo);
        }
        let Ok(notification) = serde_json::from_slice::<Notification>(&body) else {
            return HttpResponse::BadRequest().finish();
        };
        let tx = callbacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&client)
            .cloned();
        match (tx, event_of(notification)) {
            (Some(tx), Some(event)) => {
                let _ = tx.send(event);
                HttpResponse::Ok().finish()
            }
            (Some(_), None) => HttpResponse::Ok().finish(),
            (None, _) => HttpResponse::NotFound().finish(),
        }
    }
    let tls = crate::startup::tls_config(&w.cert, &w.key)?;
    let data = web::Data::new(callbacks);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/sim/{client}", web::to(handle))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind_rustls_0_23(w.bind, tls)?;
    let url = match (w.url.is_empty(), server.addrs().first()) {
        (true, Some(a)) => format!("https://{a}"),
        _ => w.url.clone(),
    };
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((handle, url))
}

/// Listens on the VTN's MQTT binding for the site's events and forwards each event object; reconnects
/// with a fresh token when the connection drops.
pub(super) async fn listen_mqtt(
    http: Arc<Http>,
    site: SimSite,
    stop: Arc<AtomicBool>,
    out: tokio::sync::mpsc::UnboundedSender<Event>,
) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    while !stop.load(Ordering::Acquire) {
        let attempt = async {
            let token = http.token(&site.client_id, &site.client_secret).await?;
            let notifiers: NotifiersResponse = http.get("/notifiers", &token).await?;
            let uri = (notifiers.mqtt.and_then(|m| m.uris.into_iter().next()))
                .ok_or_else(|| anyhow!("the VTN offers no MQTT binding"))?;
            let rest = uri
                .strip_prefix("mqtt://")
                .ok_or_else(|| anyhow!("the simulator speaks plain mqtt:// only, not {uri}"))?;
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| anyhow!("no port in {uri}"))?;
            let topics: TopicsResponse = http
                .get(&format!("/notifiers/mqtt/topics/vens/{}/events", site.ven_id), &token)
                .await?;
            let mut opts = MqttOptions::new(format!("sim-{}", site.client_id), host, port.parse()?);
            opts.set_credentials(site.client_id.clone(), token);
            opts.set_keep_alive(Duration::from_secs(30));
            opts.set_max_packet_size(1 << 20, 1 << 20);
            let (client, mut events) = AsyncClient::new(opts, 64);
            for t in topics.topics.create.iter().chain([&topics.topics.update]) {
                client.subscribe(t, QoS::AtLeastOnce).await?;
            }
            while !stop.load(Ordering::Acquire) {
                match tokio::time::timeout(Duration::from_secs(1), events.poll()).await {
                    Err(_) => continue,
                    Ok(Err(e)) => return Err(anyhow!("MQTT connection lost: {e}")),
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        if let Some(event) = pushed_event(&p.payload) {
                            let _ = out.send(event);
                        }
                    }
                    Ok(Ok(_)) => {}
                }
            }
            anyhow::Ok(())
        };
        if let Err(e) = attempt.await {
            tracing::debug!(site = %site.name, error = %e, "MQTT listener; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
