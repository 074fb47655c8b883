//! A compiled index over all live segments that resolves one request to its matching segments
//! without evaluating every rule.
//!
//! Each rule is expanded to its disjunctive normal form: up to [`MAX_TERMS`] *terms*, each a
//! conjunction of possibly negated leaves, and every term becomes one or more *entries* of the
//! index. A term is summarised per request attribute, its *dimensions*: which values of the
//! country, of each free attribute, which interests, ages, hours, days it accepts. For each
//! dimension the index keeps, per value a request may carry, the bit set of entries that accept
//! it (stored as lists of changes from a default when few entries name the value).
//!
//! [`SegmentIndex::build`] lays the entries out grouped by their value of a *primary*
//! attribute (see [`SegmentIndex`]), so a request's candidates start as two runs of entries: its
//! value's group and the entries that need no value. A query ANDs in, dimension by dimension,
//! the entries that accept the request's value, reading only the words of those runs (a few
//! hundred words at 100,000 segments), with no branch per entry. The entries left are the
//! candidates. Most terms are *exact*: a candidate entry of an exact term is a match without
//! evaluating anything. The others (a time window that cuts an hour, two interest lists in one
//! conjunction, a rule with too many terms) only narrow the candidates and their segment's rule
//! runs as a compiled program. Results come back in insertion order.
//!
//! Values are interned to symbols when the index is built, the request is translated to the
//! same symbols once per query, and the per-request buffers live in a thread-local scratch
//! space, so [`SegmentIndex::matching`] takes `&self` and the index can be shared between
//! threads behind an `Arc`.
//!
//! Files: `terms` expands a rule to its summarised terms, `dims` holds the per-dimension bit
//! sets, `bits` the bit-set operations, `program` compiles a rule to a flat program and runs
//! it; this file owns the entries and the query.

mod bits;
mod dims;
mod program;
mod terms;

use std::cell::RefCell;

use crate::request::{AdRequest, PreparedRequest};

use crate::rules::Rule;
use bits::{clear_ranges, for_each_set_between, set_range, words_for, Bits, Ranges};
use dims::{MaskDim, SetDim, ValueDim};
use program::{run, Compiled, RequestSymbols, Symbols, NO_SYMBOL};
pub use terms::MAX_TERMS;
use terms::{age_slot, terms, Term, ValueSet, AGE_SLOTS};

