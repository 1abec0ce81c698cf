//! The one data contract every layer above works with: a labelled set of examples
//! ([`Examples`]) whose batches are model inputs ([`Batch`]) and [`Targets`] (hard classes or
//! soft distributions).
//!
//! Images ([`ImageSet`](super::ImageSet)), embedded sentences
//! ([`EmbeddedSentences`](super::EmbeddedSentences)) and any set wrapped with soft targets
//! ([`SoftLabelled`]) all implement it, so `fit`, the evaluation protocol, `accuracy` and the
//! selectors take each of them as they are. A new modality is a new type implementing
//! [`Examples`] and a model whose `Classifier::Input` is that type's [`Examples::Input`].

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;

use crate::augment::Augment;
use crate::error::{Error, Result};

/// A batch of model inputs on a device: a Burn tensor of any rank, or a tuple of them (an image
/// and a caption embedding).
///
/// `fit` moves a batch onto the autodiff graph with [`Batch::autodiff`] before the forward
/// pass, and hooks that run another model on it (a live teacher) take it off with
/// [`Batch::inner`].
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::Tensor;
/// let x = Tensor::<3>::zeros([4, 2, 5], &device());
/// assert_eq!(Batch::len(&x), 4);
/// assert!(x.autodiff().is_autodiff());
/// ```
pub trait Batch: Clone + 'static {
    /// Number of examples in the batch (the first dimension).
    fn len(&self) -> usize;
    /// Whether the batch holds no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The batch with autodiff enabled (idempotent).
    fn autodiff(self) -> Self;
    /// The batch without autodiff (idempotent).
    fn inner(self) -> Self;
    /// The device the batch lives on.
    fn device(&self) -> Device;
}

impl<const D: usize> Batch for Tensor<D> {
    fn len(&self) -> usize {
        self.dims()[0]
    }
    fn autodiff(self) -> Self {
        Tensor::autodiff(self)
    }
    fn inner(self) -> Self {
        Tensor::inner(self)
    }
    fn device(&self) -> Device {
        Tensor::device(self)
    }
}

impl<A: Batch, B: Batch> Batch for (A, B) {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn autodiff(self) -> Self {
        (self.0.autodiff(), self.1.autodiff())
    }
    fn inner(self) -> Self {
        (self.0.inner(), self.1.inner())
    }
    fn device(&self) -> Device {
        self.0.device()
    }
}

/// What a batch is trained towards: a class index per example, or a distribution over the
/// classes per example (soft labels, a teacher's probabilities).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::{Tensor, Int};
/// let dev = device();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0]], &dev);
/// let hard = Targets::Hard(Tensor::<1, Int>::from_ints([1], &dev));
/// let soft = Targets::Soft(Tensor::<2>::from_floats([[0.0, 1.0]], &dev));
/// let (a, b): (f32, f32) = (hard.cross_entropy(logits.clone()).into_scalar(), soft.cross_entropy(logits).into_scalar());
/// assert!((a - b).abs() < 1e-6 && (a - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub enum Targets {
    /// Class indices `[n]`.
    Hard(Tensor<1, Int>),
    /// Class distributions `[n, classes]` (rows sum to 1).
    Soft(Tensor<2>),
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Hard(t) => t.dims()[0],
            Targets::Soft(t) => t.dims()[0],
        }
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mean cross-entropy of `logits` `[n, classes]` against these targets:
    /// `-mean_i log softmax(z_i)[y_i]` for hard targets, `-mean_i sum_k p_ik log softmax(z_i)_k`
    /// for soft ones (the soft-label papers' loss; with one-hot rows both agree).
    ///
    /// Soft targets that are plain tensors are constants of an autodiff graph; soft targets
    /// that are themselves tracked (learnable soft labels) receive gradients.
    pub fn cross_entropy(&self, logits: Tensor<2>) -> Tensor<1> {
        match self {
            Targets::Hard(labels) => hard_cross_entropy(logits, labels.clone()),
            Targets::Soft(p) => soft_cross_entropy(logits, p.clone()),
        }
    }

    /// The class of each example: the index for hard targets, the most probable class for
    /// soft ones.
    pub fn classes(&self) -> Tensor<1, Int> {
        match self {
            Targets::Hard(t) => t.clone(),
            Targets::Soft(p) => {
                let n = p.dims()[0];
                p.clone().argmax(1).reshape([n])
            }
        }
    }
}

impl From<Tensor<1, Int>> for Targets {
    fn from(labels: Tensor<1, Int>) -> Self {
        Targets::Hard(labels)
    }
}

impl From<Tensor<2>> for Targets {
    fn from(probs: Tensor<2>) -> Self {
        Targets::Soft(probs)
    }
}

