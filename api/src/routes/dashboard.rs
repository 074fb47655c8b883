//! The advertiser dashboard: static files from `assets/dashboard/`, compiled into the binary
//! and served at `/`. The page talks to the `/v1` API with the advertiser's key.

use actix_web::{web, HttpResponse};

/// One embedded file.
struct StaticFile {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const FILES: &[StaticFile] = &[
    StaticFile {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../../assets/dashboard/index.html"),
    },
    StaticFile {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../assets/dashboard/app.js"),
    },
    StaticFile {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../assets/dashboard/style.css"),
    },
];

/// Registers the dashboard's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for file in FILES {
        cfg.route(
            file.path,
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(file.content_type)
                    .insert_header(("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'"))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .body(file.body)
            }),
        );
    }
}
