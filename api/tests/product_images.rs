//! Product photos of a campaign through the API: upload (multipart), list, read back and
//! delete; another tenant gets 404 for all of it; bad uploads (not a picture, over the size
//! limit, a decompression bomb, too small, fully transparent) are problem+json errors on the
//! `image` field; and a generation of a campaign with a photo shows it, with the photo's id
//! and cut-out decision in each creative's provenance.

mod common;

use std::time::{Duration, Instant};

use common::{databases, Db, TestApp};
use serde_json::{json, Value};

/// A studio packshot: a saturated magenta box on a near-white backdrop.
fn packshot(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let photo = image::RgbImage::from_fn(width, height, |x, y| {
        let inside = x > width / 4 && x < width * 3 / 4 && y > height / 5 && y < height * 4 / 5;
        if inside {
            image::Rgb([220, 20, 200])
        } else {
            image::Rgb([246, 246, 244])
        }
    });
    let mut bytes = Vec::new();
    photo
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

/// A PNG whose header claims `side` x `side` pixels (gigabytes once decoded) in a few dozen
/// bytes: only reading the header first keeps the server from allocating it.
fn png_bomb(side: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &header);
    // A zlib stream of a few zero bytes: the decoder would want side * (3 * side + 1).
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// POSTs one multipart part named `field` to the campaign's images; returns status and body.
async fn upload(
    app: &TestApp,
    key: &str,
    campaign: &str,
    field: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(content_type)
        .unwrap();
    let response = app
        .client
        .post(app.url(&format!("/v1/campaigns/{campaign}/images")))
        .bearer_auth(key)
        .multipart(reqwest::multipart::Form::new().part(field.to_string(), part))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, content_type)
}

#[actix_web::test]
async fn upload_list_read_and_delete() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let c = seed.campaign.as_str();
        let png = packshot(120, 90, image::ImageFormat::Png);
        let jpeg = packshot(200, 160, image::ImageFormat::Jpeg);

        let (status, first, _) = upload(
            &app,
            &key,
            c,
            "image",
            "shots/bottle.png",
            "image/png",
            png.clone(),
        )
        .await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["campaign_id"], c);
        assert_eq!(first["file_name"], "bottle.png");
        assert_eq!(first["content_type"], "image/png");
        assert_eq!(
            (first["width"].as_u64(), first["height"].as_u64()),
            (Some(120), Some(90))
        );
        assert_eq!(first["bytes"].as_u64(), Some(png.len() as u64));
        assert!(first["asset"].as_str().unwrap().ends_with(".png"));
        // A generic part type is fine: the bytes say what the picture is.
        let (status, second, _) = upload(
            &app,
            &key,
            c,
            "image",
            "side.jpg",
            "application/octet-stream",
            jpeg.clone(),
        )
        .await;
        assert_eq!(status, 201, "{second}");
        assert_eq!(second["content_type"], "image/jpeg");
        assert!(second["position"].as_i64() > first["position"].as_i64());

        let path = format!("/v1/campaigns/{c}/images");
        let (status, list) = app.call("GET", &path, &key, None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                first["id"].as_str().unwrap(),
                second["id"].as_str().unwrap()
            ]
        );

        let one = |id: &str| format!("/v1/campaigns/{c}/images/{id}");
        let response = app
            .client
            .get(app.url(&one(second["id"].as_str().unwrap())))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        assert_eq!(response.bytes().await.unwrap().to_vec(), jpeg);

        let (status, _) = app
            .call("DELETE", &one(first["id"].as_str().unwrap()), &key, None)
            .await;
        assert_eq!(status, 204);
        let (status, _) = app
            .call("GET", &one(first["id"].as_str().unwrap()), &key, None)
            .await;
        assert_eq!(status, 404);
        let (_, list) = app.call("GET", &path, &key, None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);

        // Deleting the campaign takes its photos along.
        let (status, _) = app
            .call("DELETE", &format!("/v1/campaigns/{c}"), &key, None)
            .await;
        assert_eq!(status, 204);
        let (status, _) = app.call("GET", &path, &key, None).await;
        assert_eq!(status, 404);
    }
}

