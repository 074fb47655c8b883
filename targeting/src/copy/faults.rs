//! Faults of generated copy that a reader sees at once and the scores do not: text copied from
//! the prompt ([`PromptEcho`]), a body that only repeats the headline ([`headline_echo`]), a
//! brand name written wrong ([`misspelt_brand`]), words that are not words ([`unknown_words`],
//! against a [`Vocabulary`]), a body that stops mid-sentence ([`unfinished_body`]), a headline
//! of fragments ([`choppy_headline`]) and facts the brief does not state ([`invented_numbers`],
//! [`invented_offers`]). Each was found by reading candidates of the default 135M model on the
//! evaluation briefs ("Tone: clear, confident, easy to read", "Brightshal Dental", "Cumb & Co",
//! "Insulate, Conproof", "a six-speed manual", "Free shipping this month").
//!
//! Copy selection rejects a candidate with any of them ([`crate::copy::select`]); the copy
//! evaluation (`adforge eval copy`) counts them in what is delivered, with the same functions.

use std::collections::HashSet;

use crate::copy::function_words::{CONTRACTION_ENDINGS_EN, SUBJECT_PRONOUNS_EN};
use crate::copy::naming::{fold, stem, words};

/// Words known to be words: the whole words of a WordPiece vocabulary (MiniLM's `vocab.txt`),
/// short words of the supported languages, and whatever text is added (the brief's own words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    words: HashSet<String>,
}

/// Endings that make an inflected or derived form of a known word ("loaves" aside).
const SUFFIXES: &[&str] = &[
    "ments", "ment", "ness", "less", "able", "ably", "ful", "ish", "ings", "ing", "ers", "er",
    "est", "ies", "ied", "ily", "ly", "es", "ed", "s", "d", "y",
];

/// Prefixes that make a word from a known word ("unwind", "repack").
const PREFIXES: &[&str] = &["un", "re", "pre", "non", "over", "out", "self"];

impl Vocabulary {
    /// Whole words of a WordPiece vocabulary (one token per line): lines of three letters or
    /// more, without `##` continuations or `[SPECIAL]` tokens, plus `short_words` (the one- and
    /// two-letter words accepted as whole).
    pub fn from_wordpiece(vocab: &str, short_words: &[&str]) -> Vocabulary {
        let mut words: HashSet<String> = vocab
            .lines()
            .map(str::trim)
            .filter(|w| !w.starts_with("##") && !w.starts_with('['))
            .filter(|w| w.chars().count() >= 3 && w.chars().all(char::is_alphabetic))
            .map(fold)
            .collect();
        words.extend(short_words.iter().map(|w| fold(w)));
        Vocabulary { words }
    }

    /// Adds the words of `text` (the brief's own words: names, product terms).
    pub fn add_text(&mut self, text: &str) {
        self.words.extend(words(text));
    }

    /// Whether nothing is known (no vocabulary was loaded).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` (any case), or it without a plural ending ("breads"), is a known word.
    pub fn contains(&self, word: &str) -> bool {
        let folded = fold(word);
        self.words.contains(&folded) || self.words.contains(stem(&folded))
    }

    /// Whether `word` is a word: known, an inflected or derived form of a known word
    /// ("recycled", "greenery" aside, "bakeries", "quickly"), a known word with a common prefix
    /// ("unwind"), or two known words of three letters or more written together ("bedtime",
    /// "dishwasher"). Numbers and words of one or two letters always pass.
    pub fn knows(&self, word: &str) -> bool {
        let w = fold(word);
        if w.chars().count() <= 2 || w.chars().any(|c| c.is_ascii_digit()) {
            return true;
        }
        self.derived(&w) || self.compound(&w)
    }

    fn base_known(&self, w: &str) -> bool {
        self.words.contains(w) || self.words.contains(stem(w))
    }

