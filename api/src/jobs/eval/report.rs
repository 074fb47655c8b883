//! Running the brief set through the pipeline and summing the metrics per language.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use adforge_generator::embed::{EmbedError, SentenceEmbedder};
use adforge_targeting as targeting;
use serde::Serialize;

use super::briefs::Brief;
use super::metrics::{self, Vocabulary};
use crate::jobs::generation::pipeline::{GroupInput, Pipeline, Variant};

/// Why the judging model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The device setting is not understood.
    #[error("device: {0}")]
    Device(String),
    /// MiniLM could not be loaded.
    #[error("MiniLM: {0}")]
    Embed(#[from] EmbedError),
    /// Its vocabulary could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The MiniLM model of `models_dir` (`all-minilm-l6-v2`, the one ranking uses) and the whole
/// words of its vocabulary: the judge of relevance and of complete words.
pub fn load_judge(
    models_dir: &std::path::Path,
    device: &str,
) -> Result<(SentenceEmbedder, Vocabulary), JudgeError> {
    let dir = models_dir.join("all-minilm-l6-v2");
    let device = adforge_generator::device::parse_device(device)
        .map_err(|e| JudgeError::Device(e.to_string()))?;
    let embedder = SentenceEmbedder::load(&dir, device)?;
    let path = dir.join("vocab.txt");
    let vocab = std::fs::read_to_string(&path).map_err(|source| JudgeError::Io { path, source })?;
    Ok((embedder, metrics::vocabulary_from_wordpiece(&vocab)))
}

/// How to run the evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Variants asked per group.
    pub variants: u32,
    /// Base seed of every group (the same for all, so runs are comparable).
    pub seed: u64,
}

/// One delivered variant and its measures.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredVariant {
    /// The headline.
    pub headline: String,
    /// The body.
    pub body: String,
    /// The call to action.
    pub cta: String,
    /// The language identified, if any.
    pub detected_language: Option<&'static str>,
    /// Whether it is the segment's language.
    pub right_language: bool,
    /// Whether it names the brand or the product.
    pub names_brand_or_product: bool,
    /// Fields cut inside a word.
    pub cut_fields: Vec<&'static str>,
    /// Fields ending on a dangling word or mark.
    pub dangling_fields: Vec<&'static str>,
    /// Artefacts found, as `field: kind`.
    pub artefacts: Vec<String>,
    /// Rules broken, as `rule (field)`.
    pub violations: Vec<String>,
    /// Faults a reader sees (copy selection rejects them too), as `kind: detail`: `prompt echo`
    /// (a label, instruction, tone or persona of the prompt copied), `headline echo`,
    /// `misspelt brand`, `unknown word`, `invented fact` (a number), `invented offer`,
    /// `invented name`, `example leak`, `garbled figure`, `dangling ending`, `unfinished body`,
    /// `choppy headline` (see `adforge_targeting::copy::reader_faults`).
    pub faults: Vec<String>,
    /// Cosine with the brief's product and description.
    pub relevance: f32,
}

/// What one brief's group gave.
#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    /// The brief id.
    pub brief: String,
    /// The segment's language.
    pub language: String,
    /// The placement preset.
    pub placement: String,
    /// Variants asked.
    pub asked: u32,
    /// Candidates decoded.
    pub candidates: u64,
    /// Wall time of the group, in seconds.
    pub seconds: f64,
    /// The delivered variants.
    pub delivered: Vec<ScoredVariant>,
    /// The error, when the pipeline refused or failed the group.
    pub error: Option<String>,
}

