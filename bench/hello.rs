//! The baseline of the benchmark: the smallest actix-web JSON endpoint, built with the same actix-web and
//! profile as Sluice. `cargo run --release --example bench-hello -- 127.0.0.1:18090`

use actix_web::{App, HttpResponse, HttpServer, get};

#[get("/hello")]
async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"hello":"world"}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    HttpServer::new(|| App::new().service(hello)).bind(addr)?.run().await
}
