//! The outer loop every distillation method shares: the learnable synthetic state
//! ([`SynState`]: the images and any other learnable tensor a method adds, each with its own
//! SGD-momentum optimizer and learning rate), the real set on the device ([`RealPool`]),
//! per-iteration seeding, progress lines, the loss curve, and checkpoint / resume. Every
//! learnable tensor steps with SGD-momentum unless its method asks for Adam ([`SynOptim`]).
//!
//! A method is one [`Method`] implementation handed to [`run`]: DC, DSA, DM and CAFE are
//! written that way, and so can a research variant in a notebook cell.
//!
//! Every iteration `it` draws its randomness from `seed` and `it` alone (a host `StdRng` for
//! batches and augmentations, `device.seed(..)` for fresh networks), so a run resumed from a
//! checkpoint at iteration `k` continues exactly as the uninterrupted run would have.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::settings::{DistillCommon, check_settings};
use super::synthetic::{f32_bytes, read_f32, serialize, write_atomic};
use super::{DistillRun, StepRecord, SyntheticSet};
use crate::data::ImageSet;
use crate::error::{Error, Result, ensure};
use crate::progress::Progress;
use crate::show::LinePlot;

/// How the synthetic images start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    /// Random real images of each class (the DSA/DM/CAFE authors' recommendation).
    Real,
    /// Standard normal noise in normalised space (`torch.randn`, the DC code's default).
    Noise,
}

/// The real training set with its indices per class; a batch is gathered on the host and
/// sent to the device when drawn, so the pool holds no second copy of the set (the
/// [`ImageSet`] shares its pixels).
pub struct RealPool {
    data: ImageSet,
    device: Device,
    by_class: Vec<Vec<usize>>,
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
    /// Class names.
    pub classes: Vec<String>,
    /// Per-channel normalisation mean of the set.
    pub mean: Vec<f32>,
    /// Per-channel normalisation standard deviation of the set.
    pub std: Vec<f32>,
    /// The set's name.
    pub name: String,
}

