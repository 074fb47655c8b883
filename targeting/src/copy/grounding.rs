//! Copy that states what the brief does not: wording taken from the example ads the prompt
//! shows ([`example_leak`]), names of people, places or organisations the brief never mentions
//! ([`invented_names`]), and a price or percentage from the brief put into words the brief does
//! not use with it ([`garbled_figures`]), and how much of the copy the brief states at all
//! ([`grounded_share`]). Each was found by reading delivered candidates of the
//! default 135M model on held-out briefs: "Thrown by hand in our Cornwall workshop. Dishwasher
//! safe." for wooden toy blocks (the words of an example ad for mugs), "the Czech National
//! Orchestra" and "Clayton's" for a concert hall, "Free £10 for a month" for "£10 off your first
//! box".
//!
//! Copy selection rejects a candidate with any of them ([`crate::copy::select`]); the copy
//! evaluation counts them in what is delivered, with the same functions.

use std::collections::HashSet;

use crate::copy::faults::{root, NUMBER_WORDS};
use crate::copy::function_words::{dangles, CONTRACTED_VERBS_EN, SUBJECT_PRONOUNS_EN};
use crate::copy::naming::{fold, words};
use crate::Language;

/// Words too common to carry a fact of their own: a run of example words made only of these
/// and of the brief's words is ordinary phrasing, not a leak.
const COMMON: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "with", "for", "to", "of", "in", "on", "at", "by",
    "from", "into", "your", "our", "you", "we", "us", "is", "are", "be", "it", "its", "this",
    "that", "all", "every", "each", "now", "today", "new", "get", "make", "more", "just", "so",
    "can", "will", "own", "one", "up", "out", "as", "no", "not", "day", "days", "week", "home",
    "here", "there", "how", "what", "who", "when", "than", "made", "good", "great", "easy",
    "simple", "best", "better", "find", "try", "see", "order", "shop", "book", "learn", "start",
    "join", "help", "time", "way", "year", "years",
];

fn common(word: &str) -> bool {
    COMMON.contains(&word) || word.chars().count() < 3
}

/// What a brief states, read once per brief and asked by the checks of every candidate: its
/// text (product, description, offer, audience), the roots of its words and its tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BriefFacts {
    text: String,
    roots: HashSet<String>,
    tokens: Vec<String>,
    content_words: usize,
    /// Every number of the brief followed by a unit, as (value in digits, unit's root).
    counted: Vec<(String, String)>,
}

impl BriefFacts {
    /// Reads the brief's text.
    pub fn new(text: &str) -> Self {
        let all = words(text);
        let roots: HashSet<String> = all.iter().map(|w| root(w)).collect();
        let content_words = all
            .iter()
            .filter(|w| content_word(w))
            .map(|w| root(w))
            .collect::<HashSet<String>>()
            .len();
        BriefFacts {
            text: text.to_string(),
            roots,
            tokens: tokens(text),
            content_words,
            counted: counted(&all),
        }
    }

    /// The brief's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether no brief was given (the checks by the brief are then skipped).
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Whether the brief states enough to judge copy by what it repeats: at least
    /// [`MIN_BRIEF_WORDS`] distinct content words. A brief of a product name and an audience
    /// ("Leaf green tea for tea lovers") leaves the copy nothing to repeat.
    pub fn states_enough(&self) -> bool {
        self.content_words >= MIN_BRIEF_WORDS
    }

    /// Whether the brief says `word` (folded), in any of its forms ("ships" for "shipping").
    fn states(&self, word: &str) -> bool {
        self.roots.contains(&root(word))
    }
}

/// A word that can carry a fact: four letters or more and not among the common words.
fn content_word(word: &str) -> bool {
    word.chars().count() >= 4 && !common(word)
}

/// Where copy repeats an example ad's own facts: a run of three words of `text` found in an
/// example with a word that neither the brief (`facts`) says nor is common, or two such words
/// in a row ("Dishwasher safe"), or an example's brand. Returns the run. Ordinary phrasing
/// the examples share with any ad ("order today for") and the brief's own words are not leaks.
pub fn example_leak<E: AsRef<str>>(
    text: &str,
    examples: &[E],
    facts: &BriefFacts,
) -> Option<String> {
    let copy = words(text);
    if copy.len() < 2 {
        return None;
    }
    let foreign = |w: &String| !common(w) && !facts.states(w);
    for example in examples {
        let example = words(example.as_ref());
        let pairs: HashSet<&[String]> = example.windows(2).collect();
        let triples: HashSet<&[String]> = example.windows(3).collect();
        if let Some(run) = copy
            .windows(3)
            .find(|run| triples.contains(run) && run.iter().any(foreign))
        {
            return Some(run.join(" "));
        }
        if let Some(run) = copy
            .windows(2)
            .find(|run| pairs.contains(run) && run.iter().all(foreign))
        {
            return Some(run.join(" "));
        }
    }
    None
}

