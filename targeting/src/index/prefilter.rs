//! Prefilters: a few bit masks summarising a segment's top-level conjunction, checked against
//! the request's own bits while a posting list is read, before the segment's program runs.

use super::program::{Compiled, RequestSymbols, NO_SYMBOL};
use crate::rules::MAX_AGE;

/// A quick necessary test of a segment's top-level conjunction, checked before its program:
/// one bit per value (symbol id modulo the mask width) for each constrained attribute, the
/// age range, local hours and days. A request fails it only if the rule cannot match.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Prefilter {
    /// Bit `k` set when `single[k]` constrains the attribute in `StrKind` order; bit 7 for
    /// interests, 8 for keywords, 9 for age, 10 for hours, 11 for days.
    constrained: u16,
    single: [u16; 7],
    interests: u64,
    keywords: u64,
    hours: u32,
    days: u8,
    age_lo: u8,
    age_hi: u8,
}

const PRE_INTERESTS: u16 = 1 << 7;
const PRE_KEYWORDS: u16 = 1 << 8;
const PRE_AGE: u16 = 1 << 9;
const PRE_HOURS: u16 = 1 << 10;
const PRE_DAYS: u16 = 1 << 11;

fn bit16(id: u32) -> u16 {
    1 << (id % 16)
}

fn bit64(id: u32) -> u64 {
    1 << (id % 64)
}

impl Prefilter {
    /// The prefilter of a compiled rule's top-level conjunction.
    pub(super) fn new(rule: &Compiled) -> Prefilter {
        let mut p = Prefilter {
            single: [u16::MAX; 7],
            interests: u64::MAX,
            keywords: u64::MAX,
            hours: u32::MAX,
            days: u8::MAX,
            age_lo: 0,
            age_hi: MAX_AGE,
            constrained: 0,
        };
        match rule {
            Compiled::All(children) => children.iter().for_each(|c| p.add(c)),
            leaf => p.add(leaf),
        }
        p
    }

    /// Narrows the filter by one conjunct (nested `any`/`not` are left to the program).
    fn add(&mut self, c: &Compiled) {
        match c {
            Compiled::Single(slot, set) => {
                let slot = usize::from(*slot);
                self.single[slot] &= set.iter().fold(0, |m, id| m | bit16(*id));
                self.constrained |= 1 << slot;
            }
            Compiled::Interests(set) => {
                self.interests &= set.iter().fold(0, |m, id| m | bit64(*id));
                self.constrained |= PRE_INTERESTS;
            }
            Compiled::Keywords(set) => {
                self.keywords &= set.iter().fold(0, |m, id| m | bit64(*id));
                self.constrained |= PRE_KEYWORDS;
            }
            Compiled::Age(lo, hi) => {
                self.age_lo = self.age_lo.max(*lo);
                self.age_hi = self.age_hi.min(*hi);
                self.constrained |= PRE_AGE;
            }
            Compiled::Time(window) => {
                self.hours &= window.hours().fold(0, |m, h| m | 1 << h);
                self.constrained |= PRE_HOURS;
            }
            Compiled::Days(mask) => {
                self.days &= mask;
                self.constrained |= PRE_DAYS;
            }
            _ => {}
        }
    }

    /// Whether a request with these bits may match the rule; `false` means it cannot.
    pub(super) fn admits(&self, r: &RequestBits) -> bool {
        let c = self.constrained;
        if c == 0 {
            return true;
        }
        for slot in 0..7 {
            if c & (1 << slot) != 0 && self.single[slot] & r.single[slot] == 0 {
                return false;
            }
        }
        (c & PRE_INTERESTS == 0 || self.interests & r.interests != 0)
            && (c & PRE_KEYWORDS == 0 || self.keywords & r.keywords != 0)
            && (c & PRE_AGE == 0 || r.age.is_some_and(|a| a >= self.age_lo && a <= self.age_hi))
            && (c & PRE_HOURS == 0 || self.hours & r.hour != 0)
            && (c & PRE_DAYS == 0 || self.days & r.day != 0)
    }
}

/// A request's bits for [`Prefilter::admits`]; a missing or unknown value has no bit.
pub(super) struct RequestBits {
    single: [u16; 7],
    interests: u64,
    keywords: u64,
    age: Option<u8>,
    hour: u32,
    day: u8,
}

impl RequestBits {
    /// The bits of a request already translated to symbols.
    pub(super) fn new(r: &RequestSymbols) -> Self {
        let bit = |id: u32| if id == NO_SYMBOL { 0 } else { bit16(id) };
        RequestBits {
            single: r.single.map(bit),
            interests: r.interests.iter().fold(0, |m, id| m | bit64(*id)),
            keywords: r.keywords.iter().fold(0, |m, id| m | bit64(*id)),
            age: r.age,
            hour: 1 << (r.minute_of_day / 60),
            day: r.day_bit,
        }
    }
}
