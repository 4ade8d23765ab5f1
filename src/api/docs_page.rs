//! `/openapi.json` and the interactive API page at `/docs/`: RapiDoc 9.3.8 (MIT, `assets/RAPIDOC-LICENSE.txt`)
//! served from the binary, with system fonts so the page fetches nothing from elsewhere.

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpResponse, get};

/// The OpenAPI document, rendered once at start.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub Bytes);

const RAPIDOC_JS: &[u8] = include_bytes!("assets/rapidoc-min.js");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice — OpenADR 3.1 VTN API</title>
<script type="module" src="/docs/rapidoc-min.js"></script>
</head>
<body>
<rapi-doc spec-url="/openapi.json" render-style="read" allow-try="true" allow-authentication="true"
  show-header="false" regular-font="system-ui, -apple-system, 'Segoe UI', sans-serif" mono-font="monospace"
  heading-text="Sluice OpenADR 3.1 VTN"></rapi-doc>
</body>
</html>
"#;

#[get("/openapi.json")]
pub async fn openapi_json(doc: Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}

#[get("/docs")]
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

#[get("/docs/")]
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(PAGE)
}

#[get("/docs/rapidoc-min.js")]
pub async fn rapidoc() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(Bytes::from_static(RAPIDOC_JS))
}