    fn derived(&self, w: &str) -> bool {
        if self.base_known(w) {
            return true;
        }
        for suffix in SUFFIXES {
            let Some(base) = w.strip_suffix(suffix) else {
                continue;
            };
            if base.chars().count() < 3 {
                continue;
            }
            let doubled = {
                let mut chars = base.chars().rev();
                matches!((chars.next(), chars.next()), (Some(a), Some(b)) if a == b)
            };
            let y_base = suffix.starts_with('i').then(|| format!("{base}y"));
            if self.base_known(base)
                || self.base_known(&format!("{base}e"))
                || (doubled && self.base_known(&base[..base.len() - 1]))
                || y_base.is_some_and(|y| self.base_known(&y))
                || (*suffix == "es" && base.ends_with('v') && {
                    // loaves → loaf, knives → knife
                    let stemmed = &base[..base.len() - 1];
                    self.base_known(&format!("{stemmed}f"))
                        || self.base_known(&format!("{stemmed}fe"))
                })
            {
                return true;
            }
        }
        PREFIXES.iter().any(|p| {
            w.strip_prefix(p)
                .is_some_and(|rest| rest.chars().count() >= 3 && self.base_known(rest))
        })
    }

    fn compound(&self, w: &str) -> bool {
        let bounds: Vec<usize> = w.char_indices().map(|(i, _)| i).collect();
        bounds
            .iter()
            .skip(3)
            .filter(|&&i| w[i..].chars().count() >= 3)
            .any(|&i| self.base_known(&w[..i]) && self.derived(&w[i..]))
    }
}

/// The words of `text` (three letters or more, not numbers) that `vocabulary` does not know,
/// and English pronouns with an ending no contraction has ("you'res", which the words' pieces
/// "you" and "res" would each pass); empty when the vocabulary is empty (none loaded).
pub fn unknown_words(text: &str, vocabulary: &Vocabulary) -> Vec<String> {
    if vocabulary.is_empty() {
        return Vec::new();
    }
    let mut unknown: Vec<String> = Vec::new();
    for word in words(text).into_iter().chain(false_contractions(text)) {
        if !vocabulary.knows(&word) && !unknown.contains(&word) {
            unknown.push(word);
        }
    }
    unknown
}

/// Pronouns followed by an apostrophe and an ending that is no English contraction
/// ("you'res", "we'lls"), folded.
fn false_contractions(text: &str) -> Vec<String> {
    fold(text)
        .split_whitespace()
        .map(|token| token.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|token| {
            token.split_once('\'').is_some_and(|(pronoun, ending)| {
                SUBJECT_PRONOUNS_EN.contains(&pronoun) && !CONTRACTION_ENDINGS_EN.contains(&ending)
            })
        })
        .map(str::to_string)
        .collect()
}

/// Levenshtein distance between two strings, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Edits at most that turn a brand-like word into a misspelling rather than another word.
fn misspelling_tolerance(len: usize) -> usize {
    if len >= 8 {
        2
    } else {
        1
    }
}

/// The place where `text` writes the brand wrong: a run of words that, joined, is within a
/// small edit distance of the brand's words joined (one edit under eight letters, two from
/// eight) without being it ("Brightshal Dental", "Cumb & Co"), case, accents and a plural or
/// possessive ending ignored; or, for a brand word of five letters or more that is not an
/// ordinary word, a word close to it ("Ledgerley"). Ordinary words, and words of the brief, are
/// never taken for misspellings of a single brand word ("ledger" next to Ledgerly).
pub fn misspelt_brand(text: &str, brand: &str, known: &Vocabulary) -> Option<String> {
    let brand_words = words(brand);
    let joined_brand = brand_words.concat();
    if joined_brand.chars().count() < 4 {
        return None;
    }
    let copy_words = words(text);
    let same = |a: &str, b: &str| a == b || stem(a) == stem(b) || stem(stem(a)) == stem(b);
    // Whole known words only: a brand run together from two words ("DrivePalma") would pass as
    // a compound, and so would its misspelling ("DrovePalma").
    let ordinary = |w: &str| !known.is_empty() && known.contains(w);
    let n = brand_words.len();
    if copy_words.len() >= n {
        for window in copy_words.windows(n) {
            let joined = window.concat();
            if same(&joined, &joined_brand) {
                continue;
            }
            let distance = edit_distance(&joined, &joined_brand);
            if distance > 0
                && distance <= misspelling_tolerance(joined_brand.chars().count())
                && (n > 1 || !ordinary(&joined))
            {
                return Some(window.join(" "));
            }
        }
    }
    for b in brand_words
        .iter()
        .filter(|b| b.chars().count() >= 5 && !ordinary(b))
    {
        for w in &copy_words {
            if brand_words.iter().any(|other| same(w, other)) || ordinary(w) {
                continue;
            }
            let distance = edit_distance(w, b);
            if distance > 0 && distance <= misspelling_tolerance(b.chars().count()) {
                return Some(w.clone());
            }
        }
    }
    None
}

