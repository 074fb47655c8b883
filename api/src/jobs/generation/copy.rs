//! Writing a group's copy: over-generate, score, select.
//!
//! For N wanted variants the text engine decodes K × N candidates in one batch (K is the
//! `copy_candidates_per_variant` setting), with the prompt of [`targeting::build_prompts`] and a
//! constrained JSON schema whose CTA field may only take the standard labels of the segment's
//! language (`assets/copy/ctas.toml`) that fit the placement. Each candidate is checked against
//! the brand and policy rules, embedded with MiniLM, and scored and selected by
//! [`targeting::copy::select_candidates`]; fewer than N good candidates deliver fewer variants.

use adforge_generator::embed::SentenceEmbedder;
use adforge_generator::text::{
    CancelToken, ChatMessage, JsonField, JsonSchemaSpec, Prompt, SamplingParams, StructuredOutput,
    TextScheduler,
};
use adforge_targeting as targeting;
use std::sync::Arc;
use targeting::copy::{Candidate, Selection, SelectionConfig, Vocabulary};

use super::pipeline::PipelineError;

/// Decoding rounds at most per group: when fewer candidates than wanted pass the checks, another
/// K × (missing variants) are decoded with new seeds, up to this many rounds in all. Most groups
/// need one round; the rest would otherwise deliver fewer variants than asked. On the quantized
/// decode step a round of candidates costs about as much as one sequence, so a strict check
/// costs little time.
pub const MAX_ROUNDS: u32 = 6;

/// Sampling temperature of candidates: low enough to stay on the brief, high enough that K
/// candidates differ.
pub const CANDIDATE_TEMPERATURE: f32 = 0.6;

/// What the copy of one group is written from.
pub struct CopyBrief<'a> {
    /// The campaign's facts.
    pub campaign: &'a targeting::CampaignBrief,
    /// The segment written for.
    pub segment: &'a targeting::SegmentBrief,
    /// The brand as the copy sees it (without the disclaimer, which the compositor draws).
    pub brand: &'a targeting::BrandKit,
    /// The placement's text limits.
    pub placement: &'a targeting::PlacementSpec,
    /// Variants wanted.
    pub variants: u32,
    /// Candidates decoded per wanted variant.
    pub candidates_per_variant: u32,
    /// Base seed: candidate `i` samples with `seed + i`.
    pub seed: u64,
    /// Known words (empty: words are not checked).
    pub vocabulary: Arc<Vocabulary>,
}

/// The whole words of the WordPiece vocabulary in `dir` (`vocab.txt` of MiniLM) with the short
/// words of the supported languages; empty, with a warning, when it cannot be read (copy is
/// then not checked for unknown words).
pub fn load_vocabulary(dir: &std::path::Path) -> Arc<Vocabulary> {
    let path = dir.join("vocab.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => Arc::new(Vocabulary::from_wordpiece(
            &text,
            adforge_targeting::copy::function_words::SHORT_WORDS,
        )),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "no vocabulary: copy words are not checked");
            Arc::new(Vocabulary::default())
        }
    }
}

/// The selected copy of a group, with everything provenance records.
pub struct WrittenCopy {
    /// The prompts used.
    pub prompts: targeting::CreativePrompts,
    /// The candidates as decoded, with their seeds and token counts.
    pub candidates: Vec<(targeting::AdCopy, u64, usize)>,
    /// Scores and the selection.
    pub selection: Selection,
    /// The sampling parameters shared by all candidates (seeds aside).
    pub sampling: SamplingParams,
    /// The CTA values the decoder allowed (`None`: free text).
    pub allowed_ctas: Option<Vec<String>>,
}

/// Whether a value can be an allowed value of the constrained decoder.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c != '"' && c != '\\' && !c.is_control())
}

