//! Scoring and selection of over-generated copy: the pipeline decodes K candidates per wanted
//! variant, and [`select_candidates`] keeps the best N that pass every check.
//!
//! A candidate is rejected, with every reason recorded, when a field is empty, when the decoder
//! had to close a field inside a word, when it names neither the brand nor the product, when it
//! holds markup or placeholder artefacts ([`artefacts`]), when language identification names
//! another language ([`crate::copy::lang`]), when it breaks a brand or policy rule, when it shows
//! a fault a reader sees at once ([`crate::copy::faults`]: text copied from the prompt, a body
//! that repeats the headline, the brand written wrong, words that are not words, numbers or
//! offers the brief does not state), when it is off-topic (relevance to the brief under [`SelectionConfig::min_relevance`]), or when it
//! repeats a better candidate (same headline, or embeddings at least
//! [`SelectionConfig::duplicate_threshold`] alike). Survivors are ordered by
//!
//! ```text
//! score = relevance + 0.1 × max(mean token log-prob, −5) + 0.1 × (names the brand or product)
//! ```
//!
//! where relevance is the cosine between the candidate's embedding and the brief's (product and
//! description) and the mean token log-probability is the model's own fluency measure. Fewer
//! than N survivors means fewer variants: the selection never pads with rejected ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::brief::{AdCopy, Language};
use std::sync::Arc;

use crate::copy::examples::example_texts;
pub use crate::copy::faults::invented_numbers;
use crate::copy::faults::{
    choppy_headline, headline_echo, invented_offers, misspelt_brand, unfinished_body,
    unknown_words, PromptEcho, Vocabulary,
};
use crate::copy::grounding::{
    changed_units, dangling_endings, example_leak, garbled_figures, grounded_share,
    headline_grounded, invented_names, title_case, BriefFacts, MIN_GROUNDED_SHARE,
};
use crate::copy::lang::{detect_language, LanguageCheck};
use crate::policy::Violation;
use crate::rank::{cosine, DEFAULT_DUPLICATE_THRESHOLD};

/// One decoded candidate, with the values the caller computed for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The copy.
    pub copy: AdCopy,
    /// Embedding of the copy (headline, body and CTA together).
    pub embedding: Vec<f32>,
    /// Cosine between the copy's embedding and the brief's.
    pub relevance: f32,
    /// Mean log-probability of the generated tokens, when the engine reports it.
    pub mean_logprob: Option<f32>,
    /// Brand and policy rules it breaks.
    pub violations: Vec<Violation>,
    /// Fields the decoder had to close inside a word because their limit left no room (the
    /// engine's count; 0 when it does not report one).
    pub cut_words: usize,
}

/// What selection needs besides the candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionConfig {
    /// How many candidates to keep at most.
    pub wanted: usize,
    /// The language the copy must be in.
    pub language: Language,
    /// The brand name, to check the copy names it.
    pub brand: String,
    /// The product, to check the copy names it.
    pub product: String,
    /// Relevance under which a candidate counts as off-topic.
    pub min_relevance: f32,
    /// Embedding similarity at or above which a candidate duplicates a better one.
    pub duplicate_threshold: f32,
    /// The brief's own text (product, description, offer, audience): a number or an offer word
    /// in the copy that is not in it is an invented fact; its words are known words.
    pub facts: BriefFacts,
    /// What the prompt says around the brief, which the copy must not copy.
    pub prompt_echo: PromptEcho,
    /// Known words; copy with a word it does not know is rejected (empty: no check).
    pub vocabulary: Arc<Vocabulary>,
    /// The example ads of the language (see [`example_texts`]), whose own facts the copy must
    /// not repeat.
    pub examples: Vec<String>,
}

impl SelectionConfig {
    /// The defaults: off-topic under 0.2 (on the prompt research briefs, ads that named the
    /// product scored 0.3 to 0.8, ads about something else −0.1 to 0.2), duplicates from
    /// [`DEFAULT_DUPLICATE_THRESHOLD`].
    pub fn new(wanted: usize, language: Language, brand: &str, product: &str) -> Self {
        SelectionConfig {
            wanted,
            language,
            brand: brand.to_string(),
            product: product.to_string(),
            min_relevance: 0.2,
            duplicate_threshold: DEFAULT_DUPLICATE_THRESHOLD,
            facts: BriefFacts::default(),
            prompt_echo: PromptEcho::default(),
            vocabulary: Arc::new(Vocabulary::default()),
            examples: example_texts(language),
        }
    }

