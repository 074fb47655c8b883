//! Dimensions: for one request attribute, which index entries accept the request's value.
//!
//! Every dimension keeps one bit per entry for each case it distinguishes, so restricting the
//! candidates to the entries that accept a request is a word-wise AND over the entry bit set:
//! - [`ValueDim`], a single-valued attribute (country, device, a free attribute...): the entries
//!   that accept a missing or unknown value (`base`), and per value the entries that accept it,
//!   as a bit set when many entries name the value, else as lists of changes from `base`;
//! - [`SetDim`], a set-valued attribute (interests, keywords): `base` (entries that need no
//!   value), per value the entries that one of its values admits and those it rules out;
//! - [`MaskDim`], a small closed domain (age slots, hours, days): a bit set per value.
//!
//! A value's lists become a bit set in [`ValueDim::compact`] / [`SetDim::compact`] once they
//! hold at least one entry in 64, so a bit set never takes more than twice the memory of the
//! lists it replaces. Values first seen after that keep lists until the next compaction.

use super::bits::{and_ranges, clear, copy_ranges, get, or_ranges, set, words_for, Bits, Ranges};
use super::program::NO_SYMBOL;
use super::terms::{SetTerm, ValueSet};

/// The entries that accept one value.
#[derive(Debug, Clone)]
enum Accept {
    /// Entries listed.
    List(Vec<u32>),
    /// For a [`ValueDim`], every entry's answer for the value (its refusals included); for a
    /// [`SetDim`], the entries the value is accepted by.
    Dense(Bits),
}

/// Entries that accept one value, and entries it rules out.
#[derive(Debug, Clone)]
struct Postings {
    accept: Accept,
    /// Entries the value is refused by (always empty in a [`ValueDim`] with a dense `accept`).
    refuse: Vec<u32>,
}

/// Values of one dimension: sorted symbols, each with its postings.
#[derive(Debug, Clone, Default)]
struct Values {
    symbols: Vec<u32>,
    postings: Vec<Postings>,
    /// Positions in `postings` whose `accept` is a bit set (it takes a bit for every new entry).
    dense: Vec<usize>,
}

impl Values {
    fn get(&self, symbol: u32) -> Option<&Postings> {
        self.symbols
            .binary_search(&symbol)
            .ok()
            .map(|i| &self.postings[i])
    }

    fn get_mut(&mut self, symbol: u32) -> &mut Postings {
        let i = match self.symbols.binary_search(&symbol) {
            Ok(i) => i,
            Err(i) => {
                self.symbols.insert(i, symbol);
                self.postings.insert(
                    i,
                    Postings {
                        accept: Accept::List(Vec::new()),
                        refuse: Vec::new(),
                    },
                );
                for d in &mut self.dense {
                    if *d >= i {
                        *d += 1;
                    }
                }
                i
            }
        };
        &mut self.postings[i]
    }

    /// Pushes `bit` onto every dense `accept`.
    fn push_dense(&mut self, bit: bool) {
        for &d in &self.dense {
            if let Accept::Dense(bits) = &mut self.postings[d].accept {
                bits.push(bit);
            }
        }
    }

    /// Hands each value whose lists hold at least one entry in 64 (counted by `size`) to
    /// `densify`, which makes its `accept` a bit set.
    fn compact(
        &mut self,
        entries: usize,
        size: impl Fn(&[u32], &[u32]) -> usize,
        densify: impl Fn(&mut Postings),
    ) {
        for (i, postings) in self.postings.iter_mut().enumerate() {
            if let Accept::List(accept) = &postings.accept {
                let n = size(accept, &postings.refuse);
                if n > 0 && n >= words_for(entries) {
                    densify(postings);
                    self.dense.push(i);
                }
            }
        }
    }
}

/// A single-valued attribute.
#[derive(Debug, Clone, Default)]
pub(super) struct ValueDim {
    /// Entries that accept a missing value (and so any value no entry names).
    base: Bits,
    values: Values,
    /// Entries with a condition on the attribute.
    constrained: usize,
}

impl ValueDim {
    /// A dimension for `entries` existing entries, none of which constrains it.
    pub(super) fn unconstrained(entries: usize) -> ValueDim {
        ValueDim {
            base: Bits::ones(entries),
            ..ValueDim::default()
        }
    }

    /// Appends the next entry, which accepts `values`.
    pub(super) fn push(&mut self, values: &ValueSet) {
        self.push_entry(values, false);
    }

    /// Like [`ValueDim::push`] for an entry laid out in the group of its one accepted value:
    /// the dimension does not list it, the query adds the group's entries itself (see
    /// `SegmentIndex::build`). A dimension with grouped entries must not be compacted.
    pub(super) fn push_grouped(&mut self, values: &ValueSet) {
        debug_assert!(matches!(values, ValueSet::In(v) if v.len() == 1));
        self.push_entry(values, true);
    }

    fn push_entry(&mut self, values: &ValueSet, grouped: bool) {
        let entry = self.base.len() as u32;
        let (listed, accepted, base) = match values {
            ValueSet::Any => (&[][..], false, true),
            ValueSet::In(s) => (&s[..], true, false),
            ValueSet::NotIn(s) => (&s[..], false, true),
        };
        self.base.push(base);
        if !matches!(values, ValueSet::Any) {
            self.constrained += 1;
        }
        self.values.push_dense(base);
        if grouped {
            return;
        }
        for &symbol in listed {
            let postings = self.values.get_mut(symbol);
            match &mut postings.accept {
                Accept::Dense(bits) => bits.put(entry as usize, accepted),
                Accept::List(accept) if accepted => accept.push(entry),
                Accept::List(_) => postings.refuse.push(entry),
            }
        }
    }

