//! Logo uploads are decoded off the server's event loops: while more large logos decode than
//! the server has event-loop threads, `/healthz` still answers quickly.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp};

/// A 4096 x 4096 16-bit RGBA PNG (the largest logo accepted): small to send, 128 MiB to decode.
fn big_png() -> Vec<u8> {
    let side = 4096u32;
    let image = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(side, side, |x, _| {
        image::Rgba([(x / 64) as u16 * 1000, 20000, 40000, 65535])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba16(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[actix_web::test]
async fn healthz_stays_fast_while_logos_decode() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let key = app.new_tenant("Acme");
    let seed = app.seed(&key).await;
    let png = tokio::task::spawn_blocking(big_png).await.unwrap();
    assert!(png.len() < 10 << 20, "fits the upload limit: {}", png.len());
    let url = app.url(&format!("/v1/brand-kits/{}/logo", seed.brand_kit));
    let upload = |client: reqwest::Client, body: Vec<u8>| {
        let (url, key) = (url.clone(), key.clone());
        async move {
            let response = client
                .put(url)
                .bearer_auth(key)
                .header("content-type", "image/png")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };

    // How long one upload takes on its own (mostly decoding).
    let started = Instant::now();
    upload(app.client.clone(), png.clone()).await;
    let alone = started.elapsed();

    // More concurrent uploads than the server has event-loop threads (one per core).
    let loops = std::thread::available_parallelism().map_or(2, |n| n.get());
    let uploads: Vec<_> = (0..loops + 2)
        .map(|_| actix_web::rt::spawn(upload(app.client.clone(), png.clone())))
        .collect();
    // Let the bodies arrive and decoding start.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert!(response.status().is_success());
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for upload in uploads {
        upload.await.unwrap();
    }
    eprintln!(
        "one upload alone: {alone:?}; slowest /healthz during {} uploads: {slowest:?}",
        loops + 2
    );
    // With decoding on the event loops, /healthz waits for a decode to finish (longer than
    // one upload alone, as the decodes share the cores).
    assert!(
        slowest < alone * 3 / 4,
        "/healthz took {slowest:?} while logos decoded (one upload alone: {alone:?})"
    );
}
