use burn::tensor::{Int, Tensor, TensorData};

use super::Hook;
use crate::data::hard_cross_entropy;
use crate::models::Classifier;

/// CLIP's symmetric contrastive (InfoNCE) loss of `[n, n]` similarity logits whose diagonal
/// holds the matching pairs: `(CE(logits, diag) + CE(logits^T, diag)) / 2`, image-to-text and
/// text-to-image.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::Tensor;
/// let dev = device();
/// let matched = Tensor::<2>::from_floats([[10.0, 0.0], [0.0, 10.0]], &dev);
/// let crossed = Tensor::<2>::from_floats([[0.0, 10.0], [10.0, 0.0]], &dev);
/// let (a, b): (f32, f32) = (symmetric_contrastive(matched).into_scalar(), symmetric_contrastive(crossed).into_scalar());
/// assert!(a < 1e-3 && b > 9.9);
/// ```
pub fn symmetric_contrastive(logits: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let device = logits.device();
    let diag = Tensor::<1, Int>::from_data(TensorData::new((0..n as i64).collect(), [n]), &device);
    let rows = hard_cross_entropy(logits.clone(), diag.clone());
    let cols = hard_cross_entropy(logits.transpose(), diag);
    rows.add(cols).div_scalar(2.0)
}

/// A [`Hook`] that trains a dual encoder (logits `[n, n]` of images against captions) with
/// [`symmetric_contrastive`] instead of the one-way cross-entropy `fit` uses by default.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [1, 4, 4], (0..64).map(|i| (i % 7) as f32 / 7.0).collect(),
///     (0..4).map(|i| vec![format!("pair {i}")]).collect(), (0..4).map(|i| i.to_string()).collect())?;
/// let text: Vec<f32> = (0..4 * 3).map(|i| ((i * 5) % 4) as f32).collect();
/// let set = EmbeddedPairs::new(pairs, text, 3)?;
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3).init(&dev);
/// let cfg = FitConfig::new().with_epochs(2).with_batch_size(4).with_progress(false);
/// let trained = fit_with(net, &set, &cfg, &mut SymmetricContrastive, &dev)?;
/// assert_eq!(trained.history.len(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SymmetricContrastive;

impl<M: Classifier> Hook<M> for SymmetricContrastive {
    fn loss(
        &mut self,
        logits: Tensor<2>,
        _targets: &crate::data::Targets,
        _inputs: &M::Input,
        _indices: &[usize],
    ) -> Tensor<1> {
        symmetric_contrastive(logits)
    }
}