    /// Stores large lists as bit sets (see the module documentation).
    pub(super) fn compact(&mut self) {
        let entries = self.base.len();
        let base = &self.base;
        self.values.compact(
            entries,
            |accept, refuse| accept.len() + refuse.len(),
            |postings| {
                let mut bits = base.clone();
                if let Accept::List(accept) = &postings.accept {
                    accept.iter().for_each(|&e| bits.put(e as usize, true));
                }
                postings
                    .refuse
                    .drain(..)
                    .for_each(|e| bits.put(e as usize, false));
                postings.accept = Accept::Dense(bits);
            },
        );
    }

    /// Clears from `candidates` the entries that refuse `value` ([`NO_SYMBOL`]: missing).
    /// Only the words in `ranges` may hold candidates.
    pub(super) fn restrict(
        &self,
        value: u32,
        candidates: &mut [u64],
        ranges: &Ranges<'_>,
        keep: &mut Vec<u32>,
    ) {
        if self.constrained == 0 {
            return;
        }
        let postings = if value == NO_SYMBOL {
            None
        } else {
            self.values.get(value)
        };
        match postings {
            None => and_ranges(candidates, self.base.words(), ranges.words),
            Some(Postings {
                accept: Accept::Dense(bits),
                ..
            }) => and_ranges(candidates, bits.words(), ranges.words),
            Some(Postings {
                accept: Accept::List(accept),
                refuse,
            }) => {
                // Accepting entries are outside `base`: note which are still candidates.
                keep.clear();
                keep.extend(ranges.within(accept).filter(|&e| get(candidates, e)));
                and_ranges(candidates, self.base.words(), ranges.words);
                keep.iter().for_each(|&e| set(candidates, e));
                ranges.within(refuse).for_each(|e| clear(candidates, e));
            }
        }
    }
}

/// A set-valued attribute (interests or keywords).
#[derive(Debug, Clone, Default)]
pub(super) struct SetDim {
    /// Entries that need no value of the attribute.
    base: Bits,
    values: Values,
    constrained: usize,
}

impl SetDim {
    /// Appends the next entry with its condition on the attribute.
    pub(super) fn push(&mut self, term: &SetTerm) {
        let entry = self.base.len() as u32;
        let indexed = term.indexed();
        self.base.push(indexed.is_none());
        if indexed.is_some() || !term.none_of.is_empty() {
            self.constrained += 1;
        }
        self.values.push_dense(false);
        for &symbol in indexed.unwrap_or_default() {
            match &mut self.values.get_mut(symbol).accept {
                Accept::List(accept) => accept.push(entry),
                Accept::Dense(bits) => bits.put(entry as usize, true),
            }
        }
        for &symbol in &term.none_of {
            self.values.get_mut(symbol).refuse.push(entry);
        }
    }

    /// Stores large accepting lists as bit sets (see the module documentation).
    pub(super) fn compact(&mut self) {
        let entries = self.base.len();
        self.values.compact(
            entries,
            |accept, _| accept.len(),
            |postings| {
                if let Accept::List(accept) = &postings.accept {
                    postings.accept = Accept::Dense(Bits::from_positions(entries, accept));
                }
            },
        );
    }

    /// Clears from `candidates` the entries that refuse a request with `values` (known symbols).
    /// Only the words in `ranges` may hold candidates; `scratch` is as long as `candidates`.
    pub(super) fn restrict(
        &self,
        values: &[u32],
        candidates: &mut [u64],
        ranges: &Ranges<'_>,
        scratch: &mut [u64],
    ) {
        if self.constrained == 0 {
            return;
        }
        if values.iter().all(|&v| self.values.get(v).is_none()) {
            and_ranges(candidates, self.base.words(), ranges.words);
            return;
        }
        // Outside the ranges `scratch` is left as it was: those words are never read.
        copy_ranges(scratch, self.base.words(), ranges.words);
        for &v in values {
            match self.values.get(v).map(|p| &p.accept) {
                Some(Accept::List(accept)) => ranges.within(accept).for_each(|e| set(scratch, e)),
                Some(Accept::Dense(bits)) => or_ranges(scratch, bits.words(), ranges.words),
                None => {}
            }
        }
        for &v in values {
            if let Some(postings) = self.values.get(v) {
                ranges
                    .within(&postings.refuse)
                    .for_each(|e| clear(scratch, e));
            }
        }
        and_ranges(candidates, scratch, ranges.words);
    }
}

/// A small closed domain: one bit set per value.
#[derive(Debug, Clone)]
pub(super) struct MaskDim {
    slots: Vec<Bits>,
    constrained: usize,
}

impl MaskDim {
    /// A dimension with `slots` values and no entry.
    pub(super) fn new(slots: usize) -> MaskDim {
        MaskDim {
            slots: vec![Bits::default(); slots],
            constrained: 0,
        }
    }

    /// Appends the next entry, which accepts the values for which `accepts` is true.
    pub(super) fn push(&mut self, accepts: impl Fn(usize) -> bool) {
        let mut all = true;
        for (slot, bits) in self.slots.iter_mut().enumerate() {
            let accepted = accepts(slot);
            all &= accepted;
            bits.push(accepted);
        }
        if !all {
            self.constrained += 1;
        }
    }

    /// Clears from `candidates` the entries that refuse value `slot`.
    pub(super) fn restrict(&self, slot: usize, candidates: &mut [u64], ranges: &Ranges<'_>) {
        if self.constrained > 0 {
            and_ranges(candidates, self.slots[slot].words(), ranges.words);
        }
    }
}
