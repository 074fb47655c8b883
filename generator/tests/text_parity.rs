//! Parity with transformers on tiny random checkpoints of every architecture, and GGUF
//! dequantization against the gguf package (fixtures: tests/fixtures/make_text_tiny.py).

use std::path::PathBuf;

use adforge_generator::text::*;
use tch::{Device, Kind, Tensor};

/// The device under test: `ADFORGE_DEVICE` (scripts/gpu-check.sh sets `cuda`), default CPU.
fn device() -> Device {
    adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )
    .expect("ADFORGE_DEVICE names a usable device")
}

fn fixture_dir(name: &str) -> Option<PathBuf> {
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

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn check_architecture(arch: &str) {
    let Some(root) = fixture_dir("text_tiny") else {
        return;
    };
    let dir = root.join(arch);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let model = TextModel::load(dir.to_str().unwrap(), device(), Kind::Float).unwrap();
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
    let half = TextModel::load(dir.to_str().unwrap(), device(), Kind::BFloat16).unwrap();
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
}

#[test]
fn llama_gqa_with_llama3_rope_matches_transformers() {
    check_architecture("llama");
}

#[test]
fn qwen2_with_biases_matches_transformers() {
    check_architecture("qwen2");
}

#[test]
fn mistral_with_sliding_window_matches_transformers() {
    check_architecture("mistral");
}

#[test]
fn gpt2_matches_transformers() {
    check_architecture("gpt2");
}

#[test]
fn gguf_dequantization_matches_gguf_package() {
    let Some(dir) = fixture_dir("text_tiny/gguf_quant") else {
        return;
    };
    let file = GgufFile::open(dir.join("quant.gguf")).unwrap();
    let names = [
        "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K",
    ];
    for name in names {
        let expected = Tensor::read_npy(dir.join(format!("{name}.npy"))).unwrap();
        let got = file.tensor(name, Kind::Float, Device::Cpu).unwrap();
        assert_eq!(got.size(), expected.size(), "{name} shape");
        let worst = (&got - &expected).abs().max().double_value(&[]);
        assert!(worst == 0.0, "{name}: dequantized values differ by {worst}");
    }
}

#[test]
fn sharded_safetensors_load_like_a_single_file() {
    let Some(root) = fixture_dir("text_tiny") else {
        return;
    };
    let sharded = root.join("llama_sharded");
    assert!(
        sharded.join("model.safetensors.index.json").exists(),
        "the fixture is sharded"
    );
    let single =
        TextModel::load(root.join("llama").to_str().unwrap(), device(), Kind::Float).unwrap();
    let split = TextModel::load(sharded.to_str().unwrap(), device(), Kind::Float).unwrap();
    let prompt = vec![vec![5u32, 17, 42, 99, 3]];
    let a = single.prompt_logits(&prompt).unwrap();
    let b = split.prompt_logits(&prompt).unwrap();
    assert!(a.equal(&b));
}
