//! A real HTTPS webhook receiver for the tests: rustls with a test certificate the servers under test are
//! told to trust, the echo handshake, and a record of every notification POSTed to it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web::{Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// The test certificate (localhost, 127.0.0.1, ::1) and its key, written once per test process; the
/// servers under test trust it through `notifications.extra_ca_file`.
pub fn test_cert() -> (&'static PathBuf, &'static PathBuf) {
    static CERT: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let (_, cert, key) = CERT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = sluice::startup::write_dev_cert(dir.path()).unwrap();
        (dir, cert, key)
    });
    (cert, key)
}

/// One notification as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub notification_id: Option<String>,
    pub body: Value,
}

/// How the receiver answers the echo handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Correct,
    Wrong,
    Status(u16),
}

struct Inner {
    posts: Vec<Received>,
    echoes: Vec<String>,
    echo: Echo,
    post_status: u16,
    /// Notification POSTs are recorded at once but answered only when this is false again.
    holding: bool,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<tokio::sync::Notify>,
    released: Arc<tokio::sync::Notify>,
}

pub struct Receiver {
    pub port: u16,
    shared: Shared,
    handle: Option<ServerHandle>,
}

async fn handle(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let answer = {
        let mut inner = shared.inner.lock().unwrap();
        if req.method() == actix_web::http::Method::GET {
            let echo = url::form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == "echo")
                .map(|(_, v)| v.into_owned());
            match (echo, inner.echo) {
                (Some(v), Echo::Correct) => {
                    inner.echoes.push(v.clone());
                    HttpResponse::Ok().body(v)
                }
                (Some(v), Echo::Wrong) => {
                    inner.echoes.push(v);
                    HttpResponse::Ok().body("not-the-value")
                }
                (_, Echo::Status(s)) => HttpResponse::build(actix_web::http::StatusCode::from_u16(s).unwrap()).finish(),
                (None, _) => HttpResponse::BadRequest().finish(),
            }
        } else {
            let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            if inner.post_status == 200 {
                inner.posts.push(Received {
                    path: req.path().to_owned(),
                    authorization: header("authorization"),
                    notification_id: header("x-sluice-notification-id"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                HttpResponse::Ok().finish()
            } else {
                HttpResponse::build(actix_web::http::StatusCode::from_u16(inner.post_status).unwrap()).finish()
            }
        }
    };
    shared.changed.notify_waiters();
    if req.method() == actix_web::http::Method::POST {
        loop {
            let released = shared.released.notified();
            if !shared.inner.lock().unwrap().holding {
                break;
            }
            released.await;
        }
    }
    answer
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                posts: Vec::new(),
                echoes: Vec::new(),
                echo: Echo::Correct,
                post_status: 200,
                holding: false,
            })),
            changed: Arc::new(tokio::sync::Notify::new()),
            released: Arc::new(tokio::sync::Notify::new()),
        };
        let mut r = Receiver {
            port,
            shared,
            handle: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let (cert, key) = test_cert();
        let tls = sluice::startup::tls_config(cert, key).unwrap();
        let shared = self.shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(Data::new(shared.clone()))
                .default_service(actix_web::web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
        self.handle = Some(server.handle());
        actix_rt::spawn(server);
    }

    /// The callback URL for `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Stops listening: the port refuses connections until [`Receiver::restart`].
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop(false).await;
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.serve(listener);
    }

    pub fn set_echo(&self, echo: Echo) {
        self.shared.inner.lock().unwrap().echo = echo;
    }

    /// The status notification POSTs get (200 records them).
    pub fn set_post_status(&self, status: u16) {
        self.shared.inner.lock().unwrap().post_status = status;
    }

    /// Notifications keep arriving (and are recorded) but get no answer until [`Receiver::release_answers`].
    pub fn hold_answers(&self) {
        self.shared.inner.lock().unwrap().holding = true;
    }

    pub fn release_answers(&self) {
        self.shared.inner.lock().unwrap().holding = false;
        self.shared.released.notify_waiters();
    }

    pub fn echoes(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().echoes.clone()
    }

    pub fn posts(&self) -> Vec<Received> {
        self.shared.inner.lock().unwrap().posts.clone()
    }

    /// Waits until at least `n` notifications arrived (a deadline, not a delay: it returns as soon as they
    /// are there) and returns them.
    pub async fn wait_posts(&self, n: usize) -> Vec<Received> {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                let posts = self.posts();
                if posts.len() >= n {
                    return posts;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(30), wait).await {
            Ok(p) => p,
            Err(_) => panic!(
                "expected {n} notifications, got {}: {:?}",
                self.posts().len(),
                self.posts()
            ),
        }
    }
}

impl Receiver {
    /// Waits until a notification matching `what` arrived (a deadline, not a delay) and returns it.
    pub async fn wait_for(&self, label: &str, what: impl Fn(&Received) -> bool) -> Received {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                if let Some(found) = self.posts().into_iter().find(&what) {
                    return found;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(30), wait).await {
            Ok(p) => p,
            Err(_) => panic!("no notification of {label} arrived: {:?}", self.posts()),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            drop(h.stop(false));
        }
    }
}