/// Mean cross-entropy of `logits` `[n, classes]` against integer `labels` `[n]`.
pub(crate) fn hard_cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let logp = log_softmax(logits, 1);
    logp.gather(1, labels.reshape([n, 1])).mean().neg()
}

/// Mean over rows of `-sum_k p_k log softmax(z)_k`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::Tensor;
/// let dev = device();
/// let z = Tensor::<2>::from_floats([[1.0, 1.0, 1.0]], &dev);
/// let p = Tensor::<2>::from_floats([[0.2, 0.3, 0.5]], &dev);
/// let l: f32 = soft_cross_entropy(z, p).into_scalar();
/// assert!((l - 3f32.ln()).abs() < 1e-6);
/// ```
pub fn soft_cross_entropy(logits: Tensor<2>, probs: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let probs = if logits.is_autodiff() {
        probs.autodiff()
    } else {
        probs
    };
    let logp = log_softmax(logits, 1);
    (probs * logp).sum().div_scalar(n.max(1) as f64).neg()
}

/// A labelled set of examples: the one data contract of the crate.
///
/// What a set provides: its size and class names, a batch of inputs on a device
/// ([`Examples::inputs`]), the targets of a batch ([`Examples::targets`], hard classes unless
/// the set carries soft targets), one hard class per example for stratification and
/// accuracy ([`Examples::labels`]), its values as flat rows for geometric selectors
/// ([`Examples::flat`]), and subsets. Augmentation is a set's own business: the default
/// [`Examples::augmented`] accepts only [`Augment::None`] and names the set otherwise.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 2, 2], vec![0.5; 12], vec![0, 1, 1], vec!["a".into(), "b".into()])?;
/// fn describe<S: Examples>(s: &S) -> String { format!("{}: {} examples of {} classes", s.name(), s.len(), s.num_classes()) }
/// assert_eq!(describe(&set), "t: 3 examples of 2 classes");
/// assert_eq!(Examples::inputs(&set, &[0, 2], &dev).dims(), [2, 1, 2, 2]);
/// # Ok::<(), Error>(())
/// ```
pub trait Examples {
    /// What a batch of this set is fed to a model as (`Tensor<4>` for images, `Tensor<3>` for
    /// embedded sentences).
    type Input: Batch;

    /// The set's name (for progress lines, tables and errors).
    fn name(&self) -> &str;
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether the set holds no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class names, indexed by label.
    fn classes(&self) -> &[String];
    /// Number of classes.
    fn num_classes(&self) -> usize {
        self.classes().len()
    }
    /// The hard class of every example (the most probable class where targets are soft).
    fn labels(&self) -> &[usize];
    /// Soft targets, `len() x num_classes()` row-major, where the set carries them.
    fn soft_targets(&self) -> Option<&[f32]> {
        None
    }
    /// Shape of one example's input (`[C, H, W]` for images, `[length, dims]` for embedded
    /// sentences).
    fn example_shape(&self) -> Vec<usize>;
    /// Every example's values as one flat row: `(values, row width)`, `len() x width`
    /// row-major (what geometric selectors measure distances between without a model).
    fn flat(&self) -> (&[f32], usize);
    /// The inputs of the examples at `indices`, in that order, on `device`.
    fn inputs(&self, indices: &[usize], device: &Device) -> Self::Input;
    /// The targets of the examples at `indices`: soft where the set carries soft targets,
    /// else hard.
    fn targets(&self, indices: &[usize], device: &Device) -> Targets {
        let n = indices.len();
        match self.soft_targets() {
            Some(soft) => {
                let k = self.num_classes();
                let mut rows = Vec::with_capacity(n * k);
                for &i in indices {
                    rows.extend_from_slice(&soft[i * k..(i + 1) * k]);
                }
                Targets::Soft(Tensor::from_data(TensorData::new(rows, [n, k]), device))
            }
            None => {
                let labels: Vec<i64> = indices.iter().map(|&i| self.labels()[i] as i64).collect();
                Targets::Hard(Tensor::from_data(TensorData::new(labels, [n]), device))
            }
        }
    }
    /// The inputs at `indices` under `augment`, drawing from `rng`. Sets that are not images
    /// accept [`Augment::None`] only.
    fn augmented(
        &self,
        indices: &[usize],
        augment: &Augment,
        _rng: &mut StdRng,
        device: &Device,
    ) -> Result<Self::Input> {
        match augment {
            Augment::None => Ok(self.inputs(indices, device)),
            other => Err(Error::config(
                "FitConfig",
                "augment",
                format!(
                    "{other:?} transforms images; {} holds examples of shape {:?}: use Augment::None",
                    self.name(),
                    self.example_shape()
                ),
            )),
        }
    }
    /// Whether this set is an [`ImageSet`], for which the prelude holds compiled training
    /// loops ([`Classifier::PRECOMPILED_FIT`](crate::models::Classifier::PRECOMPILED_FIT)).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert!(<ImageSet as Examples>::PRECOMPILED_FIT);
    /// ```
    #[doc(hidden)]
    const PRECOMPILED_FIT: bool = false;

