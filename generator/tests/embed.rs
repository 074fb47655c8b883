//! all-MiniLM-L6-v2 on libtorch: the published similarity value and parity with transformers.
//!
//! Needs the real model (`scripts/setup.sh`; env `ADFORGE_MODELS_DIR`, default
//! `<workspace>/.deps/models`) and, for the parity test, the fixture written by
//! `tests/fixtures/make_minilm_reference.py` (env `ADFORGE_FIXTURES`, default
//! `<workspace>/target/fixtures`). Missing inputs skip the tests unless `CI=true`.

use std::path::PathBuf;

use adforge_generator::embed::SentenceEmbedder;
use adforge_targeting::rank::cosine;
use tch::Device;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn skip_or_panic(what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing and CI=true");
    }
    eprintln!("skipping: {what} is missing");
}

fn embedder() -> Option<SentenceEmbedder> {
    let models = std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".deps/models"));
    let dir = models.join("all-minilm-l6-v2");
    if !dir.join("model.safetensors").exists() {
        skip_or_panic(&format!("model {}", dir.display()));
        return None;
    }
    Some(SentenceEmbedder::load(&dir, Device::Cpu).expect("model loads"))
}

#[test]
fn published_similarity_of_the_bread_sentences() {
    let Some(model) = embedder() else { return };
    let e = model
        .embed(&["A man is eating food.", "A man is eating a piece of bread."])
        .unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].len(), model.dimension());
    let similarity = cosine(&e[0], &e[1]);
    eprintln!("cosine = {similarity:.4}");
    assert!((similarity - 0.755).abs() <= 0.005, "cosine {similarity}");
    let norm: f32 = e[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
}

#[test]
fn batching_and_padding_do_not_change_embeddings() {
    let Some(model) = embedder() else { return };
    let short = "A man is eating food.";
    let long = "A fairly long sentence about light electric bicycles for commuting in a city.";
    let alone = model.embed(&[short]).unwrap();
    let together = model.embed(&[long, short]).unwrap();
    let max_diff = alone[0]
        .iter()
        .zip(&together[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-5, "max difference {max_diff}");
}

#[test]
fn matches_transformers_reference() {
    let fixtures = std::env::var_os("ADFORGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/fixtures"));
    let path = fixtures.join("minilm_reference/reference.json");
    if !path.exists() {
        skip_or_panic(&format!("fixture {}", path.display()));
        return;
    }
    let Some(model) = embedder() else { return };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sentences: Vec<String> = serde_json::from_value(reference["sentences"].clone()).unwrap();
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["embeddings"].clone()).unwrap();
    let got = model.embed(&sentences).unwrap();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        let max_diff = g
            .iter()
            .zip(e)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff < 1e-4,
            "sentence {i} `{}`: max difference {max_diff}",
            sentences[i]
        );
    }
}
