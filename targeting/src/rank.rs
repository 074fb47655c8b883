//! Ranking of copy variants for one segment: relevance is the cosine similarity between the
//! segment persona's embedding and the variant's; near-duplicates of a better variant are
//! dropped; survivors are ordered by relevance.

use serde::{Deserialize, Serialize};

use crate::brief::{AdCopy, SegmentBrief};
use crate::embed::{cosine, EmbedError, SentenceEmbedder};

/// Cosine similarity at or above which a variant counts as a near-duplicate of a better one.
pub const DEFAULT_DUPLICATE_THRESHOLD: f32 = 0.92;

/// A variant that survived, with its relevance to the segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedVariant {
    /// Position of the variant in the input.
    pub index: usize,
    /// Cosine similarity to the segment persona, in `[-1, 1]`.
    pub relevance: f32,
}

/// A variant dropped as a near-duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedVariant {
    /// Position of the dropped variant in the input.
    pub index: usize,
    /// Position of the kept, more relevant variant it duplicates.
    pub duplicate_of: usize,
    /// Their cosine similarity.
    pub similarity: f32,
}

/// The outcome of ranking.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ranking {
    /// Survivors, most relevant first (ties keep input order).
    pub ranked: Vec<RankedVariant>,
    /// Near-duplicates that were dropped.
    pub dropped: Vec<DroppedVariant>,
}

/// Ranks variants given already computed embeddings: `target` is the segment's, `variants`
/// one per variant. A variant whose similarity to a more relevant survivor is at least
/// `duplicate_threshold` is dropped.
pub fn rank_embeddings(target: &[f32], variants: &[Vec<f32>], duplicate_threshold: f32) -> Ranking {
    let mut order: Vec<(usize, f32)> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (i, cosine(target, v)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut ranking = Ranking::default();
    for (index, relevance) in order {
        let closest = ranking
            .ranked
            .iter()
            .map(|kept| (kept.index, cosine(&variants[kept.index], &variants[index])))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match closest {
            Some((duplicate_of, similarity)) if similarity >= duplicate_threshold => {
                ranking.dropped.push(DroppedVariant {
                    index,
                    duplicate_of,
                    similarity,
                })
            }
            _ => ranking.ranked.push(RankedVariant { index, relevance }),
        }
    }
    ranking
}

/// Embeds the segment persona and every variant (headline, body and call to action together)
/// and ranks them with [`rank_embeddings`].
pub fn rank_variants(
    embedder: &SentenceEmbedder,
    segment: &SegmentBrief,
    variants: &[AdCopy],
    duplicate_threshold: f32,
) -> Result<Ranking, EmbedError> {
    if variants.is_empty() {
        return Ok(Ranking::default());
    }
    let mut texts = Vec::with_capacity(variants.len() + 1);
    texts.push(segment.persona.clone());
    texts.extend(variants.iter().map(AdCopy::joined));
    let mut embeddings = embedder.embed(&texts)?;
    let variant_embeddings = embeddings.split_off(1);
    Ok(rank_embeddings(
        &embeddings[0],
        &variant_embeddings,
        duplicate_threshold,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_relevance_and_drops_near_duplicates() {
        let target = [1.0, 0.0, 0.0];
        let variants = vec![
            vec![0.0, 1.0, 0.0],   // unrelated
            vec![0.9, 0.1, 0.0],   // relevant
            vec![0.89, 0.12, 0.0], // near-duplicate of 1, slightly less relevant
            vec![0.6, 0.0, 0.8],   // relevant enough, different
        ];
        let r = rank_embeddings(&target, &variants, 0.95);
        let order: Vec<usize> = r.ranked.iter().map(|v| v.index).collect();
        assert_eq!(order, vec![1, 3, 0]);
        assert_eq!(r.dropped.len(), 1);
        assert_eq!((r.dropped[0].index, r.dropped[0].duplicate_of), (2, 1));
        assert!(r.ranked[0].relevance > r.ranked[1].relevance);
    }

    #[test]
    fn threshold_above_one_keeps_everything() {
        let v = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let r = rank_embeddings(&[1.0, 0.0], &v, 1.01);
        assert_eq!(r.ranked.len(), 2);
        assert_eq!(r.ranked[0].index, 0, "ties keep input order");
    }
}
