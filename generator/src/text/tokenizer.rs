//! Tokenizers: loaded from a Hugging Face `tokenizer.json` (byte-level BPE, or SentencePiece
//! Unigram / BPE with byte fallback), or rebuilt from a GGUF file's `tokenizer.ggml.*` metadata
//! (byte-level BPE vocabularies with merges, or SentencePiece BPE vocabularies with scores) on
//! the `tokenizers` crate.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, ModelWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use super::error::{Result, TextError};
use super::sentencepiece::{self, byte_piece, SPACE};
use crate::nn::{GgufFile, GgufValue};

/// Split pattern of Llama 3 style byte-level vocabularies.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Split pattern of Qwen2 vocabularies (single digits).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer with the special-token facts generation needs.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Ids that end generation.
    pub eos_ids: Vec<u32>,
    /// Beginning-of-sequence id, when the vocabulary has one.
    pub bos_id: Option<u32>,
    /// Whether encoding a prompt starts with the BOS token.
    pub add_bos: bool,
    /// Id used to pad batched rows (never attended to).
    pub pad_id: u32,
    /// The checkpoint's chat template, if any.
    pub chat_template: Option<String>,
    /// Text of the BOS token (for chat templates).
    pub bos_token: Option<String>,
    /// Text of the first EOS token (for chat templates).
    pub eos_token: Option<String>,
    /// Whether tokens are SentencePiece pieces (`▁` for spaces, `<0xXX>` byte pieces) rather
    /// than byte-level BPE.
    sentencepiece: bool,
}

/// The GPT-2 byte-to-character table: printable bytes map to themselves, the rest to 256+n.
fn byte_alphabet() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('\0')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('\0')
        };
    }
    table
}

fn tok_err(e: impl std::fmt::Display) -> TextError {
    TextError::Tokenizer(e.to_string())
}

fn string_array(gguf: &GgufFile, key: &str) -> Result<Vec<String>> {
    gguf.require(key)?
        .as_array()
        .ok_or_else(|| TextError::Tokenizer(format!("{key} is not an array")))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| TextError::Tokenizer(format!("{key} holds a non-string")))
        })
        .collect()
}

/// Rebuilds a byte-level BPE vocabulary with merges (`tokenizer.ggml.model = gpt2`).
fn byte_level_from_gguf(gguf: &GgufFile, tokens: &[String], types: &[i64]) -> Result<Tokenizer> {
    let merges = string_array(gguf, "tokenizer.ggml.merges")?;
    let alphabet = byte_alphabet();
    let in_alphabet = |s: &str| s.chars().all(|c| alphabet.contains(&c));
    let spell = |s: &str| -> String {
        if in_alphabet(s) {
            s.to_string()
        } else {
            s.bytes().map(|b| alphabet[b as usize]).collect()
        }
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (spell(t), i as u32))
        .collect();
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(tok_err)?;
    let mut inner = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre = gguf
        .get("tokenizer.ggml.pre")
        .and_then(GgufValue::as_str)
        .unwrap_or("default");
    let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, true, false).into(),
        ])))
    };
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        // SmolLM's tokenizer.json: digits one by one, then GPT-2 byte-level splitting.
        "smollm" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            Digits::new(true).into(),
            byte_level.into(),
        ])),
        "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "dbrx" | "falcon3" => {
            split(LLAMA3_SPLIT)?
        }
        "qwen2" | "deepseek-r1-qwen" => split(QWEN2_SPLIT)?,
        _ => byte_level.into(),
    };
    inner.with_pre_tokenizer(Some(pre_tokenizer));
    inner.with_decoder(Some(ByteLevelDecoder::default()));
    add_typed_tokens(&mut inner, tokens, types, in_alphabet);
    Ok(inner)
}

/// Registers control tokens (type 3, when `keep` accepts them) as special tokens and
/// user-defined ones (type 4) as added tokens, so their text maps to their ids.
fn add_typed_tokens(
    inner: &mut Tokenizer,
    tokens: &[String],
    types: &[i64],
    keep: impl Fn(&str) -> bool,
) {
    let control: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(t, &ty)| ty == 3 && keep(t))
        .map(|(t, _)| AddedToken::from(t.clone(), true).normalized(false))
        .collect();
    inner.add_special_tokens(&control);
    let user: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, &ty)| ty == 4)
        .map(|(t, _)| AddedToken::from(t.clone(), false).normalized(false))
        .collect();
    inner.add_tokens(&user);
}