    /// The words copy may use: the vocabulary with the brief's, the brand's and the product's
    /// words added (empty when no vocabulary is loaded: no unknown-word check).
    pub fn known_words(&self) -> Vocabulary {
        if self.vocabulary.is_empty() {
            return Vocabulary::default();
        }
        let mut known = (*self.vocabulary).clone();
        known.add_text(self.facts.text());
        known.add_text(&self.brand);
        known.add_text(&self.product);
        known
    }

    /// With the prompt's labels, instructions and descriptive brief lines to look for in the
    /// copy.
    pub fn with_prompt_echo(mut self, echo: PromptEcho) -> Self {
        self.prompt_echo = echo;
        self
    }

    /// With the known words (MiniLM's vocabulary) against which words are checked.
    pub fn with_vocabulary(mut self, vocabulary: Arc<Vocabulary>) -> Self {
        self.vocabulary = vocabulary;
        self
    }

    /// With the brief's text, against which numbers in the copy are checked.
    pub fn with_facts(mut self, facts: &str) -> Self {
        self.facts = BriefFacts::new(facts);
        self
    }
}

/// Why a candidate was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    /// A field is empty.
    Empty {
        /// The empty fields.
        fields: Vec<String>,
    },
    /// Markup or placeholder text.
    Artefact {
        /// What was found.
        found: Vec<String>,
    },
    /// Written in another language.
    WrongLanguage {
        /// The language detected.
        detected: Option<String>,
    },
    /// Breaks brand or policy rules.
    Violation {
        /// The rules broken.
        rules: Vec<String>,
    },
    /// Not about the brief.
    OffTopic {
        /// Its relevance.
        relevance: f32,
    },
    /// Repeats itself: a word of four or more letters three times, a word twice in a row, or
    /// the same two-word phrase twice.
    Repetition {
        /// The repeated word or phrase.
        repeated: String,
    },
    /// States numbers (prices, sizes, dates; in digits or words) that the brief does not.
    InventedFact {
        /// The numbers not in the brief.
        numbers: Vec<String>,
    },
    /// States an offer or a certified quality (free, trial, discount, organic…) that the brief
    /// does not.
    InventedOffer {
        /// The offer words not in the brief.
        words: Vec<String>,
    },
    /// Copies the prompt: a label of the brief (`Tone:`), a run of the instructions, the tone of
    /// voice or the audience persona.
    PromptEcho {
        /// What was copied.
        found: Vec<String>,
    },
    /// The body repeats the headline, or the headline the body.
    HeadlineEcho,
    /// Writes the brand name wrong.
    MisspeltBrand {
        /// How it was written (folded).
        written: String,
    },
    /// The body stops without finishing its sentence.
    UnfinishedBody,
    /// The headline is a run of fragments (two commas or more).
    ChoppyHeadline,
    /// Holds words that are not words.
    UnknownWord {
        /// The words.
        words: Vec<String>,
    },
    /// Repeats facts of an example ad shown in the prompt instead of the brief's.
    ExampleLeak {
        /// The words repeated.
        run: String,
    },
    /// Names people, places or organisations the brief does not mention.
    InventedName {
        /// The names.
        names: Vec<String>,
    },
    /// Puts a price or a percentage of the brief into other words, changing the offer, or gives
    /// a count or duration of the brief in another unit ("three days" for "three weeks").
    GarbledFigure {
        /// The figures.
        figures: Vec<String>,
    },
    /// A sentence ends on a word no sentence ends on ("every.", "the.").
    DanglingEnding {
        /// The words.
        words: Vec<String>,
    },
    /// Most of its content words are not in the brief: it is about something else.
    Ungrounded {
        /// The share of its content words the brief states.
        share: f32,
    },
    /// The headline shares no word with the brief ("Cafe of the North" for Frost Kitchen's
    /// ready meals).
    UngroundedHeadline,
    /// Names neither the brand nor the product.
    Unnamed,
    /// A field ends inside a word: the limit left no room to finish it.
    CutWord {
        /// How many fields.
        fields: usize,
    },
    /// Repeats a better candidate.
    Duplicate {
        /// The kept candidate it repeats.
        of: usize,
    },
}