/// Per-thread buffers of the query.
#[derive(Default)]
struct Scratch {
    /// Candidate entries; all zero between queries (the query clears what it set).
    candidates: Vec<u64>,
    /// Set when a query did not finish: `candidates` must be cleared first.
    dirty: bool,
    set_buffer: Vec<u64>,
    keep: Vec<u32>,
    /// Entry ranges of the query, then the same as word ranges.
    entry_ranges: Vec<(usize, usize)>,
    word_ranges: Vec<(usize, usize)>,
    /// Candidate hits as `segment << 1 | inexact`, one sorted run per entry range.
    hits: Vec<u64>,
    merged: Vec<u64>,
    matched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Contiguous entries of the built index that accept one value of the primary attribute.
#[derive(Debug, Clone, Copy)]
struct Group {
    symbol: u32,
    start: u32,
    end: u32,
}

/// All live segments compiled for fast matching. `Id` is whatever the caller identifies
/// segments by (a database id, a UUID...).
///
/// [`SegmentIndex::build`] picks a *primary* attribute, the single-valued one that most terms
/// require a value of (the country, in most deployments), splits each term that lists several
/// of its values into one entry per value, and lays entries out grouped by that value. A
/// request's candidates then lie in two runs of entries (its value's group and the terms that
/// need no value), plus any segments inserted after the build, and every other dimension is
/// only read over those runs.
#[derive(Debug, Clone)]
pub struct SegmentIndex<Id> {
    ids: Vec<Id>,
    /// Rule programs of all segments, back to back (see [`Compiled::emit`]).
    code: Vec<u32>,
    /// Where each segment's program starts in `code`, plus one final end offset.
    starts: Vec<u32>,
    symbols: Symbols,
    /// The segment of each entry.
    entry_segment: Vec<u32>,
    /// Entries whose term is exact: a candidate among them is a match.
    exact: Bits,
    /// Segments with an entry that constrains nothing (checked on every request).
    unguarded: usize,
    /// Slot in `singles` of the primary attribute, if any term requires one of its values.
    primary: Option<usize>,
    /// Groups of the primary attribute's values, by symbol.
    groups: Vec<Group>,
    /// Entries `rest.0..rest.1` need no value of the primary attribute.
    rest: (u32, u32),
    /// Entries laid out by [`SegmentIndex::build`]; later ones were inserted after it.
    built: u32,
    /// Gender, country, region, city, language, device, os.
    singles: [ValueDim; 7],
    /// Free attributes by name symbol, in the order first seen.
    attributes: Vec<(u32, ValueDim)>,
    /// Interests, keywords.
    sets: [SetDim; 2],
    ages: MaskDim,
    hours: MaskDim,
    days: MaskDim,
}

impl<Id: Clone> Default for SegmentIndex<Id> {
    fn default() -> Self {
        SegmentIndex {
            ids: Vec::new(),
            code: Vec::new(),
            starts: vec![0],
            symbols: Symbols::default(),
            entry_segment: Vec::new(),
            exact: Bits::default(),
            unguarded: 0,
            primary: None,
            groups: Vec::new(),
            rest: (0, 0),
            built: 0,
            singles: Default::default(),
            attributes: Vec::new(),
            sets: Default::default(),
            ages: MaskDim::new(AGE_SLOTS),
            hours: MaskDim::new(24),
            days: MaskDim::new(7),
        }
    }
}

impl<Id: Clone> SegmentIndex<Id> {
    /// Compiles the given (segment id, validated rule) pairs.
    pub fn build(segments: impl IntoIterator<Item = (Id, Rule)>) -> Self {
        let mut index = SegmentIndex::default();
        let mut pending: Vec<(u32, Term)> = Vec::new();
        for (id, rule) in segments {
            let segment = index.add_segment(id, &rule);
            let terms = terms(&rule, &mut index.symbols);
            pending.extend(terms.into_iter().map(|t| (segment, t)));
        }
        // The primary attribute: the one most terms need a value of.
        let required = |slot: usize| {
            pending
                .iter()
                .filter(|(_, t)| matches!(t.singles[slot], ValueSet::In(_)))
                .count()
        };
        index.primary = (0..index.singles.len())
            .map(|slot| (required(slot), slot))
            .max()
            .filter(|(count, _)| *count > 0)
            .map(|(_, slot)| slot);
        let mut entries: Vec<(u32, u32, Term)> = Vec::with_capacity(pending.len());
        for (segment, term) in pending {
            let split = index.primary.and_then(|p| match &term.singles[p] {
                ValueSet::In(values) => Some((p, values.clone())),
                _ => None,
            });
            match split {
                Some((p, values)) => {
                    for v in values {
                        let mut one = term.clone();
                        one.singles[p] = ValueSet::In(vec![v]);
                        entries.push((v, segment, one));
                    }
                }
                None => entries.push((NO_SYMBOL, segment, term)),
            }
        }
        entries.sort_by_key(|(key, segment, _)| (*key, *segment));
        for (i, (key, segment, term)) in entries.into_iter().enumerate() {
            let i = i as u32;
            if key == NO_SYMBOL {
                if index.rest.1 == 0 {
                    index.rest.0 = i;
                }
                index.rest.1 = i + 1;
                index.push_entry(segment, &term, false);
            } else {
                match index.groups.last_mut() {
                    Some(group) if group.symbol == key => group.end = i + 1,
                    _ => index.groups.push(Group {
                        symbol: key,
                        start: i,
                        end: i + 1,
                    }),
                }
                index.push_entry(segment, &term, true);
            }
        }
        index.built = index.entry_segment.len() as u32;
        index.compact();
        index
    }

    /// Adds one segment after all others. To change or remove segments, build a new index
    /// (which also lays the entries out for the fastest queries).
    pub fn insert(&mut self, id: Id, rule: Rule) {
        let segment = self.add_segment(id, &rule);
        for term in terms(&rule, &mut self.symbols) {
            self.push_entry(segment, &term, false);
        }
    }