/// Whether the body stops without finishing its sentence: it does not end on `.`, `!`, `?`,
/// `…` or a closing bracket. Read on the default model's candidates, a body without a final
/// stop is almost always cut short ("…a chance to meet dogs that are always ready to lend a
/// helping", "Households in Brooklyn, up"); every example ad ends its body with a stop.
pub fn unfinished_body(body: &str) -> bool {
    let body = body.trim_end_matches(['"', '\'', '\u{2019}', '\u{201d}', ' ']);
    !body.is_empty() && !body.ends_with(['.', '!', '?', '…', ')'])
}

/// Whether the headline is a run of fragments: two commas or more ("Sourdough bread,
/// delivered, up", "Lavender Shirt Shuffle, over-the-top, it"), or a last comma followed by a
/// fragment that the room left could not finish: a noun phrase of three words at most opened by
/// an article or a possessive ("Frost Kitchen, a humble", "Car Hire in Palma, no hidden"), one word
/// of an offer without its offer ("Yoga at Stillpoint, Free!", "Bike Repair Service, Up"), or
/// one word the headline already said ("Spanish Language Apps, Spanish"). Read
/// on the default model's candidates for the second held-out brief set, where the model tacks
/// such tails onto headlines as the field fills up. A headline of a few dozen characters with
/// three clauses reads as word salad.
pub fn choppy_headline(headline: &str) -> bool {
    if headline.matches(',').count() >= 2 {
        return true;
    }
    let Some((head, tail)) = headline.rsplit_once(',') else {
        return false;
    };
    let tail = words(tail);
    const OPENERS: &[&str] = &["a", "an", "the", "no", "our", "your", "my", "their", "its"];
    const OFFER_STUBS: &[&str] = &["free", "up", "off", "now", "out", "new", "too", "more"];
    match tail.as_slice() {
        [word] => OFFER_STUBS.contains(&word.as_str()) || words(head).contains(word),
        [first, ..] => tail.len() <= 3 && OPENERS.contains(&first.as_str()),
        [] => false,
    }
}

/// Words that carry no content of their own, left out when deciding whether one field only
/// repeats another.
const FILLER: &[&str] = &[
    "a", "an", "the", "and", "or", "with", "for", "to", "of", "in", "on", "at", "by", "from",
    "your", "our", "you", "we", "is", "are", "it", "its", "s",
];

/// Whether the headline and the body repeat each other: equal, or one contains the other's
/// words in order, when what is repeated is more than the brand, the product and filler words
/// (a body that names the product of a headline "Greenbasket Meal Kits" is how ads are written;
/// a body that is "Get car insurance with Milewise" plus three words is not), or when the body
/// opens with the whole headline of four words or more.
pub fn headline_echo(headline: &str, body: &str, brand: &str, product: &str) -> bool {
    let h = words(headline);
    let b = words(body);
    if h.is_empty() || b.is_empty() {
        return false;
    }
    if h == b {
        return true;
    }
    let (short, long) = if h.len() <= b.len() {
        (&h, &b)
    } else {
        (&b, &h)
    };
    let named: HashSet<String> = words(brand)
        .into_iter()
        .chain(words(product))
        .map(|w| stem(&w).to_string())
        .collect();
    let unnamed = |list: &[String]| {
        list.iter()
            .filter(|w| !named.contains(stem(w)) && !FILLER.contains(&w.as_str()))
            .count()
    };
    // A body that opens with the whole headline (four words or more, saying more than the
    // brand and the product) prints it twice.
    if h.len() >= 4
        && b.len() > h.len()
        && b.iter().zip(&h).all(|(a, c)| stem(a) == stem(c))
        && unnamed(&h) >= 1
    {
        return true;
    }
    let contained = long.windows(short.len()).any(|window| {
        window
            .iter()
            .zip(short.iter())
            .all(|(a, c)| stem(a) == stem(c))
    });
    if !contained {
        return false;
    }
    unnamed(short) >= 2
}

