//! Shared by the text parity tests: the device under test, fixture lookup, and the parity check
//! of one tiny checkpoint against the transformers reference its fixture script wrote.
#![allow(dead_code)]

use std::path::PathBuf;

use adforge_generator::text::*;
use tch::{Device, Kind, Tensor};

/// The device under test: `ADFORGE_DEVICE` (scripts/gpu-check.sh sets `cuda`), default CPU.
pub fn device() -> Device {
    adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )
    .expect("ADFORGE_DEVICE names a usable device")
}

pub fn fixture_dir(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("ADFORGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"))
        .join(name);
    if dir.exists() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixture {} is missing (CI=true)", dir.display());
    }
    eprintln!("skipping: fixture {} is missing", dir.display());
    None
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Loads the fixture checkpoint `fixture/arch` and checks it against its `reference.json`:
/// all-position logits of the first prompt within 1e-4 relative, 32 greedy tokens per prompt
/// identical alone and batched, and bf16 logits within 10% of f32. Returns the f32 model.
pub fn check_architecture_in(fixture: &str, arch: &str) -> Option<TextModel> {
    check_model_file_in(fixture, arch, None)
}

/// [`check_architecture_in`] for the model file `file` (a GGUF) inside the fixture folder.
pub fn check_model_file_in(fixture: &str, arch: &str, file: Option<&str>) -> Option<TextModel> {
    let root = fixture_dir(fixture)?;
    let dir = root.join(arch);
    let model_path = match file {
        Some(f) => dir.join(f),
        None => dir.clone(),
    };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let model = TextModel::load(model_path.to_str().unwrap(), device(), Kind::Float).unwrap();
    let prompts: Vec<Vec<u32>> = reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();

    // Logits of every position of the first prompt, within 1e-4 relative.
    let logits = model
        .prompt_logits(&[prompts[0].clone()])
        .unwrap()
        .squeeze_dim(0)
        .to_device(Device::Cpu);
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["logits"].clone()).unwrap();
    let expected = Tensor::from_slice2(&expected);
    assert_eq!(logits.size(), expected.size());
    let scale = expected.abs().max().double_value(&[]);
    let worst = (&logits - &expected).abs().max().double_value(&[]);
    assert!(
        worst / scale < 1e-4,
        "{arch}: logits differ by {worst} (scale {scale})"
    );

    let request = |p: &Vec<u32>| GenerationRequest {
        prompt: Prompt::Tokens(p.clone()),
        max_new_tokens: 32,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        cancel: None,
    };
    let alone: Vec<Vec<u32>> = reference["greedy_alone"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    for (i, p) in prompts.iter().enumerate() {
        let out = model.generate(&request(p)).unwrap();
        assert_eq!(
            out.token_ids, alone[i],
            "{arch}: greedy tokens of prompt {i} alone"
        );
    }
    let batched_ref: Vec<Vec<u32>> = reference["greedy_batched"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let requests: Vec<_> = prompts.iter().map(request).collect();
    let batched = model.generate_batch(&requests).unwrap();
    for (i, out) in batched.iter().enumerate() {
        assert_eq!(
            out.token_ids, batched_ref[i],
            "{arch}: greedy tokens of prompt {i} in a batch"
        );
        assert_eq!(
            out.token_ids, alone[i],
            "{arch}: batched output of prompt {i} differs from alone"
        );
    }

    // Reduced precision runs and stays close to f32 at the last position.
    let half = TextModel::load(model_path.to_str().unwrap(), device(), Kind::BFloat16).unwrap();
    let low = half
        .prompt_logits(&[prompts[0].clone()])
        .unwrap()
        .squeeze_dim(0)
        .to_device(Device::Cpu);
    let diff = (&low - &expected).abs().max().double_value(&[]);
    assert!(
        diff / scale < 0.1,
        "{arch}: bf16 logits are far from f32 ({diff})"
    );
    Some(model)
}
