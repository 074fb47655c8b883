//! The baseline for `scripts/bench-serve.sh`: an actix-web server whose only handler returns a
//! small fixed JSON body, on the same runtime settings and allocator as `adforge serve`.

use actix_web::{web, App, HttpResponse, HttpServer};

// The same allocator as the `adforge` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".into());
    HttpServer::new(|| {
        App::new().route(
            "/v1/serve",
            web::post().to(|| async {
                HttpResponse::Ok().json(serde_json::json!({"creative_id": "trivial"}))
            }),
        )
    })
    .bind(bind)?
    .run()
    .await
}
