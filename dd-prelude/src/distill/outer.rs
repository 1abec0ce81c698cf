//! The outer loop every distillation method shares: synthetic images with their SGD-momentum
//! optimizer, the real set on the device, per-iteration seeding, progress lines, the loss
//! curve, and checkpoint / resume.
//!
//! Every iteration `it` draws its randomness from `seed` and `it` alone (a host `StdRng` for
//! batches and augmentations, `device.seed(..)` for fresh networks), so a run resumed from a
//! checkpoint at iteration `k` continues exactly as the uninterrupted run would have.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::synthetic::{f32_bytes, read_f32, serialize, write_atomic};
use super::{DistillRun, StepRecord, SyntheticSet};
use crate::data::ImageSet;
use crate::error::{Error, Result};
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

/// The real training set, uploaded once to the device, with its indices per class.
pub(crate) struct RealPool {
    images: Tensor<4>,
    by_class: Vec<Vec<usize>>,
    pub(crate) shape: [usize; 3],
    pub(crate) classes: Vec<String>,
    pub(crate) mean: Vec<f32>,
    pub(crate) std: Vec<f32>,
    pub(crate) name: String,
}

impl RealPool {
    pub(crate) fn new(data: &ImageSet, device: &Device) -> Result<Self> {
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
            images: data.tensor(device),
            by_class,
            shape: data.image_shape(),
            classes: data.classes().to_vec(),
            mean: data.mean().to_vec(),
            std: data.std().to_vec(),
            name: data.name().to_string(),
        })
    }

    pub(crate) fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// `n` random images of class `c` (all of them when the class has fewer), on the device.
    pub(crate) fn batch(&self, c: usize, n: usize, rng: &mut StdRng) -> Tensor<4> {
        let pool = &self.by_class[c];
        let idx: Vec<i64> = if n >= pool.len() {
            let mut v: Vec<i64> = pool.iter().map(|&i| i as i64).collect();
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
                    pool[vj] as i64
                })
                .collect()
        };
        let device = self.images.device();
        let len = idx.len();
        self.images.clone().select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(idx, [len]), &device),
        )
    }
}

/// The synthetic images (plain tensor, class-major: `ipc` images of class 0, then class 1, ...)
/// and their SGD-momentum buffer.
pub(crate) struct SynImages {
    pub(crate) values: Tensor<4>,
    momentum_buf: Tensor<4>,
    pub(crate) ipc: usize,
    pub(crate) classes: usize,
    momentum: f64,
}

impl SynImages {
    pub(crate) fn init(
        real: &RealPool,
        ipc: usize,
        init: Init,
        momentum: f64,
        rng: &mut StdRng,
        device: &Device,
    ) -> Self {
        let [c, h, w] = real.shape;
        let classes = real.num_classes();
        let values = match init {
            Init::Real => {
                let parts: Vec<Tensor<4>> = (0..classes).map(|k| real.batch(k, ipc, rng)).collect();
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
                let v: Vec<f32> = (0..n).map(|_| standard_normal(rng)).collect();
                Tensor::from_data(TensorData::new(v, [classes * ipc, c, h, w]), device)
            }
        };
        SynImages {
            momentum_buf: Tensor::zeros_like(&values),
            values,
            ipc,
            classes,
            momentum,
        }
    }

    /// Labels, class-major.
    pub(crate) fn labels(&self) -> Vec<usize> {
        (0..self.classes)
            .flat_map(|c| std::iter::repeat_n(c, self.ipc))
            .collect()
    }

    /// The images of class `c` as a fresh autodiff leaf.
    pub(crate) fn class_leaf(&self, c: usize) -> Tensor<4> {
        self.values
            .clone()
            .narrow(0, c * self.ipc, self.ipc)
            .autodiff()
            .require_grad()
    }

    /// All images as a fresh autodiff leaf.
    pub(crate) fn leaf(&self) -> Tensor<4> {
        self.values.clone().autodiff().require_grad()
    }

    /// One step of PyTorch's SGD with momentum (dampening 0): `buf = m * buf + g; x -= lr * buf`.
    pub(crate) fn step(&mut self, grad: Tensor<4>, lr: f64) {
        let buf = self
            .momentum_buf
            .clone()
            .mul_scalar(self.momentum)
            .add(grad);
        self.values = self.values.clone().sub(buf.clone().mul_scalar(lr));
        self.momentum_buf = buf;
    }
}