impl RealPool {
    /// Uploads `data`; every class needs at least one image.
    pub fn new(data: &ImageSet, device: &Device) -> Result<Self> {
        let by_class: Vec<Vec<usize>> = (0..data.num_classes())
            .map(|c| data.class_indices(c))
            .collect();
        if let Some(c) = by_class.iter().position(|v| v.is_empty()) {
            return Err(Error::config(
                "Distiller",
                "data",
                format!(
                    "class `{}` of {} has no image; every class needs real images",
                    data.classes()[c],
                    data.name()
                ),
            ));
        }
        Ok(RealPool {
            data: data.clone(),
            device: device.clone(),
            by_class,
            shape: data.image_shape(),
            classes: data.classes().to_vec(),
            mean: data.mean().to_vec(),
            std: data.std().to_vec(),
            name: data.name().to_string(),
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of real images of class `c`.
    pub fn class_len(&self, c: usize) -> usize {
        self.by_class[c].len()
    }

    /// `n` random images of class `c` (all of them when the class has fewer), on the device.
    pub fn batch(&self, c: usize, n: usize, rng: &mut StdRng) -> Tensor<4> {
        let pool = &self.by_class[c];
        let idx: Vec<usize> = if n >= pool.len() {
            let mut v = pool.clone();
            v.shuffle(rng);
            v
        } else {
            // Partial Fisher-Yates: n draws without replacement, O(n).
            let mut picked: HashMap<usize, usize> = HashMap::new();
            (0..n)
                .map(|k| {
                    let j = rng.random_range(k..pool.len());
                    let vj = *picked.get(&j).unwrap_or(&j);
                    let vk = *picked.get(&k).unwrap_or(&k);
                    picked.insert(j, vk);
                    pool[vj]
                })
                .collect()
        };
        self.data.batch(&idx, &self.device).0
    }
}

/// The learnable synthetic state a [`Method`] updates: the images (plain tensor,
/// class-major: `ipc` images of class 0, then class 1, ...) and any further named learnable
/// tensors the method adds in [`Method::init_state`] (soft labels, a step size). Each tensor
/// has its own SGD-momentum buffer (PyTorch's SGD, dampening 0); checkpoints save and restore
/// all of them.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{Init, RealPool, SynState};
/// use burn::tensor::Tensor;
/// let dev = device();
/// let data = ImageSet::from_pixels("t", [1, 2, 2], (0..16).map(|i| i as f32 / 16.0).collect(),
///                                  vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let real = RealPool::new(&data, &dev)?;
/// let mut state = SynState::init(&real, 1, Init::Real, 0.5, 0);
/// state.add("lr", Tensor::<1>::from_floats([0.01], &dev), 1e-3, 0.5)?;
/// state.step_named("lr", Tensor::<1>::from_floats([1.0], &dev));
/// let lr: f32 = state.get::<1>("lr").into_scalar();
/// assert!((lr - (0.01 - 1e-3)).abs() < 1e-7);
/// assert_eq!(state.images().dims(), [2, 1, 2, 2]);
/// # Ok::<(), Error>(())
/// ```
pub struct SynState {
    pub(crate) values: Tensor<4>,
    images_opt: Moments<4>,
    /// Images per class.
    pub ipc: usize,
    /// Number of classes.
    pub classes: usize,
    extras: Vec<Learnable>,
}

/// A named learnable tensor of a [`SynState`], stored flat.
struct Learnable {
    name: String,
    shape: Vec<usize>,
    value: Tensor<1>,
    opt: Moments<1>,
    lr: f64,
}

/// The optimizer of one learnable tensor of a [`SynState`]: PyTorch's SGD with momentum (what
/// [`SynState::add`] and the images use unless told otherwise) or PyTorch's Adam (what the
/// soft-label distillation code steps its images, labels and step sizes with).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{Init, RealPool, SynOptim, SynState};
/// use burn::tensor::Tensor;
/// let dev = device();
/// let data = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
///                                  vec!["a".into(), "b".into()])?;
/// let mut state = SynState::init(&RealPool::new(&data, &dev)?, 1, Init::Real, 0.5, 0);
/// state.add_with("w", Tensor::<1>::from_floats([1.0], &dev), 0.1, SynOptim::adam())?;
/// state.step_named("w", Tensor::<1>::from_floats([123.0], &dev));
/// // Adam's first step moves by lr whatever the gradient's size.
/// let w: f32 = state.get::<1>("w").into_scalar();
/// assert!((w - 0.9).abs() < 1e-6);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SynOptim {
    /// `buf = momentum * buf + g; x -= lr * buf` (dampening 0, no Nesterov).
    Sgd {
        /// Momentum in `[0, 1)`.
        momentum: f64,
    },
    /// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    /// x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)` (no weight decay).
    Adam {
        /// First-moment decay in `[0, 1)`.
        beta1: f64,
        /// Second-moment decay in `[0, 1)`.
        beta2: f64,
        /// Added to the denominator, positive.
        eps: f64,
    },
}

impl SynOptim {
    /// Adam with PyTorch's defaults (`betas (0.9, 0.999)`, `eps 1e-8`).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::SynOptim;
    /// assert_eq!(SynOptim::adam(), SynOptim::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    /// ```
    pub fn adam() -> Self {
        SynOptim::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Checks the coefficients; `name` names the tensor in errors.
    fn check(&self, name: &str) -> Result<()> {
        let ok = match *self {
            SynOptim::Sgd { momentum } => (0.0..1.0).contains(&momentum),
            SynOptim::Adam { beta1, beta2, eps } => {
                (0.0..1.0).contains(&beta1)
                    && (0.0..1.0).contains(&beta2)
                    && eps > 0.0
                    && eps.is_finite()
            }
        };
        ensure(ok, "SynState", "optimizer", || {
            format!("`{name}` needs momentum or betas in [0, 1) and eps > 0, got {self:?}")
        })
    }
}

/// One tensor's optimizer and its state: SGD's momentum buffer or Adam's two moments and
/// step count.
struct Moments<const D: usize> {
    optim: SynOptim,
    first: Tensor<D>,
    second: Option<Tensor<D>>,
    t: u64,
}

impl<const D: usize> Moments<D> {
    fn new(optim: SynOptim, like: &Tensor<D>) -> Self {
        Moments {
            optim,
            first: Tensor::zeros_like(like),
            second: matches!(optim, SynOptim::Adam { .. }).then(|| Tensor::zeros_like(like)),
            t: 0,
        }
    }

    /// The value after one step with gradient `grad` and learning rate `lr`.
    fn step(&mut self, value: Tensor<D>, grad: Tensor<D>, lr: f64) -> Tensor<D> {
        match self.optim {
            SynOptim::Sgd { momentum } => {
                let buf = self.first.clone().mul_scalar(momentum).add(grad);
                self.first = buf.clone();
                value.sub(buf.mul_scalar(lr))
            }
            SynOptim::Adam { beta1, beta2, eps } => {
                self.t += 1;
                let second = self.second.clone().expect("Adam keeps a second moment");
                let m = self
                    .first
                    .clone()
                    .mul_scalar(beta1)
                    .add(grad.clone().mul_scalar(1.0 - beta1));
                let v = second
                    .mul_scalar(beta2)
                    .add(grad.square().mul_scalar(1.0 - beta2));
                let t = self.t as i32;
                let (bc1, bc2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(eps);
                self.first = m.clone();
                self.second = Some(v);
                value.sub(m.div(denom).mul_scalar(lr / bc1))
            }
        }
    }
}

impl SynState {
    /// A fresh state: `ipc` images per class drawn from `real` ([`Init::Real`]) or standard
    /// normal noise, with SGD momentum `momentum`; `seed` fixes the draw.
    pub fn init(real: &RealPool, ipc: usize, init: Init, momentum: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(mix(seed, u64::MAX));
        let device = real.device.clone();
        let [c, h, w] = real.shape;
        let classes = real.num_classes();
        let values = match init {
            Init::Real => {
                let parts: Vec<Tensor<4>> =
                    (0..classes).map(|k| real.batch(k, ipc, &mut rng)).collect();
                // A class with fewer than ipc images repeats some (the set keeps its size).
                let parts = parts
                    .into_iter()
                    .map(|t| {
                        let n = t.dims()[0];
                        if n >= ipc {
                            t
                        } else {
                            t.repeat_dim(0, ipc.div_ceil(n)).narrow(0, 0, ipc)
                        }
                    })
                    .collect();
                Tensor::cat(parts, 0)
            }
            Init::Noise => {
                let n = classes * ipc * c * h * w;
                let v: Vec<f32> = (0..n).map(|_| standard_normal(&mut rng)).collect();
                Tensor::from_data(TensorData::new(v, [classes * ipc, c, h, w]), &device)
            }
        };
        SynState {
            images_opt: Moments::new(SynOptim::Sgd { momentum }, &values),
            values,
            ipc,
            classes,
            extras: Vec::new(),
        }
    }

    /// The images, `[classes * ipc, C, H, W]`, class-major.
    pub fn images(&self) -> Tensor<4> {
        self.values.clone()
    }

    /// Labels, class-major.
    pub fn labels(&self) -> Vec<usize> {
        (0..self.classes)
            .flat_map(|c| std::iter::repeat_n(c, self.ipc))
            .collect()
    }

    /// The images of class `c` as a fresh autodiff leaf.
    pub fn class_leaf(&self, c: usize) -> Tensor<4> {
        self.values
            .clone()
            .narrow(0, c * self.ipc, self.ipc)
            .autodiff()
            .require_grad()
    }

    /// All images as a fresh autodiff leaf.
    pub fn leaf(&self) -> Tensor<4> {
        self.values.clone().autodiff().require_grad()
    }

    /// One step of the images' optimizer: PyTorch's SGD with momentum (dampening 0),
    /// `buf = m * buf + g; x -= lr * buf`, unless [`SynState::set_images_optim`] chose another.
    pub fn step(&mut self, grad: Tensor<4>, lr: f64) {
        self.values = self.images_opt.step(self.values.clone(), grad, lr);
    }

    /// Replaces the images' optimizer (and resets its state); a method calls it in
    /// [`Method::init_state`] (SLDD steps its images with Adam).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::{Init, RealPool, SynOptim, SynState};
    /// let dev = device();
    /// let data = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
    ///                                  vec!["a".into(), "b".into()])?;
    /// let mut state = SynState::init(&RealPool::new(&data, &dev)?, 1, Init::Real, 0.5, 0);
    /// state.set_images_optim(SynOptim::adam())?;
    /// let before = state.images();
    /// state.step(before.clone().mul_scalar(0.0).add_scalar(5.0), 0.01);
    /// let moved: f32 = (before - state.images()).mean().into_scalar();
    /// assert!((moved - 0.01).abs() < 1e-6);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_images_optim(&mut self, optim: SynOptim) -> Result<()> {
        optim.check("images")?;
        self.images_opt = Moments::new(optim, &self.values);
        Ok(())
    }

    /// Adds a learnable tensor `name` (soft labels, a step size) with its own learning rate and
    /// momentum. Names are unique and `images` is taken.
    pub fn add<const D: usize>(
        &mut self,
        name: &str,
        init: Tensor<D>,
        lr: f64,
        momentum: f64,
    ) -> Result<()> {
        self.add_with(name, init, lr, SynOptim::Sgd { momentum })
    }

    /// Adds a learnable tensor `name` stepped by `optim` (SGD-momentum or Adam) with learning
    /// rate `lr`. Names are unique; `images` and the suffixes `.momentum` and `.second`
    /// (checkpoint entries) are taken.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::{Init, RealPool, SynOptim, SynState};
    /// use burn::tensor::Tensor;
    /// let dev = device();
    /// let data = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
    ///                                  vec!["a".into(), "b".into()])?;
    /// let mut state = SynState::init(&RealPool::new(&data, &dev)?, 1, Init::Real, 0.5, 0);
    /// let lr = Tensor::<1>::from_floats([0.01], &dev);
    /// state.add_with("lr", lr.clone(), 1e-3, SynOptim::adam())?;
    /// assert!(state.add_with("lr.second", lr, 1e-3, SynOptim::adam()).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn add_with<const D: usize>(
        &mut self,
        name: &str,
        init: Tensor<D>,
        lr: f64,
        optim: SynOptim,
    ) -> Result<()> {
        if name == "images"
            || name.ends_with(".momentum")
            || name.ends_with(".second")
            || self.find(name).is_some()
        {
            return Err(Error::config(
                "SynState",
                "name",
                format!(
                    "`{name}` is taken (images, an existing tensor, or a .momentum / .second suffix)"
                ),
            ));
        }
        if let SynOptim::Sgd { momentum } = optim
            && !(lr.is_finite() && lr >= 0.0 && (0.0..1.0).contains(&momentum))
        {
            return Err(Error::config(
                "SynState",
                "lr",
                format!("`{name}` needs lr >= 0 and momentum in [0, 1), got {lr} and {momentum}"),
            ));
        }
        ensure(lr.is_finite() && lr >= 0.0, "SynState", "lr", || {
            format!("`{name}` needs lr >= 0, got {lr}")
        })?;
        optim.check(name)?;
        let shape = init.dims().to_vec();
        let value = init.inner().flatten::<1>(0, D - 1);
        self.extras.push(Learnable {
            name: name.to_string(),
            shape,
            opt: Moments::new(optim, &value),
            value,
            lr,
        });
        Ok(())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.extras.iter().position(|l| l.name == name)
    }

    fn learnable(&self, name: &str) -> &Learnable {
        let i = self.find(name).unwrap_or_else(|| {
            panic!(
                "no learnable tensor `{name}` in this state (have: {:?}); add it in Method::init_state",
                self.names()
            )
        });
        &self.extras[i]
    }

    /// Names of the learnable tensors besides the images, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.extras.iter().map(|l| l.name.clone()).collect()
    }

    /// Whether a learnable tensor `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The current value of `name` (rank `D`, as added).
    ///
    /// # Panics
    /// When `name` was never added (a bug in the method, not in a user's input).
    pub fn get<const D: usize>(&self, name: &str) -> Tensor<D> {
        let l = self.learnable(name);
        let shape: [usize; D] =
            l.shape.clone().try_into().unwrap_or_else(|_| {
                panic!("`{name}` has rank {}, asked for rank {D}", l.shape.len())
            });
        l.value.clone().reshape(shape)
    }

    /// The current value of `name` as a fresh autodiff leaf.
    pub fn leaf_of<const D: usize>(&self, name: &str) -> Tensor<D> {
        self.get::<D>(name).autodiff().require_grad()
    }

    /// One step of `name`'s optimizer (SGD-momentum unless added with
    /// [`SynState::add_with`]) with its own learning rate.
    pub fn step_named<const D: usize>(&mut self, name: &str, grad: Tensor<D>) {
        let i = self
            .find(name)
            .unwrap_or_else(|| panic!("no learnable tensor `{name}`"));
        let l = &mut self.extras[i];
        let g = grad.inner().flatten::<1>(0, D - 1);
        l.value = l.opt.step(l.value.clone(), g, l.lr);
    }
}

/// A standard normal draw (Box-Muller), so noise init depends on the seed alone.
fn standard_normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// What one iteration of a method sees.
pub struct Ctx<'a> {
    /// This iteration's random stream (seeded from the run's seed and the iteration alone).
    pub rng: StdRng,
    /// The learnable synthetic state.
    pub syn: &'a mut SynState,
    /// The real set.
    pub real: &'a RealPool,
    /// Where everything runs.
    pub device: &'a Device,
    /// Image learning rate of this iteration ([`Method::lr_images`]).
    pub lr: f64,
}

