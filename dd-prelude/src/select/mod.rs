//! Coreset selection: one [`Selector`] trait, one file per method.
//!
//! | method | config | what it keeps | reference |
//! |---|---|---|---|
//! | uniform | [`RandomConfig`] | random images | DeepCore `Uniform` |
//! | K-Means prototypes | [`KMeansConfig`] | the real image nearest each k-means++ / Lloyd centroid | seed 000 |
//! | herding | [`HerdingConfig`] | images whose running mean tracks the class mean | Welling 2009; iCaRL; DeepCore `Herding` |
//! | k-center greedy | [`KCenterConfig`] | farthest-first traversal | Sener & Savarese 2018; DeepCore `kCenterGreedy` |
//! | forgetting | [`ForgettingConfig`] | most often forgotten during a training run | Toneva et al. 2019; DeepCore `Forgetting` |
//! | loss-based | [`LossBasedConfig`] | highest (or lowest) loss under a reference model | seed 000, Algorithm 1 |
//! | GraNd / EL2N | [`GraNdConfig`], [`El2nConfig`] | largest early-training gradient / error norm | Paul et al. 2021; DeepCore `GraNd` |
//!
//! Every config holds its seed, checks its fields inside `select`, and keeps the budget per
//! class when `balance` is on. The geometric methods (K-Means, herding, k-center) run on raw
//! pixels by default and on any model's penultimate features through
//! [`SelectWithModel::with_model`]; their distance computations are tensor operations on the
//! given device, so a GPU speeds them up.
//!
//! # Example
//! ```
//! use dd_prelude::*;
//! let dev = device();
//! let set = ImageSet::from_pixels("t", [1, 2, 2], (0..48).map(|i| (i % 7) as f32 / 7.0).collect(),
//!                                 vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], vec!["a".into(), "b".into()])?;
//! let selectors: Vec<Box<dyn Selector>> = vec![
//!     Box::new(RandomConfig::new(Budget::PerClass(2))),
//!     Box::new(KMeansConfig::new(Budget::PerClass(2))),
//!     Box::new(HerdingConfig::new(Budget::PerClass(2))),
//!     Box::new(KCenterConfig::new(Budget::PerClass(2))),
//! ];
//! for s in &selectors {
//!     let core = s.select(&set, &dev)?;
//!     assert_eq!(core.counts_per_class(&set), vec![2, 2], "{}", s.name());
//! }
//! # Ok::<(), Error>(())
//! ```

mod forgetting;
mod grand;
mod herding;
mod kcenter;
mod kmeans;
mod loss_based;
mod random;

pub use forgetting::{ForgettingConfig, ForgettingTracker, count_forgetting};
pub use grand::{El2nConfig, GraNdConfig, el2n_scores, grand_scores};
pub use herding::HerdingConfig;
pub use kcenter::{KCenterConfig, covering_radius};
pub use kmeans::{ClassPrototypes, KMeansConfig, KMeansFit, kmeans};
pub use loss_based::{LossBasedConfig, per_sample_loss};
pub use random::RandomConfig;

use std::fmt;

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{Examples, ImageSet};
use crate::error::{Error, Result, ensure};
use crate::models::Classifier;

/// Picks a subset of a training set.
///
/// Object-safe, so a cell can sweep a `Vec<Box<dyn Selector>>`.
///
/// Generic over the [`Examples`] set it selects from (images by default): the geometric and
/// random methods take any set, the methods that train a reference network by architecture
/// name take image sets.
pub trait Selector<S: Examples = ImageSet> {
    /// The method's display name (`"K-Means"`, `"Herding"`, ...).
    fn name(&self) -> &'static str;
    /// Selects examples of `data`; computations run on `device`.
    fn select(&self, data: &S, device: &Device) -> Result<Coreset>;
}

/// A selector that can read a trained model: penultimate features for the geometric methods,
/// logits for the score-based ones.
pub trait SelectWithModel: Selector + Sized {
    /// Selects images of `data` using `model`.
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset>;