/// Share of grounded copy under which a candidate is rejected as being about something else:
/// on the second held-out brief set, every delivered candidate under it was unpublishable
/// ("Spokevan Carpet Repair, Flatbed Truck" for mobile bike repair, 0.27; "Palma is a popular
/// destination for tourists" for car hire, 0.25), and the publishable ones were at 0.55 or more.
/// It stays below that gap because briefs of a sentence or two leave less to repeat; among
/// passing candidates the share also weighs in the score, so the more grounded come first.
pub const MIN_GROUNDED_SHARE: f32 = 0.4;

/// Fewest content words for [`grounded_share`] to judge: a shorter copy says too little to
/// count.
const MIN_CONTENT_WORDS: usize = 4;

/// Fewest distinct content words a brief must state for [`grounded_share`] to judge copy by
/// it: a brief of a product name and an audience ("Leaf green tea for tea lovers") leaves the
/// copy nothing to repeat, so any sentence about the product would count as made up.
pub const MIN_BRIEF_WORDS: usize = 15;

/// The share of the content words of `text` (four letters or more, not among the common
/// words every ad uses) whose root the brief (`facts`) states: how much of the copy is about
/// the brief rather than made up around it. English only (the roots are English endings);
/// `None` for other languages, for copy with too few content words to judge and for briefs
/// that state too little to judge by.
pub fn grounded_share(text: &str, facts: &BriefFacts, language: Language) -> Option<f32> {
    if language != Language::En || !facts.states_enough() {
        return None;
    }
    let content: Vec<String> = words(text)
        .into_iter()
        .filter(|w| content_word(w))
        .collect();
    if content.len() < MIN_CONTENT_WORDS {
        return None;
    }
    let grounded = content.iter().filter(|w| facts.states(w)).count();
    Some(grounded as f32 / content.len() as f32)
}

/// Whether the headline says at least one word of the brief (three letters or more, not a
/// common word): a headline of none is about something else, whatever the body says ("Cafe of
/// the North" over Frost Kitchen's ready meals). English only (`true` otherwise).
pub fn headline_grounded(headline: &str, facts: &BriefFacts, language: Language) -> bool {
    if language != Language::En {
        return true;
    }
    words(headline)
        .iter()
        .any(|w| !common(w) && facts.states(w))
}

/// Whether a headline is written in title case (two thirds or more of its words of four letters
/// or more start with a capital), where capitals say nothing about names.
pub fn title_case(field: &str) -> bool {
    let long: Vec<&str> = field
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect();
    let capitalised = long
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    long.len() >= 2 && capitalised * 3 >= long.len() * 2
}

/// Capitalised words in the middle of a sentence of `field` (a headline or a body) that the
/// brief (`facts`, with the brand and the product) does not contain: the names of people,
/// places, events or organisations the model made up ("the Czech National Orchestra",
/// "Clayton's"). A possessive ending is ignored. Languages that capitalise every noun (German)
/// are not checked, and one- and two-letter words pass; the caller leaves out title-case
/// headlines ([`title_case`]).
pub fn invented_names(field: &str, facts: &BriefFacts, language: Language) -> Vec<String> {
    if language == Language::De {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut sentence_start = true;
    for token in field.split_whitespace() {
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        let starts_sentence = sentence_start;
        sentence_start = token.ends_with(['.', '!', '?', ':', '…']);
        if starts_sentence || word.chars().count() <= 2 {
            continue;
        }
        if !word.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        let bare = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("\u{2019}s"))
            .unwrap_or(word);
        let known = words(bare).iter().all(|w| facts.states(w));
        if !known && !found.iter().any(|f| f == bare) {
            found.push(bare.to_string());
        }
    }
    found
}

