//! SentencePiece tokenizers against the sentencepiece library on a multilingual text set
//! (accents, CJK, Korean, Arabic, Greek, emoji, digits, whitespace runs, unseen characters that
//! fall back to bytes): a GGUF with `tokenizer.ggml.model = "llama"` metadata and Hugging Face
//! tokenizer.json files with a BPE and a Unigram model (fixtures:
//! tests/fixtures/make_text_spm.py), and a split GGUF model read from all its shards.

mod text_common;

use adforge_generator::text::*;
use text_common::{fixture_dir, ids};

fn reference() -> Option<(std::path::PathBuf, serde_json::Value)> {
    let dir = fixture_dir("text_spm")?;
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    Some((dir, serde_json::from_str(&text).unwrap()))
}

/// Every text encodes to sentencepiece's ids (after `prefix`) and decodes back to its text.
fn check(tokenizer: &TextTokenizer, reference: &serde_json::Value, kind: &str, prefix: &[u32]) {
    let texts = reference["texts"].as_array().unwrap();
    for (i, text) in texts.iter().enumerate() {
        let text = text.as_str().unwrap();
        let mut expected = prefix.to_vec();
        expected.extend(ids(&reference[kind]["ids"][i]));
        let got = tokenizer.encode(text).unwrap();
        assert_eq!(got, expected, "{kind}: ids of {text:?}");
        let decoded = tokenizer.decode(&got).unwrap();
        assert_eq!(
            decoded,
            reference[kind]["decoded"][i].as_str().unwrap(),
            "{kind}: decoding {text:?}"
        );
    }
}

#[test]
fn gguf_sentencepiece_tokenizer_matches_sentencepiece() {
    let Some((dir, reference)) = reference() else {
        return;
    };
    let gguf = GgufFile::open(dir.join("bpe.gguf")).unwrap();
    let tokenizer = TextTokenizer::from_gguf(&gguf).unwrap();
    assert_eq!(tokenizer.bos_id, Some(1));
    assert!(tokenizer.eos_ids.contains(&2));
    check(&tokenizer, &reference, "bpe", &[1]);
    // Byte pieces and "▁" stand for their raw bytes (structured output relies on it).
    let bytes = tokenizer.vocab_bytes();
    let newline = tokenizer.token_to_id("<0x0A>").unwrap();
    assert_eq!(bytes[newline as usize], b"\n");
    let space = tokenizer.token_to_id("\u{2581}").unwrap();
    assert_eq!(bytes[space as usize], b" ");
}

#[test]
fn tokenizer_json_sentencepiece_bpe_matches_sentencepiece() {
    let Some((dir, reference)) = reference() else {
        return;
    };
    let tokenizer = TextTokenizer::from_hf_dir(&dir.join("bpe")).unwrap();
    check(&tokenizer, &reference, "bpe", &[]);
}

#[test]
fn tokenizer_json_unigram_matches_sentencepiece() {
    let Some((dir, reference)) = reference() else {
        return;
    };
    let tokenizer = TextTokenizer::from_hf_dir(&dir.join("unigram")).unwrap();
    check(&tokenizer, &reference, "unigram", &[]);
    let bytes = tokenizer.vocab_bytes();
    let e_acute = tokenizer.token_to_id("<0xC3>").unwrap();
    assert_eq!(bytes[e_acute as usize], [0xC3]);
}

#[test]
fn split_gguf_loads_like_the_whole_file() {
    let Some((dir, reference)) = reference() else {
        return;
    };
    let model_dir = dir.join("model");
    let load = |name: &str| {
        TextModel::load(
            model_dir.join(name).to_str().unwrap(),
            tch::Device::Cpu,
            tch::Kind::Float,
        )
        .unwrap()
    };
    let whole = load("tiny.gguf");
    // Any shard names the whole set; tensors live in all three.
    let split = load("tiny-00002-of-00003.gguf");
    let prompt = whole.tokenizer.encode("Crème brûlée 新鲜 🎉 42").unwrap();
    assert_eq!(prompt[0], 1, "the SentencePiece GGUF model starts with BOS");
    assert_eq!(
        whole
            .tokenizer
            .encode(reference["texts"][0].as_str().unwrap())
            .unwrap()[1..],
        ids(&reference["bpe"]["ids"][0])[..],
    );
    let a = whole.prompt_logits(std::slice::from_ref(&prompt)).unwrap();
    let b = split.prompt_logits(std::slice::from_ref(&prompt)).unwrap();
    assert!(a.equal(&b), "split and whole GGUF logits differ");
    let request = GenerationRequest {
        prompt: Prompt::Tokens(prompt),
        max_new_tokens: 8,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        cancel: None,
    };
    assert_eq!(
        whole.generate(&request).unwrap().token_ids,
        split.generate(&request).unwrap().token_ids
    );
    // A missing shard is a clear error naming the file.
    let lonely = tempdir_with(&model_dir, &["tiny-00001-of-00003.gguf"]);
    let err = TextModel::load(
        lonely.join("tiny-00001-of-00003.gguf").to_str().unwrap(),
        tch::Device::Cpu,
        tch::Kind::Float,
    )
    .err()
    .expect("a split GGUF with missing shards is refused");
    assert!(
        err.to_string().contains("tiny-00002-of-00003.gguf"),
        "{err}"
    );
}

/// A fresh folder holding copies of `files` from `from`.
fn tempdir_with(from: &std::path::Path, files: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("adforge-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    dir
}