    /// This selector bound to a copy of `model` (a cheap clone: parameters are shared), as a
    /// [`Selector`].
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let dev = device();
    /// let set = ImageSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
    ///                                 vec![0, 0, 1, 1], vec!["a".into(), "b".into()])?;
    /// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
    /// let core = KMeansConfig::new(Budget::PerClass(1)).with_model(&net).select(&set, &dev)?;
    /// assert_eq!(core.len(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    fn with_model<M: Classifier>(self, model: &M) -> WithModel<Self, M> {
        WithModel {
            config: self,
            model: model.clone(),
        }
    }
}

/// A selector config bound to a model; see [`SelectWithModel::with_model`].
#[derive(Debug, Clone)]
pub struct WithModel<C, M> {
    /// The selector's config.
    pub config: C,
    /// The model it reads.
    pub model: M,
}

impl<C: SelectWithModel, M: Classifier, S: Examples<Input = M::Input>> Selector<S>
    for WithModel<C, M>
{
    fn name(&self) -> &'static str {
        Selector::<ImageSet>::name(&self.config)
    }

    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.config.select_with(&self.model, data, device)
    }
}

/// How many images a selector keeps.
///
/// # Example
/// ```
/// use dd_prelude::Budget;
/// let counts = [6000, 6000, 3000];
/// assert_eq!(Budget::PerClass(500).per_class(&counts), vec![500, 500, 500]);
/// assert_eq!(Budget::Fraction(0.1).per_class(&counts), vec![600, 600, 300]);
/// assert_eq!(Budget::Total(100).per_class(&counts), vec![40, 40, 20]);
/// assert_eq!(Budget::Fraction(0.1).total(&counts), 1500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Budget {
    /// This many images of every class (all of a class that has fewer): seed 000's `k = 500`.
    PerClass(usize),
    /// This many images in all.
    Total(usize),
    /// This fraction of the set (DeepCore's `fraction`; rounded per class when balanced).
    Fraction(f64),
}

impl Budget {
    /// Checks the budget; `method` names the config in the error.
    pub fn check(&self, method: &'static str) -> Result<()> {
        match *self {
            Budget::PerClass(k) => ensure(k > 0, method, "budget", || {
                "PerClass needs at least 1".into()
            }),
            Budget::Total(n) => ensure(n > 0, method, "budget", || "Total needs at least 1".into()),
            Budget::Fraction(f) => ensure(f > 0.0 && f <= 1.0, method, "budget", || {
                format!("Fraction must be in (0, 1], got {f}")
            }),
        }
    }

    /// Images to keep of each class when the selection is balanced, given the class sizes.
    /// A total is shared in proportion to the class sizes (largest remainders get the rest).
    pub fn per_class(&self, counts: &[usize]) -> Vec<usize> {
        match *self {
            Budget::PerClass(k) => counts.iter().map(|&c| k.min(c)).collect(),
            Budget::Fraction(f) => counts
                .iter()
                .map(|&c| ((f * c as f64).round() as usize).min(c))
                .collect(),
            Budget::Total(n) => {
                let all: usize = counts.iter().sum();
                let n = n.min(all);
                if all == 0 {
                    return vec![0; counts.len()];
                }
                let mut share: Vec<usize> = counts.iter().map(|&c| c * n / all).collect();
                let mut order: Vec<usize> = (0..counts.len()).collect();
                // largest fractional part first; ties by class index
                order.sort_by_key(|&c| std::cmp::Reverse((counts[c] * n) % all));
                let mut left = n - share.iter().sum::<usize>();
                // n <= all, so some class always has room while images are left to place
                while left > 0 {
                    for &c in &order {
                        if left > 0 && share[c] < counts[c] {
                            share[c] += 1;
                            left -= 1;
                        }
                    }
                }
                share
            }
        }
    }

