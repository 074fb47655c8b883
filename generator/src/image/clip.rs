//! The CLIP text encoder (transformers' `CLIPTextModel` and `CLIPTextModelWithProjection`)
//! that turns prompt token ids into the embeddings the UNet attends to.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::config::{read_json, ClipTextConfig};
use super::error::{ImageError, Result};
use crate::nn::Weights;
use crate::nn::{LayerNorm, Linear};

/// What the encoder returns for a batch of prompts.
pub struct ClipOutput {
    /// Output of the last layer after the final layer norm, `(batch, 77, hidden)`.
    pub last_hidden_state: Tensor,
    /// Output of the second-to-last layer (no final norm), which SDXL conditions on.
    pub penultimate_hidden_state: Tensor,
    /// The end-of-text token's final state, projected by `text_projection` when the model has
    /// one (SDXL's pooled prompt embedding), `(batch, dim)`.
    pub pooled: Tensor,
}

enum Activation {
    QuickGelu,
    Gelu,
}

struct EncoderLayer {
    layer_norm1: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A CLIP text transformer with causal self-attention.
pub struct ClipTextEncoder {
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
    text_projection: Option<Linear>,
    activation: Activation,
    heads: i64,
    config: ClipTextConfig,
}

impl ClipTextEncoder {
    /// Loads `config.json` and the weights of a `text_encoder/` folder.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        let config: ClipTextConfig = read_json(&dir.join("config.json"))?;
        let weights = Weights::new(crate::nn::safetensors::load_dir(
            dir, "model", kind, device,
        )?);
        Self::from_weights(config, &weights)
    }

    pub(crate) fn from_weights(config: ClipTextConfig, weights: &Weights) -> Result<Self> {
        let activation = match config.hidden_act.as_str() {
            "quick_gelu" => Activation::QuickGelu,
            "gelu" => Activation::Gelu,
            other => return Err(ImageError::Unsupported(format!("CLIP activation {other}"))),
        };
        let eps = config.layer_norm_eps;
        // transformers 4 saves the transformer under `text_model.`, transformers 5 at the root.
        let text = if weights.has_module("text_model") {
            weights.pp("text_model")
        } else {
            weights.clone()
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = text.pp(format!("encoder.layers.{i}"));
                Ok(EncoderLayer {
                    layer_norm1: LayerNorm::load(&l.pp("layer_norm1"), eps)?,
                    q_proj: Linear::load(&l.pp("self_attn.q_proj"))?,
                    k_proj: Linear::load(&l.pp("self_attn.k_proj"))?,
                    v_proj: Linear::load(&l.pp("self_attn.v_proj"))?,
                    out_proj: Linear::load(&l.pp("self_attn.out_proj"))?,
                    layer_norm2: LayerNorm::load(&l.pp("layer_norm2"), eps)?,
                    fc1: Linear::load(&l.pp("mlp.fc1"))?,
                    fc2: Linear::load(&l.pp("mlp.fc2"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let text_projection = if weights.contains("text_projection.weight") {
            Some(Linear::load(&weights.pp("text_projection"))?)
        } else {
            None
        };
        Ok(ClipTextEncoder {
            token_embedding: text.get("embeddings.token_embedding.weight")?,
            position_embedding: text.get("embeddings.position_embedding.weight")?,
            layers,
            final_layer_norm: LayerNorm::load(&text.pp("final_layer_norm"), eps)?,
            text_projection,
            activation,
            heads: config.num_attention_heads,
            config,
        })
    }

    /// Hidden width of the encoder.
    pub fn hidden_size(&self) -> i64 {
        self.config.hidden_size
    }

    /// Encodes a `(batch, seq)` int64 tensor of token ids.
    pub fn forward(&self, ids: &Tensor) -> ClipOutput {
        let (batch, seq) = ids.size2().expect("token ids are (batch, seq)");
        let ids = ids.to_device(self.token_embedding.device());
        let positions = self.position_embedding.narrow(0, 0, seq);
        let mut hidden =
            Tensor::embedding(&self.token_embedding, &ids, -1, false, false) + positions;
        let mut penultimate = hidden.shallow_clone();
        let count = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            if i + 1 == count {
                penultimate = hidden.shallow_clone();
            }
            hidden = self.layer_forward(layer, &hidden, batch, seq);
        }
        let last = self.final_layer_norm.forward(&hidden);
        let eos_index = if self.config.eos_token_id == 2 {
            ids.argmax(-1, false)
        } else {
            ids.eq(self.config.eos_token_id)
                .to_kind(Kind::Int)
                .argmax(-1, false)
        };
        let rows = Tensor::arange(batch, (Kind::Int64, last.device()));
        let pooled = last.index(&[Some(rows), Some(eos_index)]);
        let pooled = match &self.text_projection {
            Some(p) => p.forward(&pooled),
            None => pooled,
        };
        ClipOutput {
            last_hidden_state: last,
            penultimate_hidden_state: penultimate,
            pooled,
        }
    }

    fn layer_forward(&self, layer: &EncoderLayer, x: &Tensor, batch: i64, seq: i64) -> Tensor {
        let h = layer.layer_norm1.forward(x);
        let split = |t: Tensor| t.view([batch, seq, self.heads, -1]).transpose(1, 2);
        let q = split(layer.q_proj.forward(&h));
        let k = split(layer.k_proj.forward(&h));
        let v = split(layer.v_proj.forward(&h));
        let attn = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            true,
            None,
            false,
        );
        let attn = attn.transpose(1, 2).reshape([batch, seq, -1]);
        let x = x + layer.out_proj.forward(&attn);
        let h = layer.fc1.forward(&layer.layer_norm2.forward(&x));
        let h = match self.activation {
            Activation::QuickGelu => &h * (&h * 1.702).sigmoid(),
            Activation::Gelu => h.gelu("none"),
        };
        x + layer.fc2.forward(&h)
    }
}
