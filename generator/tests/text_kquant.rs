//! The quantized CPU decode step on a tiny Llama GGUF in a Q4_K_M-style mix of K-quants
//! (fixture: tests/fixtures/make_text_kquant.py) against the f32 libtorch path on the same
//! file: next-token logits at every step and greedy tokens.

mod text_common;

use adforge_generator::nn::quant::ComputePool;
use adforge_generator::text::*;
use tch::{Device, Kind};
use text_common::fixture_dir;

const PROMPT: [u32; 6] = [1, 290, 261, 300, 275, 289];
const STEPS: usize = 12;

fn load() -> Option<TextModel> {
    let path = fixture_dir("text_kquant")?.join("kquant.gguf");
    Some(TextModel::load(path.to_str().unwrap(), Device::Cpu, Kind::Float).expect("loads"))
}

#[test]
fn fixture_holds_the_k_quant_mix() {
    let Some(dir) = fixture_dir("text_kquant") else {
        return;
    };
    let file = GgufFile::open(dir.join("kquant.gguf")).unwrap();
    let kind = |name: &str| file.tensors[name].ggml_type;
    assert_eq!(kind("token_embd.weight"), GgmlType::Q4K);
    assert_eq!(kind("output.weight"), GgmlType::Q6K);
    assert_eq!(kind("blk.0.attn_v.weight"), GgmlType::Q6K);
    assert_eq!(kind("blk.0.ffn_down.weight"), GgmlType::Q6K);
    assert_eq!(kind("blk.1.attn_k.weight"), GgmlType::Q5K);
    assert_eq!(kind("blk.1.attn_q.weight"), GgmlType::Q5_0);
    assert_eq!(kind("blk.1.ffn_gate.weight"), GgmlType::Q4K);
}

#[test]
fn k_quant_step_follows_the_f32_path() {
    let Some(mut model) = load() else { return };
    model
        .enable_quantized_decode()
        .expect("a K-quant GGUF with hidden size 256 qualifies");
    let decoder = model.quantized_decoder().unwrap();
    let mut state = decoder.new_state(PROMPT.len() + STEPS);
    let mut tokens = PROMPT.to_vec();
    let mut logits_q = Vec::new();
    for (i, &t) in PROMPT.iter().enumerate() {
        logits_q = decoder
            .step(ComputePool::global(), &mut state, t, i)
            .unwrap()
            .to_vec();
    }
    let mut worst = 0f32;
    for step in 0..STEPS {
        // f32 reference: the whole sequence so far, last position.
        let all = model.prompt_logits(std::slice::from_ref(&tokens)).unwrap();
        let last = all.get(0).get(tokens.len() as i64 - 1);
        let reference = Vec::<f32>::try_from(&last).unwrap();
        assert_eq!(reference.len(), logits_q.len());
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = reference
            .iter()
            .zip(&logits_q)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst = worst.max(diff / scale);
        assert!(
            diff <= 0.03 * scale,
            "step {step}: logits differ by {diff} (largest logit {scale})"
        );
        let want = top_token(&reference);
        let got = top_token(&logits_q);
        assert_eq!(got, want, "step {step}: greedy token");
        tokens.push(got);
        let position = tokens.len() - 1;
        logits_q = decoder
            .step(ComputePool::global(), &mut state, got, position)
            .unwrap()
            .to_vec();
    }
    eprintln!(
        "{STEPS} greedy tokens agree; largest logit difference {worst:.4} of the largest logit"
    );
}

fn top_token(v: &[f32]) -> u32 {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0 as u32
}
