//! Sentence embeddings with all-MiniLM-L6-v2 (a 6-layer BERT, [`bert`]) on libtorch, used to
//! rank copy variants (`adforge_targeting::rank` compares the vectors).
//!
//! The model folder is the one `scripts/setup.sh` unpacks into `.deps/models/all-minilm-l6-v2`:
//! `config.json`, `model.safetensors` (tensor names without a `bert.` prefix), `tokenizer.json`
//! (WordPiece, lower-cased, padding and truncation to 128 tokens) and `1_Pooling/config.json`.
//! A sentence's embedding is the mean of its token states over the attention mask (padding is
//! excluded), scaled to unit length, as sentence-transformers does for this model.
//!
//! Since every sentence is padded to the same 128 tokens, a batch is cut down to its longest
//! real sequence before the forward pass; the masked result is unchanged.

mod bert;
mod error;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use tch::{Device, Kind, Tensor};
use tokenizers::Tokenizer;

use crate::nn::{safetensors, NnError, TensorMap, Weights};
use bert::{BertConfig, BertEncoder};
pub use error::EmbedError;

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// The all-MiniLM-L6-v2 sentence encoder. Holds libtorch tensors, so it is `Send` but not
/// `Sync`: share it between threads behind a `Mutex`.
pub struct SentenceEmbedder {
    tokenizer: Tokenizer,
    device: Device,
    encoder: BertEncoder,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("device", &self.device)
            .field("layers", &self.encoder.num_layers())
            .field("hidden", &self.encoder.hidden())
            .finish()
    }
}

fn read(path: &Path) -> Result<String, EmbedError> {
    std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl SentenceEmbedder {
    /// Loads the model from its folder (see the module docs) onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<SentenceEmbedder, EmbedError> {
        let config: BertConfig = serde_json::from_str(&read(&dir.join("config.json"))?)
            .map_err(|e| EmbedError::Config(format!("config.json: {e}")))?;
        config.check_supported()?;
        let pooling_path = dir.join("1_Pooling").join("config.json");
        if pooling_path.exists() {
            let pooling: PoolingConfig = serde_json::from_str(&read(&pooling_path)?)
                .map_err(|e| EmbedError::Config(format!("1_Pooling/config.json: {e}")))?;
            if !pooling.pooling_mode_mean_tokens
                || pooling.pooling_mode_cls_token
                || pooling.pooling_mode_max_tokens
                || pooling.pooling_mode_mean_sqrt_len_tokens
            {
                return Err(EmbedError::Config(
                    "only mean-token pooling is supported".into(),
                ));
            }
        }
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;

        let weights_path = dir.join("model.safetensors");
        if !weights_path.exists() {
            return Err(EmbedError::Io {
                path: weights_path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        safetensors::read(&weights_path, |name, t| {
            let name = name
                .strip_prefix("bert.")
                .map(str::to_string)
                .unwrap_or(name);
            tensors.insert(name, t);
        })?;
        let rows = |name: &str| tensors.get(name).map(|t| t.size()[0]);
        let word_table = "embeddings.word_embeddings.weight";
        let vocab = rows(word_table).ok_or_else(|| NnError::MissingTensor(word_table.into()))?;
        let types = rows("embeddings.token_type_embeddings.weight").unwrap_or(2);
        let weights = Weights::new(TensorMap::new(tensors, Kind::Float, device));
        let encoder = BertEncoder::load(&config, &weights, vocab, types)?;
        tracing::debug!(
            dir = %dir.display(),
            layers = encoder.num_layers(),
            "loaded sentence embedder"
        );
        Ok(SentenceEmbedder {
            tokenizer,
            device,
            encoder,
        })
    }

    /// Size of one embedding (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.encoder.hidden() as usize
    }

    /// Unit-length embeddings of `sentences`, one per sentence, in order.
    pub fn embed<S: AsRef<str>>(&self, sentences: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if sentences.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = sentences.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let batch = encodings.len() as i64;
        // Longest real sequence; the rest is padding that the mask removes anyway.
        let len = encodings
            .iter()
            .map(|e| {
                e.get_attention_mask()
                    .iter()
                    .rposition(|m| *m != 0)
                    .map_or(0, |p| p + 1)
            })
            .max()
            .unwrap_or(0)
            .max(1);
        let gather = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
            encodings
                .iter()
                .flat_map(|e| {
                    let v = f(e);
                    (0..len).map(move |i| v.get(i).copied().unwrap_or(0) as i64)
                })
                .collect()
        };
        let ids = gather(&|e| e.get_ids());
        let type_ids = gather(&|e| e.get_type_ids());
        let mask = gather(&|e| e.get_attention_mask());
        let shape = [batch, len as i64];
        let ids = Tensor::from_slice(&ids).view(shape).to_device(self.device);
        let type_ids = Tensor::from_slice(&type_ids)
            .view(shape)
            .to_device(self.device);
        let mask = Tensor::from_slice(&mask).view(shape).to_device(self.device);
        let pooled = tch::no_grad(|| self.forward(&ids, &type_ids, &mask))?;
        let pooled = pooled.to_device(Device::Cpu).contiguous();
        let flat: Vec<f32> = Vec::<f32>::try_from(pooled.view([-1]))?;
        Ok(flat
            .chunks(self.encoder.hidden() as usize)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Encodes and mean-pools over the mask, then scales each row to unit length.
    fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor, EmbedError> {
        let x = self.encoder.forward(ids, type_ids, mask)?;
        let weights = mask.to_kind(Kind::Float).unsqueeze(-1);
        let summed = (&x * &weights).sum_dim_intlist(1, false, Kind::Float);
        let counts = weights
            .sum_dim_intlist(1, false, Kind::Float)
            .clamp_min(1e-9);
        let mean = summed / counts;
        let norm = mean.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-12);
        Ok(mean / norm)
    }
}