/// A price or a percentage of `text` ("£10", "20%", "$40") is garbled when the brief states
/// it but neither the word before it nor the word after it is the one the brief puts there:
/// "Free £10 for a month" for "£10 off your first box" changes the offer; "Free delivery over
/// $40" for "Free delivery on orders over $40" keeps it. A number the brief states as something
/// else and the copy as a price or a percentage is garbled too ("up to £48" for "48 hours
/// before pick-up"). Returns the figures written that way.
pub fn garbled_figures(text: &str, facts: &BriefFacts) -> Vec<String> {
    let fact_tokens = &facts.tokens;
    let copy_tokens = tokens(text);
    let mut garbled = Vec::new();
    for (i, token) in copy_tokens.iter().enumerate() {
        if !is_price_or_percent(token) {
            continue;
        }
        let in_facts: Vec<usize> = fact_tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| *t == token)
            .map(|(j, _)| j)
            .collect();
        if in_facts.is_empty() {
            // A number of the brief made a price or a percentage ("£48" from "48 hours") is
            // garbled; a number the brief never states is `invented_numbers`' to report.
            let digits = |t: &str| -> String { t.chars().filter(char::is_ascii_digit).collect() };
            let number = digits(token);
            if fact_tokens.iter().any(|t| digits(t) == number) && !garbled.contains(token) {
                garbled.push(token.clone());
            }
            continue;
        }
        let around = |list: &[String], at: usize| {
            (
                at.checked_sub(1).and_then(|p| list.get(p)).cloned(),
                list.get(at + 1).cloned(),
            )
        };
        let (before, after) = around(&copy_tokens, i);
        let kept = in_facts.iter().any(|&j| {
            let (fb, fa) = around(fact_tokens, j);
            let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
                (Some(a), Some(b)) => root(a) == root(b),
                _ => false,
            };
            same(&before, &fb) || same(&after, &fa)
        });
        if !kept && !garbled.contains(token) {
            garbled.push(token.clone());
        }
    }
    garbled
}

/// Units a count or a duration is given in: "three weeks" and "three days" state different
/// facts.
const UNITS: &[&str] = &[
    "second", "minute", "hour", "day", "night", "week", "month", "year", "people", "person",
    "player", "seat", "guest", "litre", "liter", "ml", "kg", "gram", "mile", "km", "metre",
    "meter",
];

/// The numbers among `words` (folded; in digits or in words) followed by a unit, as (value in
/// digits, unit's root): "two-minute timer" gives ("2", "minute").
fn counted(words: &[String]) -> Vec<(String, String)> {
    let value = |w: &str| -> Option<String> {
        if !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) {
            return Some(w.to_string());
        }
        NUMBER_WORDS
            .iter()
            .find(|(word, _)| *word == w)
            .map(|(_, digits)| (*digits).to_string())
    };
    words
        .windows(2)
        .filter_map(|pair| {
            let unit = root(&pair[1]);
            let unit = UNITS.iter().find(|u| root(u) == unit).map(|u| root(u))?;
            Some((value(&pair[0])?, unit))
        })
        .collect()
}

/// Counts and durations of `text` whose number the brief states with another unit and never
/// with this one ("a battery that lasts three days" for "three weeks"; "open 7 nights" for "7
/// days"). Returns them as written, folded ("three days").
pub fn changed_units(text: &str, facts: &BriefFacts) -> Vec<String> {
    let mut changed = Vec::new();
    let written = words(text);
    for (value, unit) in counted(&written) {
        let stated_with = |u: Option<&str>| {
            facts
                .counted
                .iter()
                .any(|(v, fu)| *v == value && u.is_none_or(|u| u == fu))
        };
        if stated_with(None) && !stated_with(Some(&unit)) {
            // The words as the copy wrote them, for the provenance.
            let shown = written
                .windows(2)
                .find(|pair| root(&pair[1]) == unit)
                .map(|pair| pair.join(" "))
                .unwrap_or_else(|| format!("{value} {unit}"));
            if !changed.contains(&shown) {
                changed.push(shown);
            }
        }
    }
    changed
}

/// Whitespace-separated tokens, folded, with the punctuation around them removed (currency
/// signs and `%` kept).
fn tokens(text: &str) -> Vec<String> {
    fold(text)
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '%' || is_currency(c)))
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn is_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '₹')
}