    /// `Some(self)` where the set is an [`ImageSet`] (see
    /// [`PRECOMPILED_FIT`](Self::PRECOMPILED_FIT)).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.5], vec![0], vec!["a".into()])?;
    /// assert!(set.as_image_set().is_some());
    /// # Ok::<(), Error>(())
    /// ```
    #[doc(hidden)]
    fn as_image_set(&self) -> Option<&crate::data::ImageSet> {
        None
    }

    /// The examples at `indices`, in that order (indices may repeat).
    ///
    /// # Panics
    /// On an index out of range: indices come from this set's own selectors.
    fn subset(&self, indices: &[usize]) -> Self
    where
        Self: Sized;
    /// The set under another name.
    fn renamed(self, name: String) -> Self
    where
        Self: Sized;

    /// Number of examples per class, indexed by label.
    fn counts_per_class(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in self.labels() {
            counts[l] += 1;
        }
        counts
    }
    /// Indices of the examples of class `class`, in order.
    fn class_indices(&self, class: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels()[i] == class)
            .collect()
    }
}

/// A set with soft targets: the inputs of `S`, one class distribution per example. What a
/// soft-label distilled set or a teacher's relabelled data trains on; `fit` and the evaluation
/// protocol train it with [`soft_cross_entropy`].
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 1.0], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let soft = SoftLabelled::new(set, vec![0.9, 0.1, 0.3, 0.7])?;
/// assert_eq!(soft.labels(), &[0, 1]);
/// assert_eq!(soft.soft_targets().unwrap()[2], 0.3);
/// assert!(SoftLabelled::new(soft.inner().clone(), vec![0.5; 3]).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SoftLabelled<S> {
    inner: S,
    targets: Vec<f32>,
    labels: Vec<usize>,
}

impl<S: Examples> SoftLabelled<S> {
    /// Wraps `inner` with `targets`, `len x classes` row-major: every value finite and `>= 0`,
    /// every row summing to 1 (within 1e-3).
    pub fn new(inner: S, targets: Vec<f32>) -> Result<Self> {
        let (n, k) = (inner.len(), inner.num_classes());
        if targets.len() != n * k {
            return Err(Error::ShapeMismatch {
                context: format!("{}: soft targets", inner.name()),
                expected: format!("{} values ({n} examples x {k} classes)", n * k),
                got: format!("{} values", targets.len()),
            });
        }
        let mut labels = Vec::with_capacity(n);
        for (i, row) in targets.chunks(k.max(1)).enumerate().take(n) {
            let sum: f32 = row.iter().sum();
            if row.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > 1e-3 {
                return Err(Error::config(
                    "SoftLabelled",
                    "targets",
                    format!(
                        "row {i} of {} is not a distribution (values >= 0 summing to 1): {row:?}",
                        inner.name()
                    ),
                ));
            }
            labels.push(argmax(row));
        }
        Ok(SoftLabelled {
            inner,
            targets,
            labels,
        })
    }

    /// The wrapped set (with its hard labels).
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Examples> Examples for SoftLabelled<S> {
    type Input = S::Input;

    fn name(&self) -> &str {
        self.inner.name()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn labels(&self) -> &[usize] {
        &self.labels
    }
    fn soft_targets(&self) -> Option<&[f32]> {
        Some(&self.targets)
    }
    fn example_shape(&self) -> Vec<usize> {
        self.inner.example_shape()
    }
    fn flat(&self) -> (&[f32], usize) {
        self.inner.flat()
    }
    fn inputs(&self, indices: &[usize], device: &Device) -> S::Input {
        self.inner.inputs(indices, device)
    }
    fn augmented(
        &self,
        indices: &[usize],
        augment: &Augment,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<S::Input> {
        self.inner.augmented(indices, augment, rng, device)
    }
    fn subset(&self, indices: &[usize]) -> Self {
        let k = self.num_classes();
        let mut targets = Vec::with_capacity(indices.len() * k);
        for &i in indices {
            targets.extend_from_slice(&self.targets[i * k..(i + 1) * k]);
        }
        SoftLabelled {
            inner: self.inner.subset(indices),
            targets,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
    fn renamed(self, name: String) -> Self {
        SoftLabelled {
            inner: self.inner.renamed(name),
            ..self
        }
    }
}

/// Index of the largest value (the first on ties).
pub(crate) fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// `[C, H, W]` of the examples of an image set (zeros where the examples are not images, which
/// every model's size check then refuses by name).
pub(crate) fn image_shape<S: Examples + ?Sized>(data: &S) -> [usize; 3] {
    match data.example_shape()[..] {
        [c, h, w] => [c, h, w],
        _ => [0; 3],
    }
}
