//! The CLIP tokenizer of a diffusers `tokenizer/` folder: byte-level BPE with an end-of-word
//! suffix, built from `vocab.json` and `merges.txt` (or read from `tokenizer.json` when the folder
//! has one), padded to the model's fixed length with start and end tokens.

use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, Replace, Strip, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::error::{ImageError, Result};

/// CLIP's word pattern: special tokens, English contractions, letter runs, single digits and
/// runs of other non-space characters.
const CLIP_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A CLIP tokenizer producing fixed-length id sequences.
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    bos: i64,
    eos: i64,
    pad: i64,
    max_length: usize,
}

impl ClipTokenizer {
    /// Loads the tokenizer folder of a pipeline (`tokenizer/` or `tokenizer_2/`).
    pub fn load(dir: &Path) -> Result<Self> {
        let tok_err = |e: Box<dyn std::error::Error + Send + Sync>| {
            ImageError::Tokenizer(format!("{}: {e}", dir.display()))
        };
        let json = dir.join("tokenizer.json");
        let tokenizer = if json.is_file() {
            Tokenizer::from_file(&json).map_err(tok_err)?
        } else {
            let vocab = dir.join("vocab.json");
            let merges = dir.join("merges.txt");
            let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
                .end_of_word_suffix("</w>".into())
                .unk_token("<|endoftext|>".into())
                .build()
                .map_err(tok_err)?;
            let mut tokenizer = Tokenizer::new(bpe);
            let normalizer = tokenizers::normalizers::Sequence::new(vec![
                NormalizerWrapper::from(NFC),
                Replace::new(
                    tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
                    " ",
                )
                .map_err(tok_err)?
                .into(),
                Strip::new(true, true).into(),
                Lowercase.into(),
            ]);
            tokenizer.with_normalizer(Some(normalizer));
            let pre = tokenizers::pre_tokenizers::sequence::Sequence::new(vec![
                PreTokenizerWrapper::from(
                    Split::new(
                        SplitPattern::Regex(CLIP_PATTERN.into()),
                        SplitDelimiterBehavior::Removed,
                        true,
                    )
                    .map_err(tok_err)?,
                ),
                ByteLevel::new(false, false, true).into(),
            ]);
            tokenizer.with_pre_tokenizer(Some(pre));
            tokenizer
        };
        let settings: serde_json::Value = {
            let path = dir.join("tokenizer_config.json");
            if path.is_file() {
                super::config::read_json(&path)?
            } else {
                serde_json::Value::Null
            }
        };
        let special: serde_json::Value = {
            let path = dir.join("special_tokens_map.json");
            if path.is_file() {
                super::config::read_json(&path)?
            } else {
                serde_json::Value::Null
            }
        };
        let token_name = |key: &str, default: &str| -> String {
            for source in [&special, &settings] {
                match source.get(key) {
                    Some(serde_json::Value::String(s)) => return s.clone(),
                    Some(serde_json::Value::Object(o)) => {
                        if let Some(s) = o.get("content").and_then(|c| c.as_str()) {
                            return s.to_string();
                        }
                    }
                    _ => {}
                }
            }
            default.to_string()
        };
        let id = |name: String| -> Result<i64> {
            tokenizer.token_to_id(&name).map(i64::from).ok_or_else(|| {
                ImageError::Tokenizer(format!(
                    "{}: token {name:?} not in vocabulary",
                    dir.display()
                ))
            })
        };
        let bos = id(token_name("bos_token", "<|startoftext|>"))?;
        let eos = id(token_name("eos_token", "<|endoftext|>"))?;
        let pad = id(token_name("pad_token", "<|endoftext|>"))?;
        let max_length = settings
            .get("model_max_length")
            .and_then(|v| v.as_f64())
            .filter(|v| (2.0..1e6).contains(v))
            .map(|v| v as usize)
            .unwrap_or(77);
        Ok(ClipTokenizer {
            tokenizer,
            bos,
            eos,
            pad,
            max_length,
        })
    }

    /// Token ids of `text`: start token, the text's tokens (truncated), end token, then padding
    /// up to the fixed length.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ImageError::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(self.max_length);
        ids.push(self.bos);
        ids.extend(
            encoding
                .get_ids()
                .iter()
                .take(self.max_length - 2)
                .map(|&i| i64::from(i)),
        );
        ids.push(self.eos);
        ids.resize(self.max_length, self.pad);
        Ok(ids)
    }

    /// The fixed sequence length (77 for Stable Diffusion).
    pub fn max_length(&self) -> usize {
        self.max_length
    }
}
