//! SentencePiece BPE vocabularies (Llama 2, Mistral, Phi-3, Gemma GGUFs: `tokenizer.ggml.model =
//! "llama"`) rebuilt on the `tokenizers` crate from GGUF metadata: pieces spelled with `▁` for
//! spaces, scores, token types and `<0xXX>` byte-fallback pieces.
//!
//! SentencePiece BPE repeatedly joins the adjacent pair whose joined piece scores highest; a
//! BPE model whose merges are ranked by the score of the piece they produce does the same.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{DecoderWrapper, NormalizerWrapper, Tokenizer};

use super::error::{Result, TextError};

/// The piece SentencePiece writes for a space.
pub(crate) const SPACE: char = '\u{2581}';

/// GGUF / SentencePiece token type of ordinary pieces.
pub(crate) const TYPE_NORMAL: i64 = 1;

fn tok_err(e: impl std::fmt::Display) -> TextError {
    TextError::Tokenizer(e.to_string())
}

/// The byte a `<0xXX>` byte-fallback piece stands for.
pub(crate) fn byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Builds a SentencePiece-BPE tokenizer from its pieces, their scores and token types
/// (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). With `add_space_prefix`
/// a `▁` is put before the text, as SentencePiece's dummy prefix does. Special tokens are added
/// by the caller.
pub(crate) fn bpe_tokenizer(
    pieces: &[String],
    scores: &[f32],
    types: &[i64],
    unk: Option<&str>,
    add_space_prefix: bool,
) -> Result<Tokenizer> {
    let ids: HashMap<&str, u32> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i as u32))
        .collect();
    let score = |i: usize| scores.get(i).copied().unwrap_or(-(i as f32));
    let is_normal = |i: usize| types.get(i).copied().unwrap_or(TYPE_NORMAL) == TYPE_NORMAL;
    // Every split of a normal piece into two known pieces is a merge, ranked by the joined
    // piece's score (highest first), then by id.
    let mut ranked: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if !is_normal(i) {
            continue;
        }
        for (cut, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(cut);
            if let (Some(&l), Some(&r)) = (ids.get(left), ids.get(right)) {
                ranked.push((score(i), i as u32, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let merges: Vec<(String, String)> = ranked
        .iter()
        .map(|&(_, _, l, r)| (pieces[l as usize].clone(), pieces[r as usize].clone()))
        .collect();
    let vocab: tokenizers::models::bpe::Vocab = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u32))
        .collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.to_string());
    }
    let mut tokenizer = Tokenizer::new(builder.build().map_err(tok_err)?);
    let space = SPACE.to_string();
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        normalizers.push(Prepend::new(space.clone()).into());
    }
    normalizers.push(Replace::new(" ", space.as_str()).map_err(tok_err)?.into());
    tokenizer.with_normalizer(Some(NormalizerSequence::new(normalizers)));
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new(space.as_str(), " ").map_err(tok_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_pieces_parse() {
        assert_eq!(byte_piece("<0x0A>"), Some(10));
        assert_eq!(byte_piece("<0xff>"), Some(255));
        assert_eq!(byte_piece("<0x1>"), None);
        assert_eq!(byte_piece("0x41"), None);
    }

    #[test]
    fn merges_follow_piece_scores() {
        // "ab" outscores "bc", so "abc" splits as "ab" + "c".
        let pieces: Vec<String> = ["<unk>", "a", "b", "c", "ab", "bc", "▁"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scores = [0.0, -1.0, -1.0, -1.0, -2.0, -3.0, -1.0];
        let types = [2, 1, 1, 1, 1, 1, 1];
        let t = bpe_tokenizer(&pieces, &scores, &types, Some("<unk>"), false).unwrap();
        assert_eq!(t.encode("abc", false).unwrap().get_ids(), &[4, 3]);
        let scores = [0.0, -1.0, -1.0, -1.0, -3.0, -2.0, -1.0];
        let t = bpe_tokenizer(&pieces, &scores, &types, Some("<unk>"), false).unwrap();
        assert_eq!(t.encode("abc", false).unwrap().get_ids(), &[1, 5]);
    }
}
