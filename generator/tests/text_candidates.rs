//! Over-generation and cancellation on the default model (SmolLM2-135M-Instruct; skipped when
//! it is not installed): K candidates of one structured request share one prefill and decode
//! together, each the same as when generated alone; a cancel token stops decoding within a
//! step, in the scheduler and for structured batches.

use std::time::{Duration, Instant};

use adforge_generator::text::*;
use tch::{Device, Kind};

fn device() -> Device {
    adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )
    .expect("ADFORGE_DEVICE names a usable device")
}

fn load_default() -> Option<TextModel> {
    let path = resolve_model_path("default");
    if !path.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{} is missing (CI=true)", path.display());
        }
        eprintln!("skipping: {} is missing", path.display());
        return None;
    }
    Some(TextModel::load("default", device(), Kind::Float).expect("SmolLM2 loads"))
}

fn spec() -> JsonSchemaSpec {
    JsonSchemaSpec::new(vec![
        JsonField::free("headline", 30),
        JsonField::free("body", 60),
        JsonField::one_of(
            "cta",
            12,
            vec!["Shop now".into(), "Learn more".into(), "Order now".into()],
        ),
    ])
}

fn prompt(product: &str) -> Prompt {
    Prompt::Chat {
        system: Some(spec().instruction()),
        user: format!("Write an ad for {product}."),
    }
}

fn sampled(seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: 0.8,
        top_p: 0.95,
        seed: Some(seed),
        ..Default::default()
    }
}

/// Candidates of one prompt share a prefill: each is the object its seed gives alone.
#[test]
fn candidates_of_one_prompt_share_a_prefill_and_match_alone() {
    let Some(model) = load_default() else { return };
    let k = 6u64;
    let jobs: Vec<(Prompt, SamplingParams)> = (0..k)
        .map(|s| (prompt("Northwind cold brew coffee"), sampled(s)))
        .collect();
    let together = model.generate_json_batch(&jobs, &spec()).unwrap();
    let mut distinct = std::collections::HashSet::new();
    for (s, out) in together.iter().enumerate() {
        let alone = model
            .generate_json(&jobs[s].0, &spec(), &jobs[s].1)
            .unwrap();
        assert_eq!(out.values, alone.values, "seed {s}");
        assert!((out.generation.mean_logprob - alone.generation.mean_logprob).abs() < 1e-3);
        distinct.insert(out.generation.text.clone());
    }
    assert!(distinct.len() >= 4, "seeds gave {} objects", distinct.len());

    // Shared prefill against K different prompts of the same length (no sharing possible):
    // both timings are printed for BENCHMARKS.md.
    let long = |tag: &str| Prompt::Chat {
        system: Some(format!(
            "{} {}",
            spec().instruction(),
            "Be brief. ".repeat(40)
        )),
        user: format!("Write an ad for Northwind cold brew coffee, variant {tag}."),
    };
    let greedy_short = SamplingParams {
        seed: Some(1),
        ..SamplingParams::greedy()
    };
    let small = JsonSchemaSpec::new(vec![JsonField::free("headline", 12)]);
    let time = |jobs: &[(Prompt, SamplingParams)]| {
        let start = Instant::now();
        model.generate_json_batch(jobs, &small).unwrap();
        start.elapsed()
    };
    let shared: Vec<_> = (0..12).map(|_| (long("A"), greedy_short.clone())).collect();
    let tags = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M"];
    let separate: Vec<_> = tags
        .iter()
        .map(|t| (long(t), greedy_short.clone()))
        .collect();
    time(&shared);
    let (a, b) = (time(&shared), time(&separate));
    eprintln!("12 candidates, one prompt (shared prefill): {a:?}; 12 prompts: {b:?}");
    // Not asserted: timings on a shared machine are too noisy to gate on.
}

/// Cancelling a running request ends it at the next step with `Cancelled`; a request whose
/// token is already cancelled does not start; the scheduler keeps serving.
#[test]
fn cancel_stops_decoding_between_steps() {
    let Some(model) = load_default() else { return };
    let scheduler = TextScheduler::start(model, 8);
    let cancel = CancelToken::new();
    let mut long = GenerationRequest::chat(None, "Tell me a very long story about the sea.", 4000);
    long.sampling = sampled(3);
    long.cancel = Some(cancel.clone());
    let events = scheduler.submit(long.clone()).unwrap();
    let mut pieces = 0;
    let mut cancelled_at = None;
    let generation = loop {
        match events.recv_timeout(Duration::from_secs(60)).unwrap() {
            SchedulerEvent::Text(_) => {
                pieces += 1;
                if pieces == 5 {
                    cancel.cancel();
                    cancelled_at = Some(Instant::now());
                }
            }
            SchedulerEvent::Done(result) => break result.unwrap(),
        }
    };
    let waited = cancelled_at
        .expect("text arrived before cancelling")
        .elapsed();
    assert_eq!(generation.finish_reason, FinishReason::Cancelled);
    assert!(waited < Duration::from_secs(2), "cancel took {waited:?}");
    assert!(
        generation.token_ids.len() < 100,
        "{}",
        generation.token_ids.len()
    );

    // Already cancelled: done at once, no tokens.
    let done = scheduler.generate(long).unwrap();
    assert_eq!(done.finish_reason, FinishReason::Cancelled);
    assert!(done.token_ids.is_empty());

    // A structured batch cancelled from another thread fails with `Cancelled`.
    let cancel = CancelToken::new();
    let jobs: Vec<_> = (0..4)
        .map(|s| (prompt("a city bike"), sampled(s)))
        .collect();
    let worker = {
        let (scheduler, cancel) = (scheduler.clone(), cancel.clone());
        std::thread::spawn(move || {
            let big = JsonSchemaSpec::new(vec![JsonField::free("story", 4000)]);
            scheduler.generate_json_batch_cancellable(&jobs, &big, &cancel)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    cancel.cancel();
    let result = worker.join().unwrap();
    assert!(matches!(result, Err(TextError::Cancelled)), "{result:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // The worker still serves.
    let out = scheduler
        .generate_json_batch(&[(prompt("green tea"), SamplingParams::greedy())], &spec())
        .unwrap();
    assert!(out[0].values.contains_key("cta"));
}