impl Rejection {
    /// A short name of the reason, for counts.
    pub fn name(&self) -> &'static str {
        match self {
            Rejection::Empty { .. } => "empty",
            Rejection::Artefact { .. } => "artefact",
            Rejection::WrongLanguage { .. } => "wrong_language",
            Rejection::Violation { .. } => "violation",
            Rejection::OffTopic { .. } => "off_topic",
            Rejection::Repetition { .. } => "repetition",
            Rejection::InventedFact { .. } => "invented_fact",
            Rejection::InventedOffer { .. } => "invented_offer",
            Rejection::PromptEcho { .. } => "prompt_echo",
            Rejection::HeadlineEcho => "headline_echo",
            Rejection::MisspeltBrand { .. } => "misspelt_brand",
            Rejection::UnknownWord { .. } => "unknown_word",
            Rejection::UnfinishedBody => "unfinished_body",
            Rejection::ChoppyHeadline => "choppy_headline",
            Rejection::ExampleLeak { .. } => "example_leak",
            Rejection::InventedName { .. } => "invented_name",
            Rejection::GarbledFigure { .. } => "garbled_figure",
            Rejection::DanglingEnding { .. } => "dangling_ending",
            Rejection::Ungrounded { .. } => "ungrounded",
            Rejection::UngroundedHeadline => "ungrounded_headline",
            Rejection::Unnamed => "unnamed",
            Rejection::CutWord { .. } => "cut_word",
            Rejection::Duplicate { .. } => "duplicate",
        }
    }

    /// The reason with what was found, for a person reading a report ("misspelt_brand:
    /// drovepalma").
    pub fn describe(&self) -> String {
        let detail = match self {
            Rejection::Empty { fields } => fields.join(", "),
            Rejection::Artefact { found } => found.join(", "),
            Rejection::WrongLanguage { detected } => detected.clone().unwrap_or_default(),
            Rejection::Violation { rules } => rules.join(", "),
            Rejection::OffTopic { relevance } => format!("{relevance:.2}"),
            Rejection::Ungrounded { share } => format!("{share:.2}"),
            Rejection::Repetition { repeated } => repeated.clone(),
            Rejection::InventedFact { numbers } => numbers.join(", "),
            Rejection::InventedOffer { words }
            | Rejection::UnknownWord { words }
            | Rejection::DanglingEnding { words } => words.join(", "),
            Rejection::PromptEcho { found } => found.join(", "),
            Rejection::MisspeltBrand { written } => written.clone(),
            Rejection::ExampleLeak { run } => run.clone(),
            Rejection::InventedName { names } => names.join(", "),
            Rejection::GarbledFigure { figures } => figures.join(", "),
            Rejection::CutWord { fields } => fields.to_string(),
            Rejection::Duplicate { of } => format!("of {of}"),
            Rejection::HeadlineEcho
            | Rejection::UnfinishedBody
            | Rejection::ChoppyHeadline
            | Rejection::UngroundedHeadline
            | Rejection::Unnamed => String::new(),
        };
        if detail.is_empty() {
            self.name().to_string()
        } else {
            format!("{}: {detail}", self.name())
        }
    }
}

/// Every score of one candidate and what became of it, for provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    /// Position among the candidates.
    pub index: usize,
    /// The copy.
    pub copy: AdCopy,
    /// Cosine with the brief.
    pub relevance: f32,
    /// Mean token log-probability.
    pub mean_logprob: Option<f32>,
    /// Language identification.
    pub language: LanguageCheck,
    /// Whether the copy names the brand or the product.
    pub names_brand_or_product: bool,
    /// Share of its content words the brief states ([`grounded_share`]; `None` when not
    /// judged).
    #[serde(default)]
    pub grounded: Option<f32>,
    /// The combined score that orders survivors.
    pub score: f32,
    /// True when kept.
    pub selected: bool,
    /// Why it was rejected (empty when it passed; a passing candidate that was not kept was
    /// simply not needed).
    pub rejections: Vec<Rejection>,
}

