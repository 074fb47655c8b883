//! Parity with transformers on tiny random checkpoints of the newer decoder families: Qwen3,
//! Phi-3, Gemma 2 and Gemma 3, and of the configuration options real checkpoints of these
//! families use (LongRoPE and partial rotary, YaRN, wide heads with biases, f16/bf16 and sharded
//! weights, no or per-layer sliding windows, the Gemma 3 image-text wrapper) (fixtures:
//! tests/fixtures/make_text_arch.py), and Gemma 3's chat template rendered as transformers
//! renders it.

mod text_common;

use adforge_generator::text::*;
use tch::{Device, Tensor};
use text_common::{check_architecture_in, check_model_file_in, fixture_dir, ids};

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
fn phi3_longrope_with_partial_rotary_matches_transformers() {
    let Some(model) = check_architecture_in("text_arch", "phi3_longrope") else {
        return;
    };
    let dir = fixture_dir("text_arch").unwrap().join("phi3_longrope");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let long = &reference["long"];
    // A prompt past the original 64 positions runs on the long factors at every position.
    let logits = model
        .prompt_logits(&[ids(&long["prompt"])])
        .unwrap()
        .squeeze_dim(0)
        .to_device(Device::Cpu);
    let expected: Vec<Vec<f32>> = serde_json::from_value(long["logits"].clone()).unwrap();
    let expected = Tensor::from_slice2(&expected);
    let scale = expected.abs().max().double_value(&[]);
    let worst = (&logits - &expected).abs().max().double_value(&[]);
    assert!(
        worst / scale < 1e-4,
        "long prompt: logits differ by {worst}"
    );
    // Decoding past the original length stays on the long factors.
    let out = model
        .generate(&GenerationRequest {
            prompt: Prompt::Tokens(ids(&long["past_prompt"])),
            max_new_tokens: 32,
            sampling: SamplingParams::greedy(),
            stop: vec![],
            cancel: None,
        })
        .unwrap();
    assert_eq!(out.token_ids, ids(&long["past_greedy"]));
}

#[test]
fn qwen2_with_yarn_tied_embeddings_and_bf16_weights_matches_transformers() {
    check_architecture_in("text_arch", "qwen2_yarn");
}

#[test]
fn llama_with_wide_heads_biases_and_f16_shards_matches_transformers() {
    check_architecture_in("text_arch", "llama_wide_heads");
}

#[test]
fn mistral_without_sliding_window_matches_transformers() {
    check_architecture_in("text_arch", "mistral_no_window");
}

#[test]
fn qwen3_with_per_layer_sliding_window_matches_transformers() {
    check_architecture_in("text_arch", "qwen3_window");
}

#[test]
fn gemma3_image_text_wrapper_runs_its_text_model_like_transformers() {
    check_architecture_in("text_arch", "gemma3_vision");
}

#[test]
fn gemma3_gguf_as_llama_cpp_writes_it_matches_transformers() {
    check_model_file_in("text_arch", "gemma3_gguf", Some("model.gguf"));
}

#[test]
fn gemma2_gguf_with_softcapping_metadata_matches_transformers() {
    check_model_file_in("text_arch", "gemma2_gguf", Some("model.gguf"));
}

#[test]
fn phi35_style_config_reads_longrope() {
    // The shape of Phi-3.5-mini-instruct's config.json (factors shortened to a 12-wide rotation).
    let json = serde_json::json!({
        "model_type": "phi3", "vocab_size": 10, "hidden_size": 48, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
        "rope_theta": 10000.0, "sliding_window": 262144,
        "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1],
                          "long_factor": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]}
    });
    let ModelConfig::Llama(c) = ModelConfig::from_hf_json(&json).unwrap() else {
        panic!("phi3 parses as a Llama-family config");
    };
    let RopeScaling::LongRope {
        original_max_position_embeddings,
        attention_factor,
        ref long_factor,
        ..
    } = c.rope_scaling
    else {
        panic!("longrope expected, got {:?}", c.rope_scaling);
    };
    assert_eq!(original_max_position_embeddings, 4096);
    assert_eq!(long_factor[11], 13.0);
    let expected = (1.0 + 32f64.ln() / 4096f64.ln()).sqrt();
    assert!((attention_factor - expected).abs() < 1e-12);
    assert_eq!(c.sliding_window, Some(262144));
    // A factor list of the wrong width is refused, naming the key.
    let mut bad = json.clone();
    bad["rope_scaling"]["short_factor"] = serde_json::json!([1.0, 2.0]);
    let err = ModelConfig::from_hf_json(&bad).unwrap_err().to_string();
    assert!(err.contains("short_factor"), "{err}");
}

#[test]
fn rope_types_are_read_or_refused_by_name() {
    let base = serde_json::json!({
        "model_type": "qwen2", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 131072,
        "rope_theta": 1000000.0
    });
    let with = |scaling: serde_json::Value| {
        let mut j = base.clone();
        j["rope_scaling"] = scaling;
        ModelConfig::from_hf_json(&j)
    };
    // Qwen2.5 / Qwen3 long-context settings.
    let ModelConfig::Llama(c) = with(serde_json::json!(
        {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    ))
    .unwrap() else {
        panic!()
    };
    let RopeScaling::Yarn {
        factor,
        attention_factor,
        ..
    } = c.rope_scaling
    else {
        panic!("yarn expected")
    };
    assert_eq!(factor, 4.0);
    assert!((attention_factor - (0.1 * 4f64.ln() + 1.0)).abs() < 1e-12);
    // Dynamic NTK only changes lengths past max_position_embeddings.
    let ModelConfig::Llama(c) =
        with(serde_json::json!({"type": "dynamic", "factor": 2.0})).unwrap()
    else {
        panic!()
    };
    assert_eq!(c.rope_scaling, RopeScaling::None);
    let err = with(serde_json::json!({"rope_type": "mrope", "factor": 2.0}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"mrope\""), "{err}");
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
