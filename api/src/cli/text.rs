//! `adforge text`: one generation with the text engine.

use adforge_generator::text::{GenerationRequest, SamplingParams, TextModel};
use anyhow::Context;

/// Arguments of `adforge text`.
#[derive(clap::Args, Debug)]
pub struct TextArgs {
    /// `default` (SmolLM2-135M-Instruct), a catalogue name pulled with `adforge models pull`
    /// (e.g. `qwen3-1.7b`), or a path to a GGUF file or a Hugging Face folder.
    #[arg(long, default_value = "default")]
    pub model: String,
    /// The user prompt.
    #[arg(long)]
    pub prompt: String,
    /// An optional system prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed for reproducible sampling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object with `text` and `token_ids` instead of streaming text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `adforge text`.
pub fn run(args: TextArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.max_tokens > 0, "--max-tokens must be at least 1");
    anyhow::ensure!(
        args.temperature >= 0.0,
        "--temperature must not be negative"
    );
    let path = match adforge_generator::hub::resolve_model(&args.model)? {
        Some(resolved) => resolved.path.to_string_lossy().into_owned(),
        None => args.model.clone(),
    };
    let model =
        TextModel::load_from_env(&path).with_context(|| format!("loading model {}", args.model))?;
    let mut request =
        GenerationRequest::chat(args.system.as_deref(), &args.prompt, args.max_tokens);
    request.sampling = if args.temperature > 0.0 {
        SamplingParams {
            temperature: args.temperature as _,
            seed: args.seed,
            ..SamplingParams::default()
        }
    } else {
        SamplingParams {
            seed: args.seed,
            ..SamplingParams::greedy()
        }
    };
    if args.json {
        let out = model.generate(&request)?;
        println!(
            "{}",
            serde_json::json!({ "text": out.text, "token_ids": out.token_ids })
        );
    } else {
        use std::io::Write;
        model.generate_streaming(&request, |piece| {
            print!("{piece}");
            std::io::stdout().flush().ok();
        })?;
        println!();
    }
    Ok(())
}
