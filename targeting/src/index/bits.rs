//! Bit sets over index entries (one bit per entry, in entry order) and the word-wise operations
//! the query runs on them.

/// A growable bit set; bit `i` belongs to entry `i`.
#[derive(Debug, Clone, Default)]
pub(super) struct Bits {
    words: Vec<u64>,
    len: usize,
}

/// Number of 64-bit words that hold `len` bits.
pub(super) fn words_for(len: usize) -> usize {
    len.div_ceil(64)
}

impl Bits {
    /// `len` bits, all set.
    pub(super) fn ones(len: usize) -> Bits {
        let mut words = Vec::new();
        fill_ones(&mut words, len);
        Bits { words, len }
    }

    /// A set of `len` bits holding exactly the listed positions (each below `len`).
    pub(super) fn from_positions(len: usize, positions: &[u32]) -> Bits {
        let mut bits = Bits {
            words: vec![0; words_for(len)],
            len,
        };
        for &p in positions {
            set(&mut bits.words, p);
        }
        bits
    }

    /// Appends one bit.
    pub(super) fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    /// Number of bits.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Sets or clears bit `i` (which must be below [`Bits::len`]).
    pub(super) fn put(&mut self, i: usize, bit: bool) {
        if bit {
            self.words[i / 64] |= 1 << (i % 64);
        } else {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// The words, the unused high bits of the last one clear.
    pub(super) fn words(&self) -> &[u64] {
        &self.words
    }
}

/// Makes `words` hold `len` bits, all set.
pub(super) fn fill_ones(words: &mut Vec<u64>, len: usize) {
    words.clear();
    words.resize(words_for(len), u64::MAX);
    if !len.is_multiple_of(64) {
        if let Some(last) = words.last_mut() {
            *last = (1u64 << (len % 64)) - 1;
        }
    }
}

/// Sets bit `i` of `words`.
#[inline]
pub(super) fn set(words: &mut [u64], i: u32) {
    words[i as usize / 64] |= 1 << (i % 64);
}

/// Clears bit `i` of `words`.
#[inline]
pub(super) fn clear(words: &mut [u64], i: u32) {
    words[i as usize / 64] &= !(1 << (i % 64));
}

/// Bit `i` of `words`.
#[inline]
pub(super) fn get(words: &[u64], i: u32) -> bool {
    words[i as usize / 64] & (1 << (i % 64)) != 0
}

/// Word ranges `[start, end)` of the candidate bit set that a query works on.
pub(super) type WordRanges = [(usize, usize)];

/// Sets bits `start..end` of `words`.
pub(super) fn set_range(words: &mut [u64], start: usize, end: usize) {
    for i in start..end.min(start.next_multiple_of(64)) {
        words[i / 64] |= 1 << (i % 64);
    }
    let first_full = start.div_ceil(64);
    let last_full = end / 64;
    if first_full < last_full {
        words[first_full..last_full].fill(u64::MAX);
    }
    for i in (last_full * 64).max(start)..end {
        words[i / 64] |= 1 << (i % 64);
    }
}

/// The candidate ranges of one query: entry ranges and the word ranges that hold them.
pub(super) struct Ranges<'a> {
    /// Entry ranges `[start, end)`.
    pub(super) entries: &'a [(usize, usize)],
    /// Word ranges covering `entries`.
    pub(super) words: &'a WordRanges,
}

impl Ranges<'_> {
    /// The entries of the sorted `list` that lie in the entry ranges.
    #[inline]
    pub(super) fn within<'l>(&'l self, list: &'l [u32]) -> impl Iterator<Item = u32> + 'l {
        self.entries.iter().flat_map(move |&(start, end)| {
            let lo = list.partition_point(|&e| (e as usize) < start);
            let hi = list.partition_point(|&e| (e as usize) < end);
            list[lo..hi.max(lo)].iter().copied()
        })
    }
}

/// `dst &= src` over the word ranges.
#[inline]
pub(super) fn and_ranges(dst: &mut [u64], src: &[u64], ranges: &WordRanges) {
    for &(start, end) in ranges {
        and_assign(&mut dst[start..end], &src[start..end]);
    }
}

/// `dst |= src` over the word ranges.
#[inline]
pub(super) fn or_ranges(dst: &mut [u64], src: &[u64], ranges: &WordRanges) {
    for &(start, end) in ranges {
        or_assign(&mut dst[start..end], &src[start..end]);
    }
}

