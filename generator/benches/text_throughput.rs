//! Prefill and decode throughput of a text model (greedy, KV cache), for scripts/bench-text.sh,
//! which runs transformers on the same prompts in the same run.
//!
//! Usage: text_throughput [--model PATH|default] [--batch B] [--prompt-tokens P]
//!                        [--new-tokens N] [--dtype f32|bf16|f16] [--device cpu|cuda]
//!                        [--decode reference|quantized]
//! Prints one JSON line: prefill and decode tokens per second, the model's load time, the
//! process's peak RSS, and a per-step split of decode time into matrix products and the rest.
//!
//! `--decode quantized` (CPU, GGUF) decodes with the quantized CPU step, all rows in one
//! batched step per token (each row its own cache, the weights read once per step); its split
//! is timed inside the step. The reference (libtorch) split times the step's matrix products
//! alone: `linear` on weights of the model's shapes with a one-token input, as the step calls
//! them, subtracted from the measured step time.

use std::time::Instant;

use adforge_generator::nn::quant::ComputePool;
use adforge_generator::text::models::llama_cpu::StepScratch;
use adforge_generator::text::{CausalLm, KvCache, TextModel};
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
    let quantized = match arg(&args, "--decode", "reference").as_str() {
        "reference" => false,
        "quantized" => true,
        other => return Err(format!("--decode {other:?}: expected reference or quantized").into()),
    };
    let load_start = Instant::now();
    let mut model = TextModel::load(&model_path, device, kind)?;
    if quantized {
        model.enable_quantized_decode()?;
    }
    let load_s = load_start.elapsed().as_secs_f64();
    let _guard = tch::no_grad_guard();
    let model = model;
    let net = &model.network;
    let pool = ComputePool::global();

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

    // (prefill s, decode s per step, matvec s per step, attention s per step; the last two
    // only from the quantized step)
    let run = |record: bool| -> Result<(f64, f64, f64, f64), Box<dyn std::error::Error>> {
        let mut cache = KvCache::new(net.num_layers());
        let start = Instant::now();
        let hidden = net.forward(&ids, &positions, None, &mut cache);
        let mut next = net
            .logits(&hidden.select(1, prompt_tokens - 1))
            .argmax(-1, false);
        let host: Vec<i64> = Vec::try_from(next.to_device(tch::Device::Cpu)).unwrap_or_default();
        let prefill = start.elapsed().as_secs_f64();
        let steps = if record { new_tokens } else { 2 };
        if let Some(decoder) = model.quantized_decoder() {
            let mut tokens: Vec<u32> = host.iter().map(|&t| t as u32).collect();
            let capacity = (prompt_tokens + steps + 1) as usize;
            let start = Instant::now();
            // Every row has the same prompt: one row's cache, copied into each row's state.
            cache.select_rows(&Tensor::from_slice(&[0i64]).to_device(device));
            let first = decoder.state_from_cache(&cache, capacity)?;
            let mut states = vec![first; batch as usize];
            let mut scratch = StepScratch::default();
            let mut logits = Vec::new();
            let vocab = decoder.vocab_size();
            for _ in 0..steps {
                decoder.step_batch(pool, &mut scratch, &mut states, &tokens, &mut logits)?;
                for (token, row) in tokens.iter_mut().zip(logits.chunks_exact(vocab)) {
                    *token = adforge_generator::text::argmax(row).unwrap_or(0);
                }
            }
            let per = |d: std::time::Duration| d.as_secs_f64() / steps as f64;
            let times = scratch.times();
            return Ok((
                prefill,
                start.elapsed().as_secs_f64() / steps as f64,
                per(times.matvec),
                per(times.attention),
            ));
        }
        let start = Instant::now();
        for step in 0..steps {
            let pos = Tensor::full([batch, 1], prompt_tokens + step, (Kind::Int64, device));
            let hidden = net.forward(&next.reshape([batch, 1]), &pos, None, &mut cache);
            next = net.logits(&hidden.select(1, 0)).argmax(-1, false);
            // Generation needs the tokens on the host every step (stop checks, streaming).
            let _host: Vec<i64> =
                Vec::try_from(next.to_device(tch::Device::Cpu)).unwrap_or_default();
        }
        Ok((
            prefill,
            start.elapsed().as_secs_f64() / steps as f64,
            f64::NAN,
            f64::NAN,
        ))
    };
    run(false)?; // warm-up
    let (prefill_s, step_s, mut matvec_s, attention_s) = run(true)?;
    if !quantized && batch == 1 {
        matvec_s = reference_matmul_s(net, device);
    }
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
            "load_s": load_s,
            "decode": if quantized { "quantized" } else { "reference" },
            "step_ms": step_s * 1e3,
            "matmul_ms": finite(matvec_s * 1e3),
            "attention_ms": finite(attention_s * 1e3),
            "threads": if quantized { pool.threads() as i32 } else { tch::get_num_threads() },
        })
    );
    Ok(())
}

fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// Seconds per decode step that the reference path spends in `linear` for one token: every
/// layer's fused q/k/v, output, fused gate/up and down projections and the output head, on
/// weights of the model's shapes (Llama family; NaN for others).
fn reference_matmul_s(net: &CausalLm, device: tch::Device) -> f64 {
    let CausalLm::Llama(m) = net else {
        return f64::NAN;
    };
    let c = m.config();
    let (h, hd, inter) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let q = c.num_attention_heads * hd;
    let kv = c.num_key_value_heads * hd;
    let opts = (Kind::Float, device);
    // Distinct weights per layer, so they stream from memory as the model's do.
    let shapes = [(q + 2 * kv, h), (h, q), (2 * inter, h), (h, inter)];
    let layers: Vec<Vec<Tensor>> = (0..c.num_hidden_layers)
        .map(|_| {
            shapes
                .iter()
                .map(|&(o, i)| Tensor::randn([o, i], opts))
                .collect()
        })
        .collect();
    let head = Tensor::randn([c.vocab_size, h], opts);
    let inputs: Vec<Tensor> = shapes
        .iter()
        .map(|&(_, i)| Tensor::randn([1, 1, i], opts))
        .collect();
    let x_head = Tensor::randn([1, 1, h], opts);
    let once = || {
        for layer in &layers {
            for (w, x) in layer.iter().zip(&inputs) {
                let _ = x.linear::<Tensor>(w, None);
            }
        }
        let _ = x_head.linear::<Tensor>(&head, None);
    };
    once();
    let rounds = 10;
    let start = Instant::now();
    for _ in 0..rounds {
        once();
    }
    start.elapsed().as_secs_f64() / rounds as f64
}
