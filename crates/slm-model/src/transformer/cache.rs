//! What a forward pass carries besides the tokens: the keys and values of earlier positions ([`KvCache`])
//! and the layout of the tokens in a padded or packed batch ([`TokenLayout`]).

use burn::prelude::*;

/// Keys and values of the positions seen so far, per block: `[batch, kv_heads, seen, head_dim]`.
#[derive(Default, Clone)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    /// An empty cache for a model of `layers` blocks.
    pub(crate) fn new(layers: usize) -> KvCache {
        KvCache { layers: vec![None; layers] }
    }

    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&mut self, f: impl Fn(Tensor<4>) -> Tensor<4>) {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = f(k.clone());
            *v = f(v.clone());
        }
    }

    /// Rows of several caches (of any lengths) stacked into one batch, each left-padded with zeros to the
    /// longest; callers mask the padded positions.
    pub fn stack(rows: &[KvCache]) -> KvCache {
        let len = rows.iter().map(KvCache::len).max().unwrap_or(0);
        let padded: Vec<KvCache> = rows
            .iter()
            .cloned()
            .map(|mut r| {
                r.pad_left(len);
                r
            })
            .collect();
        let layers = (0..padded[0].layers.len())
            .map(|l| {
                let ks = padded.iter().map(|r| r.layers[l].clone().expect("prefilled").0).collect();
                let vs = padded.iter().map(|r| r.layers[l].clone().expect("prefilled").1).collect();
                Some((Tensor::cat(ks, 0), Tensor::cat(vs, 0)))
            })
            .collect();
        KvCache { layers }
    }

    /// Left-pads every layer with zeros to `len` positions.
    pub fn pad_left(&mut self, len: usize) {
        let have = self.len();
        if len > have {
            self.map(|t| {
                let [b, h, _, d] = t.dims();
                Tensor::cat(vec![Tensor::zeros([b, h, len - have, d], &t.device()), t], 2)
            });
        }
    }

    /// Keeps the batch rows `rows`, in that order.
    pub fn select_rows(&mut self, rows: &[usize]) {
        let Some(device) = self.layers.iter().flatten().next().map(|(k, _)| k.device()) else { return };
        let data: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(data, [rows.len()]), &device);
        self.map(|t| t.select(0, index.clone()));
    }

    /// Drops the first `n` positions of every row.
    pub fn drop_front(&mut self, n: usize) {
        let len = self.len();
        if n > 0 {
            self.map(|t| t.narrow(2, n, len - n));
        }
    }
}

/// Where each token of a forward pass sits and which keys it may attend to, when that is not simply "after
/// the cache, causally": padded batches and packed documents.
#[derive(Default, Clone)]
pub struct TokenLayout {
    /// Position of every token `[batch, tokens]`; `None` means cache length + 0, 1, 2, ... (packed
    /// documents restart their positions at 0).
    pub positions: Option<Tensor<2, Int>>,
    /// `true` where a query may NOT look at a key, `[batch, 1, tokens, keys]` (padding, packed-document
    /// boundaries); combined with the causal mask of causal heads.
    pub mask: Option<Tensor<4, Bool>>,
}