/// `dst = src` over the word ranges.
#[inline]
pub(super) fn copy_ranges(dst: &mut [u64], src: &[u64], ranges: &WordRanges) {
    for &(start, end) in ranges {
        dst[start..end].copy_from_slice(&src[start..end]);
    }
}

/// `dst &= src`, word by word (both the same length).
#[inline]
pub(super) fn and_assign(dst: &mut [u64], src: &[u64]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d &= *s;
    }
}

/// `dst |= src`, word by word (both the same length).
#[inline]
pub(super) fn or_assign(dst: &mut [u64], src: &[u64]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d |= *s;
    }
}

/// Calls `f` with the position of every set bit among bits `start..end` of `words`, in
/// increasing order, and whether the same bit of `flags` is set.
#[inline]
pub(super) fn for_each_set_between(
    words: &[u64],
    flags: &[u64],
    start: usize,
    end: usize,
    mut f: impl FnMut(u32, bool),
) {
    if start >= end {
        return;
    }
    let (first, last) = (start / 64, end.div_ceil(64));
    for (w, &word) in words[first..last].iter().enumerate() {
        let w = first + w;
        let mut bits = word;
        if w == first {
            bits &= u64::MAX << (start % 64);
        }
        if w + 1 == last && !end.is_multiple_of(64) {
            bits &= (1u64 << (end % 64)) - 1;
        }
        let flag_word = flags[w];
        while bits != 0 {
            let bit = bits.trailing_zeros();
            f(w as u32 * 64 + bit, flag_word & (1 << bit) != 0);
            bits &= bits - 1;
        }
    }
}

/// Clears the words in the ranges.
pub(super) fn clear_ranges(words: &mut [u64], ranges: &WordRanges) {
    for &(start, end) in ranges {
        words[start..end].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_grow_and_combine() {
        let mut a = Bits::default();
        for i in 0..130 {
            a.push(i % 3 == 0);
        }
        assert_eq!(a.len(), 130);
        assert_eq!(a.words().len(), 3);
        assert!(get(a.words(), 129) && !get(a.words(), 128));
        a.put(128, true);
        a.put(129, false);
        assert!(get(a.words(), 128) && !get(a.words(), 129));

        let ones = Bits::ones(130);
        assert_eq!(ones.words()[2], 0b11, "bits past the length stay clear");
        let mut reused = vec![7u64; 9];
        fill_ones(&mut reused, 130);
        assert_eq!(reused, ones.words());
        assert_eq!(Bits::ones(128).words(), &[u64::MAX, u64::MAX]);

        let b = Bits::from_positions(130, &[0, 1, 64, 128]);
        let all: &WordRanges = &[(0, 3)];
        let mut dst = ones.words().to_vec();
        and_ranges(&mut dst, b.words(), all);
        clear(&mut dst, 64);
        set(&mut dst, 100);
        or_ranges(&mut dst, Bits::from_positions(130, &[5]).words(), all);
        assert!(get(&dst, 100) && !get(&dst, 64));
        let mut seen = Vec::new();
        for_each_set_between(&dst, a.words(), 0, 130, |i, flag| seen.push((i, flag)));
        assert_eq!(
            seen,
            vec![(0, true), (1, false), (5, false), (100, false), (128, true)]
        );
        seen.clear();
        for_each_set_between(&dst, a.words(), 1, 128, |i, flag| seen.push((i, flag)));
        assert_eq!(seen, vec![(1, false), (5, false), (100, false)]);
        clear_ranges(&mut dst, all);
        assert_eq!(dst, vec![0; 3]);

        let mut words = vec![0u64; 4];
        set_range(&mut words, 3, 200);
        set_range(&mut words, 250, 252);
        let mut seen = Vec::new();
        for_each_set_between(&words, &words, 0, 256, |i, flag| {
            assert!(flag);
            seen.push(i)
        });
        let expected: Vec<u32> = (3..200).chain(250..252).collect();
        assert_eq!(seen, expected);
        set_range(&mut words, 10, 20);
        let mut copy = vec![u64::MAX; 4];
        copy_ranges(&mut copy, &words, &[(0, 1)]);
        assert_eq!(copy[0], words[0]);
        assert_eq!(copy[1], u64::MAX, "outside the ranges is left alone");
    }
}