/// What a prompt says around the brief, for finding it copied into the copy: the labels of the
/// brief's lines (`Tone`, `Audience`…), the instruction sentences, and brief lines that describe
/// rather than sell (the brand's tone of voice, the audience persona).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptEcho {
    /// Labels, folded; copy holding one followed by a colon copies the prompt.
    labels: Vec<String>,
    /// Runs of four words of the instructions (numbers left out); copy holding one copies them.
    instruction_runs: HashSet<Vec<String>>,
    /// The tone of voice's words, when it lists two or more qualities.
    voice: Vec<String>,
    /// The persona's words.
    persona: Vec<String>,
}

/// Words in a run of the instructions.
const INSTRUCTION_RUN: usize = 4;
/// Words of the persona that, copied in order, read as the brief rather than an ad.
const PERSONA_RUN: usize = 6;

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && needle.len() <= haystack.len()
        && haystack.windows(needle.len()).any(|w| w == needle)
}

impl PromptEcho {
    /// From the prompt's labels and instruction sentences, and the brief's tone of voice and
    /// persona.
    pub fn new<L: AsRef<str>, I: AsRef<str>>(
        labels: &[L],
        instructions: &[I],
        voice: &str,
        persona: &str,
    ) -> PromptEcho {
        let mut instruction_runs = HashSet::new();
        for sentence in instructions {
            let w = content_words(sentence.as_ref());
            for run in w.windows(INSTRUCTION_RUN) {
                instruction_runs.insert(run.to_vec());
            }
        }
        let voice_words = content_words(voice);
        let qualities = voice
            .split([',', ';', '/'])
            .filter(|q| !q.trim().is_empty());
        PromptEcho {
            labels: labels
                .iter()
                .map(|l| fold(l.as_ref().trim()))
                .filter(|l| !l.is_empty())
                .collect(),
            instruction_runs,
            voice: if qualities.count() >= 2 {
                voice_words
            } else {
                Vec::new()
            },
            persona: content_words(persona),
        }
    }

    /// What of the prompt `text` copies: `label:` for a label with its colon, the run of
    /// instruction words, `tone` for the tone of voice, `audience` for six words of the
    /// persona in order or a whole sentence of two words or more that is a piece of the persona
    /// ("Parents of children." for "Parents of children aged one to three…").
    pub fn find(&self, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let folded = fold(text);
        for label in &self.labels {
            let mut start = 0;
            while let Some(at) = folded[start..].find(label.as_str()) {
                let begin = start + at;
                let end = begin + label.len();
                let before_ok = folded[..begin]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric());
                if before_ok && folded[end..].trim_start().starts_with(':') {
                    found.push(format!("{label}:"));
                    break;
                }
                start = end;
            }
        }
        let copy = content_words(text);
        if let Some(run) = copy
            .windows(INSTRUCTION_RUN)
            .find(|run| self.instruction_runs.contains(*run))
        {
            found.push(run.join(" "));
        }
        if contains_run(&copy, &self.voice) {
            found.push("tone".into());
        }
        let persona_sentence = || {
            text.split(['.', '!', '?'])
                .map(content_words)
                .any(|sentence| sentence.len() >= 2 && contains_run(&self.persona, &sentence))
        };
        if (self.persona.len() >= PERSONA_RUN
            && self
                .persona
                .windows(PERSONA_RUN)
                .any(|run| contains_run(&copy, run)))
            || persona_sentence()
        {
            found.push("audience".into());
        }
        found
    }
}