/// One distillation method plugged into the shared outer loop ([`run`]): what a new method
/// implements, in the crate or in a notebook cell. The loop owns seeding, progress, the loss
/// curve, checkpoints and the synthetic set; a method owns one iteration.
///
/// # Example
/// A toy method that pulls each class's images towards that class's real mean, run with
/// checkpoints:
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{Ctx, DistillCommon, Method, run};
/// struct MeanPull;
/// impl Method for MeanPull {
///     fn name(&self) -> &'static str { "MeanPull" }
///     fn config_json(&self) -> serde_json::Value { serde_json::json!({"method": "MeanPull"}) }
///     fn lr_images(&self, _it: usize) -> f64 { 0.1 }
///     fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64> {
///         let mut grads = Vec::new();
///         for c in 0..ctx.real.num_classes() {
///             let real = ctx.real.batch(c, 4, &mut ctx.rng).mean_dim(0);
///             let syn = ctx.syn.class_leaf(c);
///             let loss = (syn.clone() - real).square().sum();
///             grads.push(syn.grad(&loss.backward()).unwrap());
///         }
///         let lr = ctx.lr;
///         ctx.syn.step(burn::tensor::Tensor::cat(grads, 0), lr);
///         Ok(0.0)
///     }
/// }
/// let data = ImageSet::from_pixels("t", [1, 2, 2], (0..32).map(|i| (i % 5) as f32 / 5.0).collect(),
///                                  vec![0, 1, 0, 1, 0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let mut r = run(MeanPull, 1, &DistillCommon::new().with_progress(false), &data, &device())?;
/// assert_eq!(r.steps(3)?.iterations(), 3);
/// # Ok::<(), Error>(())
/// ```
pub trait Method {
    /// Short name (`DC`, `DSA`, `DM`, `CAFE`, ...).
    fn name(&self) -> &'static str;
    /// The hyper-parameters (for the manifest and the checkpoint check).
    fn config_json(&self) -> serde_json::Value;
    /// Image learning rate at iteration `it` (a schedule where the method has one).
    fn lr_images(&self, it: usize) -> f64;
    /// Adds the method's learnable tensors besides the images (soft labels, a step size) to a
    /// fresh state with [`SynState::add`]; called once when a run starts, before any resume.
    fn init_state(&self, _state: &mut SynState, _real: &RealPool) -> Result<()> {
        Ok(())
    }
    /// One outer iteration (the reference code's `it`): updates the state through
    /// `ctx.syn.step(..)` / `ctx.syn.step_named(..)` one or more times; returns the
    /// iteration's mean loss.
    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64>;
    /// The synthetic set's soft targets `[classes * ipc, classes]` (rows are distributions),
    /// where the method learns them; `None` (the default) means hard class labels.
    fn soft_labels(&self, _state: &SynState) -> Option<Tensor<2>> {
        None
    }
    /// The step size the method learned, where it learns one (scored sets train with it).
    fn learned_lr(&self, _state: &SynState) -> Option<f64> {
        None
    }
}

