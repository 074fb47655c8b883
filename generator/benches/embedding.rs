//! Sentence-embedding throughput of `SentenceEmbedder` against transformers, same machine, same
//! run, same sentences, same thread count, batch 1 and 32.
//!
//! Run: `cargo bench -p adforge-generator --bench embedding`
//! Needs the model (`ADFORGE_MODELS_DIR`, default `<workspace>/.deps/models`) and the Python
//! reference venv (`PYREF`, default `<workspace>/.deps/pyref/bin/python`); threads from
//! `BENCH_THREADS` (default: all cores). Prints a Markdown table with the ratios.
//!
//! The timed region on both sides: tokenization, the forward pass, masked mean pooling and
//! normalisation. The packaged tokenizer pads every sentence to 128 tokens; the Rust side cuts a
//! batch to its longest real sequence first (same result, as the parity test checks). The peer
//! runs twice: with the padding as the tokenizer gives it, and with the same trimming.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use adforge_generator::embed::SentenceEmbedder;

const ROUNDS: usize = 3;

fn sentences() -> Vec<String> {
    let subjects = [
        "Light e-bikes",
        "Fresh salads",
        "Trail running shoes",
        "Noise-cancelling headphones",
        "Weekend city breaks",
        "Organic coffee beans",
        "Family car insurance",
        "Yoga classes",
    ];
    let tails = [
        "for your daily commute.",
        "delivered to your door in under an hour, every day of the week.",
        "that fit your budget and your schedule.",
        "chosen by people who care about quality, comfort and the planet they live on.",
        "now.",
        "with free returns within thirty days and friendly support by phone or chat.",
        "for beginners and experts.",
        "made in small batches by independent makers.",
    ];
    subjects
        .iter()
        .flat_map(|s| tails.iter().map(move |t| format!("{s} {t}")))
        .collect()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".deps/models"));
    let model_dir = models.join("all-minilm-l6-v2");
    let python = std::env::var_os("PYREF")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".deps/pyref/bin/python"));
    if !model_dir.join("model.safetensors").exists() || !python.exists() {
        eprintln!(
            "skipping: needs {} and {}",
            model_dir.display(),
            python.display()
        );
        return;
    }
    let threads: i32 = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    tch::set_num_threads(threads);
    let sentences = sentences();
    let sentences_path = std::env::temp_dir().join("adforge-embedding-bench.json");
    std::fs::write(&sentences_path, serde_json::to_string(&sentences).unwrap()).unwrap();
    let model = SentenceEmbedder::load(&model_dir, tch::Device::Cpu).expect("model loads");

    println!(
        "{} sentences × {ROUNDS} rounds, {threads} threads, CPU, f32\n",
        sentences.len()
    );
    println!("| batch | adforge sentences/s | transformers, padded to 128 | ratio | transformers, padding trimmed | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for batch in [1usize, 32] {
        let chunks: Vec<&[String]> = sentences.chunks(batch).collect();
        model.embed(chunks[0]).unwrap(); // warm-up
        let started = Instant::now();
        let mut done = 0;
        for _ in 0..ROUNDS {
            for chunk in &chunks {
                done += model.embed(chunk).unwrap().len();
            }
        }
        let ours = done as f64 / started.elapsed().as_secs_f64();
        let peer = |trim: bool| -> f64 {
            let output = Command::new(&python)
                .arg(root.join("generator/benches/embedding_peer.py"))
                .arg(&model_dir)
                .arg(&sentences_path)
                .arg(batch.to_string())
                .arg(ROUNDS.to_string())
                .arg(threads.to_string())
                .arg(if trim { "1" } else { "0" })
                .output()
                .expect("python runs");
            assert!(
                output.status.success(),
                "peer failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let line = output
                .stdout
                .split(|b| *b == b'\n')
                .rfind(|l| !l.is_empty())
                .unwrap_or_default();
            let peer: serde_json::Value = serde_json::from_slice(line).expect("peer prints JSON");
            peer["sentences_per_s"].as_f64().expect("sentences_per_s")
        };
        let padded = peer(false);
        let trimmed = peer(true);
        println!(
            "| {batch} | {ours:.1} | {padded:.1} | {:.2}× | {trimmed:.1} | {:.2}× |",
            ours / padded,
            ours / trimmed
        );
    }
}