/// The measures of one language.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageSummary {
    /// The language.
    pub language: String,
    /// Groups (briefs) run.
    pub groups: usize,
    /// Groups that failed with an error, with the first error.
    pub refused_groups: usize,
    /// The first error of a refused group.
    pub refusal: Option<String>,
    /// Variants asked.
    pub asked: u64,
    /// Variants delivered.
    pub delivered: u64,
    /// Share in the right language.
    pub right_language_rate: f64,
    /// Share naming the brand or the product.
    pub names_brand_or_product_rate: f64,
    /// Fields cut inside a word.
    pub mid_word_cuts: u64,
    /// Fields ending on a dangling word or mark.
    pub dangling_endings: u64,
    /// Variants with markup or placeholder artefacts.
    pub with_markup: u64,
    /// Variants breaking a rule.
    pub with_violations: u64,
    /// Share of delivered variants breaking a rule.
    pub violation_rate: f64,
    /// Variants with a fault a reader sees (see [`ScoredVariant::faults`]).
    pub with_faults: u64,
    /// Variants per kind of fault.
    pub faults: BTreeMap<String, u64>,
    /// Delivered variants repeating a headline of their group.
    pub duplicate_headlines: u64,
    /// Distinct headlines per group that delivered something, on average.
    pub distinct_headlines_per_group: f64,
    /// Mean relevance.
    pub mean_relevance: f64,
    /// Candidates decoded.
    pub candidates: u64,
    /// Wall time of the groups, in seconds.
    pub seconds: f64,
    /// Candidates per second.
    pub candidates_per_second: f64,
    /// Seconds per delivered variant.
    pub seconds_per_delivered: f64,
}