/// A run of method `M`: the [`DistillRun`] every distiller returns.
struct Outer<M: Method> {
    method: M,
    /// The training set's checksum ([`super::DataFingerprint`]), computed only when the run
    /// has a checkpoint file (a pass over every value): a checkpoint made on other data is
    /// refused.
    data_checksum: Option<String>,
    ipc: usize,
    common: DistillCommon,
    syn: SynState,
    real: RealPool,
    device: Device,
    it: usize,
    history: Vec<StepRecord>,
    seconds: f64,
}

/// SplitMix64: decorrelated seeds from `(seed, stream)`.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed
        ^ stream
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What identifies a run in a checkpoint: its config without the keys that do not change the
/// images it produces (progress printing, the planned number of iterations, where and how
/// often checkpoints are written), so a checkpoint can be extended, moved or copied and still
/// resumed. Applied to stored configs too, which older checkpoints wrote with those keys.
fn run_identity(mut config: serde_json::Value) -> serde_json::Value {
    if let Some(o) = config.as_object_mut() {
        // The shared settings nested as `common` (DistillCommon) compare as if flat, so a
        // checkpoint written before they were nested still resumes.
        if let Some(serde_json::Value::Object(common)) = o.remove("common") {
            o.extend(common);
        }
        for key in ["progress", "iterations", "checkpoint", "checkpoint_every"] {
            o.remove(key);
        }
    }
    config
}

