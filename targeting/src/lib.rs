//! adforge targeting: audience segments and their rules, request matching, prompt building,
//! brand and policy rules on copy, ranking of variants and the serving bandit.
//!
//! # Public surface (what the api calls)
//!
//! Segments and matching
//! - [`Rule::from_json`]`(&serde_json::Value) -> Result<Rule, RuleError>` (also `Deserialize`):
//!   parses and validates a segment rule when it is saved; [`RuleError::path`] locates the
//!   problem, e.g. `rules.all[2].age.min`.
//! - [`SegmentIndex::build`]`(impl IntoIterator<Item = (Id, Rule)>) -> SegmentIndex<Id>` over
//!   all live segments, then [`SegmentIndex::matching`]`(&AdRequest) -> Vec<Id>` per request.
//!   Rebuild the index when segments change; it is `Sync` (share it in an `Arc`).
//!
//! Prompts (inputs are the plain records of [`brief`], mapped from database rows)
//! - [`build_prompts`]`(&CampaignBrief, &SegmentBrief, &BrandKit, &PlacementSpec) ->
//!   CreativePrompts` gives the chat messages for the text engine (system, few-shot example
//!   turns, brief) and the image prompt pair for the diffusion engine, in the segment's
//!   [`Language`].
//!
//! Copy quality ([`copy`])
//! - [`copy::cta_labels`]`(language, cta_max)`: standard calls to action, the allowed values of
//!   the CTA field.
//! - [`copy::select_candidates`]`(&[Candidate], &SelectionConfig) -> Selection`: scores
//!   over-generated candidates (language, relevance, fluency, rules, artefacts, duplicates) and
//!   keeps the best N.
//! - [`parse_copy`]`(&str) -> Option<AdCopy>` reads the text engine's answer back.
//!
//! Policy
//! - [`PolicyChecker::new`]`(RulePack::builtin(language), &BrandKit, &PlacementSpec,
//!   campaign.allow_claims).check(&AdCopy) -> Vec<Violation>`; each violation names its rule
//!   and span.
//!
//! Ranking
//! - [`ranking_texts`]`(&SegmentBrief, &[AdCopy]) -> Vec<String>` lists what to embed (the
//!   persona, then each variant); embed them with `adforge_generator::embed::SentenceEmbedder`,
//!   then [`rank_variants`]`(&persona_embedding, &variant_embeddings,
//!   DEFAULT_DUPLICATE_THRESHOLD) -> Ranking` (survivors most relevant first, near-duplicates
//!   dropped).
//!
//! Serving
//! - [`ThompsonSampler::seeded`] / [`ThompsonSampler::from_entropy`] with [`ThompsonConfig`],
//!   then [`ThompsonSampler::choose`]`(&[ArmStats]) -> Option<usize>` with the (segment,
//!   creative) impression and click counts of the candidates.
//! - [`FrequencyCapper::allows`] / [`FrequencyCapper::record`] over an [`ImpressionLog`]
//!   ([`InMemoryImpressionLog`], or the api's own store), users keyed by [`UserKeyHash::new`].

pub mod bandit;
pub mod brief;
pub mod copy;
pub mod index;
pub mod policy;
pub mod prompt;
pub mod rank;
pub mod request;
pub mod rules;

pub use bandit::{
    ArmStats, BanditError, CapLevel, CapScope, FrequencyCap, FrequencyCapper, ImpressionLog,
    InMemoryImpressionLog, ThompsonConfig, ThompsonSampler, UserKeyHash,
};
pub use brief::{
    AdCopy, BrandKit, CampaignBrief, CopyField, Language, PlacementSpec, SegmentBrief,
};
pub use index::SegmentIndex;
pub use policy::{PolicyChecker, PolicyError, RulePack, Span, Violation, ViolationKind};
pub use prompt::{
    answer_json, build_prompts, parse_copy, CreativePrompts, ExampleTurn, ImagePrompt, TextPrompt,
};
pub use rank::{rank_variants, ranking_texts, Ranking, DEFAULT_DUPLICATE_THRESHOLD};
pub use request::{AdRequest, PreparedRequest};
pub use rules::{Rule, RuleError};
