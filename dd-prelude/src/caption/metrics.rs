//! Caption metrics computed by the project: corpus BLEU-4 (Papineni et al., 2002) and CIDEr-D
//! (Vedantam et al., 2015, as the COCO caption evaluation code computes it), over words of the
//! data layer's [`tokenize`].

use std::collections::HashMap;

use crate::data::tokenize;

type Grams = HashMap<Vec<String>, f64>;

/// Counts of the `n`-grams of `words`.
fn ngrams(words: &[String], n: usize) -> Grams {
    let mut counts = Grams::new();
    for g in words.windows(n) {
        *counts.entry(g.to_vec()).or_default() += 1.0;
    }
    counts
}

/// Corpus BLEU-4: clipped 1- to 4-gram precisions summed over the corpus, their geometric mean
/// (uniform weights), times the brevity penalty `min(1, exp(1 - r / c))` with `r` the sum of
/// the reference lengths closest to each candidate's (the shorter on ties) and `c` the
/// candidates' total length. 0 when any precision is 0. `candidates[i]` is scored against
/// `references[i]`; a value in `[0, 1]`.
///
/// # Example
/// ```
/// use dd_prelude::caption::bleu4;
/// let refs = vec![vec!["the cat sat on a mat".to_string()]];
/// let b = bleu4(&["the cat sat on the mat".to_string()], &refs);
/// assert!((b - (1.0f64 / 12.0).powf(0.25)).abs() < 1e-9); // p = 5/6, 3/5, 2/4, 1/3
/// assert_eq!(bleu4(&["the cat sat on a mat".to_string()], &refs), 1.0);
/// ```
pub fn bleu4(candidates: &[String], references: &[Vec<String>]) -> f64 {
    let (mut matched, mut total) = ([0.0f64; 4], [0.0f64; 4]);
    let (mut cand_len, mut ref_len) = (0usize, 0usize);
    for (cand, refs) in candidates.iter().zip(references) {
        let c = tokenize(cand);
        let rs: Vec<Vec<String>> = refs.iter().map(|r| tokenize(r)).collect();
        cand_len += c.len();
        ref_len += rs
            .iter()
            .map(Vec::len)
            .min_by_key(|&l| (l.abs_diff(c.len()), l))
            .unwrap_or(0);
        for n in 1..=4 {
            let mut most = Grams::new();
            for r in &rs {
                for (g, k) in ngrams(r, n) {
                    let e = most.entry(g).or_default();
                    *e = e.max(k);
                }
            }
            for (g, k) in ngrams(&c, n) {
                matched[n - 1] += k.min(most.get(&g).copied().unwrap_or(0.0));
                total[n - 1] += k;
            }
        }
    }
    if matched.contains(&0.0) || cand_len == 0 {
        return 0.0;
    }
    let log_mean = (0..4).map(|n| (matched[n] / total[n]).ln()).sum::<f64>() / 4.0;
    let bp = if cand_len >= ref_len {
        1.0
    } else {
        (1.0 - ref_len as f64 / cand_len as f64).exp()
    };
    bp * log_mean.exp()
}

/// TF-IDF vectors of `words` for n = 1..4, and their norms.
fn tfidf(words: &[String], df: &HashMap<Vec<String>, f64>, log_docs: f64) -> Vec<(Grams, f64)> {
    (1..=4)
        .map(|n| {
            let mut vec = ngrams(words, n);
            for (g, v) in vec.iter_mut() {
                *v *= log_docs - df.get(g).copied().unwrap_or(0.0).max(1.0).ln();
            }
            let norm = vec.values().map(|v| v * v).sum::<f64>().sqrt();
            (vec, norm)
        })
        .collect()
}

/// CIDEr-D, as the COCO caption evaluation code (`pycocoevalcap`) computes it: n-grams (n = 1
/// to 4) weighted by term frequency times `ln(images) - ln(max(1, df))`, the document frequency
/// `df` counted over the reference sets of this corpus; for each n the candidate's vector is
/// compared with each reference's by `sum min(c, r) * r / (|c| |r|)` times
/// `exp(-(len_c - len_r)^2 / (2 * 6^2))`, averaged over the references; the mean over n,
/// times 10, averaged over the images.
///
/// # Example
/// ```
/// use dd_prelude::caption::cider;
/// let refs = vec![vec!["a b".to_string()], vec!["c d".to_string()]];
/// // each candidate equals its only reference: n = 1 and 2 score 1, n = 3 and 4 have no n-gram
/// let same = cider(&["a b".to_string(), "c d".to_string()], &refs);
/// assert!((same - 5.0).abs() < 1e-9);
/// assert_eq!(cider(&["c d".to_string(), "a b".to_string()], &refs), 0.0);
/// ```
pub fn cider(candidates: &[String], references: &[Vec<String>]) -> f64 {
    let refs: Vec<Vec<Vec<String>>> = references
        .iter()
        .map(|rs| rs.iter().map(|r| tokenize(r)).collect())
        .collect();
    let mut df: HashMap<Vec<String>, f64> = HashMap::new();
    for rs in &refs {
        let mut seen = std::collections::HashSet::new();
        for r in rs {
            for n in 1..=4 {
                for g in r.windows(n) {
                    seen.insert(g.to_vec());
                }
            }
        }
        for g in seen {
            *df.entry(g).or_default() += 1.0;
        }
    }
    let log_docs = (refs.len().max(1) as f64).ln();
    let sigma = 6.0f64;
    let mut total = 0.0;
    for (cand, rs) in candidates.iter().zip(&refs) {
        let c = tokenize(cand);
        let vc = tfidf(&c, &df, log_docs);
        let mut score = [0.0f64; 4];
        for r in rs {
            let vr = tfidf(r, &df, log_docs);
            let delta = c.len() as f64 - r.len() as f64;
            let penalty = (-(delta * delta) / (2.0 * sigma * sigma)).exp();
            for n in 0..4 {
                let (ref a, na) = vc[n];
                let (ref b, nb) = vr[n];
                let mut val: f64 = a
                    .iter()
                    .map(|(g, &x)| {
                        x.min(b.get(g).copied().unwrap_or(0.0)) * b.get(g).copied().unwrap_or(0.0)
                    })
                    .sum();
                if na != 0.0 && nb != 0.0 {
                    val /= na * nb;
                }
                score[n] += val * penalty;
            }
        }
        let per_ref = rs.len().max(1) as f64;
        total += score.iter().map(|s| s / per_ref).sum::<f64>() / 4.0 * 10.0;
    }
    total / candidates.len().max(1) as f64
}
