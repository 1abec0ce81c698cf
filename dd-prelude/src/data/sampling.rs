//! Seeded, class-aware index sampling shared by the sentence and pair sets.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Indices of each class, in order.
pub(crate) fn by_class(labels: &[usize], num_classes: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l < num_classes {
            out[l].push(i);
        }
    }
    out
}

/// `per_class` random indices of every class (all of a smaller class), grouped by class.
pub(crate) fn per_class(
    labels: &[usize],
    num_classes: usize,
    per_class: usize,
    seed: u64,
) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for mut idx in by_class(labels, num_classes) {
        idx.shuffle(&mut rng);
        idx.truncate(per_class);
        out.extend(idx);
    }
    out
}

/// About `n` random indices, each class keeping its share, shuffled.
pub(crate) fn stratified(labels: &[usize], num_classes: usize, n: usize, seed: u64) -> Vec<usize> {
    let n = n.min(labels.len());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for mut idx in by_class(labels, num_classes) {
        let take = (idx.len() * n).div_ceil(labels.len().max(1));
        idx.shuffle(&mut rng);
        idx.truncate(take);
        out.extend(idx);
    }
    out.shuffle(&mut rng);
    out.truncate(n);
    out
}

/// A class-stratified split: `(rest, held_out)` with `fraction` of every class held out
/// (rounded), both in increasing index order.
pub(crate) fn split(
    labels: &[usize],
    num_classes: usize,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut rest, mut held) = (Vec::new(), Vec::new());
    for mut idx in by_class(labels, num_classes) {
        idx.shuffle(&mut rng);
        let k = ((idx.len() as f64) * fraction).round() as usize;
        held.extend_from_slice(&idx[..k.min(idx.len())]);
        rest.extend_from_slice(&idx[k.min(idx.len())..]);
    }
    rest.sort_unstable();
    held.sort_unstable();
    (rest, held)
}

/// A random split of `0..n` into `(rest, held_out)` with `fraction` held out, both sorted.
pub(crate) fn split_plain(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split(&vec![0; n], 1, fraction, seed)
}