    /// Stores the segment's id and program; returns its position.
    fn add_segment(&mut self, id: Id, rule: &Rule) -> u32 {
        let segment = u32::try_from(self.ids.len()).expect("fewer than 2^32 segments");
        Compiled::new(rule, &mut self.symbols).emit(&mut self.code);
        self.starts
            .push(u32::try_from(self.code.len()).expect("rule programs under 2^32 words"));
        self.ids.push(id);
        segment
    }

    /// Appends one entry of `segment`; `grouped` when it lies in the group of its primary
    /// attribute's value.
    fn push_entry(&mut self, segment: u32, term: &Term, grouped: bool) {
        let entry = self.entry_segment.len();
        assert!(entry < u32::MAX as usize, "fewer than 2^32 index entries");
        if !term.constrained {
            // One unconstrained term per segment at most (it only comes from a fallback).
            self.unguarded += 1;
        }
        self.entry_segment.push(segment);
        self.exact.push(term.exact);
        for (slot, (dim, values)) in self.singles.iter_mut().zip(&term.singles).enumerate() {
            if grouped && self.primary == Some(slot) {
                dim.push_grouped(values);
            } else {
                dim.push(values);
            }
        }
        for (key, _) in &term.attributes {
            if !self.attributes.iter().any(|(k, _)| k == key) {
                self.attributes.push((*key, ValueDim::unconstrained(entry)));
            }
        }
        for (key, dim) in &mut self.attributes {
            match term.attributes.iter().find(|(k, _)| k == key) {
                Some((_, values)) => dim.push(values),
                None => dim.push(&ValueSet::Any),
            }
        }
        for (dim, set) in self.sets.iter_mut().zip(&term.sets) {
            dim.push(set);
        }
        self.ages.push(|slot| term.accepts_age(slot));
        self.hours.push(|hour| term.hours & (1 << hour) != 0);
        self.days.push(|day| term.days & (1 << day) != 0);
    }

    /// Stores the values named by many entries as bit sets.
    fn compact(&mut self) {
        for (slot, dim) in self.singles.iter_mut().enumerate() {
            if self.primary != Some(slot) {
                dim.compact();
            }
        }
        self.attributes
            .iter_mut()
            .for_each(|(_, dim)| dim.compact());
        self.sets.iter_mut().for_each(SetDim::compact);
    }

    /// Number of segments in the index.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index holds no segment.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of segments whose rule the index cannot narrow at all (more than [`MAX_TERMS`]
    /// terms and no single-conjunction child of a top-level `all`): they are evaluated on every
    /// request.
    pub fn unguarded_len(&self) -> usize {
        self.unguarded
    }

    /// The ids of the segments whose rules match `request`, in insertion order.
    pub fn matching(&self, request: &AdRequest) -> Vec<Id> {
        self.matching_prepared(&PreparedRequest::new(request))
    }

