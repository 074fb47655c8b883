//! Which decoder architecture a checkpoint uses, by the name its config gives.

use super::error::{Result, TextError};

/// Which decoder architecture a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 2/3, SmolLM2 and other `LlamaForCausalLM` checkpoints.
    Llama,
    /// Mistral (Llama layout with sliding-window attention).
    Mistral,
    /// Qwen2 / Qwen2.5 (Llama layout with biases on the q, k and v projections).
    Qwen2,
    /// Qwen3 (Llama layout with RMSNorm of each query and key head).
    Qwen3,
    /// Phi-3 / Phi-3.5 (Llama layout with fused qkv and gate/up projections).
    Phi3,
    /// Gemma 2 (scaled embeddings, (1 + w) pre/post norms, soft-capping, local/global layers).
    Gemma2,
    /// Gemma 3 text (Gemma 2 without soft-capping, with q/k norms and two RoPE bases).
    Gemma3,
    /// GPT-2.
    Gpt2,
}

impl Architecture {
    /// The architecture named by a `model_type` (config.json) or `general.architecture` (GGUF).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "llama" | "smollm" | "smollm2" => Ok(Self::Llama),
            "mistral" => Ok(Self::Mistral),
            "qwen2" => Ok(Self::Qwen2),
            "qwen3" => Ok(Self::Qwen3),
            "phi3" => Ok(Self::Phi3),
            "gemma2" => Ok(Self::Gemma2),
            "gemma3" | "gemma3_text" => Ok(Self::Gemma3),
            "gpt2" => Ok(Self::Gpt2),
            other => Err(TextError::Config(format!(
                "unsupported architecture {other:?}"
            ))),
        }
    }
}
