//! Copy quality: the data prompts show the model ([`examples`]: few-shot ads and standard calls
//! to action per language, from `assets/copy/`), language identification ([`lang`]), naming
//! of the brand or product ([`naming`]), the function words no sentence ends on
//! ([`function_words`]), faults a reader sees ([`faults`]) and facts not from
//! the brief ([`grounding`]), and the scoring and selection of over-generated candidates
//! ([`select`]).
//!
//! Everything here takes plain values: the caller decodes the candidates, computes their
//! embeddings with `adforge_generator::embed` and passes numbers in.

pub mod examples;
pub mod faults;
pub mod function_words;
pub mod grounding;
pub mod lang;
pub mod naming;
pub mod select;

pub use examples::{
    cta_labels, example_texts, examples_for, fitting_ctas, standard_ctas, CopyExample,
    PlacementKind, StandardCta,
};
pub use faults::{PromptEcho, Vocabulary};
pub use lang::{detect_language, identify, LanguageCheck};
pub use select::{
    artefacts, names_brand_or_product, reader_faults, select_candidates, Candidate,
    CandidateReport, Rejection, Selection, SelectionConfig,
};