/// Starts (or resumes from `settings.checkpoint`) a run of `method` on `data` with `ipc`
/// images per class: the one outer loop of every distiller. It reads the images'
/// initialisation and momentum, the seed, the checkpoint and progress settings of `settings`.
/// See [`Method`] for an example.
pub fn run<M: Method + 'static>(
    method: M,
    ipc: usize,
    settings: &DistillCommon,
    data: &ImageSet,
    device: &Device,
) -> Result<Box<dyn DistillRun>> {
    check_settings(method.name(), ipc, settings)?;
    crate::error::ensure_fits(
        method.name(),
        "ipc",
        &[ipc, data.num_classes(), data.image_shape().iter().product()],
    )?;
    let common = settings.clone();
    let real = RealPool::new(data, device)?;
    let mut syn = SynState::init(&real, ipc, common.init, common.momentum, common.seed);
    method.init_state(&mut syn, &real)?;
    let mut run = Outer {
        method,
        data_checksum: common
            .checkpoint
            .is_some()
            .then(|| super::DataFingerprint::of(data).checksum),
        ipc,
        common,
        syn,
        real,
        device: device.clone(),
        it: 0,
        history: Vec::new(),
        seconds: 0.0,
    };
    if let Some(path) = run.checkpoint_path().filter(|p| p.exists()) {
        run.resume(&path)?;
    }
    Ok(Box::new(run))
}