/// Number words read as the numbers they write ("six" → 6); "one" is left out, it is rarely a
/// count in copy ("the one for you").
pub(crate) const NUMBER_WORDS: &[(&str, &str)] = &[
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("fifteen", "15"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("dozen", "12"),
    ("half", "0.5"),
    ("double", "2"),
    ("twice", "2"),
];

/// Numbers in `text` (digit runs with their decimal part, and number words such as "six") that
/// `facts` does not state, in digits or in words.
pub fn invented_numbers(text: &str, facts: &str) -> Vec<String> {
    let mut known = digit_numbers(facts);
    let fact_words = words(facts);
    for (word, value) in NUMBER_WORDS {
        if fact_words.iter().any(|w| w == word) {
            known.push((*value).to_string());
            known.push((*word).to_string());
        }
    }
    let mut invented: Vec<String> = Vec::new();
    for n in digit_numbers(text) {
        if !known.contains(&n) && !invented.contains(&n) {
            invented.push(n);
        }
    }
    for w in words(text) {
        if let Some((word, value)) = NUMBER_WORDS.iter().find(|(word, _)| *word == w) {
            let stated = known.iter().any(|k| k == value || k == word);
            if !stated && !invented.iter().any(|i| i == word) {
                invented.push((*word).to_string());
            }
        }
    }
    invented
}

fn digit_numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let decimal = (c == '.' || c == ',')
            && !current.is_empty()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() || decimal {
            current.push(if decimal { '.' } else { c });
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Words that state an offer or a certified quality: copy may say them only when the brief
/// does ("Free shipping this month" for a brief with no free shipping is an invented offer).
const OFFER_WORDS: &[&str] = &[
    "free",
    "discount",
    "sale",
    "trial",
    "refund",
    "warranty",
    "award",
    "certified",
    "organic",
    "vegan",
    "shipping",
    "coupon",
    "promo",
    "cashback",
    "voucher",
    "gift",
    "bonus",
    "lifetime",
    "handmade",
    "sustainable",
    "recycled",
];

/// A word's root for matching offer words with the brief's: plural and verb endings removed,
/// a doubled final consonant undone ("shipping", "shipped", "ships" → "ship").
pub(crate) fn root(word: &str) -> String {
    let mut w = word.to_string();
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(base) = w.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                w = base.to_string();
                break;
            }
        }
    }
    let bytes = w.as_bytes();
    if bytes.len() >= 4 && bytes[bytes.len() - 1] == bytes[bytes.len() - 2] {
        w.pop();
    }
    w
}

/// The offer words whose root `facts` does not contain: the words copy for that brief must
/// not say (the decoder is kept from starting them).
pub fn offer_words_absent_from(facts: &str) -> Vec<&'static str> {
    let fact_roots: HashSet<String> = words(facts).iter().map(|w| root(w)).collect();
    OFFER_WORDS
        .iter()
        .copied()
        .filter(|w| !fact_roots.contains(&root(w)))
        .collect()
}