/// The allowed CTA values: the campaign's own CTA when it has one that fits, else the
/// standard labels of the language that fit the placement and suit the campaign (see
/// [`targeting::copy::fitting_ctas`]; `target` is the embedding of the product and its
/// description, `facts` the brief's text); `None` when none fits (free text).
fn allowed_ctas(
    embedder: &std::sync::Mutex<SentenceEmbedder>,
    brief: &CopyBrief<'_>,
    target: &[f32],
    facts: &str,
) -> Result<Option<Vec<String>>, PipelineError> {
    use unicode_segmentation::UnicodeSegmentation;
    let max = brief.placement.cta_max;
    if let Some(own) = brief.campaign.call_to_action.as_deref().map(str::trim) {
        if plain(own) && own.graphemes(true).count() <= max {
            return Ok(Some(vec![own.to_string()]));
        }
    }
    // A label that promises an offer the brief does not state ("Try it free") is never offered.
    let standard: Vec<targeting::copy::StandardCta> =
        targeting::copy::standard_ctas(brief.segment.language, max)
            .into_iter()
            .filter(|cta| targeting::copy::faults::invented_offers(&cta.label, facts).is_empty())
            .collect();
    if standard.is_empty() {
        return Ok(None);
    }
    let uses = embed_texts(
        embedder,
        &standard.iter().map(|c| c.suits.clone()).collect::<Vec<_>>(),
    )?;
    let scored: Vec<(String, f32)> = standard
        .iter()
        .zip(&uses)
        .map(|(cta, use_vector)| {
            (
                cta.label.clone(),
                targeting::rank::cosine(target, use_vector),
            )
        })
        .collect();
    Ok(Some(targeting::copy::fitting_ctas(&scored)))
}

/// Decodes K × N candidates in one batch, scores them and selects up to N.
pub fn write_copy(
    text: &TextScheduler,
    embedder: &std::sync::Mutex<SentenceEmbedder>,
    brief: &CopyBrief<'_>,
    cancel: &CancelToken,
) -> Result<WrittenCopy, PipelineError> {
    let prompts =
        targeting::build_prompts(brief.campaign, brief.segment, brief.brand, brief.placement);
    let field = |name: &str, max: usize, allowed: Option<Vec<String>>| JsonField {
        name: name.into(),
        max_graphemes: max,
        allowed_values: allowed,
        // Every example ad ends its body with a stop; a body that just stops reads as cut.
        sentence: name == "body",
    };
    // The brief's own text: the only numbers and offers the copy may state come from it.
    let facts = format!(
        "{} {} {} {} {} {}",
        brief.brand.name,
        brief.campaign.product,
        brief.campaign.description,
        brief.campaign.key_benefits.join(" "),
        brief.segment.persona,
        brief.brand.required_phrases.join(" ")
    );
    // What the copy is about: relevance of candidates and the fit of CTAs are measured to it.
    let target = embed_texts(
        embedder,
        &[format!(
            "{}. {}",
            brief.campaign.product, brief.campaign.description
        )],
    )?
    .pop()
    .ok_or_else(no_vectors)?;
    let allowed = allowed_ctas(embedder, brief, &target, &facts)?;
    // The decoder never starts a word the rules forbid (single words: "best", "guaranteed",
    // the brand's banned words, offer words such as "free" or "discount" that the brief does
    // not state); phrases are left to the checks after decoding.
    let pack = targeting::RulePack::builtin(brief.segment.language);
    let mut banned: Vec<String> = brief.brand.banned_phrases.clone();
    if !brief.campaign.allow_claims {
        banned.extend(pack.superlatives.iter().chain(&pack.guarantees).cloned());
    }
    if brief.segment.language == targeting::Language::En {
        banned.extend(
            targeting::copy::faults::offer_words_absent_from(&facts)
                .into_iter()
                .map(String::from),
        );
    }
    let schema = JsonSchemaSpec::new(vec![
        field("headline", brief.placement.headline_max, None),
        field("body", brief.placement.body_max, None),
        field("cta", brief.placement.cta_max, allowed.clone()),
    ])
    .with_language(brief.segment.language.code())
    .with_banned_words(&banned)
    .with_numbers_from(&facts)
    .with_max_exclamations(pack.punctuation.max_exclamations);
    let prompt = Prompt::Messages(
        prompts
            .text
            .messages()
            .into_iter()
            .map(|(role, content)| ChatMessage {
                role: role.to_string(),
                content,
            })
            .collect(),
    );
    let sampling = SamplingParams {
        temperature: CANDIDATE_TEMPERATURE,
        top_p: 0.95,
        repetition_penalty: 1.0,
        ..SamplingParams::default()
    };
    let config = SelectionConfig::new(
        brief.variants as usize,
        brief.segment.language,
        &brief.brand.name,
        &brief.campaign.product,
    )
    .with_facts(&facts)
    .with_prompt_echo(targeting::prompt::prompt_echo(
        brief.segment.language,
        brief.placement,
        &brief.brand.voice,
        &brief.segment.persona,
    ))
    .with_vocabulary(brief.vocabulary.clone());
    let checker = targeting::PolicyChecker::new(
        pack,
        brief.brand,
        brief.placement,
        brief.campaign.allow_claims,
    );

    let wanted = brief.variants.max(1);
    let mut decoded: Vec<(targeting::AdCopy, u64, usize)> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut selection = Selection::default();
    for _round in 0..MAX_ROUNDS {
        let missing = wanted.saturating_sub(selection.selected.len() as u32);
        if missing == 0 {
            break;
        }
        // Seeds continue across rounds, so every candidate of a group has its own.
        let first_seed = brief.seed + decoded.len() as u64;
        let jobs: Vec<(Prompt, SamplingParams)> = (0..missing
            * brief.candidates_per_variant.max(1))
            .map(|i| {
                let sampling = SamplingParams {
                    seed: Some(first_seed + u64::from(i)),
                    ..sampling.clone()
                };
                (prompt.clone(), sampling)
            })
            .collect();
        // One batch: the candidates share the prompt's prefill and decode together, alongside
        // other groups in flight.
        let outputs = text.generate_json_batch_cancellable(&jobs, &schema, cancel)?;
        let copies: Vec<targeting::AdCopy> = outputs.iter().map(copy_of).collect();
        let embeddings = embed_texts(
            embedder,
            &copies
                .iter()
                .map(targeting::AdCopy::joined)
                .collect::<Vec<_>>(),
        )?;
        for ((copy, embedding), (out, (_, job))) in copies
            .into_iter()
            .zip(embeddings)
            .zip(outputs.iter().zip(&jobs))
        {
            candidates.push(Candidate {
                relevance: targeting::rank::cosine(&target, &embedding),
                embedding,
                mean_logprob: (out.generation.scored_tokens > 0)
                    .then_some(out.generation.mean_logprob),
                violations: checker.check(&copy),
                cut_words: out.generation.cut_words,
                copy: copy.clone(),
            });
            decoded.push((
                copy,
                job.seed.unwrap_or(brief.seed),
                out.generation.token_ids.len(),
            ));
        }
        selection = targeting::copy::select_candidates(&candidates, &config);
    }
    Ok(WrittenCopy {
        prompts,
        candidates: decoded,
        selection,
        sampling,
        allowed_ctas: allowed,
    })
}

