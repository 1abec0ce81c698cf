//! Writing captions: greedy decoding ([`greedy_captions`]) and beam search
//! ([`beam_captions`]) from a trained [`Captioner`].

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::model::Captioner;
use super::tokens::{CaptionSet, CaptionTokenizer};
use crate::text::PAD;

/// Images per decoding batch.
const DECODE_BATCH: usize = 128;

/// The log-probabilities `[rows, vocab]` of the next token after `prefix` `[rows, d]` and the
/// ids `seqs` (all of one length).
fn next_log_probs(
    model: &Captioner,
    prefix: Tensor<2>,
    seqs: &[Vec<usize>],
    device: &Device,
) -> Vec<Vec<f32>> {
    let (rows, t) = (seqs.len(), seqs.first().map_or(0, Vec::len));
    let ids = (t > 0).then(|| {
        let flat: Vec<i64> = seqs.iter().flatten().map(|&i| i as i64).collect();
        Tensor::<2, Int>::from_data(TensorData::new(flat, [rows, t]), device)
    });
    let logits = model.decode(prefix, ids);
    let vocab = logits.dims()[2];
    let last = logits.slice([0..rows, t..t + 1]).reshape([rows, vocab]);
    let values = log_softmax(last, 1)
        .into_data()
        .try_into_vec::<f32>()
        .expect("logits are f32");
    values.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// The caption `model` writes for the image of each example at `indices` of `data`, always
/// taking the most probable next word (padding never), until the end token or `seq_len - 1`
/// words (the last position only ends a caption).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::*;
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [3, 8, 8], vec![0.3; 2 * 192],
///     vec![vec!["red circle".into()], vec!["blue square".into()]], vec!["a".into(), "b".into()])?;
/// let tok = CaptionTokenizer::build(["red circle", "blue square"], 1, 3)?;
/// let set = CaptionSet::new(&pairs, &tok);
/// let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
///     tok.vocab_size(), tok.seq_len()).with_d_model(8).with_heads(2).with_layers(1).init(&dev)?;
/// let written = greedy_captions(&net, &set, &[0, 1], &tok, &dev);
/// assert_eq!(written.len(), 2);
/// assert!(written.iter().all(|c| c.split(' ').count() <= 3));
/// # Ok::<(), Error>(())
/// ```
pub fn greedy_captions(
    model: &Captioner,
    data: &CaptionSet,
    indices: &[usize],
    tokenizer: &CaptionTokenizer,
    device: &Device,
) -> Vec<String> {
    let mut out = Vec::with_capacity(indices.len());
    for batch in indices.chunks(DECODE_BATCH) {
        let prefix = model.prefix(data.images(batch, device));
        let mut seqs: Vec<Vec<usize>> = vec![Vec::new(); batch.len()];
        // At most `seq_len - 1` words; the last position can only end the caption.
        for _ in 1..model.seq_len().min(tokenizer.seq_len()) {
            let probs = next_log_probs(model, prefix.clone(), &seqs, device);
            for (seq, row) in seqs.iter_mut().zip(probs) {
                seq.push(best_token(&row));
            }
            if seqs.iter().all(|s| s.contains(&tokenizer.end())) {
                break;
            }
        }
        out.extend(seqs.iter().map(|s| tokenizer.decode(s)));
    }
    out
}

/// The most probable token that is not padding.
fn best_token(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .filter(|&(i, _)| i != PAD)
        .fold(
            (PAD, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
        .0
}

/// The caption `model` writes for each example's image by beam search of width `beam`: at each
/// step every live hypothesis is extended by every word (padding never), the `beam` best by
/// total log-probability are kept, a hypothesis ending in the end token is finished (at the
/// last position the end token is the only choice), and the finished hypothesis with the highest mean log-probability per
/// token wins. `beam = 1` is greedy decoding.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::*;
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [3, 8, 8], vec![0.3; 2 * 192],
///     vec![vec!["red circle".into()], vec!["blue square".into()]], vec!["a".into(), "b".into()])?;
/// let tok = CaptionTokenizer::build(["red circle", "blue square"], 1, 3)?;
/// let set = CaptionSet::new(&pairs, &tok);
/// let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
///     tok.vocab_size(), tok.seq_len()).with_d_model(8).with_heads(2).with_layers(1).init(&dev)?;
/// assert_eq!(beam_captions(&net, &set, &[0, 1], &tok, 1, &dev), greedy_captions(&net, &set, &[0, 1], &tok, &dev));
/// assert_eq!(beam_captions(&net, &set, &[0], &tok, 3, &dev).len(), 1);
/// # Ok::<(), Error>(())
/// ```
pub fn beam_captions(
    model: &Captioner,
    data: &CaptionSet,
    indices: &[usize],
    tokenizer: &CaptionTokenizer,
    beam: usize,
    device: &Device,
) -> Vec<String> {
    let beam = beam.max(1);
    let steps = model.seq_len().min(tokenizer.seq_len());
    let end = tokenizer.end();
    let mut out = Vec::with_capacity(indices.len());
    for batch in indices.chunks(DECODE_BATCH) {
        let prefixes = model.prefix(data.images(batch, device));
        let d = prefixes.dims()[1];
        for k in 0..batch.len() {
            let prefix = prefixes.clone().slice([k..k + 1, 0..d]);
            let mut live: Vec<(Vec<usize>, f32)> = vec![(Vec::new(), 0.0)];
            let mut done: Vec<(Vec<usize>, f32)> = Vec::new();
            for step in 0..steps {
                let seqs: Vec<Vec<usize>> = live.iter().map(|(s, _)| s.clone()).collect();
                let rows = prefix.clone().expand([seqs.len(), d]);
                let probs = next_log_probs(model, rows, &seqs, device);
                let mut candidates: Vec<(usize, usize, f32)> = Vec::new();
                for (h, row) in probs.iter().enumerate() {
                    let last = step + 1 == steps;
                    for (v, &lp) in row
                        .iter()
                        .enumerate()
                        .filter(|&(v, _)| v != PAD && (!last || v == end))
                    {
                        candidates.push((h, v, live[h].1 + lp));
                    }
                }
                candidates.sort_by(|a, b| b.2.total_cmp(&a.2));
                let mut next = Vec::with_capacity(beam);
                for (h, v, score) in candidates.into_iter().take(beam) {
                    let mut seq = live[h].0.clone();
                    seq.push(v);
                    if v == end || step + 1 == steps {
                        done.push((seq, score));
                    } else {
                        next.push((seq, score));
                    }
                }
                if next.is_empty() || done.len() >= beam {
                    break;
                }
                live = next;
            }
            let best = done
                .iter()
                .max_by(|a, b| (a.1 / a.0.len() as f32).total_cmp(&(b.1 / b.0.len() as f32)))
                .map(|(s, _)| s.clone())
                .unwrap_or_default();
            out.push(tokenizer.decode(&best));
        }
    }
    out
}
