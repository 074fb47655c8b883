//! The real SmolLM2-135M-Instruct GGUF against transformers loading the same file
//! (fixture: tests/fixtures/make_text_smollm2.py), plus structured output on it.

use std::path::PathBuf;

use adforge_generator::text::*;
use tch::{Device, Kind};
use unicode_segmentation::UnicodeSegmentation;

/// The device under test: `ADFORGE_DEVICE` (scripts/gpu-check.sh sets `cuda`), default CPU.
fn device() -> Device {
    adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )
    .expect("ADFORGE_DEVICE names a usable device")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn skip(what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing (CI=true)");
    }
    eprintln!("skipping: {what} is missing");
}

fn fixture(name: &str) -> Option<serde_json::Value> {
    let dir = std::env::var_os("ADFORGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target").join("fixtures"));
    let path = dir.join(name).join("reference.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("fixture is JSON")),
        Err(_) => {
            skip(&path.display().to_string());
            None
        }
    }
}

fn load_default() -> Option<TextModel> {
    let path = resolve_model_path("default");
    if !path.exists() {
        skip(&path.display().to_string());
        return None;
    }
    Some(TextModel::load("default", device(), Kind::Float).expect("SmolLM2 loads"))
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn messages(v: &serde_json::Value) -> Vec<ChatMessage> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn smollm2_gguf_matches_transformers() {
    let Some(reference) = fixture("text_smollm2") else {
        return;
    };
    let Some(model) = load_default() else { return };
    let cases = reference["cases"].as_array().unwrap();
    let mut requests = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let msgs = messages(&case["messages"]);
        let rendered = model.render_chat(&msgs).unwrap();
        assert_eq!(
            rendered,
            case["rendered"].as_str().unwrap(),
            "chat template, case {i}"
        );
        let prompt_ids = ids(&case["prompt_ids"]);
        assert_eq!(
            model.tokenizer.encode(&rendered).unwrap(),
            prompt_ids,
            "tokenization, case {i}"
        );

        let logits = model
            .prompt_logits(std::slice::from_ref(&prompt_ids))
            .unwrap();
        let last: Vec<f32> =
            Vec::try_from(logits.select(1, -1).reshape([-1]).to_device(Device::Cpu)).unwrap();
        let expected: Vec<f32> = case["last_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let scale = expected.iter().fold(0f32, |m, x| m.max(x.abs()));
        let worst = last
            .iter()
            .zip(&expected)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst / scale < 1e-4,
            "case {i}: logits differ by {worst} (scale {scale})"
        );

        let request = GenerationRequest {
            prompt: Prompt::Tokens(prompt_ids),
            max_new_tokens: 32,
            sampling: SamplingParams::greedy(),
            stop: vec![],
            cancel: None,
        };
        let out = model.generate(&request).unwrap();
        assert_eq!(
            out.token_ids,
            ids(&case["output_ids"]),
            "greedy tokens, case {i}: {:?}",
            out.text
        );
        assert_eq!(out.text, case["output_text"].as_str().unwrap());
        requests.push(request);
    }
    // The same prompts batched together (different lengths, so left padding is exercised).
    let batched = model.generate_batch(&requests).unwrap();
    for (i, (out, case)) in batched.iter().zip(cases).enumerate() {
        assert_eq!(
            out.token_ids,
            ids(&case["output_ids"]),
            "batched greedy tokens, case {i}"
        );
    }
}