impl<M: Method> Outer<M> {
    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.common.checkpoint.as_ref().map(PathBuf::from)
    }

    /// The config and the data as compared on resume (see [`run_identity`]).
    fn fingerprint(&self) -> serde_json::Value {
        let mut v = self.method.config_json();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "data".into(),
                serde_json::json!([self.real.name, self.real.shape, self.real.classes.len()]),
            );
        }
        run_identity(v)
    }

    fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let [n, c, h, w] = self.syn.values.dims();
        let values = self
            .syn
            .values
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 images");
        let buf = self
            .syn
            .images_opt
            .first
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 buffer");
        let mut entries = vec![
            (
                "images".to_string(),
                Dtype::F32,
                vec![n, c, h, w],
                f32_bytes(&values),
            ),
            (
                "momentum".to_string(),
                Dtype::F32,
                vec![n, c, h, w],
                f32_bytes(&buf),
            ),
        ];
        // Adam's second moments and step counts, only for tensors stepped by Adam (an
        // SGD-only run writes the same checkpoint as before Adam existed).
        let mut adam_steps = serde_json::Map::new();
        let f32s = |t: &Tensor<1>| {
            t.clone()
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 tensor")
        };
        if let Some(second) = &self.syn.images_opt.second {
            let v = f32s(&second.clone().flatten(0, 3));
            entries.push(("second".into(), Dtype::F32, vec![n, c, h, w], f32_bytes(&v)));
            adam_steps.insert("images".into(), self.syn.images_opt.t.into());
        }
        for l in &self.syn.extras {
            for (name, t) in [
                (l.name.clone(), &l.value),
                (format!("{}.momentum", l.name), &l.opt.first),
            ] {
                entries.push((name, Dtype::F32, l.shape.clone(), f32_bytes(&f32s(t))));
            }
            if let Some(second) = &l.opt.second {
                let name = format!("{}.second", l.name);
                entries.push((name, Dtype::F32, l.shape.clone(), f32_bytes(&f32s(second))));
                adam_steps.insert(l.name.clone(), l.opt.t.into());
            }
        }
        let mut meta = HashMap::new();
        if !adam_steps.is_empty() {
            meta.insert(
                "adam_steps".into(),
                serde_json::Value::from(adam_steps).to_string(),
            );
        }
        meta.insert("method".into(), self.method.name().to_string());
        meta.insert("config".into(), self.fingerprint().to_string());
        meta.insert("iteration".into(), self.it.to_string());
        if let Some(sum) = &self.data_checksum {
            meta.insert("data_checksum".into(), sum.clone());
        }
        meta.insert("seconds".into(), self.seconds.to_string());
        meta.insert(
            "history".into(),
            serde_json::to_string(&self.history).expect("records serialise"),
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.into(),
                source,
            })?;
        }
        let bytes = serialize(&entries, meta, path)?;
        write_atomic(path, &bytes)
    }

    fn resume(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::data(path, e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::data(path, format!("not a checkpoint: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| Error::data(path, format!("checkpoint lacks `{k}`")))
        };
        let stored = serde_json::from_str(&get("config")?).map(run_identity).ok();
        if get("method")? != self.method.name() || stored != Some(self.fingerprint()) {
            return Err(Error::config(
                self.method.name(),
                "checkpoint",
                format!(
                    "{} holds a run with another method or configuration; delete it or choose another path",
                    path.display()
                ),
            ));
        }
        // Checkpoints written before the data checksum was recorded are checked by name,
        // shape and classes only (the fingerprint above).
        if let (Some(sum), Some(ours)) = (meta.get("data_checksum"), &self.data_checksum)
            && sum != ours
        {
            return Err(Error::data(
                path,
                format!(
                    "was made on other data than {} (same name and shape, other values or labels); delete it or choose another path",
                    self.real.name
                ),
            ));
        }
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::data(path, e.to_string()))?;
        let dims = self.syn.values.dims();
        let device = self.device.clone();
        let load_flat = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let v = read_f32(&st, name, path)?;
            if v.len() != shape.iter().product::<usize>() {
                return Err(Error::data(
                    path,
                    format!("tensor `{name}` has {} values, expected {shape:?}", v.len()),
                ));
            }
            Ok(v)
        };
        let load = |name: &str| -> Result<Tensor<4>> {
            let v = load_flat(name, &dims)?;
            Ok(Tensor::from_data(TensorData::new(v, dims), &device))
        };
        self.syn.values = load("images")?;
        self.syn.images_opt.first = load("momentum")?;
        let adam_steps: serde_json::Map<String, serde_json::Value> = match meta.get("adam_steps") {
            Some(s) => serde_json::from_str(s).map_err(|e| Error::data(path, e.to_string()))?,
            None => serde_json::Map::new(),
        };
        let steps_of = |name: &str| -> Result<u64> {
            adam_steps
                .get(name)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| {
                    Error::data(
                        path,
                        format!("checkpoint lacks Adam's step count of `{name}`"),
                    )
                })
        };
        if self.syn.images_opt.second.is_some() {
            self.syn.images_opt.second = Some(load("second")?);
            self.syn.images_opt.t = steps_of("images")?;
        }
        for l in &mut self.syn.extras {
            let n = l.shape.iter().product::<usize>();
            let flat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), &device);
            l.value = flat(load_flat(&l.name, &l.shape)?);
            l.opt.first = flat(load_flat(&format!("{}.momentum", l.name), &l.shape)?);
            if l.opt.second.is_some() {
                l.opt.second = Some(flat(load_flat(&format!("{}.second", l.name), &l.shape)?));
                l.opt.t = steps_of(&l.name)?;
            }
        }
        let it: usize = get("iteration")?
            .parse()
            .map_err(|_| Error::data(path, "`iteration` is not a whole number"))?;
        let history: Vec<StepRecord> =
            serde_json::from_str(&get("history")?).map_err(|e| Error::data(path, e.to_string()))?;
        if history.len() != it
            || history
                .iter()
                .enumerate()
                .any(|(k, r)| r.iteration != k + 1)
        {
            return Err(Error::data(
                path,
                format!(
                    "claims {it} iterations but records {} (numbered 1, 2, ...): not a checkpoint this loop wrote",
                    history.len()
                ),
            ));
        }
        self.it = it;
        self.seconds = get("seconds")?
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(0.0);
        self.history = history;
        if self.common.progress {
            println!(
                "{}: resumed from {} at iteration {}",
                self.method.name(),
                path.display(),
                self.it
            );
        }
        Ok(())
    }
}

