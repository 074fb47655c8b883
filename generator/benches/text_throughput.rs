//! Prefill and decode throughput of a text model (greedy, KV cache), for scripts/bench-text.sh,
//! which runs transformers on the same prompts in the same run.
//!
//! Usage: text_throughput [--model PATH|default] [--batch B] [--prompt-tokens P]
//!                        [--new-tokens N] [--dtype f32|bf16|f16] [--device cpu|cuda]
//! Prints one JSON line: prefill and decode tokens per second and the process's peak RSS.

use std::time::Instant;

use adforge_generator::text::{KvCache, TextModel};
use tch::{Kind, Tensor};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model_path = arg(&args, "--model", "default");
    let batch: i64 = arg(&args, "--batch", "1").parse()?;
    let prompt_tokens: i64 = arg(&args, "--prompt-tokens", "128").parse()?;
    let new_tokens: i64 = arg(&args, "--new-tokens", "64").parse()?;
    let kind = adforge_generator::device::parse_dtype(&arg(&args, "--dtype", "f32"))?;
    let device = adforge_generator::device::parse_device(&arg(&args, "--device", "cpu"))?;
    if let Ok(threads) = std::env::var("BENCH_THREADS") {
        tch::set_num_threads(threads.parse()?);
    }
    let model = TextModel::load(&model_path, device, kind)?;
    let _guard = tch::no_grad_guard();
    let net = &model.network;

    // The same deterministic prompt as scripts/bench-text.py, repeated for every row.
    let prompt: Vec<i64> = (0..prompt_tokens)
        .map(|i| (i * 7919) % 40000 + 100)
        .collect();
    let ids = Tensor::from_slice(&prompt)
        .reshape([1, prompt_tokens])
        .repeat([batch, 1])
        .to_device(device);
    let positions = Tensor::arange(prompt_tokens, (Kind::Int64, device))
        .unsqueeze(0)
        .repeat([batch, 1]);

    let run = |record: bool| -> (f64, f64) {
        let mut cache = KvCache::new(net.num_layers());
        let start = Instant::now();
        let hidden = net.forward(&ids, &positions, None, &mut cache);
        let mut next = net
            .logits(&hidden.select(1, prompt_tokens - 1))
            .argmax(-1, false);
        let _host: Vec<i64> = Vec::try_from(next.to_device(tch::Device::Cpu)).unwrap_or_default();
        let prefill = start.elapsed().as_secs_f64();
        let steps = if record { new_tokens } else { 2 };
        let start = Instant::now();
        for step in 0..steps {
            let pos = Tensor::full([batch, 1], prompt_tokens + step, (Kind::Int64, device));
            let hidden = net.forward(&next.reshape([batch, 1]), &pos, None, &mut cache);
            next = net.logits(&hidden.select(1, 0)).argmax(-1, false);
            // Generation needs the tokens on the host every step (stop checks, streaming).
            let _host: Vec<i64> =
                Vec::try_from(next.to_device(tch::Device::Cpu)).unwrap_or_default();
        }
        (prefill, start.elapsed().as_secs_f64() / steps as f64)
    };
    run(false); // warm-up
    let (prefill_s, step_s) = run(true);
    println!(
        "{}",
        serde_json::json!({
            "impl": "adforge",
            "batch": batch,
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "prefill_tok_s": (batch * prompt_tokens) as f64 / prefill_s,
            "decode_tok_s": batch as f64 / step_s,
            "peak_rss_mib": peak_rss_mib(),
            "threads": tch::get_num_threads(),
        })
    );
    Ok(())
}