/// The outcome of selection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Selection {
    /// Indexes of the kept candidates, best first.
    pub selected: Vec<usize>,
    /// One report per candidate, in input order.
    pub reports: Vec<CandidateReport>,
    /// How many candidates were rejected for each reason (a candidate may count under several).
    pub rejected: BTreeMap<String, usize>,
    /// How many candidates were rejected in all.
    pub rejected_total: usize,
}

/// Markup and placeholder artefacts in `text`: markdown and JSON punctuation, brackets and
/// angle brackets, hashtags, links, repeated `!` or `?`, placeholders (`Lorem`, `XX`, `TBD`,
/// `[Brand]`-like slots, `...`) and runs of emoji.
pub fn artefacts(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for mark in [
        "*", "[", "]", "{", "}", "<", ">", "#", "|", "\\", "_", "`", "!!", "??", "...", "…",
    ] {
        if text.contains(mark) {
            found.push(mark.to_string());
        }
    }
    let lower = text.to_lowercase();
    for mark in [
        "http",
        "www.",
        "lorem",
        "ipsum",
        "placeholder",
        "tbd",
        "insert ",
    ] {
        if lower.contains(mark) {
            found.push(mark.to_string());
        }
    }
    if text
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.len() >= 2 && w.chars().all(|c| c == 'X'))
    {
        found.push("XX".into());
    }
    // A web address ("Still.it", "shop.example"): words joined by dots, the last in lower-case
    // letters, no space. Ads link
    // through their landing page; an address in the copy is made up.
    if text.split_whitespace().any(|token| {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric());
        token.split('.').count() >= 2
            && token
                .split('.')
                .all(|part| part.chars().count() >= 2 && part.chars().all(char::is_alphanumeric))
            && token
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_lowercase()))
    }) {
        found.push("web address".into());
    }
    // A currency sign says a price: one with no figure after it ("Get £$'x") is debris.
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '£' | '$' | '€' | '¥') {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if !next.is_some_and(|n| n.is_ascii_digit()) {
                found.push(format!("{c} without a figure"));
                break;
            }
        }
    }
    let mut run = 0;
    for c in text.chars() {
        if is_emoji(c) {
            run += 1;
            if run == 2 {
                found.push("emoji run".into());
                break;
            }
        } else if c != '\u{200d}' && c != '\u{fe0f}' {
            run = 0;
        }
    }
    found
}

/// A word of four or more letters said three times, a word said twice in a row, or a
/// two-word phrase said twice, in `text` (case and accents ignored).
pub fn repetition(text: &str) -> Option<String> {
    let folded = fold(text);
    let words: Vec<&str> = folded.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if w.chars().count() >= 4 && words.iter().filter(|x| *x == w).count() >= 3 {
            return Some((*w).to_string());
        }
        if words.get(i + 1) == Some(w) {
            return Some(format!("{w} {w}"));
        }
        if let Some(next) = words.get(i + 1) {
            let pair = (*w, *next);
            if words[i + 1..]
                .windows(2)
                .skip(1)
                .any(|p| (p[0], p[1]) == pair)
            {
                return Some(format!("{w} {next}"));
            }
        }
    }
    None
}

