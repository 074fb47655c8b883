//! Inpainting parity with diffusers' `StableDiffusionInpaintPipeline` on two tiny random
//! checkpoints that `tests/fixtures/make_image_inpaint.py` builds and saves with diffusers itself
//! (a 9-channel inpainting UNet and an ordinary 4-channel one, which inpaints by the mask blend):
//! every UNet output, the latents after every step and the decoded images, for DDIM and Euler at
//! two guidance scales and two strengths, from the same recorded noise. Then the painting helpers
//! on the same checkpoints: image expansion to wide and tall canvases and a scene painted around
//! a product cut-out.
//!
//! The fixtures live in `$ADFORGE_FIXTURES/image_inpaint` (default `<workspace>/target/fixtures`).
//! When they are missing the tests print a skip message, except under `CI=true` where they fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use adforge_generator::image::mask::mask_from_image;
use adforge_generator::image::mask::Rect;
use adforge_generator::image::noise::ReplayNoise;
use adforge_generator::image::paint::{expand_to, placement, working_size};
use adforge_generator::image::{
    expand, paint_scene, DiffusionPipeline, ImageError, ImageRequest, PaintSettings, SchedulerKind,
    StepTrace,
};
use image::{GrayImage, Rgb, RgbImage, Rgba, RgbaImage};
use tch::{Device, Kind, Tensor};

/// The tolerance of the other parity tests (relative to the largest reference magnitude).
const TOLERANCE: f64 = 1e-3;
const MODELS: [&str; 2] = ["inpaint9", "inpaint4"];

fn device() -> Device {
    let setting = std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into());
    adforge_generator::device::parse_device(&setting).expect("ADFORGE_DEVICE")
}

fn fixtures() -> Option<PathBuf> {
    let base = std::env::var_os("ADFORGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"));
    let dir = base.join("image_inpaint");
    if dir.join("manifest.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "inpainting fixtures missing in {}: run generator/tests/fixtures/make_image_inpaint.py",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no inpainting fixtures in {} (run make_image_inpaint.py)",
        dir.display()
    );
    None
}

fn load_pipeline(dir: &Path, model: &str) -> DiffusionPipeline {
    DiffusionPipeline::load(&dir.join(model).join("pipeline"), device(), Kind::Float).unwrap()
}

fn load(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

fn assert_close(what: &str, ours: &Tensor, reference: &Tensor) -> f64 {
    assert_eq!(ours.size(), reference.size(), "{what}: shape");
    let ours = ours.to_kind(Kind::Double).to_device(Device::Cpu);
    let reference = reference.to_kind(Kind::Double).to_device(Device::Cpu);
    let diff = (&ours - &reference).abs().max().double_value(&[]);
    let err = diff / reference.abs().max().double_value(&[]).max(1e-6);
    assert!(
        err <= TOLERANCE,
        "{what}: relative error {err:.2e} > {TOLERANCE:.0e}"
    );
    err
}

fn check_model(model: &str) {
    let Some(dir) = fixtures() else { return };
    let pipeline = load_pipeline(&dir, model);
    assert_eq!(pipeline.is_inpainting(), model == "inpaint9");
    let image = image::open(dir.join("image.png")).unwrap().to_rgb8();
    let mask = mask_from_image(&image::open(dir.join("mask.png")).unwrap());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest[model].as_array().unwrap();
    assert!(cases.len() >= 6, "{model}: too few cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let reference = load(&dir.join(model).join(format!("{name}.safetensors")));
        let noise = (0..case["noise_count"].as_u64().unwrap())
            .map(|i| reference[&format!("noise_{i}")].shallow_clone())
            .collect();
        let request = ImageRequest {
            prompt: case["prompt"].as_str().unwrap().into(),
            negative: case["negative"].as_str().unwrap().into(),
            steps: case["steps"].as_u64().unwrap() as usize,
            guidance: case["guidance"].as_f64().unwrap(),
            seed: 0,
            width: case["width"].as_u64().unwrap() as u32,
            height: case["height"].as_u64().unwrap() as u32,
            scheduler: SchedulerKind::from_str(case["scheduler"].as_str().unwrap()).unwrap(),
            num_images: case["num_images"].as_u64().unwrap() as usize,
            init_image: Some(image.clone()),
            strength: case["strength"].as_f64().unwrap(),
        };
        let mut unet_outputs = Vec::new();
        let mut latents = Vec::new();
        let mut observer = |trace: &StepTrace<'_>| {
            unet_outputs.push(trace.unet_output.shallow_clone());
            latents.push(trace.latents.shallow_clone());
        };
        let mut noise = ReplayNoise::new(noise);
        let images = pipeline
            .run_inpaint(&request, &mask, &mut noise, Some(&mut observer))
            .unwrap();
        // Every recorded draw was consumed: nothing more can be drawn.
        assert!(
            noise_is_exhausted(&mut noise),
            "{model}/{name}: fewer draws than diffusers"
        );
        let calls = case["unet_calls"].as_u64().unwrap() as usize;
        assert_eq!(unet_outputs.len(), calls, "{model}/{name}: UNet calls");
        let mut worst = 0f64;
        for i in 0..calls {
            worst = worst.max(assert_close(
                &format!("{model}/{name} UNet output {i}"),
                &unet_outputs[i],
                &reference[&format!("unet_out_{i}")],
            ));
            worst = worst.max(assert_close(
                &format!("{model}/{name} latents after step {i}"),
                &latents[i],
                &reference[&format!("latents_{i}")],
            ));
        }
        let image_err = assert_close(
            &format!("{model}/{name} decoded images"),
            &images,
            &reference["images"],
        );
        eprintln!(
            "{model}/{name}: {calls} steps match diffusers (worst step {worst:.1e}, images {image_err:.1e})"
        );
    }
}