fn is_price_or_percent(token: &str) -> bool {
    token.chars().any(|c| c.is_ascii_digit())
        && (token.chars().any(is_currency) || token.ends_with('%'))
}

/// Verbs that need an object or another verb, which an English sentence ending on its subject
/// and one of them leaves unsaid ("a review of the words you can.", "Your first day, you'll
/// get.").
const CLAUSE_STUBS_EN: &[&str] = &[
    "can", "will", "could", "would", "should", "must", "get", "got", "make", "give", "find",
    "need", "want",
];

/// Whether an English `word` is a subject pronoun, or one with its verb contracted ("you'll").
fn subject_en(word: &str) -> bool {
    SUBJECT_PRONOUNS_EN.contains(&word)
        || CONTRACTED_VERBS_EN
            .iter()
            .any(|suffix| word.ends_with(suffix))
}

/// The sentences of `field` (a headline or a body) that end on a word no sentence of
/// `language` ends on ([`crate::copy::function_words`]): a stop put after a cut ("Chef-cooked
/// meals delivered frozen every."), and in English a subject with a verb that needs more ("the
/// words you can."). Returns the dangling words.
pub fn dangling_endings(field: &str, language: Language) -> Vec<String> {
    let mut found = Vec::new();
    let mut last: Option<String> = None;
    let mut before_last: Option<String> = None;
    let tokens: Vec<&str> = field.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        // Folded, so a curly apostrophe is straight; inner apostrophes stay ("you'll").
        let folded = fold(token);
        let word = folded.trim_matches(|c: char| !c.is_alphanumeric());
        if !word.is_empty() {
            before_last = last.replace(word.to_string());
        }
        let bare = token.trim_end_matches(['"', '\'', '\u{2019}', '\u{201d}', ')']);
        let ends_sentence = bare.ends_with(['.', '!', '?', '…', ':', ';']) || i + 1 == tokens.len();
        if !ends_sentence {
            continue;
        }
        let before = before_last.take();
        let Some(w) = last.take() else { continue };
        let stub = language == Language::En
            && CLAUSE_STUBS_EN.contains(&w.as_str())
            && before.as_deref().is_some_and(subject_en);
        let w = match before.filter(|_| stub) {
            Some(subject) => format!("{subject} {w}"),
            None => w,
        };
        if (stub || dangles(&w, language)) && !found.contains(&w) {
            found.push(w);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const MUG_AD: &str = "Stoneware mugs thrown by hand in our Cornwall workshop. Dishwasher safe.";

    #[test]
    fn example_facts_in_copy_are_leaks() {
        let facts =
            &BriefFacts::new("wooden stacking blocks. Sets of 24 beech-wood blocks for toddlers.");
        assert_eq!(
            example_leak("Beech blocks thrown by hand in Cornwall.", &[MUG_AD], facts),
            Some("thrown by hand".into())
        );
        assert_eq!(
            example_leak("Beech-wood blocks. Dishwasher safe.", &[MUG_AD], facts),
            Some("dishwasher safe".into())
        );
        // Ordinary phrasing and the brief's own words are not leaks.
        assert_eq!(
            example_leak(
                "Beech-wood stacking blocks in our shop, for toddlers.",
                &[MUG_AD, "Shop our new range in our shop today."],
                facts
            ),
            None
        );
        // A fact the brief states too may be said in the example's words.
        assert_eq!(
            example_leak(
                "Mugs thrown by hand.",
                &[MUG_AD],
                &BriefFacts::new("Stoneware mugs thrown by hand")
            ),
            None
        );
    }

    #[test]
    fn names_the_brief_never_mentions_are_invented() {
        let facts = &BriefFacts::new(
            "Harbour Hall symphony concert tickets. Evening concerts by a 60-piece \
                     orchestra with programmes of Dvorak and Sibelius.",
        );
        assert_eq!(
            invented_names(
                "Hear the Czech National Orchestra at Harbour Hall.",
                facts,
                Language::En
            ),
            vec!["Czech", "National"]
        );
        assert_eq!(
            invented_names("Dinner at Clayton's after the show.", facts, Language::En),
            vec!["Clayton"]
        );
        assert!(invented_names(
            "Winter evenings with Dvorak and Sibelius. Book at Harbour Hall.",
            facts,
            Language::En
        )
        .is_empty());
        // The first word of each sentence and German nouns say nothing; title-case headlines
        // are told apart.
        assert!(title_case("Symphony Nights At Harbour Hall"));
        assert!(!title_case("Symphony nights by the harbour"));
        assert!(invented_names("Live music. Tickets now on sale.", facts, Language::En).is_empty());
        assert!(invented_names("Konzerte im Winter", facts, Language::De).is_empty());
    }

    #[test]
    fn grounded_copy_says_what_the_brief_says() {
        let facts = &BriefFacts::new(
            "Spokevan mobile bike repair. Mechanics who come to your home or office with a \
                     fully equipped van and repair most bikes in under an hour. Same-day \
                     appointments. People who cycle to work every day.",
        );
        let made_up = grounded_share(
            "Spokevan Carpet Repair, Flatbed Truck. Anywhere you go, there's a car on the road.",
            facts,
            Language::En,
        )
        .unwrap();
        assert!(made_up < MIN_GROUNDED_SHARE, "{made_up}");
        let grounded = grounded_share(
            "Spokevan mobile bike repair. Mechanics repair most bikes at your office.",
            facts,
            Language::En,
        )
        .unwrap();
        assert!(grounded > 0.9, "{grounded}");
        assert_eq!(
            grounded_share("Spokevan repairs.", facts, Language::En),
            None
        );
        assert_eq!(
            grounded_share("Réparation de vélos à domicile", facts, Language::Fr),
            None
        );
    }

    #[test]
    fn a_headline_must_say_something_of_the_brief() {
        let facts = &BriefFacts::new(
            "Frost Kitchen frozen ready meals, chef-cooked and delivered every week.",
        );
        assert!(!headline_grounded("Cafe of the North", facts, Language::En));
        assert!(headline_grounded(
            "Dinner, Sorted by Frost",
            facts,
            Language::En
        ));
        assert!(headline_grounded("Ready when you are", facts, Language::En));
        assert!(headline_grounded("Le dîner est prêt", facts, Language::Fr));
    }

    #[test]
    fn figures_keep_the_words_the_brief_puts_with_them() {
        let facts = &BriefFacts::new("£10 off your first box. Free delivery on orders over $40.");
        assert_eq!(garbled_figures("Free £10 for a month.", facts), vec!["£10"]);
        assert!(garbled_figures("Get £10 off today.", facts).is_empty());
        assert!(garbled_figures("Free delivery over $40.", facts).is_empty());
        // A figure the brief does not state is another check's.
        assert!(garbled_figures("Save £20 now.", facts).is_empty());
        let brush = &BriefFacts::new("A battery that lasts three weeks and a two-minute timer.");
        assert_eq!(
            changed_units("A battery that lasts three days.", brush),
            vec!["three days"]
        );
        assert!(changed_units("Three weeks of battery, a 2-minute timer.", brush).is_empty());
        assert!(changed_units("Ready in five minutes.", brush).is_empty());
        let hire = &BriefFacts::new("Free cancellation up to 48 hours before pick-up.");
        assert_eq!(
            garbled_figures("A holiday of up to £48.", hire),
            vec!["£48"]
        );
        assert!(garbled_figures("Cancel up to 48 hours before.", hire).is_empty());
        assert_eq!(
            garbled_figures("Up to 20% for you.", &BriefFacts::new("20% off all boots")),
            vec!["20%"]
        );
    }

    #[test]
    fn sentences_cannot_end_on_a_function_word() {
        assert_eq!(
            dangling_endings("Chef-cooked meals delivered frozen every.", Language::En),
            vec!["every"]
        );
        assert_eq!(
            dangling_endings("Made with the. Order now.", Language::En),
            vec!["the"]
        );
        assert_eq!(
            dangling_endings("Fresh bread for", Language::En),
            vec!["for"]
        );
        assert!(
            dangling_endings("Sign up. Try them for a week. Discover more.", Language::En)
                .is_empty()
        );
        assert_eq!(
            dangling_endings("A review of the words you can.", Language::En),
            vec!["you can"]
        );
        assert_eq!(
            dangling_endings("Your first day, you’ll get. Order now.", Language::En),
            vec!["you'll get"]
        );
        assert!(dangling_endings("Get it while you can save.", Language::En).is_empty());
        assert_eq!(
            dangling_endings("Du pain pour le", Language::Fr),
            vec!["le"]
        );
        assert!(dangling_endings("Du pain frais.", Language::Fr).is_empty());
    }
}