impl TextTokenizer {
    /// Rebuilds the tokenizer stored in GGUF metadata: `tokenizer.ggml.model = gpt2` (byte-level
    /// BPE with merges: Llama 3, Qwen2, SmolLM, GPT-2 files) or `llama` (SentencePiece BPE with
    /// scores and byte fallback: Llama 2, Mistral, Phi-3 files).
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let model = gguf
            .require("tokenizer.ggml.model")?
            .as_str()
            .unwrap_or_default();
        let tokens = string_array(gguf, "tokenizer.ggml.tokens")?;
        let types: Vec<i64> = gguf
            .get("tokenizer.ggml.token_type")
            .and_then(GgufValue::as_array)
            .map(|a| a.iter().map(|v| v.as_i64().unwrap_or(1)).collect())
            .unwrap_or_default();
        let id = |key: &str| gguf.get(key).and_then(GgufValue::as_u64).map(|v| v as u32);
        let token_text = |id: Option<u32>| id.and_then(|i| tokens.get(i as usize).cloned());
        let (inner, sentencepiece) = match model {
            "gpt2" => (byte_level_from_gguf(gguf, &tokens, &types)?, false),
            "llama" => {
                let scores: Vec<f32> = gguf
                    .get("tokenizer.ggml.scores")
                    .and_then(GgufValue::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|v| v.as_f64().unwrap_or(0.0) as f32)
                            .collect()
                    })
                    .unwrap_or_default();
                let unk = token_text(id("tokenizer.ggml.unknown_token_id"));
                let add_space_prefix = gguf
                    .get("tokenizer.ggml.add_space_prefix")
                    .and_then(GgufValue::as_bool)
                    .unwrap_or(true);
                let mut inner = sentencepiece::bpe_tokenizer(
                    &tokens,
                    &scores,
                    &types,
                    unk.as_deref(),
                    add_space_prefix,
                )?;
                add_typed_tokens(&mut inner, &tokens, &types, |_| true);
                (inner, true)
            }
            other => {
                return Err(TextError::Tokenizer(format!(
                    "GGUF tokenizer model {other:?} is not supported; use a directory with tokenizer.json"
                )))
            }
        };
        let bos_id = id("tokenizer.ggml.bos_token_id");
        let eos_id = id("tokenizer.ggml.eos_token_id");
        let mut eos_ids: Vec<u32> = eos_id.into_iter().collect();
        if let Some(eot) = id("tokenizer.ggml.eot_token_id") {
            if !eos_ids.contains(&eot) {
                eos_ids.push(eot);
            }
        }
        Ok(Self {
            eos_ids,
            bos_id,
            add_bos: gguf
                .get("tokenizer.ggml.add_bos_token")
                .and_then(GgufValue::as_bool)
                .unwrap_or(false),
            pad_id: id("tokenizer.ggml.padding_token_id")
                .or(eos_id)
                .unwrap_or(0),
            chat_template: gguf
                .get("tokenizer.chat_template")
                .and_then(GgufValue::as_str)
                .map(str::to_string),
            bos_token: token_text(bos_id),
            eos_token: token_text(eos_id),
            inner,
            sentencepiece,
        })
    }

    /// Loads `tokenizer.json` (and `tokenizer_config.json` / `generation_config.json` /
    /// `config.json` for special tokens and the chat template) from a Hugging Face directory.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let inner = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(tok_err)?;
        let sentencepiece = match inner.get_model() {
            ModelWrapper::Unigram(_) => true,
            ModelWrapper::BPE(bpe) => bpe.byte_fallback,
            _ => false,
        };
        let read_json = |name: &str| -> serde_json::Value {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let tok_cfg = read_json("tokenizer_config.json");
        let gen_cfg = read_json("generation_config.json");
        let model_cfg = read_json("config.json");
        // Special tokens are strings or {"content": ...} objects.
        let token_str = |v: Option<&serde_json::Value>| -> Option<String> {
            match v? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
                _ => None,
            }
        };
        let bos_token = token_str(tok_cfg.get("bos_token"));
        let eos_token = token_str(tok_cfg.get("eos_token"));
        let mut eos_ids = super::config::eos_ids_from_json(gen_cfg.get("eos_token_id"));
        if eos_ids.is_empty() {
            eos_ids = super::config::eos_ids_from_json(model_cfg.get("eos_token_id"));
        }
        if let Some(id) = eos_token.as_deref().and_then(|t| inner.token_to_id(t)) {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        let bos_id = bos_token
            .as_deref()
            .and_then(|t| inner.token_to_id(t))
            .or_else(|| {
                model_cfg
                    .get("bos_token_id")
                    .and_then(|v| v.as_u64())
                    .map(|v| v as u32)
            });
        let pad_id = token_str(tok_cfg.get("pad_token"))
            .and_then(|t| inner.token_to_id(&t))
            .or_else(|| eos_ids.first().copied())
            .unwrap_or(0);
        let chat_template = match tok_cfg.get("chat_template") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            _ => std::fs::read_to_string(dir.join("chat_template.jinja")).ok(),
        };
        Ok(Self {
            inner,
            eos_ids,
            bos_id,
            // tokenizer.json's post-processor already inserts BOS where the model wants it.
            add_bos: false,
            pad_id,
            chat_template,
            bos_token,
            eos_token,
            sentencepiece,
        })
    }

    /// Encodes text. Special-token strings in `text` (like `<|im_start|>`) map to their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(tok_err)?;
        let mut ids = enc.get_ids().to_vec();
        if self.add_bos {
            if let Some(bos) = self.bos_id {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// Encodes a fragment of text without any added special tokens (no BOS).
    pub fn encode_fragment(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids to text, leaving out special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(tok_err)
    }

    /// The raw bytes every token id stands for: byte-level vocabularies through the GPT-2 byte
    /// alphabet, SentencePiece ones with `▁` as a space and `<0xXX>` pieces as their byte. Special
    /// tokens, and tokens outside the byte alphabet, fall back to their decoded text.
    pub fn vocab_bytes(&self) -> Vec<Vec<u8>> {
        let alphabet = byte_alphabet();
        let reverse: HashMap<char, u8> = alphabet
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        (0..self.vocab_size() as u32)
            .map(|id| {
                let token = self.inner.id_to_token(id).unwrap_or_default();
                if self.is_special(id) {
                    return self.decode(&[id]).unwrap_or_default().into_bytes();
                }
                if self.sentencepiece {
                    return match byte_piece(&token) {
                        Some(b) => vec![b],
                        None => token.replace(SPACE, " ").into_bytes(),
                    };
                }
                let bytes: Option<Vec<u8>> =
                    token.chars().map(|c| reverse.get(&c).copied()).collect();
                match bytes {
                    Some(b) => b,
                    None => self.decode(&[id]).unwrap_or_default().into_bytes(),
                }
            })
            .collect()
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.inner
            .get_added_tokens_decoder()
            .get(&id)
            .is_some_and(|t| t.special)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string, if present.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}
