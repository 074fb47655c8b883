//! Sentence embeddings with all-MiniLM-L6-v2 (a 6-layer BERT) on libtorch.
//!
//! The model folder is the one `scripts/setup.sh` unpacks into `.deps/models/all-minilm-l6-v2`:
//! `config.json`, `model.safetensors` (tensor names without a `bert.` prefix), `tokenizer.json`
//! (WordPiece, lower-cased, padding and truncation to 128 tokens) and `1_Pooling/config.json`.
//! A sentence's embedding is the mean of its token states over the attention mask (padding is
//! excluded), scaled to unit length, as sentence-transformers does for this model.
//!
//! Since every sentence is padded to the same 128 tokens, a batch is cut down to its longest
//! real sequence before the forward pass; the masked result is unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tch::{Device, Kind, Tensor};
use tokenizers::Tokenizer;

/// Why the embedding model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `config.json` or the pooling config is malformed or describes another model.
    #[error("model config: {0}")]
    Config(String),
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A weight is missing or has the wrong shape.
    #[error("weights: {0}")]
    Weights(String),
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

#[derive(Debug, Deserialize)]
struct BertConfig {
    hidden_size: i64,
    num_attention_heads: i64,
    num_hidden_layers: usize,
    intermediate_size: i64,
    layer_norm_eps: f64,
    hidden_act: String,
    max_position_embeddings: i64,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

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

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        let size = self.weight.size();
        x.layer_norm(&size, Some(&self.weight), Some(&self.bias), self.eps, false)
    }
}

struct EncoderLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The all-MiniLM-L6-v2 sentence encoder. Holds libtorch tensors, so it is `Send` but not
/// `Sync`: share it between threads behind a `Mutex`.
pub struct SentenceEmbedder {
    tokenizer: Tokenizer,
    device: Device,
    heads: i64,
    hidden: i64,
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("device", &self.device)
            .field("layers", &self.layers.len())
            .field("hidden", &self.hidden)
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
        if config.hidden_act != "gelu" {
            return Err(EmbedError::Config(format!(
                "hidden_act `{}` is not supported (only gelu)",
                config.hidden_act
            )));
        }
        if config
            .position_embedding_type
            .as_deref()
            .is_some_and(|t| t != "absolute")
        {
            return Err(EmbedError::Config(
                "only absolute position embeddings are supported".into(),
            ));
        }
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(EmbedError::Config(
                "hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
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
        let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&weights_path)?
            .into_iter()
            .map(|(name, t)| {
                let name = name
                    .strip_prefix("bert.")
                    .map(str::to_string)
                    .unwrap_or(name);
                (name, t)
            })
            .collect();
        let h = config.hidden_size;
        let rows = |name: &str| tensors.get(name).map(|t| t.size()[0]);
        let vocab = rows("embeddings.word_embeddings.weight")
            .ok_or_else(|| EmbedError::Weights("missing word embeddings".into()))?;
        let types = rows("embeddings.token_type_embeddings.weight").unwrap_or(2);
        let mut take = |name: &str, shape: &[i64]| -> Result<Tensor, EmbedError> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| EmbedError::Weights(format!("missing tensor `{name}`")))?;
            if t.size() != shape {
                return Err(EmbedError::Weights(format!(
                    "`{name}` has shape {:?}, expected {shape:?}",
                    t.size()
                )));
            }
            Ok(t.to_kind(Kind::Float).to_device(device))
        };
        let word_embeddings = take("embeddings.word_embeddings.weight", &[vocab, h])?;
        let position_embeddings = take(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type_embeddings = take("embeddings.token_type_embeddings.weight", &[types, h])?;
        let eps = config.layer_norm_eps;
        let embedding_norm = LayerNorm {
            weight: take("embeddings.LayerNorm.weight", &[h])?,
            bias: take("embeddings.LayerNorm.bias", &[h])?,
            eps,
        };
        let inter = config.intermediate_size;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let mut linear = |name: &str, out: i64, inp: i64| -> Result<Linear, EmbedError> {
                Ok(Linear {
                    weight: take(&format!("{p}.{name}.weight"), &[out, inp])?,
                    bias: take(&format!("{p}.{name}.bias"), &[out])?,
                })
            };
            let query = linear("attention.self.query", h, h)?;
            let key = linear("attention.self.key", h, h)?;
            let value = linear("attention.self.value", h, h)?;
            let attention_out = linear("attention.output.dense", h, h)?;
            let intermediate = linear("intermediate.dense", inter, h)?;
            let output = linear("output.dense", h, inter)?;
            let mut norm = |name: &str| -> Result<LayerNorm, EmbedError> {
                Ok(LayerNorm {
                    weight: take(&format!("{p}.{name}.weight"), &[h])?,
                    bias: take(&format!("{p}.{name}.bias"), &[h])?,
                    eps,
                })
            };
            layers.push(EncoderLayer {
                query,
                key,
                value,
                attention_out,
                attention_norm: norm("attention.output.LayerNorm")?,
                intermediate,
                output,
                output_norm: norm("output.LayerNorm")?,
            });
        }
        tracing::debug!(dir = %dir.display(), layers = layers.len(), "loaded sentence embedder");
        Ok(SentenceEmbedder {
            tokenizer,
            device,
            heads: config.num_attention_heads,
            hidden: h,
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embedding_norm,
            layers,
        })
    }

    /// Size of one embedding (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.hidden as usize
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
            .chunks(self.hidden as usize)
            .map(<[f32]>::to_vec)
            .collect())
    }

    fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor, EmbedError> {
        let (batch, len) = ids.size2()?;
        let positions = Tensor::arange(len, (Kind::Int64, self.device));
        let lookup = |table: &Tensor, ids: &Tensor| Tensor::embedding(table, ids, -1, false, false);
        let x = lookup(&self.word_embeddings, ids)
            + lookup(&self.position_embeddings, &positions).unsqueeze(0)
            + lookup(&self.token_type_embeddings, type_ids);
        let mut x = self.embedding_norm.forward(&x);
        let head_dim = self.hidden / self.heads;
        // True where a key position may be attended to: [batch, 1, 1, len].
        let attend = mask.ne(0).view([batch, 1, 1, len]);
        let split = |t: Tensor| t.view([batch, len, self.heads, head_dim]).transpose(1, 2);
        for layer in &self.layers {
            let q = split(layer.query.forward(&x));
            let k = split(layer.key.forward(&x));
            let v = split(layer.value.forward(&x));
            let context = Tensor::f_scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(&attend),
                0.0,
                false,
                None,
                false,
            )?
            .transpose(1, 2)
            .contiguous()
            .view([batch, len, self.hidden]);
            x = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context) + &x));
            let h = layer.intermediate.forward(&x).gelu("none");
            x = layer.output_norm.forward(&(layer.output.forward(&h) + &x));
        }
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

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