impl LanguageSummary {
    /// Whether every group of the language was refused: the language shows as refused.
    pub fn refused(&self) -> bool {
        self.groups > 0 && self.refused_groups == self.groups
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The text model.
    pub text_model: String,
    /// Variants asked per group.
    pub variants: u32,
    /// Per language, in the order of first appearance.
    pub languages: Vec<LanguageSummary>,
    /// Per brief.
    pub groups: Vec<GroupResult>,
}

/// Runs every brief through `pipeline` and measures what it delivers; `embedder` is the
/// MiniLM model for relevance and `vocabulary` its whole words (see the module docs).
/// A group the pipeline fails is recorded with its error, not returned as one.
pub fn evaluate(
    pipeline: &Pipeline,
    embedder: &SentenceEmbedder,
    vocabulary: &Vocabulary,
    briefs: &[Brief],
    text_model: &str,
    options: &EvalOptions,
    mut progress: impl FnMut(&GroupResult),
) -> Result<EvalReport, super::BriefError> {
    let mut groups = Vec::with_capacity(briefs.len());
    for brief in briefs {
        let values = brief.values()?;
        let started = Instant::now();
        let outcome = pipeline.generate_group(&GroupInput {
            campaign: &values.campaign,
            brand_kit: Some(&values.brand_kit),
            logo: None,
            products: &[],
            segment: &values.segment,
            placement: &values.placement,
            variants: options.variants,
            seed: options.seed,
        });
        let seconds = started.elapsed().as_secs_f64();
        let mut group = GroupResult {
            brief: brief.id.clone(),
            language: brief.language().to_string(),
            placement: brief.placement.clone(),
            asked: options.variants,
            candidates: 0,
            seconds,
            delivered: Vec::new(),
            error: None,
        };
        match outcome {
            Ok(variants) => {
                group.candidates = candidates(&variants, options.variants);
                match score_group(brief, &values, &variants, embedder, vocabulary) {
                    Ok(scored) => group.delivered = scored,
                    Err(error) => group.error = Some(format!("relevance: {error}")),
                }
            }
            Err(error) => group.error = Some(error.to_string()),
        }
        progress(&group);
        groups.push(group);
    }
    Ok(EvalReport {
        text_model: text_model.to_string(),
        variants: options.variants,
        languages: summarise(&groups),
        groups,
    })
}

/// Candidates decoded for a group: what provenance records when the pipeline over-generates
/// (`candidates` as a count or a list, at the top or under `selection`), else one per variant.
fn candidates(variants: &[Variant], asked: u32) -> u64 {
    let count = |value: &serde_json::Value| match value {
        serde_json::Value::Array(items) => Some(items.len() as u64),
        other => other.as_u64(),
    };
    variants
        .iter()
        .filter_map(|v| {
            v.provenance
                .pointer("/selection/candidates")
                .or_else(|| v.provenance.get("candidates"))
                .and_then(count)
        })
        .max()
        .unwrap_or(u64::from(asked))
}

fn score_group(
    brief: &Brief,
    values: &super::briefs::BriefValues,
    variants: &[Variant],
    embedder: &SentenceEmbedder,
    vocabulary: &Vocabulary,
) -> Result<Vec<ScoredVariant>, EmbedError> {
    let delivered: Vec<&Variant> = variants
        .iter()
        .filter(|v| v.duplicate_of.is_none())
        .collect();
    if delivered.is_empty() {
        return Ok(Vec::new());
    }
    let campaign = &values.campaign.input;
    let limits = values.placement.text_limits();
    let language =
        targeting::Language::from_tag(brief.language()).unwrap_or(targeting::Language::En);
    let kit = targeting::BrandKit {
        name: campaign.brand.clone(),
        voice: campaign.tone.clone().unwrap_or_default(),
        colors: Vec::new(),
        visual_style: String::new(),
        banned_phrases: values.brand_kit.input.banned_words.clone(),
        required_phrases: values.brand_kit.input.required_phrases.clone(),
        disclaimer: None,
    };
    let spec = targeting::PlacementSpec {
        name: values.placement.input.name.clone(),
        width: 0,
        height: 0,
        headline_max: limits.headline as usize,
        body_max: limits.body as usize,
        cta_max: limits.cta as usize,
    };
    let checker = targeting::PolicyChecker::new(
        targeting::RulePack::builtin(language),
        &kit,
        &spec,
        campaign.allow_claims,
    );
    // The brief's text, as copy generation states it: the only numbers, offers and names copy
    // may state. The faults are copy selection's own checks, so what is counted here is what
    // selection should have caught.
    let facts = format!(
        "{} {} {} {} {} {}",
        campaign.brand,
        campaign.product,
        campaign.description,
        campaign.offer.as_deref().unwrap_or(""),
        values.segment.input.persona,
        kit.required_phrases.join(" ")
    );
    let selection =
        targeting::copy::SelectionConfig::new(1, language, &campaign.brand, &campaign.product)
            .with_facts(&facts)
            .with_prompt_echo(targeting::prompt::prompt_echo(
                language,
                &spec,
                &kit.voice,
                &values.segment.input.persona,
            ))
            .with_vocabulary(std::sync::Arc::new(vocabulary.clone()));
    let known = selection.known_words();
    let faults_of = |copy: &targeting::AdCopy| {
        targeting::copy::reader_faults(copy, &selection, &known)
            .iter()
            .map(|fault| fault.describe().replace('_', " "))
            .collect::<Vec<String>>()
    };

    let mut texts = vec![format!("{}. {}", campaign.product, campaign.description)];
    texts.extend(delivered.iter().map(|v| {
        format!(
            "{} {} {}",
            v.copy.headline, v.copy.body, v.copy.call_to_action
        )
    }));
    let embeddings = embedder.embed(&texts)?;
    let Some((reference, copies)) = embeddings.split_first() else {
        return Ok(Vec::new());
    };

    let mut scored = Vec::with_capacity(delivered.len());
    for (variant, embedding) in delivered.iter().zip(copies) {
        let copy = &variant.copy;
        let fields: [(&'static str, &str, u32); 3] = [
            ("headline", &copy.headline, limits.headline),
            ("body", &copy.body, limits.body),
            ("cta", &copy.call_to_action, limits.cta),
        ];
        let detected = metrics::detect_language(&format!("{} {}", copy.headline, copy.body));
        let primary = brief.language().split('-').next().unwrap_or("");
        let mut violations: Vec<String> = variant
            .violations
            .iter()
            .map(|v| format!("{} ({})", v.rule, v.field))
            .collect();
        for v in checker.check(copy) {
            let rule = v.rule.clone();
            if !variant.violations.iter().any(|known| known.rule == rule) {
                violations.push(rule);
            }
        }
        scored.push(ScoredVariant {
            headline: copy.headline.clone(),
            body: copy.body.clone(),
            cta: copy.call_to_action.clone(),
            detected_language: detected,
            right_language: detected == Some(primary),
            names_brand_or_product: metrics::names_brand_or_product(
                &format!("{} {} {}", copy.headline, copy.body, copy.call_to_action),
                &campaign.brand,
                &campaign.product,
            ),
            cut_fields: fields
                .iter()
                .filter(|(_, text, limit)| metrics::cut_mid_word(text, *limit as usize, &known))
                .map(|(name, _, _)| *name)
                .collect(),
            dangling_fields: fields
                .iter()
                .filter(|(_, text, _)| metrics::dangling_end(text, primary))
                .map(|(name, _, _)| *name)
                .collect(),
            artefacts: fields
                .iter()
                .flat_map(|(name, text, _)| {
                    metrics::artefacts(text)
                        .into_iter()
                        .map(move |kind| format!("{name}: {kind}"))
                })
                .collect(),
            violations,
            faults: faults_of(copy),
            relevance: targeting::rank::cosine(reference, embedding),
        });
    }
    Ok(scored)
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Sums the groups per language, languages in order of first appearance.
pub fn summarise(groups: &[GroupResult]) -> Vec<LanguageSummary> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_language: BTreeMap<&str, Vec<&GroupResult>> = BTreeMap::new();
    for group in groups {
        if !by_language.contains_key(group.language.as_str()) {
            order.push(&group.language);
        }
        by_language.entry(&group.language).or_default().push(group);
    }
    order
        .into_iter()
        .map(|language| {
            let groups = &by_language[language];
            let delivered: Vec<&ScoredVariant> =
                groups.iter().flat_map(|g| g.delivered.iter()).collect();
            let count = |f: &dyn Fn(&ScoredVariant) -> bool| {
                delivered.iter().filter(|v| f(v)).count() as u64
            };
            let n = delivered.len() as u64;
            let mut duplicate_headlines = 0;
            let mut distinct_sum = 0usize;
            let mut delivering_groups = 0usize;
            for group in groups {
                let mut seen = HashSet::new();
                for v in &group.delivered {
                    if !seen.insert(metrics::fold(v.headline.trim())) {
                        duplicate_headlines += 1;
                    }
                }
                if !group.delivered.is_empty() {
                    delivering_groups += 1;
                    distinct_sum += seen.len();
                }
            }
            let refused: Vec<&&GroupResult> = groups.iter().filter(|g| g.error.is_some()).collect();
            let seconds: f64 = groups.iter().map(|g| g.seconds).sum();
            let candidates: u64 = groups.iter().map(|g| g.candidates).sum();
            let with_violations = count(&|v| !v.violations.is_empty());
            let mut faults: BTreeMap<String, u64> = BTreeMap::new();
            for v in &delivered {
                let mut kinds: Vec<&str> = v
                    .faults
                    .iter()
                    .map(|f| f.split(':').next().unwrap_or(f))
                    .collect();
                kinds.dedup();
                for kind in kinds {
                    *faults.entry(kind.to_string()).or_insert(0) += 1;
                }
            }
            LanguageSummary {
                language: language.to_string(),
                groups: groups.len(),
                refused_groups: refused.len(),
                refusal: refused.first().and_then(|g| g.error.clone()),
                asked: groups.iter().map(|g| u64::from(g.asked)).sum(),
                delivered: n,
                right_language_rate: rate(count(&|v| v.right_language), n),
                names_brand_or_product_rate: rate(count(&|v| v.names_brand_or_product), n),
                mid_word_cuts: delivered.iter().map(|v| v.cut_fields.len() as u64).sum(),
                dangling_endings: delivered
                    .iter()
                    .map(|v| v.dangling_fields.len() as u64)
                    .sum(),
                with_markup: count(&|v| !v.artefacts.is_empty()),
                with_violations,
                violation_rate: rate(with_violations, n),
                with_faults: count(&|v| !v.faults.is_empty()),
                faults,
                duplicate_headlines,
                distinct_headlines_per_group: if delivering_groups == 0 {
                    0.0
                } else {
                    distinct_sum as f64 / delivering_groups as f64
                },
                mean_relevance: if n == 0 {
                    0.0
                } else {
                    delivered
                        .iter()
                        .map(|v| f64::from(v.relevance))
                        .sum::<f64>()
                        / n as f64
                },
                candidates,
                seconds,
                candidates_per_second: if seconds > 0.0 {
                    candidates as f64 / seconds
                } else {
                    0.0
                },
                seconds_per_delivered: if n == 0 { 0.0 } else { seconds / n as f64 },
            }
        })
        .collect()
}
