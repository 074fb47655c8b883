//! The copy evaluation (`adforge eval copy`, and the CI test `api/tests/eval_copy.rs`): every
//! brief of a brief set (`assets/eval/briefs.toml`) goes through the generation pipeline a job
//! uses ([`crate::jobs::generation::pipeline::Pipeline::generate_group`]), and the delivered
//! copy is measured per language.
//!
//! # Metric definitions
//!
//! A *group* is one brief: its (segment, placement) pair, asked for `variants` variants.
//! *Delivered* variants are those the pipeline returns that ranking did not drop as
//! near-duplicates (`duplicate_of` unset): what a job stores as creatives. Rates are over
//! delivered variants of the language.
//!
//! - **right language**: `whatlang` identifies the headline and body together (the CTA is too
//!   short to tell) as the segment's language, choosing among ten Latin-script languages
//!   (en, fr, es, de, it, pt, nl, sv, pl, tr), which keeps short copy from being read as a
//!   rare language.
//! - **names brand or product**: the headline, body or CTA contains, as whole words and
//!   ignoring case, accents and a plural ending, the brand name (also written as one word), the
//!   full product name, or the product's main noun: its last word of three letters or more that
//!   is not a function word nor generic (`app`, `subscription`, `service`…); for "sourdough bread
//!   subscription" that is `bread`.
//! - **mid-word cut**: a field whose length in grapheme clusters equals its placement limit,
//!   whose last character is a letter, and whose last word is not a known complete word. Known
//!   words are the whole words of the MiniLM WordPiece vocabulary of three letters or more, the
//!   one- and two-letter words of the four languages, and every word of the brief. The decoder
//!   used to stop a field when the limit was reached, leaving "Welcome to a world s"; a field
//!   that merely fills its limit with complete words is not counted. The vocabulary is mostly
//!   English, so for other languages this count errs towards reporting a cut.
//! - **dangling ending** (reported, not a target): a field that ends on a comma, colon,
//!   semicolon, dash, opening bracket, slash or `&`, or on a conjunction, article, preposition
//!   or possessive of its language.
//! - **markup**: a field holding a markup character (`* [ ] { } < > # \` | \ ~ _`), a URL, a field
//!   label (`Headline:`), a placeholder (`XX`, `Lorem ipsum`, `brand name`), a stray leading or
//!   trailing quote, an ellipsis, a run of two or more emoji, or a control character.
//! - **rule violations**: a delivered variant breaks a rule when the pipeline reported a
//!   violation for it or when the policy checker (the language's rule pack, the brief's banned
//!   words and required phrases, the placement's limits, claims unless allowed) finds one.
//! - **reader faults**: what a person reading the copy sees at once, found with the same
//!   functions copy selection rejects on (`adforge_targeting::copy::faults`): *prompt echo* (a
//!   label of the prompt followed by a colon, `Tone:`; four words in a row of its instructions;
//!   the brand's tone of voice when it lists two or more qualities; six words in a row of the
//!   audience persona), *headline echo* (the body repeats the headline or the headline the body,
//!   beyond the brand, the product and filler words), *misspelt brand* (words within one or two
//!   edits of the brand name that are not it), *unknown words* (words of three letters or more
//!   that are neither in the MiniLM vocabulary, nor inflections or compounds of its words, nor
//!   in the brief), *unfinished body* (the body does not end on `.`, `!`, `?`, `…` or `)`),
//!   *choppy headline* (two commas or more), *invented number* (digits or number words the brief does not state) and
//!   *invented offer* (`free`, `trial`, `discount`, `organic`… when the brief does not say
//!   them). Counted per variant and per kind.
//! - **distinct headlines per group**: the number of different headlines (folded) among a
//!   group's delivered variants, averaged over groups; *duplicate headlines* counts delivered
//!   variants whose headline repeats an earlier one of the same group.
//! - **mean relevance**: the MiniLM cosine between a variant (headline, body and CTA joined)
//!   and the brief's product with its description, averaged over delivered variants.
//! - **delivered / asked**: delivered variants over variants asked for.
//! - **candidates per second**: candidates decoded (the count the pipeline records in
//!   provenance when it over-generates, else one per variant asked) over the wall time of the
//!   language's `generate_group` calls (which include ranking and rendering the images).
//!   *Seconds per delivered variant* is the same time over delivered variants.
//! - **refused with error**: a group the pipeline fails (for instance a language the text model
//!   does not write) delivers nothing and is listed with its error; a language whose every group
//!   was refused is shown as refused, not as 0%.

pub mod briefs;
pub mod metrics;
pub mod report;

pub use briefs::{parse as parse_briefs, Brief, BriefError, BUILTIN_BRIEFS};
pub use report::{
    evaluate, load_judge, EvalOptions, EvalReport, GroupResult, JudgeError, LanguageSummary,
    ScoredVariant,
};