    /// Like [`SegmentIndex::matching`] for a request already prepared.
    pub fn matching_prepared(&self, request: &PreparedRequest) -> Vec<Id> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let scratch = &mut *scratch;
            self.matching_into(request, scratch);
            scratch
                .matched
                .iter()
                .map(|&s| self.ids[s as usize].clone())
                .collect()
        })
    }

    fn run_segment(&self, segment: usize, request: &RequestSymbols) -> bool {
        let start = self.starts[segment] as usize;
        let end = self.starts[segment + 1] as usize;
        run(&self.code[start..end], request)
    }

    /// Leaves the positions of the matching segments, in order, in `scratch.matched`.
    fn matching_into(&self, req: &PreparedRequest, scratch: &mut Scratch) {
        let Scratch {
            candidates,
            dirty,
            set_buffer,
            keep,
            entry_ranges,
            word_ranges,
            hits,
            merged,
            matched,
        } = scratch;
        matched.clear();
        let entries = self.entry_segment.len();
        if entries == 0 {
            return;
        }
        let symbols = RequestSymbols::new(req, &self.symbols);
        let words = words_for(entries);
        if *dirty {
            candidates.clear();
        }
        *dirty = true;
        candidates.resize(words, 0);
        set_buffer.resize(words, 0);

        // The entries that need no primary value, and those inserted after the build.
        let built = self.built as usize;
        entry_ranges.clear();
        match self.primary {
            Some(_) => entry_ranges.push((self.rest.0 as usize, self.rest.1 as usize)),
            None => entry_ranges.push((0, built)),
        }
        entry_ranges.push((built, entries));
        entry_ranges.retain(|(start, end)| start < end);
        let group = self.primary.and_then(|p| {
            self.groups
                .binary_search_by_key(&symbols.single[p], |g| g.symbol)
                .ok()
                .map(|i| (self.groups[i].start as usize, self.groups[i].end as usize))
        });
        for &(start, end) in entry_ranges.iter() {
            set_range(candidates, start, end);
        }
        cover(entry_ranges, word_ranges);
        if let Some(p) = self.primary {
            // Every entry of the request's group accepts its value: only the others are
            // checked, before the group's bits are set.
            let others = Ranges {
                entries: entry_ranges,
                words: word_ranges,
            };
            self.singles[p].restrict(symbols.single[p], candidates, &others, keep);
        }
        if let Some((start, end)) = group {
            set_range(candidates, start, end);
            entry_ranges.insert(0, (start, end));
            cover(entry_ranges, word_ranges);
        }
        let ranges = &Ranges {
            entries: entry_ranges,
            words: word_ranges,
        };

        self.ages.restrict(age_slot(req.age), candidates, ranges);
        self.days.restrict(
            req.weekday.num_days_from_monday() as usize,
            candidates,
            ranges,
        );
        self.hours
            .restrict(usize::from(req.local_hour()), candidates, ranges);
        for (slot, (dim, &value)) in self.singles.iter().zip(&symbols.single).enumerate() {
            if self.primary != Some(slot) {
                dim.restrict(value, candidates, ranges, keep);
            }
        }
        for (key, dim) in &self.attributes {
            dim.restrict(symbols.attribute(*key), candidates, ranges, keep);
        }
        self.sets[0].restrict(&symbols.interests, candidates, ranges, set_buffer);
        self.sets[1].restrict(&symbols.keywords, candidates, ranges, set_buffer);

        // Each entry range is sorted by segment: merge their hits.
        merged.clear();
        for &(start, end) in ranges.entries {
            hits.clear();
            let exact = self.exact.words();
            for_each_set_between(candidates, exact, start, end, |entry, exact| {
                hits.push(u64::from(self.entry_segment[entry as usize]) << 1 | u64::from(!exact));
            });
            merge_sorted(merged, hits);
        }
        clear_ranges(candidates, ranges.words);
        *dirty = false;
        // Exact hits sort before inexact ones of the same segment.
        let mut decided = u32::MAX;
        for &hit in merged.iter() {
            let segment = (hit >> 1) as u32;
            if segment == decided {
                continue;
            }
            decided = segment;
            if hit & 1 == 0 || self.run_segment(segment as usize, &symbols) {
                matched.push(segment);
            }
        }
    }
}

/// The word ranges that hold the entry ranges, overlapping ones merged.
fn cover(entry_ranges: &[(usize, usize)], word_ranges: &mut Vec<(usize, usize)>) {
    word_ranges.clear();
    for &(start, end) in entry_ranges {
        word_ranges.push((start / 64, end.div_ceil(64)));
    }
    word_ranges.sort_unstable();
    let mut merged = 0;
    for i in 0..word_ranges.len() {
        let (start, end) = word_ranges[i];
        if merged > 0 && start <= word_ranges[merged - 1].1 {
            word_ranges[merged - 1].1 = word_ranges[merged - 1].1.max(end);
        } else {
            word_ranges[merged] = (start, end);
            merged += 1;
        }
    }
    word_ranges.truncate(merged);
}

/// Merges the sorted `run` into the sorted `into`.
fn merge_sorted(into: &mut Vec<u64>, run: &[u64]) {
    if run.is_empty() {
        return;
    }
    if into.last().is_none_or(|&last| last <= run[0]) {
        into.extend_from_slice(run);
        return;
    }
    let left = into.len();
    into.extend_from_slice(run);
    // Merge in place from the back: `into[..left]` and `run` into `into`.
    let (mut i, mut j, mut k) = (left, run.len(), into.len());
    while j > 0 {
        k -= 1;
        if i > 0 && into[i - 1] > run[j - 1] {
            into[k] = into[i - 1];
            i -= 1;
        } else {
            into[k] = run[j - 1];
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
