//! Prefill and decode throughput of a text model (greedy, KV cache), for scripts/bench-text.sh,
//! which runs transformers on the same prompts in the same run.
//!
//! Usage: text_throughput [--model PATH|default] [--batch B] [--prompt-tokens P]
//!                        [--new-tokens N] [--dtype f32|bf16|f16] [--device cpu|cuda]
//!                        [--decode reference|quantized]
//! Prints one JSON line: prefill and decode tokens per second, the model's load time, the
//! process's peak RSS, and a per-step split of decode time into matrix products and the rest.
//!
//! `--decode quantized` (CPU, GGUF) loads the model as serving does for the quantized CPU path
//! ([`TextModel::load_quantized`]: no f32 libtorch network in memory), prefills the prompt
//! once on the quantized products and copies its cache into every row (candidates of one
//! request share their prefill the same way; the prefill rate counts the prompt once), then
//! decodes all rows in one batched step per token (each row its own cache, the weights read
//! once per step); its split is timed inside the step. The reference (libtorch) split times the step's matrix products
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
    let model = if quantized {
        if device != tch::Device::Cpu || kind != Kind::Float {
            return Err("--decode quantized runs on the CPU in f32".into());
        }
        TextModel::load_quantized(&model_path)?
    } else {
        TextModel::load(&model_path, device, kind)?
    };
    let load_s = load_start.elapsed().as_secs_f64();
    let _guard = tch::no_grad_guard();
    let pool = ComputePool::global();

    // The same deterministic prompt as scripts/bench-text.py, repeated for every row.
    let prompt: Vec<i64> = (0..prompt_tokens)
        .map(|i| (i * 7919) % 40000 + 100)
        .collect();

    let run_quantized = |record: bool| -> Result<Run, Box<dyn std::error::Error>> {
        let decoder = model
            .quantized_decoder()
            .ok_or("the quantized step is off")?;
        let steps = if record { new_tokens } else { 2 };
        let capacity = (prompt_tokens + steps + 1) as usize;
        let ids: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
        let start = Instant::now();
        let mut first = decoder.new_state(capacity);
        let mut logits = Vec::new();
        decoder.prefill(
            pool,
            &mut StepScratch::default(),
            &mut first,
            &ids,
            &mut logits,
        )?;
        let next = adforge_generator::text::argmax(&logits).unwrap_or(0);
        let prefill = start.elapsed().as_secs_f64();
        let mut tokens = vec![next; batch as usize];
        let start = Instant::now();
        // Every row has the same prompt: one prefill, copied into each row's state.
        let mut states = vec![first; batch as usize];
        let mut scratch = StepScratch::default();
        let vocab = decoder.vocab_size();
        for _ in 0..steps {
            decoder.step_batch(pool, &mut scratch, &mut states, &tokens, &mut logits)?;
            for (token, row) in tokens.iter_mut().zip(logits.chunks_exact(vocab)) {
                *token = adforge_generator::text::argmax(row).unwrap_or(0);
            }
        }
        let per = |d: std::time::Duration| d.as_secs_f64() / steps as f64;
        let times = scratch.times();
        Ok(Run {
            prefilled: prompt_tokens,
            prefill,
            step: start.elapsed().as_secs_f64() / steps as f64,
            matvec: per(times.matvec),
            attention: per(times.attention),
        })
    };
    let run_reference = |record: bool| -> Result<Run, Box<dyn std::error::Error>> {
        let net = model.network()?;
        let ids = Tensor::from_slice(&prompt)
            .reshape([1, prompt_tokens])
            .repeat([batch, 1])
            .to_device(device);
        let positions = Tensor::arange(prompt_tokens, (Kind::Int64, device))
            .unsqueeze(0)
            .repeat([batch, 1]);
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
        Ok(Run {
            prefilled: batch * prompt_tokens,
            prefill,
            step: start.elapsed().as_secs_f64() / steps as f64,
            matvec: f64::NAN,
            attention: f64::NAN,
        })
    };
    let run = |record: bool| {
        if quantized {
            run_quantized(record)
        } else {
            run_reference(record)
        }
    };
    run(false)?; // warm-up
    let Run {
        prefilled,
        prefill: prefill_s,
        step: step_s,
        matvec: mut matvec_s,
        attention: attention_s,
    } = run(true)?;
    if !quantized && batch == 1 {
        matvec_s = reference_matmul_s(model.network()?, device);
    }
    println!(
        "{}",
        serde_json::json!({
            "impl": "adforge",
            "batch": batch,
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "prefill_tok_s": prefilled as f64 / prefill_s,
            "decode_tok_s": batch as f64 / step_s,
            "peak_rss_mib": peak_rss_mib(),
            "load_s": load_s,
            "decode": if quantized { "quantized" } else { "reference" },
            "step_ms": step_s * 1e3,
            "matmul_ms": finite(matvec_s * 1e3),
            "attention_ms": finite(attention_s * 1e3),
            "threads": if quantized { pool.threads() as i32 } else { tch::get_num_threads() },
            "f32_network_loaded": model.network_loaded(),
        })
    );
    Ok(())
}

/// One timed run: prompt tokens prefilled, prefill seconds, and per decode step the seconds
/// of the whole step, of the matrix products and of attention.
struct Run {
    prefilled: i64,
    prefill: f64,
    step: f64,
    matvec: f64,
    attention: f64,
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
