//! The JSON constraint driven token by token with SmolLM2's real tokenizer (skipped when the
//! default model is not installed): random walks over many seeds always end cleanly within
//! the limits, and the closing quote waits for the word the model is still writing.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use unicode_segmentation::UnicodeSegmentation;

use super::*;
use crate::text::{resolve_model_path, TextModel};

fn default_model() -> Option<TextModel> {
    let path = resolve_model_path("default");
    if !path.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{} is missing (CI=true)", path.display());
        }
        eprintln!("skipping: {} is missing", path.display());
        return None;
    }
    Some(TextModel::load("default", tch::Device::Cpu, tch::Kind::Float).expect("SmolLM2 loads"))
}

fn constraint(model: &TextModel, spec: &JsonSchemaSpec) -> JsonConstraint {
    let forced = JsonConstraint::forced_tokens(&model.tokenizer, spec).unwrap();
    JsonConstraint::new(
        model.structured_vocab().unwrap(),
        Arc::new(spec.clone()),
        Arc::new(forced),
    )
}

/// Picks an allowed token from `logits` after masking, the way the decoder does.
fn pick(c: &mut JsonConstraint, mut logits: Vec<f32>, rng: &mut StdRng) -> u32 {
    c.mask(&mut logits);
    loop {
        let live: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert!(!live.is_empty(), "the constraint left no token");
        let best = live
            .iter()
            .copied()
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        let t = if rng.gen_bool(0.5) {
            best
        } else {
            live[rng.gen_range(0..live.len())]
        };
        if c.allows(t as u32) {
            return t as u32;
        }
        logits[t] = f32::NEG_INFINITY;
    }
}

/// Decodes `spec` under the constraint with random logits that favour a random handful of
/// tokens (so walks reach the limits), seeded by `seed`; returns the text and its JSON.
fn random_walk(model: &TextModel, spec: &JsonSchemaSpec, seed: u64) -> (String, serde_json::Value) {
    let n = model.tokenizer.vocab_size();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = constraint(model, spec);
    let mut ids = Vec::new();
    while !c.is_complete() {
        let logits: Vec<f32> = (0..n).map(|_| rng.gen_range(-4.0..4.0f32)).collect();
        let t = pick(&mut c, logits, &mut rng);
        c.advance(t);
        ids.push(t);
        assert!(ids.len() < 400, "no end in sight");
    }
    let text = model.tokenizer.decode(&ids).unwrap();
    let obj = serde_json::from_str(&text).expect("valid JSON");
    (text, obj)
}

#[test]
fn random_walks_end_on_whole_words_within_limits() {
    let Some(model) = default_model() else { return };
    let vocab = model.structured_vocab().unwrap();
    for (language, limits) in [("en", [12usize, 24]), ("fr", [9, 30]), ("de", [15, 40])] {
        let spec = JsonSchemaSpec::new(vec![
            JsonField::free("headline", limits[0]),
            JsonField::free("body", limits[1]),
            JsonField::one_of("cta", 12, vec!["Shop now".into(), "Réserver".into()]),
        ])
        .with_language(language);
        for seed in 0..40u64 {
            let (text, obj) = random_walk(&model, &spec, seed);
            for f in &spec.fields {
                let v = obj[&f.name].as_str().unwrap();
                assert!(v.graphemes(true).count() <= f.max_graphemes, "{text}");
                if f.allowed_values.is_none() {
                    assert!(vocab.ends_cleanly(v, Some(language)), "{language}: {text}");
                    assert!(!v.contains(['*', '[', ']', '{', '}', '#', '\n']), "{text}");
                    assert_eq!(v.trim(), v, "{text}");
                } else {
                    assert!(v == "Shop now" || v == "Réserver", "{text}");
                }
            }
        }
    }
}

#[test]
fn sentence_fields_end_on_a_stop_within_limits() {
    let Some(model) = default_model() else { return };
    let vocab = model.structured_vocab().unwrap();
    for limit in [12usize, 25, 90] {
        let spec = JsonSchemaSpec::new(vec![
            JsonField::free("headline", 20),
            JsonField::sentence("body", limit),
        ]);
        for seed in 0..30u64 {
            let (text, obj) = random_walk(&model, &spec, seed);
            let body = obj["body"].as_str().unwrap();
            assert!(body.graphemes(true).count() <= limit, "{text}");
            assert!(ends_sentence(body), "{text}");
            assert!(vocab.ends_cleanly(body, Some("en")), "{text}");
        }
    }
}

#[test]
fn closing_quote_waits_for_the_word_being_written() {
    let Some(model) = default_model() else { return };
    let spec = JsonSchemaSpec::new(vec![JsonField::free("headline", 40)]);
    let quote = model.tokenizer.encode_fragment("\"").unwrap()[0];
    let n = model.tokenizer.vocab_size();
    let walk = |text: &str, favour: u32| {
        let mut c = constraint(&model, &spec);
        while c.is_forced() {
            let mut logits = vec![0.0; n];
            c.mask(&mut logits);
            let t = logits.iter().position(|l| l.is_finite()).unwrap() as u32;
            c.advance(t);
        }
        for t in model.tokenizer.encode_fragment(text).unwrap() {
            c.advance(t);
        }
        let mut logits = vec![0.0f32; n];
        logits[favour as usize] = 30.0;
        c.mask(&mut logits);
        c.allows(quote)
    };
    let ffee = model.tokenizer.encode_fragment("coffee").unwrap();
    let continuation = *ffee.last().unwrap();
    // The model wants to go on with the word: the value may not close.
    assert!(!walk("This awesome co", continuation));
    // The word is complete and the model would close: it may.
    assert!(walk("This awesome coffee", quote));
    // Dangling endings never close, whatever the model wants.
    assert!(!walk("Fresh coffee and", quote));
    assert!(!walk("Fresh coffee,", quote));
    assert!(!walk("Fresh coffee for the", quote));
    assert!(!walk("", quote));
    assert!(walk("Fresh coffee!", quote));
}

