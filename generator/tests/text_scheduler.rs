//! Continuous batching: requests submitted from several threads at different times join and
//! leave one running batch, and each gets exactly its greedy output alone
//! (fixture: tests/fixtures/make_text_tiny.py).

use std::path::PathBuf;
use std::time::Duration;

use adforge_generator::text::*;
use tch::{Device, Kind};

/// The device under test: `ADFORGE_DEVICE` (scripts/gpu-check.sh sets `cuda`), default CPU.
fn device() -> Device {
    adforge_generator::device::parse_device(
        &std::env::var("ADFORGE_DEVICE").unwrap_or_else(|_| "cpu".into()),
    )
    .expect("ADFORGE_DEVICE names a usable device")
}

fn tiny_llama() -> Option<PathBuf> {
    let dir = std::env::var_os("ADFORGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"))
        .join("text_tiny/llama");
    if dir.exists() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixture {} is missing (CI=true)", dir.display());
    }
    eprintln!("skipping: fixture {} is missing", dir.display());
    None
}

fn request(prompt: Vec<u32>, max_new_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        prompt: Prompt::Tokens(prompt),
        max_new_tokens,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        cancel: None,
    }
}

#[test]
fn requests_join_and_leave_a_running_batch() {
    let Some(dir) = tiny_llama() else { return };
    let path = dir.to_str().unwrap();
    let reference = TextModel::load(path, device(), Kind::Float).unwrap();
    let scheduler = TextScheduler::start(TextModel::load(path, device(), Kind::Float).unwrap(), 4);

    // Different prompt lengths and output lengths; more requests than the batch holds.
    let requests: Vec<GenerationRequest> = (0..7u32)
        .map(|i| {
            let prompt: Vec<u32> = (0..(3 + 2 * i))
                .map(|j| 5 + (i * 37 + j * 11) % 300)
                .collect();
            request(prompt, 4 + 6 * (i as usize % 3))
        })
        .collect();
    let expected: Vec<Generation> = requests
        .iter()
        .map(|r| reference.generate(r).unwrap())
        .collect();

    let handles: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let scheduler = scheduler.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(15 * i as u64));
                let events = scheduler.submit(r).unwrap();
                let mut streamed = String::new();
                loop {
                    match events.recv().unwrap() {
                        SchedulerEvent::Text(t) => streamed.push_str(&t),
                        SchedulerEvent::Done(result) => return (streamed, result.unwrap()),
                    }
                }
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let (streamed, got) = handle.join().unwrap();
        assert_eq!(got.token_ids, expected[i].token_ids, "request {i}");
        assert_eq!(got.text, expected[i].text, "request {i}");
        assert_eq!(streamed, got.text, "request {i} streamed text");
    }
    // Invalid requests fail alone without stopping the worker.
    let mut bad = request(vec![1, 2, 3], 4);
    bad.sampling.top_p = 0.0;
    assert!(scheduler.generate(bad).is_err());
    assert!(scheduler.generate(request(vec![1, 2, 3], 2)).is_ok());
    assert!(scheduler.is_running());
}
