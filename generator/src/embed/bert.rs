//! The BERT encoder behind the sentence embedder: its configuration (mirroring `config.json`),
//! embeddings, encoder layers, loading and forward pass, on the shared layer kit.

use serde::Deserialize;
use tch::{Kind, Tensor};

use super::error::EmbedError;
use crate::nn::attention::{merge_heads, split_heads};
use crate::nn::{Embedding, LayerNorm, Linear, Weights};

/// The fields of a BERT `config.json` the encoder uses.
#[derive(Debug, Deserialize)]
pub(crate) struct BertConfig {
    /// Model width.
    pub(crate) hidden_size: i64,
    /// Attention heads.
    pub(crate) num_attention_heads: i64,
    /// Encoder layers.
    pub(crate) num_hidden_layers: usize,
    /// MLP inner width.
    pub(crate) intermediate_size: i64,
    /// LayerNorm epsilon.
    pub(crate) layer_norm_eps: f64,
    /// Activation; only `gelu` is supported.
    pub(crate) hidden_act: String,
    /// Number of learned positions.
    pub(crate) max_position_embeddings: i64,
    /// Only `absolute` (the default) is supported.
    #[serde(default)]
    pub(crate) position_embedding_type: Option<String>,
}

impl BertConfig {
    /// Rejects configurations this encoder does not implement.
    pub(crate) fn check_supported(&self) -> Result<(), EmbedError> {
        if self.hidden_act != "gelu" {
            return Err(EmbedError::Config(format!(
                "hidden_act `{}` is not supported (only gelu)",
                self.hidden_act
            )));
        }
        if self
            .position_embedding_type
            .as_deref()
            .is_some_and(|t| t != "absolute")
        {
            return Err(EmbedError::Config(
                "only absolute position embeddings are supported".into(),
            ));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(EmbedError::Config(
                "hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        Ok(())
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

impl EncoderLayer {
    /// Reads one layer (`encoder.layer.N`).
    fn load(c: &BertConfig, w: &Weights) -> Result<Self, EmbedError> {
        let (h, inter, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let linear =
            |name: &str, out: i64, inp: i64| Linear::load_shaped(&w.pp(name), out, inp, true);
        Ok(Self {
            query: linear("attention.self.query", h, h)?,
            key: linear("attention.self.key", h, h)?,
            value: linear("attention.self.value", h, h)?,
            attention_out: linear("attention.output.dense", h, h)?,
            attention_norm: LayerNorm::load_shaped(&w.pp("attention.output.LayerNorm"), h, eps)?,
            intermediate: linear("intermediate.dense", inter, h)?,
            output: linear("output.dense", h, inter)?,
            output_norm: LayerNorm::load_shaped(&w.pp("output.LayerNorm"), h, eps)?,
        })
    }
}

/// A loaded BERT encoder.
pub(crate) struct BertEncoder {
    heads: i64,
    hidden: i64,
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
}

impl BertEncoder {
    /// Loads the encoder's tensors (names without a `bert.` prefix); `vocab` and `types` are the
    /// row counts of the word and token-type tables.
    pub(crate) fn load(
        config: &BertConfig,
        w: &Weights,
        vocab: i64,
        types: i64,
    ) -> Result<Self, EmbedError> {
        let h = config.hidden_size;
        let e = w.pp("embeddings");
        let table = |name: &str, rows: i64| -> Result<Embedding, EmbedError> {
            Ok(Embedding::new(e.get_shaped(name, &[rows, h])?))
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| EncoderLayer::load(config, &w.pp("encoder.layer").pp(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            heads: config.num_attention_heads,
            hidden: h,
            word_embeddings: table("word_embeddings.weight", vocab)?,
            position_embeddings: table(
                "position_embeddings.weight",
                config.max_position_embeddings,
            )?,
            token_type_embeddings: table("token_type_embeddings.weight", types)?,
            embedding_norm: LayerNorm::load_shaped(&e.pp("LayerNorm"), h, config.layer_norm_eps)?,
            layers,
        })
    }

    /// Width of the hidden states.
    pub(crate) fn hidden(&self) -> i64 {
        self.hidden
    }

    /// Number of encoder layers.
    pub(crate) fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Final hidden states `[batch, len, hidden]` of `ids`/`type_ids` (`[batch, len]`);
    /// positions where `mask` is 0 are not attended to.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor, EmbedError> {
        let (batch, len) = ids.size2()?;
        let positions = Tensor::arange(len, (Kind::Int64, ids.device()));
        let x = self.word_embeddings.forward(ids)
            + self.position_embeddings.forward(&positions).unsqueeze(0)
            + self.token_type_embeddings.forward(type_ids);
        let mut x = self.embedding_norm.forward(&x);
        // True where a key position may be attended to: [batch, 1, 1, len].
        let attend = mask.ne(0).view([batch, 1, 1, len]);
        for layer in &self.layers {
            let q = split_heads(&layer.query.forward(&x), self.heads);
            let k = split_heads(&layer.key.forward(&x), self.heads);
            let v = split_heads(&layer.value.forward(&x), self.heads);
            let context = merge_heads(&Tensor::f_scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(&attend),
                0.0,
                false,
                None,
                false,
            )?);
            x = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context) + &x));
            let h = layer.intermediate.forward(&x).gelu("none");
            x = layer.output_norm.forward(&(layer.output.forward(&h) + &x));
        }
        Ok(x)
    }
}