    /// Images to keep in all when the selection is not balanced.
    pub fn total(&self, counts: &[usize]) -> usize {
        let all: usize = counts.iter().sum();
        match *self {
            Budget::PerClass(k) => counts.iter().map(|&c| k.min(c)).sum(),
            Budget::Total(n) => n.min(all),
            Budget::Fraction(f) => ((f * all as f64).round() as usize).min(all),
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::PerClass(k) => write!(f, "{k} per class"),
            Budget::Total(n) => write!(f, "{n} in all"),
            Budget::Fraction(x) => write!(f, "{:.1}%", 100.0 * x),
        }
    }
}

/// Which end of a score ranking a score-based selector keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keep {
    /// The highest scores (hardest, most forgotten, largest gradient).
    Highest,
    /// The lowest scores (easiest, least forgotten).
    Lowest,
}

/// The images a selector kept.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0; 4], vec![0, 0, 1, 1],
///                                 vec!["a".into(), "b".into()])?;
/// let core = Coreset::new("hand-picked", vec![1, 3]);
/// assert_eq!(core.subset(&set).labels(), &[0, 1]);
/// assert_eq!(core.counts_per_class(&set), vec![1, 1]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Coreset {
    /// The method that chose the images.
    pub method: String,
    /// Positions of the kept images in the input set, grouped by class when balanced.
    pub indices: Vec<usize>,
    /// What the method ranked each kept image by, aligned with `indices` (see each method).
    pub scores: Option<Vec<f32>>,
    /// Per-image training weights, for methods that produce them.
    pub weights: Option<Vec<f32>>,
    /// Wall time of the selection (including any training it did).
    pub seconds: f64,
}

impl Coreset {
    /// A coreset of `indices` chosen by `method`, without scores.
    pub fn new(method: impl Into<String>, indices: Vec<usize>) -> Self {
        Coreset {
            method: method.into(),
            indices,
            scores: None,
            weights: None,
            seconds: 0.0,
        }
    }

    /// Number of kept images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The kept examples of `data` (the set the coreset was selected from), named after the
    /// method.
    pub fn subset<S: Examples>(&self, data: &S) -> S {
        data.subset(&self.indices).renamed(format!(
            "{} coreset ({} images of {})",
            self.method,
            self.len(),
            data.name()
        ))
    }

    /// Kept images per class of `data`.
    pub fn counts_per_class<S: Examples + ?Sized>(&self, data: &S) -> Vec<usize> {
        let mut counts = vec![0; data.num_classes()];
        for &i in &self.indices {
            counts[data.labels()[i]] += 1;
        }
        counts
    }
}

impl fmt::Display for Coreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} coreset: {} images, selected in {}",
            self.method,
            self.len(),
            crate::progress::format_secs(self.seconds)
        )
    }
}

/// Per-sample vectors a geometric selector measures distances between: `n x dim`, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Vectors {
    pub values: Vec<f32>,
    pub dim: usize,
}

impl Vectors {
    /// Every example's values as a flat row (the normalised pixels of an image).
    pub fn flat<S: Examples + ?Sized>(data: &S) -> Self {
        let (values, dim) = data.flat();
        Vectors {
            values: values.to_vec(),
            dim,
        }
    }

    /// `model`'s penultimate features of every image.
    pub fn features<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
        model: &M,
        data: &S,
        device: &Device,
    ) -> Self {
        let (values, dim) = crate::eval::features(model, data, device);
        Vectors { values, dim }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, gathered on the host.
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            out.extend_from_slice(self.row(i));
        }
        out
    }
}

/// Points on a device for distance computations: `x` `[n, d]` and `|x|^2` `[n, 1]`.
pub(crate) struct DevicePoints {
    pub x: Tensor<2>,
    pub sq: Tensor<2>,
    pub n: usize,
    pub dim: usize,
}