#[actix_web::test]
async fn another_tenant_gets_404_for_everything() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let (owner, other) = (app.new_tenant("Acme"), app.new_tenant("Rival"));
        let seed = app.seed(&owner).await;
        let theirs = app.seed(&other).await;
        let c = seed.campaign.as_str();
        let png = packshot(64, 64, image::ImageFormat::Png);
        let (_, image, _) =
            upload(&app, &owner, c, "image", "a.png", "image/png", png.clone()).await;
        let image_id = image["id"].as_str().unwrap();

        let (status, body, content_type) =
            upload(&app, &other, c, "image", "a.png", "image/png", png.clone()).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        for (method, path) in [
            ("GET", format!("/v1/campaigns/{c}/images")),
            ("GET", format!("/v1/campaigns/{c}/images/{image_id}")),
            ("DELETE", format!("/v1/campaigns/{c}/images/{image_id}")),
            // Their own campaign does not reach our photo either.
            (
                "GET",
                format!("/v1/campaigns/{}/images/{image_id}", theirs.campaign),
            ),
            (
                "DELETE",
                format!("/v1/campaigns/{}/images/{image_id}", theirs.campaign),
            ),
        ] {
            let (status, _) = app.call(method, &path, &other, None).await;
            assert_eq!(status, 404, "{method} {path}");
        }
        // Nothing of ours was touched, and their list is their own.
        let (_, list) = app
            .call("GET", &format!("/v1/campaigns/{c}/images"), &owner, None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = app
            .call(
                "GET",
                &format!("/v1/campaigns/{}/images", theirs.campaign),
                &other,
                None,
            )
            .await;
        assert_eq!(list["items"], json!([]));
    }
}