fn noise_is_exhausted(noise: &mut ReplayNoise) -> bool {
    use adforge_generator::image::noise::NoiseSource;
    noise.randn(&[1], Device::Cpu).is_err()
}

#[test]
fn inpainting_checkpoint_matches_diffusers() {
    check_model("inpaint9");
}

#[test]
fn mask_blend_on_an_ordinary_checkpoint_matches_diffusers() {
    check_model("inpaint4");
}

#[test]
fn bad_inpainting_requests_are_rejected() {
    let Some(dir) = fixtures() else { return };
    let pipeline = load_pipeline(&dir, "inpaint4");
    let mask = GrayImage::from_pixel(64, 48, image::Luma([255]));
    let mut request = ImageRequest {
        prompt: "a bottle".into(),
        steps: 2,
        width: 64,
        height: 48,
        scheduler: SchedulerKind::Ddim,
        ..ImageRequest::default()
    };
    let err = pipeline.inpaint(&request, &mask).unwrap_err();
    assert!(matches!(err, ImageError::InvalidRequest(_)), "{err}");
    assert!(err.to_string().contains("picture to paint into"), "{err}");
    request.init_image = Some(RgbImage::new(64, 48));
    request.strength = 0.0;
    assert!(pipeline.inpaint(&request, &mask).is_err());
    request.strength = 1.0;
    request.width = 60;
    assert!(pipeline.inpaint(&request, &mask).is_err());
    // Expansion into a place that is not inside the canvas.
    let picture = RgbImage::new(64, 64);
    let outside = Rect {
        x: 50,
        y: 0,
        width: 64,
        height: 64,
    };
    let err = expand_to(&pipeline, &picture, 100, 64, outside, &tiny_settings(0)).unwrap_err();
    assert!(err.to_string().contains("not inside"), "{err}");
}

#[test]
fn inpainting_checkpoint_also_paints_whole_pictures() {
    let Some(dir) = fixtures() else { return };
    let pipeline = load_pipeline(&dir, "inpaint9");
    let request = ImageRequest {
        prompt: "a bottle".into(),
        steps: 2,
        width: 64,
        height: 48,
        scheduler: SchedulerKind::Euler,
        seed: 4,
        ..ImageRequest::default()
    };
    let first = pipeline.generate(&request).unwrap();
    assert_eq!((first[0].width(), first[0].height()), (64, 48));
    let again = pipeline.generate(&request).unwrap();
    assert_eq!(first[0].as_raw(), again[0].as_raw());
}

/// A 64 x 64 test picture: a blue product on a warm studio background, with texture.
fn square_picture() -> RgbImage {
    RgbImage::from_fn(64, 64, |x, y| {
        let t = ((x * 7 + y * 13) % 17) as u8;
        if (20..44).contains(&x) && (12..56).contains(&y) {
            Rgb([30 + t, 90 + t, 160 + t])
        } else {
            Rgb([220 - t, 210 - t, 195 - t])
        }
    })
}

fn tiny_settings(seed: u64) -> PaintSettings {
    PaintSettings {
        prompt: "a bottle on a wooden table by a window".into(),
        negative: "blurry".into(),
        steps: 3,
        guidance: 5.0,
        seed,
        scheduler: SchedulerKind::Euler,
        work_size: 64,
        ..PaintSettings::default()
    }
}