impl DevicePoints {
    pub fn new(values: Vec<f32>, dim: usize, device: &Device) -> Self {
        let n = values.len() / dim.max(1);
        let x = Tensor::<2>::from_data(TensorData::new(values, [n, dim]), device);
        let sq = x.clone().powi_scalar(2).sum_dim(1);
        DevicePoints { x, sq, n, dim }
    }

    /// Squared distances from every point to each row of `centers` (`k x d`, row-major),
    /// `n x k` row-major on the host, clamped at 0.
    pub fn sq_dists(&self, centers: &[f32]) -> Vec<f32> {
        let k = centers.len() / self.dim.max(1);
        let device = self.x.device();
        let c = Tensor::<2>::from_data(TensorData::new(centers.to_vec(), [k, self.dim]), &device);
        let c_sq = c.clone().powi_scalar(2).sum_dim(1).reshape([1, k]);
        let d = self.sq.clone() - self.x.clone().matmul(c.transpose()).mul_scalar(2.0) + c_sq;
        d.into_data()
            .try_into_vec::<f32>()
            .expect("distances are f32")
            .into_iter()
            .map(|v| v.max(0.0))
            .collect()
    }
}

/// The indices of each class of `data`, in order.
pub(crate) fn class_groups<S: Examples + ?Sized>(data: &S) -> Vec<Vec<usize>> {
    let mut groups = vec![Vec::new(); data.num_classes()];
    for (i, &l) in data.labels().iter().enumerate() {
        groups[l].push(i);
    }
    groups
}

/// The groups a selection runs in: one per class when balanced (with that class's share of the
/// budget), else one group of everything.
pub(crate) fn selection_groups<S: Examples + ?Sized>(
    data: &S,
    budget: Budget,
    balance: bool,
) -> Vec<(Vec<usize>, usize)> {
    let counts = data.counts_per_class();
    if balance {
        class_groups(data)
            .into_iter()
            .zip(budget.per_class(&counts))
            .collect()
    } else {
        vec![((0..data.len()).collect(), budget.total(&counts))]
    }
}

/// A seed for group `g` derived from a config's seed (so classes draw independent numbers).
pub(crate) fn group_seed(seed: u64, g: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(g as u64 + 1)
}

/// Keeps the best-ranked images by `scores` (one per image of `data`): per class when
/// `balance`, the highest or lowest first per `keep`; ties are broken by a seeded shuffle so
/// equal scores (many zero forgetting counts) do not favour low indices.
pub(crate) fn rank_and_pick<S: Examples + ?Sized>(
    method: &'static str,
    data: &S,
    scores: &[f32],
    budget: Budget,
    balance: bool,
    keep: Keep,
    seed: u64,
) -> Result<Coreset> {
    if scores.len() != data.len() {
        return Err(Error::ShapeMismatch {
            context: format!("{method}: scores"),
            expected: format!("{} (one per image)", data.len()),
            got: scores.len().to_string(),
        });
    }
    let mut indices = Vec::new();
    let mut kept = Vec::new();
    for (g, (mut group, take)) in selection_groups(data, budget, balance)
        .into_iter()
        .enumerate()
    {
        let mut rng = StdRng::seed_from_u64(group_seed(seed, g));
        group.shuffle(&mut rng);
        group.sort_by(|&a, &b| {
            let (sa, sb) = (scores[a], scores[b]);
            match keep {
                Keep::Highest => sb.total_cmp(&sa),
                Keep::Lowest => sa.total_cmp(&sb),
            }
        });
        for &i in group.iter().take(take) {
            indices.push(i);
            kept.push(scores[i]);
        }
    }
    Ok(Coreset {
        method: method.into(),
        indices,
        scores: Some(kept),
        weights: None,
        seconds: 0.0,
    })
}

/// Checks that `data` can be selected from.
pub(crate) fn check_data<S: Examples + ?Sized>(method: &'static str, data: &S) -> Result<()> {
    ensure(!data.is_empty(), method, "data", || {
        format!("{} holds no image", data.name())
    })
}