#[test]
fn smollm2_streaming_stop_strings_and_seeds() {
    let Some(model) = load_default() else { return };
    let mut request = GenerationRequest::chat(None, "Write a two sentence ad for a bike shop.", 40);
    request.sampling = SamplingParams {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        min_p: 0.02,
        repetition_penalty: 1.1,
        seed: Some(11),
    };
    let a = model.generate(&request).unwrap();
    let b = model.generate(&request).unwrap();
    assert_eq!(a, b, "the same seed gives the same output");
    request.sampling.seed = Some(12);
    let c = model.generate(&request).unwrap();
    assert_ne!(
        a.token_ids, c.token_ids,
        "another seed gives another output"
    );

    let mut streamed = String::new();
    let greedy = GenerationRequest::chat(None, "Write a two sentence ad for a bike shop.", 40);
    let full = model
        .generate_streaming(&greedy, |piece| streamed.push_str(piece))
        .unwrap();
    assert_eq!(streamed, full.text);
    assert!(full.text.contains(' '));

    // Stop at the first space: the text is cut before it and generation ends early.
    let mut stopping = greedy.clone();
    stopping.stop = vec![" ".into()];
    let mut streamed = String::new();
    let stopped = model
        .generate_streaming(&stopping, |piece| streamed.push_str(piece))
        .unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert!(full.text.starts_with(&stopped.text) && !stopped.text.contains(' '));
    assert_eq!(streamed, stopped.text);
    assert!(stopped.token_ids.len() < full.token_ids.len());
}

#[test]
fn smollm2_structured_output_always_within_limits() {
    let Some(model) = load_default() else { return };
    let spec = JsonSchemaSpec {
        fields: vec![
            JsonField {
                name: "headline".into(),
                max_graphemes: 10,
                allowed_values: None,
                sentence: false,
            },
            JsonField {
                name: "body".into(),
                max_graphemes: 16,
                allowed_values: None,
                sentence: false,
            },
            JsonField {
                name: "cta".into(),
                max_graphemes: 10,
                allowed_values: Some(vec![
                    "Buy now".into(),
                    "Shop today".into(),
                    "Learn more".into(),
                ]),
                sentence: false,
            },
        ],
        language: None,
        banned_words: Vec::new(),
        max_exclamations: None,
        allowed_numbers: None,
    };
    let prompt = Prompt::Chat {
        system: Some(spec.instruction()),
        user: "An ad for fresh orange juice.".into(),
    };
    let samples = 200;
    let mut outputs = Vec::new();
    for chunk in (0..samples).collect::<Vec<u64>>().chunks(50) {
        let jobs: Vec<_> = chunk
            .iter()
            .map(|&seed| {
                let sampling = SamplingParams {
                    temperature: 1.2,
                    seed: Some(seed),
                    ..Default::default()
                };
                (prompt.clone(), sampling)
            })
            .collect();
        outputs.extend(model.generate_json_batch(&jobs, &spec).unwrap());
    }
    assert_eq!(outputs.len(), samples as usize);
    for out in outputs.iter().take(3) {
        eprintln!("structured sample: {}", out.generation.text);
    }
    // Whole words as the tokenizer spells them after a space, to judge endings independently.
    let words: std::collections::HashSet<String> = model
        .tokenizer
        .vocab_bytes()
        .iter()
        .filter_map(|b| {
            std::str::from_utf8(b)
                .ok()?
                .strip_prefix(' ')
                .map(str::to_lowercase)
        })
        .filter(|w| w.chars().count() >= 2 && w.chars().all(char::is_alphabetic))
        .collect();
    let dangling = [
        "a", "an", "the", "and", "or", "with", "for", "to", "of", "in", "on", "at", "by", "from",
        "your", "our",
    ];
    let (mut mid_word, mut dangles, mut markup) = (Vec::new(), Vec::new(), Vec::new());
    let mut distinct = std::collections::HashSet::new();
    for out in &outputs {
        assert!(
            out.generation.mean_logprob < 0.0 && out.generation.mean_logprob.is_finite(),
            "fluency {}",
            out.generation.mean_logprob
        );
        assert!(out.generation.scored_tokens >= 3);
        for name in ["headline", "body"] {
            let v = out.values[name].as_str().unwrap_or_default();
            let core = v.trim_end_matches(['.', '!', '?', '…', ')', '%']);
            let last: String = core
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let lower = last.to_lowercase();
            let stem_ok = core.len() > last.len()
                && core[..core.len() - last.len()].ends_with(['\'', '’'])
                && ["s", "t", "re", "ve", "ll", "d", "m"].contains(&lower.as_str());
            let whole = last.chars().all(|c| c.is_ascii_digit())
                || last == "I"
                || words.contains(&lower)
                || stem_ok;
            if last.is_empty() || !whole {
                mid_word.push(v.to_string());
            }
            if dangling.contains(&lower.as_str()) {
                dangles.push(v.to_string());
            }
            if v.contains(['*', '[', ']', '{', '}', '#', '<', '>', '\n']) || v.trim() != v {
                markup.push(v.to_string());
            }
        }
        let parsed: serde_json::Value =
            serde_json::from_str(&out.generation.text).expect("valid JSON");
        let obj = parsed.as_object().expect("an object");
        assert_eq!(obj.len(), 3, "{}", out.generation.text);
        for field in &spec.fields {
            let value = obj[&field.name].as_str().expect("string value");
            assert!(
                value.graphemes(true).count() <= field.max_graphemes,
                "{} = {value:?} is over {}",
                field.name,
                field.max_graphemes
            );
            if let Some(allowed) = &field.allowed_values {
                assert!(allowed.iter().any(|a| a == value), "cta {value:?}");
            }
        }
        distinct.insert(out.generation.text.clone());
    }
    assert!(mid_word.is_empty(), "mid-word endings: {mid_word:?}");
    assert!(dangles.is_empty(), "dangling endings: {dangles:?}");
    assert!(markup.is_empty(), "markup or stray spaces: {markup:?}");
    // Seeds change the samples (the constraint does not collapse them to one output).
    assert!(
        distinct.len() > 20,
        "only {} distinct outputs",
        distinct.len()
    );
    // Same seed, same output.
    let seeded = SamplingParams {
        temperature: 1.2,
        seed: Some(5),
        ..Default::default()
    };
    let first = model.generate_json(&prompt, &spec, &seeded).unwrap();
    let again = model.generate_json(&prompt, &spec, &seeded).unwrap();
    assert_eq!(first, again);
}

