//! Teacher-forced cross-entropy of captions: the batch loss ([`caption_cross_entropy`]), the
//! [`Hook`] that trains a [`Captioner`] through `fit_with` ([`TeacherForcing`]), and each
//! caption's loss under no gradient ([`caption_losses`], Algorithm 1's scores).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};

use super::tokens::CaptionSet;
use crate::data::{Batch, Examples, Targets};
use crate::models::Classifier;
use crate::text::PAD;
use crate::train::Hook;

/// Examples per no-gradient batch.
const EVAL_BATCH: usize = 256;

/// Per-caption sums of the token losses and token counts: `(sum [n], count [n])` of
/// `-log softmax(logits)[token]` over the non-padding tokens of each row of `tokens`.
fn token_losses(logits: Tensor<2>, tokens: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
    let [n, len] = tokens.dims();
    let ids = tokens.clone().int().reshape([n * len, 1]);
    let mask = tokens.not_equal_elem(PAD as f32).float();
    let nll = log_softmax(logits, 1)
        .gather(1, ids)
        .reshape([n, len])
        .neg()
        * mask.clone();
    (nll.sum_dim(1).reshape([n]), mask.sum_dim(1).reshape([n]))
}

/// Mean cross-entropy per predicted token of a teacher-forced batch: `logits`
/// `[n * seq_len, vocab]` (a [`Captioner`](super::Captioner)'s `forward`) against the
/// caption ids `tokens` `[n, seq_len]` (floats), padding left out.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::caption_cross_entropy;
/// use burn::tensor::Tensor;
/// let dev = device();
/// // one caption [2, 0(pad)] over 3 ids: only the first position counts
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]], &dev);
/// let tokens = Tensor::<2>::from_floats([[2.0, 0.0]], &dev);
/// let l: f32 = caption_cross_entropy(logits, tokens).into_scalar();
/// assert!((l - 3f32.ln()).abs() < 1e-5);
/// ```
pub fn caption_cross_entropy(logits: Tensor<2>, tokens: Tensor<2>) -> Tensor<1> {
    let (sum, count) = token_losses(logits, tokens);
    sum.sum().div(count.sum().clamp_min(1.0))
}

/// The [`Hook`] that trains a captioner with teacher forcing: [`caption_cross_entropy`] of its
/// logits against the batch's own caption ids (the second half of the input), instead of
/// `fit`'s class cross-entropy.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::{CaptionSet, CaptionTokenizer, CaptionerConfig, TeacherForcing};
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [3, 8, 8], vec![0.3; 2 * 192],
///     vec![vec!["red circle".into()], vec!["blue square".into()]], vec!["a".into(), "b".into()])?;
/// let tok = CaptionTokenizer::build(["red circle", "blue square"], 1, 3)?;
/// let set = CaptionSet::new(&pairs, &tok);
/// let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
///     tok.vocab_size(), tok.seq_len()).with_d_model(8).with_heads(2).with_layers(1).init(&dev)?;
/// let cfg = FitConfig::new().with_epochs(2).with_batch_size(2).with_progress(false);
/// let trained = fit_with(net, &set, &cfg, &mut TeacherForcing, &dev)?;
/// assert_eq!(trained.history.len(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TeacherForcing;

impl<M: Classifier<Input = (Tensor<4>, Tensor<2>)>> Hook<M> for TeacherForcing {
    fn loss(
        &mut self,
        logits: Tensor<2>,
        _targets: &Targets,
        inputs: &M::Input,
        _indices: &[usize],
    ) -> Tensor<1> {
        caption_cross_entropy(logits, inputs.1.clone())
    }
}

/// Each example's mean token cross-entropy under `model`, in batches without gradient (the
/// model as given, in validation mode): Algorithm 1's `loss_i`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::{CaptionSet, CaptionTokenizer, CaptionerConfig, caption_losses};
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [3, 8, 8], vec![0.3; 2 * 192],
///     vec![vec!["red circle".into()], vec!["blue square".into()]], vec!["a".into(), "b".into()])?;
/// let tok = CaptionTokenizer::build(["red circle", "blue square"], 1, 3)?;
/// let set = CaptionSet::new(&pairs, &tok);
/// let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
///     tok.vocab_size(), tok.seq_len()).with_d_model(8).with_heads(2).with_layers(1).init(&dev)?;
/// let losses = caption_losses(&net, &set, &dev);
/// assert_eq!(losses.len(), 2);
/// assert!(losses.iter().all(|l| *l > 0.0));
/// # Ok::<(), Error>(())
/// ```
pub fn caption_losses<M: Classifier<Input = (Tensor<4>, Tensor<2>)>>(
    model: &M,
    data: &CaptionSet,
    device: &Device,
) -> Vec<f32> {
    loss_sums(model, data, device)
        .into_iter()
        .map(|(sum, count)| sum / count.max(1.0))
        .collect()
}

/// Mean token cross-entropy of `model` over every caption token of `data` (the validation
/// loss of seed 000's Table I), without gradient.
///
/// # Example
/// ```
/// # use dd_prelude::*;
/// # use dd_prelude::caption::*;
/// # let dev = device();
/// # let pairs = PairSet::from_pixels("toy", [3, 8, 8], vec![0.3; 2 * 192],
/// #     vec![vec!["red circle".into()], vec!["blue square".into()]], vec!["a".into(), "b".into()])?;
/// # let tok = CaptionTokenizer::build(["red circle", "blue square"], 1, 3)?;
/// # let set = CaptionSet::new(&pairs, &tok);
/// # let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
/// #     tok.vocab_size(), tok.seq_len()).with_d_model(8).with_heads(2).with_layers(1).init(&dev)?;
/// let l = validation_loss(&net, &set, &dev);
/// assert!(l > 0.0 && l.is_finite());
/// # Ok::<(), Error>(())
/// ```
pub fn validation_loss<M: Classifier<Input = (Tensor<4>, Tensor<2>)>>(
    model: &M,
    data: &CaptionSet,
    device: &Device,
) -> f64 {
    let (sum, count) = loss_sums(model, data, device)
        .into_iter()
        .fold((0.0f64, 0.0f64), |(s, c), (a, b)| {
            (s + a as f64, c + b as f64)
        });
    sum / count.max(1.0)
}

/// `(sum of token losses, tokens)` per example.
fn loss_sums<M: Classifier<Input = (Tensor<4>, Tensor<2>)>>(
    model: &M,
    data: &CaptionSet,
    device: &Device,
) -> Vec<(f32, f32)> {
    let all: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::with_capacity(data.len());
    for batch in all.chunks(EVAL_BATCH) {
        let inputs = data.inputs(batch, device).inner();
        let tokens = inputs.1.clone();
        let (sum, count) = token_losses(model.forward(inputs), tokens);
        let sum = sum
            .into_data()
            .try_into_vec::<f32>()
            .expect("losses are f32");
        let count = count
            .into_data()
            .try_into_vec::<f32>()
            .expect("losses are f32");
        out.extend(sum.into_iter().zip(count));
    }
    out
}
