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
    CancelToken, ChatMessage, JsonField, JsonSchemaSpec, Prompt, SamplingParams, TextScheduler,
};
use adforge_targeting as targeting;
use targeting::copy::{Candidate, Selection, SelectionConfig};

use super::pipeline::PipelineError;

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
/// standard labels of the language that fit; `None` when none fits (free text).
pub fn allowed_ctas(brief: &CopyBrief<'_>) -> Option<Vec<String>> {
    use unicode_segmentation::UnicodeSegmentation;
    let max = brief.placement.cta_max;
    if let Some(own) = brief.campaign.call_to_action.as_deref().map(str::trim) {
        if plain(own) && own.graphemes(true).count() <= max {
            return Some(vec![own.to_string()]);
        }
    }
    let labels = targeting::copy::cta_labels(brief.segment.language, max);
    (!labels.is_empty()).then_some(labels)
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
    let allowed = allowed_ctas(brief);
    let field = |name: &str, max: usize, allowed: Option<Vec<String>>| JsonField {
        name: name.into(),
        max_graphemes: max,
        allowed_values: allowed,
    };
    let schema = JsonSchemaSpec::new(vec![
        field("headline", brief.placement.headline_max, None),
        field("body", brief.placement.body_max, None),
        field("cta", brief.placement.cta_max, allowed.clone()),
    ])
    .with_language(brief.segment.language.code());
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
    let count = brief.variants.max(1) * brief.candidates_per_variant.max(1);
    let jobs: Vec<(Prompt, SamplingParams)> = (0..count)
        .map(|i| {
            let sampling = SamplingParams {
                seed: Some(brief.seed + u64::from(i)),
                ..sampling.clone()
            };
            (prompt.clone(), sampling)
        })
        .collect();
    // One batch: the candidates share the prompt's prefill and decode together, alongside
    // other groups in flight.
    let outputs = text.generate_json_batch_cancellable(&jobs, &schema, cancel)?;
    let copies: Vec<targeting::AdCopy> = outputs
        .iter()
        .map(|out| {
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
        })
        .collect();

    let mut texts = vec![format!(
        "{}. {}",
        brief.campaign.product, brief.campaign.description
    )];
    texts.extend(copies.iter().map(targeting::AdCopy::joined));
    let embeddings = {
        let embedder = embedder.lock().unwrap_or_else(|p| p.into_inner());
        embedder.embed(&texts)?
    };
    let (target, embeddings) = embeddings
        .split_first()
        .ok_or_else(|| PipelineError::Setting {
            name: "copy",
            message: "the embedder returned no vectors".into(),
        })?;
    let pack = targeting::RulePack::builtin(brief.segment.language);
    let checker = targeting::PolicyChecker::new(
        pack,
        brief.brand,
        brief.placement,
        brief.campaign.allow_claims,
    );
    let candidates: Vec<Candidate> = copies
        .iter()
        .zip(embeddings)
        .zip(&outputs)
        .map(|((copy, embedding), out)| Candidate {
            copy: copy.clone(),
            relevance: targeting::rank::cosine(target, embedding),
            embedding: embedding.clone(),
            mean_logprob: (out.generation.scored_tokens > 0).then_some(out.generation.mean_logprob),
            violations: checker.check(copy),
        })
        .collect();
    let config = SelectionConfig::new(
        brief.variants as usize,
        brief.segment.language,
        &brief.brand.name,
        &brief.campaign.product,
    )
    .with_facts(&format!(
        "{} {} {} {} {} {}",
        brief.brand.name,
        brief.campaign.product,
        brief.campaign.description,
        brief.campaign.key_benefits.join(" "),
        brief.segment.persona,
        brief.brand.required_phrases.join(" ")
    ));
    let selection = targeting::copy::select_candidates(&candidates, &config);
    Ok(WrittenCopy {
        prompts,
        candidates: copies
            .into_iter()
            .zip(&jobs)
            .zip(&outputs)
            .map(|((copy, (_, s)), out)| {
                (
                    copy,
                    s.seed.unwrap_or(brief.seed),
                    out.generation.token_ids.len(),
                )
            })
            .collect(),
        selection,
        sampling,
        allowed_ctas: allowed,
    })
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