/// Offer words (`free`, `discount`, `trial`, `shipping`, `organic`…) in `text` whose root is not
/// in `facts`.
pub fn invented_offers(text: &str, facts: &str) -> Vec<String> {
    let fact_roots: HashSet<String> = words(facts).iter().map(|w| root(w)).collect();
    let offer_roots: Vec<String> = OFFER_WORDS.iter().map(|w| root(w)).collect();
    let mut invented: Vec<String> = Vec::new();
    for w in words(text) {
        let r = root(&w);
        if offer_roots.contains(&r) && !fact_roots.contains(&r) && !invented.contains(&w) {
            invented.push(w);
        }
    }
    invented
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_words_the_brief_states_are_allowed() {
        let absent = offer_words_absent_from("Free delivery on your first order, 100-night trial");
        assert!(!absent.contains(&"free") && !absent.contains(&"trial"));
        assert!(absent.contains(&"discount") && absent.contains(&"shipping"));
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::from_wordpiece(
            "[PAD]\n##s\nbed\ntime\ndish\nwasher\nwind\nproof\nwater\nloaf\nbake\nbakery\nquick\n\
             recycle\nledger\ndental\nrental\nfresh\nbread\ncar\ninsurance\ncon\nbright\n",
            &["a", "to"],
        )
    }

    #[test]
    fn known_words_inflections_and_compounds() {
        let v = vocabulary();
        for word in [
            "bread",
            "Breads",
            "loaves",
            "bakeries",
            "quickly",
            "recycled",
            "bedtime",
            "dishwasher",
            "unwind",
            "waterproof",
            "baked",
            "to",
            "40",
            "breadish",
        ] {
            assert!(v.knows(word), "{word}");
        }
        for word in ["cumb", "conqu", "brightshal", "xyzzy"] {
            assert!(!v.knows(word), "{word}");
        }
        assert_eq!(
            unknown_words("Fresh bread, Cumb & Co at bedtime", &v),
            ["cumb"]
        );
        assert!(unknown_words("Cumb", &Vocabulary::default()).is_empty());
        let pieces = Vocabulary::from_wordpiece("review\nthe\nwords\nyou\nres\nit\nfresh\n", &[]);
        assert_eq!(
            unknown_words("Review the words you’res.", &pieces),
            ["you'res"]
        );
        assert!(unknown_words("Review the words you're fresh, it's fresh.", &pieces).is_empty());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("crumb", "cumb"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn brand_written_wrong_is_found_in_any_case() {
        let v = vocabulary();
        assert_eq!(
            misspelt_brand("Visit BRIGHTSHAL Dental today", "Brightshale Dental", &v).as_deref(),
            Some("brightshal dental")
        );
        assert_eq!(
            misspelt_brand("Fresh loaves from Cumb & Co", "Crumb & Co", &v).as_deref(),
            Some("cumb co")
        );
        assert_eq!(
            misspelt_brand("Books kept by Ledgerley", "Ledgerly", &v).as_deref(),
            Some("ledgerley")
        );
        assert_eq!(
            misspelt_brand("See Brightshle for a check-up", "Brightshale Dental", &v).as_deref(),
            Some("brightshle")
        );
        for fine in [
            "Brightshale Dental, open late",
            "brightshale dental's new clinic",
            "Keep your ledger tidy with Ledgerly",
            "Ledgerly's app",
            "A dental check-up, not a rental",
        ] {
            for brand in ["Brightshale Dental", "Ledgerly"] {
                assert_eq!(misspelt_brand(fine, brand, &v), None, "{fine} / {brand}");
            }
        }
        // A brand run together from two words is not excused as a compound of them.
        let mut palma = v.clone();
        palma.add_text("drove Palma drive");
        assert_eq!(
            misspelt_brand("Hire with DrovePalma", "DrivePalma", &palma).as_deref(),
            Some("drovepalma")
        );
        assert_eq!(misspelt_brand("Drive in Palma", "DrivePalma", &palma), None);
        assert_eq!(misspelt_brand("Rest well", "Restwell", &v), None);
        assert_eq!(misspelt_brand("Crumb and Co", "Crumb & Co", &v), None);
    }

    #[test]
    fn unfinished_bodies_and_choppy_headlines() {
        assert!(unfinished_body("Households in Brooklyn, up"));
        assert!(unfinished_body(
            "Dogs that are always ready to lend a helping"
        ));
        assert!(!unfinished_body("Fresh bread, delivered before 8 am."));
        assert!(!unfinished_body("Book today!"));
        assert!(!unfinished_body("Free for teams of up to 5 (terms apply)"));
        assert!(choppy_headline("Sourdough bread, delivered, up"));
        assert!(!choppy_headline("Sourdough, delivered"));
        assert!(choppy_headline("Frost Kitchen, a humble"));
        assert!(choppy_headline("Kitty, Our New kitten"));
        assert!(choppy_headline("Yoga at Stillpoint, Free!"));
        assert!(choppy_headline("Spokevan Bike Repair Service, Up"));
        assert!(choppy_headline("Spanish Language Apps, Spanish"));
        assert!(choppy_headline("Car Hire in Palma, no hidden"));
        assert!(!choppy_headline("Dinner, Sorted by Frost"));
        assert!(!choppy_headline(
            "Fresh bread, baked in our ovens every day"
        ));
        assert!(!choppy_headline("Crumb & Co Sourdough"));
    }

    #[test]
    fn headline_repeated_in_the_body() {
        let brand = "Milewise";
        let product = "pay-per-mile car insurance";
        assert!(headline_echo(
            "Get car insurance with Milewise, no go",
            "Get car insurance with Milewise, no go-slow fees.",
            brand,
            product
        ));
        assert!(headline_echo(
            "Drive less, pay less",
            "drive less pay less",
            brand,
            product
        ));
        assert!(headline_echo(
            "Luxury Symphony Concerts in Harbour Hall",
            "Luxury symphony concerts in Harbour Hall, with Dvorak and Sibelius.",
            "Harbour Hall",
            "symphony concert tickets"
        ));
        // Naming the product of the headline again is not an echo.
        assert!(!headline_echo(
            "Milewise Pay-Per-Mile Car Insurance",
            "Milewise pay-per-mile car insurance charges by the mile you drive.",
            brand,
            product
        ));
        assert!(!headline_echo(
            "Milewise Car Insurance",
            "Milewise car insurance charges by the mile you drive.",
            brand,
            product
        ));
        assert!(!headline_echo(
            "Pay by the mile",
            "Milewise charges for the miles you drive, nothing more.",
            brand,
            product
        ));
    }

    #[test]
    fn prompt_text_copied_into_the_copy() {
        let echo = PromptEcho::new(
            &["Brand", "Tone", "Audience", "Headline"],
            &[
                "Use only the facts in the brief.",
                "Write a display ad: headline up to 25 characters, body up to 90 characters.",
            ],
            "clear, confident, easy to read",
            "Freelancers who send invoices every month and do their own tax returns",
        );
        assert_eq!(
            echo.find("Tone: clear, confident, easy to read"),
            ["tone:", "tone"]
        );
        assert_eq!(echo.find("Headline : Fresh bread"), ["headline:"]);
        assert_eq!(
            echo.find("Fresh bread, headline up to 40 characters"),
            ["headline up to characters"]
        );
        assert_eq!(
            echo.find("For freelancers who send invoices every month"),
            ["audience"]
        );
        assert_eq!(
            echo.find("Invoices in a minute. Freelancers who send."),
            ["audience"]
        );
        for fine in [
            "Clear books for freelancers",
            "Brand new: invoices in a minute",
            "Your tone, your brand",
            "Invoices every month, done in minutes",
        ] {
            assert!(echo.find(fine).is_empty(), "{fine}: {:?}", echo.find(fine));
        }
        // A one-word tone is an adjective the copy may use.
        let plain = PromptEcho::new(&["Tone"], &[""], "warm", "");
        assert!(plain.find("A warm welcome").is_empty());
    }

    #[test]
    fn numbers_and_offers_the_brief_does_not_state() {
        let facts = "Steeped for 18 hours, 1-litre bottles, 15% off, from $4.50.";
        assert!(invented_numbers("18 hours, 15% off, now $4.50", facts).is_empty());
        assert_eq!(
            invented_numbers("Only £1.99 for 2 bottles", facts),
            ["1.99", "2"]
        );
        assert_eq!(
            invented_numbers("A six-speed manual for the one you love", facts),
            ["six"]
        );
        assert!(invented_numbers("Three bikes", "three sizes").is_empty());
        assert!(invented_numbers("3 sizes", "three sizes").is_empty());
        assert!(invented_numbers("2 loaves a week", "delivered twice a week").is_empty());
        assert_eq!(
            invented_offers("Free shipping this month", facts),
            ["free", "shipping"]
        );
        assert_eq!(
            invented_offers("Start your free trial", "Bookkeeping for freelancers"),
            ["free", "trial"]
        );
        let facts = "Ships free in two days.";
        assert!(invented_offers("Free delivery, shipped free", facts).is_empty());
    }
}