#[test]
fn stops_and_brackets_only_where_a_sentence_can_end() {
    let Some(model) = default_model() else { return };
    let spec = JsonSchemaSpec::new(vec![JsonField::sentence("body", 60)]);
    let n = model.tokenizer.vocab_size();
    let allowed_after = |text: &str, piece: &str| {
        let mut c = constraint(&model, &spec);
        while c.is_forced() {
            let mut logits = vec![0.0; n];
            c.mask(&mut logits);
            let t = logits.iter().position(|l| l.is_finite()).unwrap() as u32;
            c.advance(t);
        }
        for t in model.tokenizer.encode_fragment(text).unwrap() {
            c.advance(t);
        }
        let token = model.tokenizer.encode_fragment(piece).unwrap()[0];
        let mut logits = vec![0.0f32; n];
        c.mask(&mut logits);
        logits[token as usize].is_finite() && c.allows(token)
    };
    assert!(allowed_after("Fresh bread every day", "."));
    assert!(allowed_after("Fresh bread every day", "!"));
    assert!(!allowed_after("Fresh bread every", "."));
    assert!(!allowed_after("Learn the words you don", "?"));
    assert!(!allowed_after("Made with the", "."));
    assert!(!allowed_after("A review of the words you'll", "."));
    assert!(allowed_after("Learn the words you don't", "."));
    assert!(!allowed_after("Comfortable.", "!"));
    assert!(!allowed_after("Words you'll", ")"));
    assert!(allowed_after("Lessons (ten minutes", ")"));
}

#[test]
fn free_fields_too_short_to_end_on_a_word_are_refused() {
    let Some(model) = default_model() else { return };
    let least = model.structured_vocab().unwrap().min_free_graphemes();
    assert!((2..=4).contains(&least), "{least}");
    let spec = JsonSchemaSpec::new(vec![JsonField::free("headline", least - 1)]);
    let err = crate::text::sequence::JsonPlan::new(&model, &spec)
        .err()
        .unwrap();
    assert!(err.to_string().contains("headline"), "{err}");
}

/// Drives `c` through its forced opening, then feeds `text` as the first value.
fn start_value(model: &TextModel, c: &mut JsonConstraint, text: &str) {
    let n = model.tokenizer.vocab_size();
    while c.is_forced() {
        let mut logits = vec![0.0; n];
        c.mask(&mut logits);
        let t = logits.iter().position(|l| l.is_finite()).unwrap() as u32;
        c.advance(t);
    }
    for t in model.tokenizer.encode_fragment(text).unwrap() {
        c.advance(t);
    }
}

#[test]
fn banned_words_and_extra_exclamation_marks_are_never_chosen() {
    let Some(model) = default_model() else { return };
    let spec = JsonSchemaSpec::new(vec![JsonField::free("headline", 60)])
        .with_banned_words(["Best", "guaranteed", "two words"])
        .with_max_exclamations(1);
    assert_eq!(spec.banned_words, vec!["best", "guaranteed"]);
    let token = |text: &str| {
        let ids = model.tokenizer.encode_fragment(text).unwrap();
        assert_eq!(ids.len(), 1, "{text:?} is one token");
        ids[0]
    };
    let allowed_after = |text: &str, piece: &str| {
        let mut c = constraint(&model, &spec);
        start_value(&model, &mut c, text);
        let mut logits = vec![0.0f32; model.tokenizer.vocab_size()];
        c.mask(&mut logits);
        c.allows(token(piece))
    };
    assert!(!allowed_after("The", " best"));
    assert!(!allowed_after("Coffee,", " guaranteed"));
    assert!(allowed_after("The", " finest"));
    assert!(allowed_after("Fresh coffee", "!"));
    assert!(!allowed_after("Fresh coffee! Now", "!"));
}

#[test]
fn a_value_closed_inside_a_word_is_counted() {
    let Some(model) = default_model() else { return };
    let spec = JsonSchemaSpec::new(vec![JsonField::free("headline", 12)]);
    let quote = model.tokenizer.encode_fragment("\"").unwrap()[0];
    let n = model.tokenizer.vocab_size();
    let ffee = model.tokenizer.encode_fragment("coffee").unwrap();
    let continuation = *ffee.last().unwrap();
    let close_after = |text: &str, favour: u32| {
        let mut c = constraint(&model, &spec);
        start_value(&model, &mut c, text);
        let mut logits = vec![0.0f32; n];
        logits[favour as usize] = 30.0;
        c.mask(&mut logits);
        assert!(c.allows(quote), "{text:?} must be able to close");
        c.advance(quote);
        c.cut_words()
    };
    // No room left and the model wants to go on with "co": the close is a cut.
    assert_eq!(close_after("Fresh hot co", continuation), 1);
    // No room left but the word is done: not a cut.
    assert_eq!(close_after("Fresh coffee", quote), 0);
}