#[actix_web::test]
async fn bad_uploads_are_problems_on_the_image_field() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.max_upload_bytes = 256 << 10).await;
    let key = app.new_tenant("Acme");
    let seed = app.seed(&key).await;
    let c = seed.campaign.as_str();
    let png = packshot(64, 64, image::ImageFormat::Png);
    let field_error = |(status, body, content_type): (u16, Value, Option<String>)| {
        assert_eq!(status, 422, "{body}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(body["field"], "image", "{body}");
        body["detail"].as_str().unwrap_or_default().to_string()
    };

    let detail = field_error(
        upload(
            &app,
            &key,
            c,
            "image",
            "brief.csv",
            "text/csv",
            b"name,brand\nA,B\n".to_vec(),
        )
        .await,
    );
    assert!(detail.contains("not a PNG, JPEG or WebP"), "{detail}");
    let detail =
        field_error(upload(&app, &key, c, "image", "a.png", "image/jpeg", png.clone()).await);
    assert!(detail.contains("sent as image/jpeg"), "{detail}");
    // A decompression bomb: 100,000 x 100,000 pixels in under 100 bytes, refused from its header.
    let bomb = png_bomb(100_000);
    assert!(bomb.len() < 100);
    let started = Instant::now();
    let detail = field_error(upload(&app, &key, c, "image", "bomb.png", "image/png", bomb).await);
    assert!(detail.contains("1 to 4096 pixels"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let detail = field_error(
        upload(
            &app,
            &key,
            c,
            "image",
            "tiny.png",
            "image/png",
            packshot(20, 20, image::ImageFormat::Png),
        )
        .await,
    );
    assert!(detail.contains("too small"), "{detail}");
    let mut clear = Vec::new();
    image::RgbaImage::from_pixel(64, 64, image::Rgba([0, 0, 0, 0]))
        .write_to(
            &mut std::io::Cursor::new(&mut clear),
            image::ImageFormat::Png,
        )
        .unwrap();
    let detail = field_error(upload(&app, &key, c, "image", "clear.png", "image/png", clear).await);
    assert!(!detail.is_empty());

    // Over the upload limit: 413, whatever the bytes.
    let (status, body, _) = upload(
        &app,
        &key,
        c,
        "image",
        "big.png",
        "image/png",
        vec![0u8; 300 << 10],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    // No `image` part.
    let (status, body, _) = upload(&app, &key, c, "photo", "a.png", "image/png", png.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "image");
    // Not multipart at all.
    let response = app
        .client
        .post(app.url(&format!("/v1/campaigns/{c}/images")))
        .bearer_auth(&key)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // None of it was stored.
    let (_, list) = app
        .call("GET", &format!("/v1/campaigns/{c}/images"), &key, None)
        .await;
    assert_eq!(list["items"], json!([]));

    // The OpenAPI document describes the routes.
    let (_, doc) = app.call("GET", "/v1/openapi.json", &key, None).await;
    for path in [
        "/v1/campaigns/{id}/images",
        "/v1/campaigns/{id}/images/{image_id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[actix_web::test]
async fn a_campaign_holds_at_most_twenty_photos() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let key = app.new_tenant("Acme");
    let seed = app.seed(&key).await;
    let png = packshot(40, 40, image::ImageFormat::Png);
    for _ in 0..20 {
        let (status, body, _) = upload(
            &app,
            &key,
            &seed.campaign,
            "image",
            "a.png",
            "image/png",
            png.clone(),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body, _) = upload(
        &app,
        &key,
        &seed.campaign,
        "image",
        "a.png",
        "image/png",
        png,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("20 product photos"),
        "{body}"
    );
}

/// Share of the picture's pixels close to the packshot's magenta.
fn magenta_share(png: &[u8]) -> f64 {
    let picture = image::load_from_memory(png).unwrap().to_rgb8();
    let close = picture
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            r > 170 && g < 80 && b > 150
        })
        .count();
    close as f64 / f64::from(picture.width() * picture.height())
}

#[actix_web::test]
async fn generated_creatives_show_the_photo_and_record_it() {
    if !common::models_available() {
        return;
    }
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.copy_candidates_per_variant = 12).await;
    let stop = common::start_worker(&app);
    let key = app.new_tenant("Acme");
    let campaign = app
        .create(
            "/v1/campaigns",
            &key,
            json!({"name": "Bottles", "brand": "Aqua", "product": "steel water bottle",
                   "description": "A steel water bottle that keeps drinks cold for a day.",
                   "landing_url": "https://aqua.example/bottle"}),
        )
        .await;
    let c = campaign["id"].as_str().unwrap();
    app.create(
        "/v1/segments",
        &key,
        json!({"campaign_id": c, "name": "Hikers", "persona": "weekend hikers"}),
    )
    .await;
    app.create(
        "/v1/placements",
        &key,
        json!({"campaign_id": c, "name": "Rectangle", "preset": "iab_medium_rectangle"}),
    )
    .await;
    let (status, photo, _) = upload(
        &app,
        &key,
        c,
        "image",
        "bottle.png",
        "image/png",
        packshot(400, 300, image::ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 201, "{photo}");

    let (status, job) = app
        .call(
            "POST",
            &format!("/v1/campaigns/{c}/generate"),
            &key,
            Some(json!({"variants": 2})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let job = loop {
        let (_, job) = app
            .call("GET", &format!("/v1/jobs/{job_id}"), &key, None)
            .await;
        if matches!(
            job["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            break job;
        }
        assert!(Instant::now() < deadline, "job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(job["status"], "succeeded", "{job}");

    let (_, creatives) = app
        .call("GET", &format!("/v1/creatives?campaign_id={c}"), &key, None)
        .await;
    let items = creatives["items"].as_array().unwrap();
    assert!(!items.is_empty(), "no creative was delivered: {job}");
    for creative in items {
        let product = &creative["provenance"]["product"];
        assert_eq!(product["image_id"], photo["id"], "{creative}");
        // A uniform studio backdrop is removed by the flood fill.
        assert_eq!(
            product["cutout"]["decision"], "removed_background",
            "{product}"
        );
        assert!(
            product["sizes"]["300x250"]["bounds"].is_array(),
            "{product}"
        );
        let asset = creative["assets"][0]["asset"].as_str().unwrap();
        let png = app.state.assets.read(asset).unwrap();
        let share = magenta_share(&png);
        assert!(
            share > 0.02,
            "the product is hardly visible: {share:.3} of {asset}"
        );
    }
}
