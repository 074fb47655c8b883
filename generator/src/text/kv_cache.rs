//! Key/value cache for incremental decoding, laid out `[batch, kv_heads, seq, head_dim]` per
//! layer. All rows share one sequence axis; rows that are shorter are left-padded and the
//! padding is masked out by the caller.

use tch::Tensor;

/// Per-layer cached keys and values.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// An empty cache for a model with `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: (0..num_layers).map(|_| None).collect(),
        }
    }

    /// Number of cached positions (0 when empty).
    pub fn seq_len(&self) -> i64 {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map(|(k, _)| k.size()[2])
            .unwrap_or(0)
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.seq_len() == 0
    }

    /// Appends new keys/values for `layer` and returns the full keys/values to attend over.
    pub fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> (Tensor, Tensor) {
        let slot = &mut self.layers[layer];
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2), Tensor::cat(&[pv, v], 2)),
            None => (k, v),
        };
        *slot = Some((k.shallow_clone(), v.shallow_clone()));
        (k, v)
    }

    /// Keeps only the batch rows in `rows` (an int64 index tensor), in that order.
    pub fn select_rows(&mut self, rows: &Tensor) {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(0, rows);
            *v = v.index_select(0, rows);
        }
    }

    /// Drops the first `n` positions of every row (used once no row needs them).
    pub fn drop_front(&mut self, n: i64) {
        if n <= 0 {
            return;
        }
        for (k, v) in self.layers.iter_mut().flatten() {
            let len = k.size()[2];
            *k = k.narrow(2, n, len - n).contiguous();
            *v = v.narrow(2, n, len - n).contiguous();
        }
    }

    /// Inserts `n` zero positions at the front of every row.
    pub fn pad_front(&mut self, n: i64) {
        if n <= 0 {
            return;
        }
        for (k, v) in self.layers.iter_mut().flatten() {
            let mut shape = k.size();
            shape[2] = n;
            let zeros = Tensor::zeros(shape.as_slice(), (k.kind(), k.device()));
            *k = Tensor::cat(&[&zeros, &*k], 2);
            *v = Tensor::cat(&[&zeros, &*v], 2);
        }
    }

    /// Appends the rows of `other` (same sequence length) after this cache's rows.
    pub fn extend_rows(&mut self, other: KvCache) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            if let (Some((k, v)), Some((ok, ov))) = (mine.as_mut(), theirs) {
                *k = Tensor::cat(&[&*k, &ok], 0);
                *v = Tensor::cat(&[&*v, &ov], 0);
            }
        }
    }
}
