//! Ranking of copy variants for one segment: relevance is the cosine similarity between the
//! segment persona's embedding and the variant's; near-duplicates of a better variant are
//! dropped; survivors are ordered by relevance.
//!
//! This crate does not compute embeddings: embed [`ranking_texts`] with a sentence embedder
//! (`adforge_generator::embed::SentenceEmbedder`) and pass the vectors to [`rank_variants`].

use serde::{Deserialize, Serialize};

use crate::brief::{AdCopy, SegmentBrief};

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

/// The texts whose embeddings [`rank_variants`] compares, in order: the segment persona first,
/// then each variant's headline, body and call to action together.
pub fn ranking_texts(segment: &SegmentBrief, variants: &[AdCopy]) -> Vec<String> {
    let mut texts = Vec::with_capacity(variants.len() + 1);
    texts.push(segment.persona.clone());
    texts.extend(variants.iter().map(AdCopy::joined));
    texts
}

/// Ranks variants by their embeddings: `target` is the segment persona's, `variants` one per
/// variant (both as [`ranking_texts`] lists them). A variant whose similarity to a more
/// relevant survivor is at least `duplicate_threshold` is dropped.
pub fn rank_variants(target: &[f32], variants: &[Vec<f32>], duplicate_threshold: f32) -> Ranking {
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
        let r = rank_variants(&target, &variants, 0.95);
        let order: Vec<usize> = r.ranked.iter().map(|v| v.index).collect();
        assert_eq!(order, vec![1, 3, 0]);
        assert_eq!(r.dropped.len(), 1);
        assert_eq!((r.dropped[0].index, r.dropped[0].duplicate_of), (2, 1));
        assert!(r.ranked[0].relevance > r.ranked[1].relevance);
    }

    #[test]
    fn threshold_above_one_keeps_everything() {
        let v = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let r = rank_variants(&[1.0, 0.0], &v, 1.01);
        assert_eq!(r.ranked.len(), 2);
        assert_eq!(r.ranked[0].index, 0, "ties keep input order");
    }
}
