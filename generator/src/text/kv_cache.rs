//! Key/value cache for incremental decoding, laid out `[batch, kv_heads, seq, head_dim]` per
//! layer. All rows share one sequence axis; rows that are shorter are left-padded and the
//! padding is masked out by the caller.
//!
//! Each layer's buffers have spare sequence capacity (grown by doubling), so a decoding step
//! writes its new keys/values in place instead of copying the whole cache.

use tch::Tensor;

/// One layer's buffers: `len` valid positions out of the buffers' capacity.
#[derive(Debug)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: i64,
}

impl LayerCache {
    fn keys(&self) -> Tensor {
        self.k.narrow(2, 0, self.len)
    }

    fn values(&self) -> Tensor {
        self.v.narrow(2, 0, self.len)
    }

    /// Rebuilds the buffers from valid keys/values, leaving room for `spare` more positions.
    fn from_valid(k: Tensor, v: Tensor, spare: i64) -> Self {
        let len = k.size()[2];
        let grow = |t: &Tensor| {
            if spare <= 0 {
                return t.contiguous();
            }
            let mut shape = t.size();
            shape[2] = spare;
            Tensor::cat(
                &[t, &Tensor::zeros(shape.as_slice(), (t.kind(), t.device()))],
                2,
            )
        };
        Self {
            k: grow(&k),
            v: grow(&v),
            len,
        }
    }
}

/// Per-layer cached keys and values.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
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
            .map(|l| l.len)
            .unwrap_or(0)
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.seq_len() == 0
    }

    /// Appends new keys/values for `layer` and returns the full keys/values to attend over.
    pub fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> (Tensor, Tensor) {
        let slot = &mut self.layers[layer];
        let t = k.size()[2];
        match slot {
            None => {
                // Room for a few dozen decoding steps before the first regrowth.
                let cache = LayerCache::from_valid(k, v, 32);
                let out = (cache.keys(), cache.values());
                *slot = Some(cache);
                out
            }
            Some(cache) => {
                let capacity = cache.k.size()[2];
                if cache.len + t > capacity {
                    let spare = capacity.max(t);
                    *cache = LayerCache::from_valid(cache.keys(), cache.values(), spare);
                }
                cache.k.narrow(2, cache.len, t).copy_(&k);
                cache.v.narrow(2, cache.len, t).copy_(&v);
                cache.len += t;
                (cache.keys(), cache.values())
            }
        }
    }

    /// The valid keys and values of every layer, or `None` while empty.
    pub(crate) fn layer_tensors(&self) -> Option<Vec<(Tensor, Tensor)>> {
        self.layers
            .iter()
            .map(|l| l.as_ref().map(|c| (c.keys(), c.values())))
            .collect()
    }

    /// A cache holding these keys and values (`[batch, kv_heads, seq, head_dim]` per layer).
    pub(crate) fn from_layers(layers: Vec<(Tensor, Tensor)>) -> Self {
        Self {
            layers: layers
                .into_iter()
                .map(|(k, v)| Some(LayerCache::from_valid(k, v, 32)))
                .collect(),
        }
    }

    /// Keeps only the batch rows in `rows` (an int64 index tensor), in that order.
    pub fn select_rows(&mut self, rows: &Tensor) {
        for cache in self.layers.iter_mut().flatten() {
            cache.k = cache.k.index_select(0, rows);
            cache.v = cache.v.index_select(0, rows);
        }
    }

    /// Drops the first `n` positions of every row (used once no row needs them).
    pub fn drop_front(&mut self, n: i64) {
        if n <= 0 {
            return;
        }
        for cache in self.layers.iter_mut().flatten() {
            let keep = cache.len - n;
            let spare = cache.k.size()[2] - cache.len;
            *cache = LayerCache::from_valid(
                cache.k.narrow(2, n, keep),
                cache.v.narrow(2, n, keep),
                spare,
            );
        }
    }

    /// Inserts `n` zero positions at the front of every row.
    pub fn pad_front(&mut self, n: i64) {
        if n <= 0 {
            return;
        }
        for cache in self.layers.iter_mut().flatten() {
            let mut shape = cache.k.size();
            shape[2] = n;
            let zeros = Tensor::zeros(shape.as_slice(), (cache.k.kind(), cache.k.device()));
            let spare = cache.k.size()[2] - cache.len;
            *cache = LayerCache::from_valid(
                Tensor::cat(&[&zeros, &cache.keys()], 2),
                Tensor::cat(&[&zeros, &cache.values()], 2),
                spare,
            );
        }
    }

    /// Appends the rows of `other` (same sequence length) after this cache's rows.
    pub fn extend_rows(&mut self, other: KvCache) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            if let (Some(a), Some(b)) = (mine.as_mut(), theirs) {
                let spare = a.k.size()[2] - a.len;
                *a = LayerCache::from_valid(
                    Tensor::cat(&[a.keys(), b.keys()], 0),
                    Tensor::cat(&[a.values(), b.values()], 0),
                    spare.max(32),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn step(len: i64, fill: f64) -> Tensor {
        Tensor::full([2, 1, len, 4], fill, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn appends_in_place_and_grows() {
        let mut cache = KvCache::new(1);
        let (k, _) = cache.append(0, step(3, 1.0), step(3, 1.0));
        assert_eq!(k.size(), [2, 1, 3, 4]);
        for i in 0..40 {
            let (k, v) = cache.append(0, step(1, i as f64), step(1, -(i as f64)));
            assert_eq!(k.size()[2], 4 + i);
            assert_eq!(k.double_value(&[1, 0, 3 + i, 2]), i as f64);
            assert_eq!(v.double_value(&[0, 0, 3 + i, 0]), -(i as f64));
            assert_eq!(k.double_value(&[0, 0, 0, 0]), 1.0);
        }
        cache.pad_front(2);
        cache.drop_front(3);
        assert_eq!(cache.seq_len(), 3 + 40 + 2 - 3);
        let (k, _) = cache.append(0, step(1, 7.0), step(1, 7.0));
        // Two pads and the first prompt position were dropped: [1, 1, 0, 1, .., 39, 7].
        assert_eq!(k.size()[2], 43);
        assert_eq!(k.double_value(&[0, 0, 1, 0]), 1.0);
        assert_eq!(k.double_value(&[0, 0, 2, 0]), 0.0);
        assert_eq!(k.double_value(&[0, 0, 41, 0]), 39.0);
        assert_eq!(k.double_value(&[0, 0, 42, 0]), 7.0);
    }
}
