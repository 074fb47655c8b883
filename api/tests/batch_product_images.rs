//! The batch CSV `product_image` column: on the command line a path relative to the CSV file,
//! over the API the file name of a picture uploaded in the same multipart body. A missing or
//! bad picture is an error on the row's `product_image` column; a good one is shown in the
//! row's images. The generating tests use the real default models in `.deps/models` and skip
//! when those are missing, except under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Db, TestApp};
use serde_json::Value;

const HEADER: &str = "campaign,segment,placement,brand,product,landing_url,persona,product_image";

fn models_dir() -> PathBuf {
    std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models"))
}

fn models_present() -> bool {
    let dir = models_dir();
    let present =
        dir.join("smollm2-135m-instruct").is_dir() && dir.join("all-minilm-l6-v2").is_dir();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the models are missing from {}",
            dir.display()
        );
        eprintln!("skipped: the default models are not in {}", dir.display());
    }
    present
}

/// A studio packshot: a saturated magenta box on a near-white backdrop, as PNG.
fn packshot(width: u32, height: u32) -> Vec<u8> {
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
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// Share of a picture's pixels close to the packshot's magenta.
fn magenta_share(path: &Path) -> f64 {
    let picture = image::open(path).unwrap().to_rgb8();
    let close = picture
        .pixels()
        .filter(|p| p.0[0] > 170 && p.0[1] < 80 && p.0[2] > 150)
        .count();
    close as f64 / f64::from(picture.width() * picture.height())
}

fn batch(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .arg("batch")
        .args(args)
        .current_dir(dir)
        .env("ADFORGE_MODELS_DIR", models_dir())
        .env("ADFORGE_DATA_DIR", dir.join("data"))
        .env("ADFORGE_LOG", "warn")
        .env("ADFORGE_COPY_CANDIDATES_PER_VARIANT", "12")
        .env_remove("ADFORGE_CONFIG")
        .output()
        .expect("run adforge batch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "adforge batch panicked:\n{stderr}"
    );
    output
}

fn row(segment: &str, image: &str) -> String {
    format!(
        "Bottles,{segment},iab_medium_rectangle,Aqua,steel water bottle,https://aqua.example/bottle,weekend hikers,{image}\n"
    )
}

#[test]
fn cli_paths_are_relative_to_the_csv_and_bad_ones_name_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("campaigns");
    std::fs::create_dir_all(data.join("shots")).unwrap();
    std::fs::write(data.join("shots/bottle.png"), packshot(400, 300)).unwrap();
    std::fs::write(data.join("shots/notes.png"), "not a picture").unwrap();
    std::fs::write(data.join("shots/tiny.png"), packshot(16, 16)).unwrap();
    let generate = models_present();
    let mut file = format!("{HEADER}\n");
    file.push_str(&row("Missing", "shots/nowhere.png"));
    file.push_str(&row("Text", "shots/notes.png"));
    file.push_str(&row("Tiny", "shots/tiny.png"));
    if generate {
        file.push_str(&row("Hikers", "shots/bottle.png"));
    }
    std::fs::write(data.join("in.csv"), file).unwrap();

    // Run from the folder above: the paths are relative to the CSV file, not to the caller.
    let output = batch(dir.path(), &["campaigns/in.csv", "--out", "out"]);
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{text}");
    for expected in [
        "row 2, column product_image:",
        "nowhere.png is not a file",
        "row 3, column product_image: shots/notes.png: not a PNG, JPEG or WebP",
        "row 4, column product_image: shots/tiny.png: 16x16 is too small",
    ] {
        assert!(
            text.contains(expected),
            "stderr lacks {expected:?}:\n{text}"
        );
    }
    if !generate {
        return;
    }
    let images: Vec<PathBuf> = std::fs::read_dir(dir.path().join("out/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("5-"))
        .collect();
    assert!(!images.is_empty(), "row 5 wrote no image:\n{text}");
    for image in images {
        let share = magenta_share(&image);
        assert!(
            share > 0.02,
            "{}: the product is hardly visible ({share:.3})",
            image.display()
        );
    }
}

/// POSTs a batch: the CSV as `file` plus pictures as `images` parts.
async fn post_batch(
    app: &TestApp,
    key: &str,
    csv: &str,
    pictures: &[(&str, Vec<u8>)],
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("in.csv"),
    );
    for (name, bytes) in pictures {
        form = form.part(
            "images",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name(name.to_string())
                .mime_str("image/png")
                .unwrap(),
        );
    }
    let response = app
        .client
        .post(app.url("/v1/batches"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn api_rows_name_pictures_uploaded_with_the_batch() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let key = app.new_tenant("Acme");
    let csv = format!(
        "{HEADER}\n{}{}{}",
        row("Hikers", "bottle.png"),
        row("Walkers", "boot.png"),
        row("Climbers", "../bottle.png"),
    );
    let (status, batch) = post_batch(&app, &key, &csv, &[("bottle.png", packshot(200, 150))]).await;
    assert_eq!(status, 202, "{batch}");
    let errors = batch["errors"].as_array().unwrap();
    let described: Vec<(u64, &str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(described.len(), 2, "{batch}");
    assert_eq!((described[0].0, described[0].1), (3, "product_image"));
    assert!(
        described[0].2.contains(
            "no picture named \"boot.png\" was uploaded with the batch (uploaded: bottle.png)"
        ),
        "{batch}"
    );
    assert_eq!((described[1].0, described[1].1), (4, "product_image"));
    assert!(described[1].2.contains("not a file name"), "{batch}");

    // A picture part that is not a picture is refused with the upload, naming its field.
    let (status, problem) =
        post_batch(&app, &key, &csv, &[("bottle.png", b"GIF89a".to_vec())]).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "images");
    // Two pictures with one name cannot both be meant.
    let (status, problem) = post_batch(
        &app,
        &key,
        &csv,
        &[
            ("bottle.png", packshot(64, 64)),
            ("bottle.png", packshot(80, 80)),
        ],
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("two pictures are named"),
        "{problem}"
    );
}