#[test]
fn expansion_keeps_the_picture_and_paints_the_new_margins() {
    let Some(dir) = fixtures() else { return };
    let source = square_picture();
    for model in MODELS {
        let pipeline = load_pipeline(&dir, model);
        // 1:1 to 1.91:1 (margins left and right) and to 9:16 (margins above and below).
        for (tw, th) in [(122u32, 64u32), (72, 128)] {
            let out = expand(&pipeline, &source, tw, th, &tiny_settings(1)).unwrap();
            assert_eq!(out.dimensions(), (tw, th), "{model}: output size");
            let rect = placement(64, 64, tw, th);
            let placed = image::imageops::resize(
                &source,
                rect.width,
                rect.height,
                image::imageops::FilterType::Lanczos3,
            );
            // Outside the feather band (two latent cells at the working size) the placed
            // picture is kept exactly.
            let (work_width, _) = working_size(tw, th, 64);
            let band = (16 * tw).div_ceil(work_width);
            assert!(
                band < rect.width.min(rect.height) / 2,
                "{tw}x{th}: band {band}"
            );
            let (mut kept, mut worst) = (0, 0u8);
            for y in rect.y..rect.y + rect.height {
                for x in rect.x..rect.x + rect.width {
                    let dx = (x - rect.x).min(rect.x + rect.width - 1 - x);
                    let dy = (y - rect.y).min(rect.y + rect.height - 1 - y);
                    let inner = if tw > th { dx >= band } else { dy >= band };
                    if inner {
                        kept += 1;
                        let a = out.get_pixel(x, y).0;
                        let b = placed.get_pixel(x - rect.x, y - rect.y).0;
                        for c in 0..3 {
                            worst = worst.max(a[c].abs_diff(b[c]));
                        }
                    }
                }
            }
            assert!(kept > 0, "{model} {tw}x{th}: no pixel outside the feather");
            assert_eq!(worst, 0, "{model} {tw}x{th}: kept pixels changed");
            // The margins were painted: they are not the picture's edge pixels repeated.
            let margin: Vec<(u32, u32)> = if tw > th {
                (0..th)
                    .flat_map(|y| (0..rect.x).map(move |x| (x, y)))
                    .collect()
            } else {
                (0..rect.y)
                    .flat_map(|y| (0..tw).map(move |x| (x, y)))
                    .collect()
            };
            let differing = margin
                .iter()
                .filter(|&&(x, y)| {
                    let edge = placed.get_pixel(
                        x.clamp(rect.x, rect.x + rect.width - 1) - rect.x,
                        y.clamp(rect.y, rect.y + rect.height - 1) - rect.y,
                    );
                    let p = out.get_pixel(x, y);
                    (0..3)
                        .map(|c| p.0[c].abs_diff(edge.0[c]) as u32)
                        .sum::<u32>()
                        > 24
                })
                .count();
            assert!(
                differing * 2 > margin.len(),
                "{model} {tw}x{th}: only {differing} of {} margin pixels painted",
                margin.len()
            );
        }
        // The same settings give the same picture; another seed another one.
        let a = expand(&pipeline, &source, 122, 64, &tiny_settings(1)).unwrap();
        let b = expand(&pipeline, &source, 122, 64, &tiny_settings(1)).unwrap();
        let c = expand(&pipeline, &source, 122, 64, &tiny_settings(2)).unwrap();
        assert_eq!(a.as_raw(), b.as_raw(), "{model}: not reproducible");
        assert_ne!(a.as_raw(), c.as_raw(), "{model}: seed ignored");
        // A picture that already has the target's aspect ratio is only resized.
        let same = expand(&pipeline, &source, 32, 32, &tiny_settings(1)).unwrap();
        assert_eq!(same.dimensions(), (32, 32));
    }
}

#[test]
fn scene_is_painted_around_the_product_which_comes_back_untouched() {
    let Some(dir) = fixtures() else { return };
    // A product cut-out on a 96 x 64 canvas: solid body, soft left edge, transparent elsewhere.
    let canvas = RgbaImage::from_fn(96, 64, |x, y| {
        let t = ((x * 5 + y * 3) % 11) as u8;
        if (40..60).contains(&x) && (10..58).contains(&y) {
            Rgba([40 + t, 120, 200 - t, 255])
        } else if x == 39 && (10..58).contains(&y) {
            Rgba([40, 120, 200, 128])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    for model in MODELS {
        let pipeline = load_pipeline(&dir, model);
        let out = paint_scene(&pipeline, &canvas, &tiny_settings(3)).unwrap();
        assert_eq!(out.dimensions(), (96, 64));
        let mut background_changed = 0;
        let mut background = 0;
        for (x, y, p) in canvas.enumerate_pixels() {
            let o = out.get_pixel(x, y).0;
            if p.0[3] == 255 {
                assert_eq!(
                    o,
                    [p.0[0], p.0[1], p.0[2]],
                    "{model}: product pixel ({x}, {y})"
                );
            } else if p.0[3] == 0 {
                background += 1;
                if o.iter().map(|&v| u32::from(v)).sum::<u32>() > 24 {
                    background_changed += 1;
                }
            }
        }
        assert!(
            background_changed * 10 > background * 9,
            "{model}: only {background_changed} of {background} background pixels painted"
        );
    }
    let pipeline = load_pipeline(&dir, "inpaint4");
    let empty = RgbaImage::new(32, 32);
    let err = paint_scene(&pipeline, &empty, &tiny_settings(0)).unwrap_err();
    assert!(err.to_string().contains("nothing to keep"), "{err}");
    let full = RgbaImage::from_pixel(32, 32, Rgba([1, 2, 3, 255]));
    let err = paint_scene(&pipeline, &full, &tiny_settings(0)).unwrap_err();
    assert!(err.to_string().contains("nothing to paint"), "{err}");
}
