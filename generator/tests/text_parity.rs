//! Parity with transformers on tiny random checkpoints of every architecture, and GGUF
//! dequantization against the gguf package (fixtures: tests/fixtures/make_text_tiny.py).

mod text_common;

use adforge_generator::text::*;
use tch::{Device, Kind, Tensor};
use text_common::{check_architecture_in, device, fixture_dir};

fn check_architecture(arch: &str) {
    check_architecture_in("text_tiny", arch);
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