/// Structured requests from concurrent callers share the scheduler's decode batch and each gets
/// the same object as when generated alone.
#[test]
fn smollm2_structured_requests_from_threads_share_one_batch() {
    let Some(reference) = load_default() else {
        return;
    };
    let Some(model) = load_default() else { return };
    let scheduler = TextScheduler::start(model, 16);
    let spec = JsonSchemaSpec {
        fields: vec![
            JsonField {
                name: "headline".into(),
                max_graphemes: 25,
                allowed_values: None,
                sentence: false,
            },
            JsonField {
                name: "cta".into(),
                max_graphemes: 12,
                allowed_values: None,
                sentence: false,
            },
        ],
        language: None,
        banned_words: Vec::new(),
        max_exclamations: None,
        allowed_numbers: None,
    };
    let prompt = |product: &str| Prompt::Chat {
        system: Some(spec.instruction()),
        user: format!("An ad for {product}."),
    };
    let groups = [
        ["fresh orange juice", "running shoes"],
        ["a city bike", "green tea"],
    ];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(groups.len()));
    let handles: Vec<_> = groups
        .iter()
        .map(|products| {
            let jobs: Vec<(Prompt, SamplingParams)> = products
                .iter()
                .map(|p| (prompt(p), SamplingParams::greedy()))
                .collect();
            let (scheduler, spec, barrier) = (scheduler.clone(), spec.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                scheduler.generate_json_batch(&jobs, &spec).unwrap()
            })
        })
        .collect();
    for (products, handle) in groups.iter().zip(handles) {
        let got = handle.join().unwrap();
        for (product, out) in products.iter().zip(got) {
            let alone = reference
                .generate_json(&prompt(product), &spec, &SamplingParams::greedy())
                .unwrap();
            assert_eq!(out.values, alone.values, "{product}");
        }
    }
    assert!(
        scheduler.peak_batch() >= 3,
        "requests of both callers decoded together (peak batch {})",
        scheduler.peak_batch()
    );
    assert!(scheduler
        .generate_json_batch(&[], &JsonSchemaSpec::new(vec![]))
        .is_err());
}