fn is_emoji(c: char) -> bool {
    matches!(u32::from(c), 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// Lower case without accents, non-alphanumerics as spaces, padded with spaces, so that
/// `contains(" word ")` matches whole words.
fn fold(text: &str) -> String {
    let plain: String = text
        .nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        " {} ",
        plain.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Whether the copy (headline, body and CTA) names the brand or the product
/// ([`crate::copy::naming::names_brand_or_product`]).
pub fn names_brand_or_product(copy: &AdCopy, brand: &str, product: &str) -> bool {
    crate::copy::naming::names_brand_or_product(
        &format!("{} {} {}", copy.headline, copy.body, copy.call_to_action),
        brand,
        product,
    )
}

/// The faults of `copy` a reader sees at once (see [`crate::copy::faults`] and
/// [`crate::copy::grounding`]): invented numbers, offers and names, example wording, garbled
/// figures, prompt and headline echoes, unfinished or dangling sentences, a choppy headline, a
/// misspelt brand and unknown words. `known` is [`SelectionConfig::known_words`]. Selection
/// rejects on them and the copy evaluation counts them in what is delivered.
pub fn reader_faults(
    copy: &AdCopy,
    config: &SelectionConfig,
    known: &Vocabulary,
) -> Vec<Rejection> {
    reader_faults_grounded(copy, config, known, grounded(copy, config))
}

/// The share of the copy's content words the brief states ([`grounded_share`]), when there is
/// a brief to judge by.
fn grounded(copy: &AdCopy, config: &SelectionConfig) -> Option<f32> {
    if config.facts.is_empty() {
        return None;
    }
    grounded_share(&copy.prose(), &config.facts, config.language)
}

/// [`reader_faults`] with the copy's grounded share already computed.
fn reader_faults_grounded(
    copy: &AdCopy,
    config: &SelectionConfig,
    known: &Vocabulary,
    grounded: Option<f32>,
) -> Vec<Rejection> {
    let mut rejections = Vec::new();
    if !config.facts.is_empty() {
        let numbers = invented_numbers(&copy.joined(), config.facts.text());
        if !numbers.is_empty() {
            rejections.push(Rejection::InventedFact { numbers });
        }
        let words = invented_offers(&copy.joined(), config.facts.text());
        if !words.is_empty() {
            rejections.push(Rejection::InventedOffer { words });
        }
    }
    let found = config.prompt_echo.find(&copy.joined());
    if !found.is_empty() {
        rejections.push(Rejection::PromptEcho { found });
    }
    if headline_echo(&copy.headline, &copy.body, &config.brand, &config.product) {
        rejections.push(Rejection::HeadlineEcho);
    }
    if unfinished_body(&copy.body) {
        rejections.push(Rejection::UnfinishedBody);
    }
    if choppy_headline(&copy.headline) {
        rejections.push(Rejection::ChoppyHeadline);
    }
    let prose = copy.prose();
    if let Some(written) = misspelt_brand(&prose, &config.brand, known) {
        rejections.push(Rejection::MisspeltBrand { written });
    }
    let words = unknown_words(&prose, known);
    if !words.is_empty() {
        rejections.push(Rejection::UnknownWord { words });
    }
    if !config.facts.is_empty() {
        if let Some(run) = example_leak(&prose, &config.examples, &config.facts) {
            rejections.push(Rejection::ExampleLeak { run });
        }
        let mut figures = garbled_figures(&copy.joined(), &config.facts);
        figures.extend(changed_units(&copy.joined(), &config.facts));
        if !figures.is_empty() {
            rejections.push(Rejection::GarbledFigure { figures });
        }
        let headline = (!title_case(&copy.headline)).then_some(&copy.headline);
        let names: Vec<String> = headline
            .into_iter()
            .chain([&copy.body])
            .flat_map(|field| invented_names(field, &config.facts, config.language))
            .collect();
        if !names.is_empty() {
            rejections.push(Rejection::InventedName { names });
        }
    }
    if !config.facts.is_empty()
        && !headline_grounded(&copy.headline, &config.facts, config.language)
    {
        rejections.push(Rejection::UngroundedHeadline);
    }
    if let Some(share) = grounded.filter(|&share| share < MIN_GROUNDED_SHARE) {
        rejections.push(Rejection::Ungrounded { share });
    }
    let words: Vec<String> = [&copy.headline, &copy.body]
        .into_iter()
        .flat_map(|field| dangling_endings(field, config.language))
        .collect();
    if !words.is_empty() {
        rejections.push(Rejection::DanglingEnding { words });
    }
    rejections
}

/// Scores every candidate, rejects those that fail a check and keeps up to `config.wanted` of
/// the best survivors.
pub fn select_candidates(candidates: &[Candidate], config: &SelectionConfig) -> Selection {
    let known = config.known_words();
    let mut reports: Vec<CandidateReport> = candidates
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let mut rejections = Vec::new();
            let empty: Vec<String> = c
                .copy
                .fields()
                .iter()
                .filter(|(_, text)| text.trim().is_empty())
                .map(|(field, _)| format!("{field:?}").to_lowercase())
                .collect();
            if !empty.is_empty() {
                rejections.push(Rejection::Empty { fields: empty });
            }
            if c.cut_words > 0 {
                rejections.push(Rejection::CutWord {
                    fields: c.cut_words,
                });
            }
            let found = artefacts(&c.copy.joined());
            if !found.is_empty() {
                rejections.push(Rejection::Artefact { found });
            }
            // Within each field: naming the product in the headline and again in the body is
            // how ads are written, not a repetition.
            if let Some(repeated) =
                repetition(&c.copy.headline).or_else(|| repetition(&c.copy.body))
            {
                rejections.push(Rejection::Repetition { repeated });
            }
            let grounded = grounded(&c.copy, config);
            rejections.extend(reader_faults_grounded(&c.copy, config, &known, grounded));
            let language = detect_language(
                &format!("{} {}", c.copy.headline, c.copy.body),
                config.language,
            );
            if !language.passes {
                rejections.push(Rejection::WrongLanguage {
                    detected: language.detected.clone(),
                });
            }
            if !c.violations.is_empty() {
                rejections.push(Rejection::Violation {
                    rules: c.violations.iter().map(|v| v.rule.clone()).collect(),
                });
            }
            if c.relevance < config.min_relevance {
                rejections.push(Rejection::OffTopic {
                    relevance: c.relevance,
                });
            }
            let names = names_brand_or_product(&c.copy, &config.brand, &config.product);
            if !names {
                rejections.push(Rejection::Unnamed);
            }
            let fluency = c.mean_logprob.map_or(0.0, |lp| 0.1 * lp.max(-5.0));
            CandidateReport {
                index,
                copy: c.copy.clone(),
                relevance: c.relevance,
                mean_logprob: c.mean_logprob,
                language,
                names_brand_or_product: names,
                grounded,
                // Grounding weighs as much as relevance: among passing candidates, the one that
                // says more of the brief reads better.
                score: c.relevance
                    + fluency
                    + if names { 0.1 } else { 0.0 }
                    + grounded.map_or(0.0, |g| 0.3 * g),
                selected: false,
                rejections,
            }
        })
        .collect();

    let mut order: Vec<usize> = (0..reports.len())
        .filter(|&i| reports[i].rejections.is_empty())
        .collect();
    order.sort_by(|&a, &b| {
        reports[b]
            .score
            .total_cmp(&reports[a].score)
            .then(a.cmp(&b))
    });
    let mut selected: Vec<usize> = Vec::new();
    for index in order {
        let headline = fold(&candidates[index].copy.headline);
        let duplicate = selected.iter().copied().find(|&kept| {
            fold(&candidates[kept].copy.headline) == headline
                || cosine(&candidates[kept].embedding, &candidates[index].embedding)
                    >= config.duplicate_threshold
        });
        if let Some(of) = duplicate {
            reports[index].rejections.push(Rejection::Duplicate { of });
        } else if selected.len() < config.wanted {
            reports[index].selected = true;
            selected.push(index);
        }
    }

    let mut rejected = BTreeMap::new();
    let mut rejected_total = 0;
    for report in &reports {
        if !report.rejections.is_empty() {
            rejected_total += 1;
        }
        for rejection in &report.rejections {
            *rejected.entry(rejection.name().to_string()).or_insert(0) += 1;
        }
    }
    Selection {
        selected,
        reports,
        rejected,
        rejected_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ViolationKind;

    fn copy(headline: &str, body: &str) -> AdCopy {
        AdCopy {
            headline: headline.into(),
            body: body.into(),
            call_to_action: "Shop now".into(),
        }
    }

    fn candidate(headline: &str, body: &str, embedding: [f32; 3], relevance: f32) -> Candidate {
        Candidate {
            cut_words: 0,
            copy: copy(headline, body),
            embedding: embedding.to_vec(),
            relevance,
            mean_logprob: Some(-1.5),
            violations: Vec::new(),
        }
    }

    #[test]
    fn artefacts_are_found() {
        for (text, mark) in [
            ("**Cold brew** for you", "*"),
            ("Coffee [Brand] daily", "["),
            ("Coffee'} daily", "}"),
            ("Visit https://x.example", "http"),
            ("Lorem ipsum coffee", "lorem"),
            ("Save XX% today", "XX"),
            ("Cold brew #monday", "#"),
            ("Cold brew ☕☕ today", "emoji run"),
            ("Wow!! Coffee", "!!"),
            ("Get £$'x, book now", "£ without a figure"),
            ("Only $ today", "$ without a figure"),
            ("Yoga at Still.it", "web address"),
            ("Visit ledgerly.com today.", "web address"),
        ] {
            assert!(artefacts(text).contains(&mark.to_string()), "{text}");
        }
        for clean in [
            "Northwind Cold Brew, steeped for 18 hours.",
            "Size XL jackets, 10% off!",
            "First month for £10, then € 12.",
            "Café crème à emporter",
            "Jetzt 20 % sparen – nur bis Sonntag.",
            "From $4.50 a cup.Fresh daily, e.g. oat milk.",
        ] {
            assert!(
                artefacts(clean).is_empty(),
                "{clean}: {:?}",
                artefacts(clean)
            );
        }
    }

    #[test]
    fn repetition_and_invented_numbers() {
        assert_eq!(
            repetition("Northwind Coffee, London, London, UK, UK").as_deref(),
            Some("london london")
        );
        assert_eq!(
            repetition("Cold brew daily. Cold brew fresh.").as_deref(),
            Some("cold brew")
        );
        assert_eq!(
            repetition("Northwind Cold Brew. Steeped for 18 hours."),
            None
        );
        let facts = "Steeped for 18 hours, 1-litre bottles, 15% off, from $4.50";
        assert_eq!(
            invented_numbers("18 hours, 15% off, now $4.50", facts),
            Vec::<String>::new()
        );
        assert_eq!(
            invented_numbers("Only £1.99 for 2 bottles", facts),
            vec!["1.99", "2"]
        );
        assert_eq!(
            invented_numbers("Fresh, 1-litre, 18 hours.", facts),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_brand_or_product_by_whole_words() {
        let c = copy("Cold brew for your desk", "Steeped for 18 hours.");
        assert!(names_brand_or_product(
            &c,
            "Northwind Coffee",
            "single-origin cold brew"
        ));
        let c = copy("Café Northwind", "Infusé à froid.");
        assert!(names_brand_or_product(&c, "northwind", "cafe infuse"));
        let c = copy("A fresh start", "Every morning at the office.");
        assert!(!names_brand_or_product(
            &c,
            "Northwind",
            "single-origin cold brew"
        ));
        let c = copy("Brewery tours", "Every morning.");
        assert!(!names_brand_or_product(&c, "Brew", "x"));
    }

    #[test]
    fn keeps_the_best_passing_candidates_and_never_pads() {
        let en = Language::En;
        let mut bad_policy = candidate(
            "Northwind Cold Brew",
            "The best coffee in the world, guaranteed.",
            [0.0, 1.0, 0.0],
            0.6,
        );
        bad_policy.violations.push(Violation {
            kind: ViolationKind::BannedPhrase,
            rule: "policy.en.superlatives[0]".into(),
            message: "best".into(),
            span: None,
        });
        let candidates = vec![
            // 0: good, names the brand.
            candidate(
                "Northwind Cold Brew",
                "Steeped for 18 hours from single-origin beans. Free delivery on your first order.",
                [1.0, 0.0, 0.0],
                0.55,
            ),
            // 1: markup.
            candidate("**Northwind**", "Cold brew [here].", [0.0, 0.0, 1.0], 0.5),
            // 2: same headline as 0, less relevant.
            candidate(
                "Northwind cold brew",
                "Single-origin beans, steeped slowly and delivered to your office every week.",
                [0.0, 0.7, 0.7],
                0.5,
            ),
            // 3: policy violation.
            bad_policy,
            // 4: off-topic.
            candidate(
                "Join the best team ever",
                "Unlock your future with us today and see what happens next.",
                [0.5, 0.5, 0.0],
                0.05,
            ),
            // 5: French.
            candidate(
                "Le café Northwind",
                "Infusé à froid pendant dix-huit heures, livré gratuitement à votre bureau.",
                [0.3, 0.3, 0.3],
                0.5,
            ),
        ];
        let selection = select_candidates(
            &candidates,
            &SelectionConfig::new(3, en, "Northwind", "cold brew"),
        );
        assert_eq!(selection.selected, vec![0], "{selection:#?}");
        assert_eq!(selection.rejected_total, 5);
        for (reason, count) in [
            ("artefact", 1),
            ("duplicate", 1),
            ("violation", 1),
            ("off_topic", 1),
            ("wrong_language", 1),
            ("unnamed", 1),
        ] {
            assert_eq!(selection.rejected.get(reason), Some(&count), "{reason}");
        }
        assert_eq!(selection.reports.len(), 6);
        assert!(selection.reports[0].selected && selection.reports[0].names_brand_or_product);
        assert_eq!(
            selection.reports[2].rejections,
            vec![Rejection::Duplicate { of: 0 }]
        );
    }

    #[test]
    fn orders_by_score_and_stops_at_wanted() {
        let candidates = vec![
            candidate(
                "Cold brew at work",
                "Steeped for 18 hours and delivered to your office.",
                [1.0, 0.0, 0.0],
                0.4,
            ),
            candidate(
                "Northwind Cold Brew",
                "Single-origin beans, steeped slowly, sent to your desk.",
                [0.0, 1.0, 0.0],
                0.45,
            ),
            candidate(
                "Order Northwind today",
                "Free delivery on your first order of our cold brew coffee.",
                [0.0, 0.0, 1.0],
                0.42,
            ),
        ];
        let selection = select_candidates(
            &candidates,
            &SelectionConfig::new(2, Language::En, "Northwind", "cold brew"),
        );
        assert_eq!(selection.selected, vec![1, 2]);
        assert_eq!(selection.rejected_total, 0);
        assert!(!selection.reports[0].selected && selection.reports[0].rejections.is_empty());
    }

    #[test]
    fn rejects_what_a_reader_sees_at_once() {
        let vocabulary = Vocabulary::from_wordpiece(
            "fresh\nbread\nbaked\noven\nevery\nmorning\nwarm\nloaves\ndoor\nyour\nfrom\nclear\n\
             the\nday\nstart\nshipping\nfree\ntone\n",
            &["a", "at", "to"],
        );
        let config = SelectionConfig::new(5, Language::En, "Crumb & Co", "sourdough bread")
            .with_facts("Crumb & Co sourdough bread, baked every morning")
            .with_prompt_echo(PromptEcho::new(
                &["Tone"],
                &["Use only the facts in the brief."],
                "warm, neighbourly",
                "",
            ))
            .with_vocabulary(Arc::new(vocabulary));
        let cases: [(&str, &str, &str); 8] = [
            (
                "Crumb & Co sourdough",
                "Fresh bread, baked every morning.",
                "",
            ),
            (
                "Tone: warm, neighbourly",
                "Crumb & Co sourdough bread.",
                "prompt_echo",
            ),
            (
                "Start the day at Crumb & Co bread oven",
                "Start the day at Crumb & Co bread oven.",
                "headline_echo",
            ),
            (
                "Cumb & Co sourdough",
                "Fresh bread every morning.",
                "misspelt_brand",
            ),
            (
                "Crumb & Co sourdough",
                "Fresh bread, flurbly and warm.",
                "unknown_word",
            ),
            (
                "Crumb & Co sourdough",
                "Free shipping to your door.",
                "invented_offer",
            ),
            (
                "Crumb & Co sourdough",
                "Fresh bread every morning from",
                "unfinished_body",
            ),
            (
                "Crumb & Co, fresh, warm",
                "Fresh bread every morning.",
                "choppy_headline",
            ),
        ];
        let candidates: Vec<Candidate> = cases
            .iter()
            .enumerate()
            .map(|(i, (h, b, _))| {
                let mut e = [0.0; 3];
                e[i % 3] = 1.0;
                let mut c = candidate(h, b, e, 0.5);
                c.embedding.push(i as f32);
                c
            })
            .collect();
        let selection = select_candidates(&candidates, &config);
        for (report, (_, _, reason)) in selection.reports.iter().zip(&cases) {
            let names: Vec<&str> = report.rejections.iter().map(Rejection::name).collect();
            if reason.is_empty() {
                assert!(report.selected, "{names:?}");
            } else {
                assert!(
                    !report.selected && names.contains(reason),
                    "{reason}: {names:?} {:?}",
                    report.copy
                );
            }
        }
    }
}