/// A standard normal draw (Box-Muller), so noise init depends on the seed alone.
fn standard_normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// What one iteration of a method sees.
pub(crate) struct Ctx<'a> {
    pub(crate) rng: StdRng,
    pub(crate) syn: &'a mut SynImages,
    pub(crate) real: &'a RealPool,
    pub(crate) device: &'a Device,
    /// Image learning rate of this iteration.
    pub(crate) lr: f64,
}

/// One distillation method plugged into the shared loop.
pub(crate) trait Method {
    /// `DC`, `DSA`, `DM`, `CAFE`.
    fn name(&self) -> &'static str;
    /// The hyper-parameters (for the manifest and the checkpoint check).
    fn config_json(&self) -> serde_json::Value;
    /// Image learning rate at iteration `it` (a schedule where the method has one).
    fn lr_images(&self, it: usize) -> f64;
    /// One outer iteration (the reference code's `it`): updates the images through
    /// `ctx.syn.step(..)` one or more times; returns the iteration's mean loss.
    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64>;
}

/// Settings every method's config carries.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) ipc: usize,
    pub(crate) init: Init,
    pub(crate) momentum: f64,
    pub(crate) seed: u64,
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) checkpoint_every: usize,
    pub(crate) progress: bool,
}

/// A run of method `M`: the [`DistillRun`] every distiller returns.
pub(crate) struct Outer<M: Method> {
    method: M,
    common: Common,
    syn: SynImages,
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
        for key in ["progress", "iterations", "checkpoint", "checkpoint_every"] {
            o.remove(key);
        }
    }
    config
}

/// Starts (or resumes from `common.checkpoint`) a run of `method` on `data`.
pub(crate) fn start<M: Method + 'static>(
    method: M,
    common: Common,
    data: &ImageSet,
    device: &Device,
) -> Result<Box<dyn DistillRun>> {
    let real = RealPool::new(data, device)?;
    let mut rng = StdRng::seed_from_u64(mix(common.seed, u64::MAX));
    let syn = SynImages::init(
        &real,
        common.ipc,
        common.init,
        common.momentum,
        &mut rng,
        device,
    );
    let mut run = Outer {
        method,
        common,
        syn,
        real,
        device: device.clone(),
        it: 0,
        history: Vec::new(),
        seconds: 0.0,
    };
    if let Some(path) = run.common.checkpoint.clone().filter(|p| p.exists()) {
        run.resume(&path)?;
    }
    Ok(Box::new(run))
}

impl<M: Method> Outer<M> {
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
            .momentum_buf
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 buffer");
        let entries = vec![
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
        let mut meta = HashMap::new();
        meta.insert("method".into(), self.method.name().to_string());
        meta.insert("config".into(), self.fingerprint().to_string());
        meta.insert("iteration".into(), self.it.to_string());
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
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::data(path, e.to_string()))?;
        let dims = self.syn.values.dims();
        let device = self.device.clone();
        let load = |name: &str| -> Result<Tensor<4>> {
            let v = read_f32(&st, name, path)?;
            if v.len() != dims.iter().product::<usize>() {
                return Err(Error::data(
                    path,
                    format!("tensor `{name}` has {} values, expected {dims:?}", v.len()),
                ));
            }
            Ok(Tensor::from_data(TensorData::new(v, dims), &device))
        };
        self.syn.values = load("images")?;
        self.syn.momentum_buf = load("momentum")?;
        self.it = get("iteration")?
            .parse()
            .map_err(|_| Error::data(path, "bad iteration"))?;
        self.seconds = get("seconds")?.parse().unwrap_or(0.0);
        self.history =
            serde_json::from_str(&get("history")?).map_err(|e| Error::data(path, e.to_string()))?;
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
        let label = format!("{} {} per class", self.method.name(), self.common.ipc);
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
            if let Some(path) = &self.common.checkpoint
                && self.it.is_multiple_of(self.common.checkpoint_every)
            {
                self.save_checkpoint(path)?;
            }
        }
        if let Some(path) = &self.common.checkpoint {
            self.save_checkpoint(path)?;
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
        SyntheticSet {
            method: self.method.name().to_string(),
            source: self.real.name.clone(),
            shape: self.real.shape,
            images: values,
            labels: self.syn.labels(),
            classes: self.real.classes.clone(),
            mean: self.real.mean.clone(),
            std: self.real.std.clone(),
            lr: None,
            config: self.method.config_json(),
            iterations: self.it,
            seconds: self.seconds,
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
            format!(
                "{} loss ({} per class)",
                self.method.name(),
                self.common.ipc
            ),
            "iteration",
            "loss",
        )
        .series(self.method.name(), pts)
    }
}