impl<M: Method> DistillRun for Outer<M> {
    fn method(&self) -> &'static str {
        self.method.name()
    }

    fn steps(&mut self, n: usize) -> Result<&mut dyn DistillRun> {
        let label = format!("{} {} per class", self.method.name(), self.ipc);
        let mut progress = Progress::new(label, n).with_print(self.common.progress);
        for _ in 0..n {
            let started = Instant::now();
            let it = self.it;
            let s = mix(self.common.seed, it as u64);
            self.device.seed(s);
            let lr = self.method.lr_images(it);
            let mut ctx = Ctx {
                rng: StdRng::seed_from_u64(s),
                syn: &mut self.syn,
                real: &self.real,
                device: &self.device,
                lr,
            };
            let loss = self.method.iteration(&mut ctx)?;
            self.it += 1;
            self.seconds += started.elapsed().as_secs_f64();
            self.history.push(StepRecord {
                iteration: self.it,
                loss,
                seconds: self.seconds,
            });
            progress.tick(1, || format!("iteration {} loss {loss:.4}", self.it));
            if let Some(path) = self.checkpoint_path()
                && self.it.is_multiple_of(self.common.checkpoint_every)
            {
                self.save_checkpoint(&path)?;
            }
        }
        if let Some(path) = self.checkpoint_path() {
            self.save_checkpoint(&path)?;
        }
        Ok(self)
    }

    fn synthetic(&self) -> SyntheticSet {
        let values = self
            .syn
            .values
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 images");
        let soft_labels = self.method.soft_labels(&self.syn).map(|t| {
            t.inner()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 soft labels")
        });
        SyntheticSet {
            method: self.method.name().to_string(),
            source: self.real.name.clone(),
            shape: self.real.shape,
            images: values,
            labels: self.syn.labels(),
            soft_labels,
            classes: self.real.classes.clone(),
            mean: self.real.mean.clone(),
            std: self.real.std.clone(),
            lr: self.method.learned_lr(&self.syn).map(|v| v as f32),
            config: self.method.config_json(),
            iterations: self.it,
            seconds: super::synthetic::json_exact(self.seconds),
            accuracy: None,
        }
    }

    fn iterations(&self) -> usize {
        self.it
    }

    fn history(&self) -> &[StepRecord] {
        &self.history
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }

    fn loss_plot(&self) -> LinePlot {
        let pts = self
            .history
            .iter()
            .map(|r| (r.iteration as f64, r.loss))
            .collect();
        LinePlot::new(
            format!("{} loss ({} per class)", self.method.name(), self.ipc),
            "iteration",
            "loss",
        )
        .series(self.method.name(), pts)
    }
}
