use burn::tensor::{Int, Tensor, TensorData};

use super::Hook;
use crate::data::hard_cross_entropy;
use crate::models::{Classifier, normalize};

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

/// CLIP's symmetric InfoNCE of matching rows of `image` and `text` embeddings (`[n, d]`
/// each): both L2-normalised, logits `cos(image_i, text_j) / temperature`, then
/// [`symmetric_contrastive`]. Seed 001 and CLIP use `temperature = 0.07`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::Tensor;
/// let dev = device();
/// let i = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0]], &dev);
/// let t = Tensor::<2>::from_floats([[3.0, 0.0], [0.0, 1.0]], &dev);
/// // Cosines 1 on the diagonal, 0 off it: each row's loss is ln(1 + e^(-1/T)).
/// let loss: f32 = infonce(i, t, 0.5).into_scalar();
/// assert!((loss - (1.0f32 + (-2.0f32).exp()).ln()).abs() < 1e-5);
/// ```
pub fn infonce(image: Tensor<2>, text: Tensor<2>, temperature: f64) -> Tensor<1> {
    let logits = normalize(image)
        .matmul(normalize(text).transpose())
        .div_scalar(temperature);
    symmetric_contrastive(logits)
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

/// LoRS's similarity-weighted symmetric InfoNCE of `[n, n]` logits against soft targets
/// `s` `[n, n]` (row `i` says how much image `i` matches each caption):
/// `-(sum_ij s_ij log softmax_j(z_i.) + sum_ij s_ij log softmax_i(z_.j)) / 2n`. With the
/// identity it is [`symmetric_contrastive`].
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::Tensor;
/// let dev = device();
/// let z = Tensor::<2>::from_floats([[2.0, 0.0], [1.0, 3.0]], &dev);
/// let (a, b): (f32, f32) = (symmetric_contrastive(z.clone()).into_scalar(),
///     soft_symmetric_contrastive(z, Tensor::eye(2, &dev)).into_scalar());
/// assert!((a - b).abs() < 1e-6);
/// ```
pub fn soft_symmetric_contrastive(logits: Tensor<2>, s: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let rows = burn::tensor::activation::log_softmax(logits.clone(), 1);
    let cols = burn::tensor::activation::log_softmax(logits, 0);
    rows.add(cols).mul(s).sum().div_scalar(-2.0 * n as f64)
}

/// A [`Hook`] that trains a dual encoder on a set of `n` pairs with a learned `[n, n]`
/// similarity matrix (LoRS): each minibatch's loss is [`soft_symmetric_contrastive`] against
/// the matrix's rows and columns of the batch.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let pairs = PairSet::from_pixels("toy", [1, 4, 4], (0..64).map(|i| (i % 7) as f32 / 7.0).collect(),
///     (0..4).map(|i| vec![format!("pair {i}")]).collect(), (0..4).map(|i| i.to_string()).collect())?;
/// let set = EmbeddedPairs::new(pairs, (0..12).map(|i| ((i * 5) % 4) as f32).collect(), 3)?;
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3).init(&dev);
/// let sim: Vec<f32> = (0..16).map(|k| if k % 5 == 0 { 1.0 } else { 0.1 }).collect();
/// let cfg = FitConfig::new().with_epochs(2).with_batch_size(3).with_progress(false);
/// let mut hook = SimilarityContrastive::new(sim, 4)?;
/// assert_eq!(fit_with(net, &set, &cfg, &mut hook, &dev)?.history.len(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SimilarityContrastive {
    sim: Vec<f32>,
    n: usize,
}

impl SimilarityContrastive {
    /// The hook for the row-major `[n, n]` matrix `sim`.
    pub fn new(sim: Vec<f32>, n: usize) -> crate::error::Result<Self> {
        crate::error::ensure(sim.len() == n * n, "SimilarityContrastive", "sim", || {
            format!("has {} entries; expected {n} x {n}", sim.len())
        })?;
        Ok(SimilarityContrastive { sim, n })
    }

    /// The matrix's rows and columns at `indices`, `[k, k]`.
    pub fn block(&self, indices: &[usize], device: &burn::tensor::Device) -> Tensor<2> {
        let k = indices.len();
        let v: Vec<f32> = indices
            .iter()
            .flat_map(|&i| indices.iter().map(move |&j| self.sim[i * self.n + j]))
            .collect();
        Tensor::from_data(TensorData::new(v, [k, k]), device)
    }
}

impl<M: Classifier> Hook<M> for SimilarityContrastive {
    fn loss(
        &mut self,
        logits: Tensor<2>,
        _targets: &crate::data::Targets,
        _inputs: &M::Input,
        indices: &[usize],
    ) -> Tensor<1> {
        let s = self.block(indices, &logits.device());
        let s = if logits.is_autodiff() {
            s.autodiff()
        } else {
            s
        };
        let dtype = logits.dtype();
        soft_symmetric_contrastive(logits, s.cast(dtype))
    }
}
