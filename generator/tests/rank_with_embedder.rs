//! Ranking real copy variants with all-MiniLM-L6-v2 (skips without the model unless CI=true):
//! the embedder lives here, the ranking in `adforge_targeting::rank`.

use std::path::PathBuf;

use adforge_generator::embed::SentenceEmbedder;
use adforge_targeting::brief::{AdCopy, Language, SegmentBrief};
use adforge_targeting::rank::{rank_variants, ranking_texts, DEFAULT_DUPLICATE_THRESHOLD};

fn embedder() -> Option<SentenceEmbedder> {
    let models = std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/models"));
    let dir = models.join("all-minilm-l6-v2");
    if !dir.join("model.safetensors").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("model {} is missing and CI=true", dir.display());
        }
        eprintln!("skipping: model {} is missing", dir.display());
        return None;
    }
    Some(SentenceEmbedder::load(&dir, tch::Device::Cpu).expect("model loads"))
}

fn copy(headline: &str, body: &str, cta: &str) -> AdCopy {
    AdCopy {
        headline: headline.into(),
        body: body.into(),
        call_to_action: cta.into(),
    }
}

#[test]
fn relevant_copy_ranks_first_and_paraphrases_are_dropped() {
    let Some(model) = embedder() else { return };
    let segment = SegmentBrief {
        name: "bike commuters".into(),
        persona: "City workers aged 25 to 34 who commute to the office by bicycle".into(),
        language: Language::En,
    };
    let variants = [
        copy(
            "Plan your retirement",
            "Savings accounts with low fees for pensioners.",
            "Open an account",
        ),
        copy(
            "Beat the traffic on two wheels",
            "A light e-bike makes your commute to the office easy.",
            "Book a test ride",
        ),
        copy(
            "Beat the traffic on two wheels",
            "A light e-bike makes your office commute easy.",
            "Book a test ride",
        ),
        copy(
            "New running shoes",
            "Cushioned trainers for your weekend runs.",
            "Shop now",
        ),
    ];
    let mut embeddings = model.embed(&ranking_texts(&segment, &variants)).unwrap();
    let variant_embeddings = embeddings.split_off(1);
    let ranking = rank_variants(
        &embeddings[0],
        &variant_embeddings,
        DEFAULT_DUPLICATE_THRESHOLD,
    );
    eprintln!("{ranking:#?}");
    let order: Vec<usize> = ranking.ranked.iter().map(|v| v.index).collect();
    assert_eq!(
        order.first(),
        Some(&1),
        "the commuting copy is most relevant: {order:?}"
    );
    let best = ranking.ranked[0].relevance;
    for other in &ranking.ranked[1..] {
        assert!(
            best - other.relevance > 0.3,
            "unrelated copy scores close to the best: {ranking:?}"
        );
    }
    assert_eq!(ranking.dropped.len(), 1);
    assert_eq!(
        (ranking.dropped[0].index, ranking.dropped[0].duplicate_of),
        (2, 1)
    );
}