/// The copy in one decoded JSON object (a missing field reads as empty, which selection
/// rejects).
fn copy_of(out: &StructuredOutput) -> targeting::AdCopy {
    let field = |name: &str| {
        out.values
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    targeting::AdCopy {
        headline: field("headline"),
        body: field("body"),
        call_to_action: field("cta"),
    }
}

/// MiniLM vectors of `texts`, one per text.
fn embed_texts(
    embedder: &std::sync::Mutex<SentenceEmbedder>,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, PipelineError> {
    let embedder = embedder.lock().unwrap_or_else(|p| p.into_inner());
    let vectors = embedder.embed(texts)?;
    if vectors.len() != texts.len() {
        return Err(no_vectors());
    }
    Ok(vectors)
}

fn no_vectors() -> PipelineError {
    PipelineError::Setting {
        name: "copy",
        message: "the embedder returned a wrong number of vectors".into(),
    }
}

impl WrittenCopy {
    /// How many variants were asked for and not delivered, with why, in words; `None` when
    /// every variant was delivered.
    pub fn shortfall(&self, asked: u32) -> Option<String> {
        let delivered = self.selection.selected.len();
        if delivered >= asked as usize {
            return None;
        }
        let reasons: Vec<String> = self
            .selection
            .rejected
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        Some(format!(
            "{delivered} of {asked} variants delivered: {} of {} candidates failed the quality checks ({})",
            self.selection.rejected_total,
            self.candidates.len(),
            if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") }
        ))
    }

    /// The selection as recorded in every creative's provenance: the counts and every
    /// candidate's scores.
    pub fn provenance(&self, asked: u32) -> serde_json::Value {
        serde_json::json!({
            "asked": asked,
            "delivered": self.selection.selected.len(),
            "candidates": self.candidates.len(),
            "rejected_total": self.selection.rejected_total,
            "rejected": self.selection.rejected,
            "allowed_ctas": self.allowed_ctas,
            "reports": self.selection.reports.iter().zip(&self.candidates).map(|(r, (_, seed, tokens))| {
                let mut value = serde_json::to_value(r).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    map.insert("seed".into(), (*seed).into());
                    map.insert("generated_tokens".into(), (*tokens).into());
                }
                value
            }).collect::<Vec<_>>(),
        })
    }
}
