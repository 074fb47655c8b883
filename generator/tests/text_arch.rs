//! Parity with transformers on tiny random checkpoints of the newer decoder families: Qwen3,
//! Phi-3, Gemma 2 and Gemma 3 (fixtures: tests/fixtures/make_text_arch.py), and Gemma 3's chat
//! template rendered as transformers renders it.

mod text_common;

use adforge_generator::text::*;
use text_common::{check_architecture_in, fixture_dir};

#[test]
fn qwen3_with_qk_norms_matches_transformers() {
    check_architecture_in("text_arch", "qwen3");
}

#[test]
fn phi3_with_fused_projections_matches_transformers() {
    check_architecture_in("text_arch", "phi3");
}

#[test]
fn gemma2_with_softcapping_and_sliding_layers_matches_transformers() {
    check_architecture_in("text_arch", "gemma2");
}

#[test]
fn gemma3_with_two_rope_bases_matches_transformers() {
    check_architecture_in("text_arch", "gemma3");
}

#[test]
fn gemma3_chat_template_renders_like_transformers() {
    let Some(root) = fixture_dir("text_arch") else {
        return;
    };
    let dir = root.join("gemma3");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let messages: Vec<ChatMessage> =
        serde_json::from_value(reference["chat"]["messages"].clone()).unwrap();
    let model = TextModel::load(dir.to_str().unwrap(), tch::Device::Cpu, tch::Kind::Float).unwrap();
    let rendered = model.render_chat(&messages).unwrap();
    assert_eq!(rendered, reference["chat"]["prompt"].as_str().unwrap());
    // The roles must alternate: the template refuses two user turns in a row.
    let bad = [ChatMessage::new("user", "a"), ChatMessage::new("user", "b")];
    assert!(model.render_chat(&bad).is_err());
}

#[test]
fn gemma3_config_falls_back_to_family_defaults() {
    // An older-style config: no layer_types, flat RoPE keys, no soft-capping keys.
    let json = serde_json::json!({
        "model_type": "gemma3_text", "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 16, "num_hidden_layers": 7, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 4, "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        "sliding_window": 512, "query_pre_attn_scalar": 4
    });
    let ModelConfig::Gemma(c) = ModelConfig::from_hf_json(&json).unwrap() else {
        panic!("gemma3_text parses as a Gemma config");
    };
    assert_eq!(
        c.sliding_layers,
        vec![true, true, true, true, true, false, true]
    );
    assert_eq!(c.rope_theta, 1_000_000.0);
    assert_eq!(c.rope_scaling, RopeScaling::Linear { factor: 8.0 });
    assert_eq!(c.rope_local_theta, 10_000.0);
    assert_eq!(c.rope_local_scaling, RopeScaling::None);
    assert_eq!(c.attn_logit_softcapping, None);
    assert!(c.tie_word_embeddings);
    // Gemma 2 soft-caps by default.
    let mut g2 = json.clone();
    g2["model_type"] = "gemma2".into();
    let ModelConfig::Gemma(c) = ModelConfig::from_hf_json(&g2).unwrap() else {
        panic!("gemma2 parses as a Gemma config");
    };
    assert_eq!(c.attn_logit_softcapping, Some(50.0));
    assert_eq!(c.final_logit_softcapping, Some(30.0));
    assert_eq!(c.sliding_layers[0..2], [true, false]);
}
