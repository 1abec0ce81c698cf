//! Expert trajectories ("buffers") for trajectory matching: networks trained on the real data
//! as MTT's `buffer.py` trains them (plain SGD, no momentum, no weight decay, DSA augmentation),
//! their parameters saved after every epoch.
//!
//! # Layout on disk (PyTorch-readable)
//! ```text
//! <dir>/manifest.json                     the ExpertConfig, the network, the data's fingerprint,
//!                                         the parameter shapes
//! <dir>/expert_0003/epoch_0000.safetensors  parameters before training
//! <dir>/expert_0003/epoch_0012.safetensors  parameters after 12 epochs
//! ```
//! Each epoch file holds one F32 tensor per parameter, `p00`, `p01`, ... in the order of the
//! Burn module (`MetaArch`'s layout: a linear weight is `[d_in, d_out]`, the transpose of
//! PyTorch's); `safetensors.torch.load_file` reads it as is.
//!
//! # Jobs
//! Every expert is independent: its initial network is drawn from `seed` and its index alone,
//! its batches from `seed`, its index and the epoch. So `N` experts can be trained as `N`
//! jobs (the `dd-experts --expert I` command: a Slurm array, a Kubernetes indexed job, one
//! process per core) into one folder and give the same files as one job training all of them.
//! A job that stops resumes at its last complete epoch (files are written atomically).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use serde::{Deserialize, Serialize};

use super::engine::{MetaArch, Params};
use super::outer::mix;
use super::synthetic::{f32_bytes, read_f32, serialize, write_atomic};
use crate::augment::Augment;
use crate::data::ImageSet;
use crate::error::{Error, Result, ensure};
use crate::models::ConvNetConfig;
use crate::progress::Progress;
use crate::train::{FitConfig, Schedule, fit};

/// How experts are trained; defaults are MTT's `buffer.py` (SGD lr 0.01, no momentum, no weight
/// decay, batch 256, DSA augmentation, 50 epochs, ConvNet width 128 depth 3).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::ExpertConfig;
/// let dev = device();
/// let px: Vec<f32> = (0..16 * 16).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
/// let data = ImageSet::from_pixels("toy", [1, 4, 4], px, (0..16).map(|i| i % 2).collect(),
///                                  vec!["a".into(), "b".into()])?;
/// let dir = std::env::temp_dir().join(format!("dd-doc-experts-{}", std::process::id()));
/// let cfg = ExpertConfig::new().with_epochs(2).with_width(4).with_depth(1).with_progress(false);
/// let buffer = cfg.train_experts(0..2, &data, &dir, &dev)?;
/// assert_eq!(buffer.complete_experts()?, vec![0, 1]);
/// let theta = buffer.load(1, 2, &dev)?;
/// assert_eq!(theta.len(), 6); // conv weight and bias, norm scale and shift, linear weight and bias
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct ExpertConfig {
    /// Epochs per expert (parameters are saved before training and after each epoch).
    #[config(default = 50)]
    pub epochs: usize,
    /// SGD step size.
    #[config(default = 0.01)]
    pub lr: f64,
    /// Batch size.
    #[config(default = 256)]
    pub batch_size: usize,
    /// Augmentation of every batch (MTT trains its experts with DSA).
    #[config(default = "Augment::Dsa")]
    pub augment: Augment,
    /// ConvNet width.
    #[config(default = 128)]
    pub width: usize,
    /// ConvNet depth.
    #[config(default = 3)]
    pub depth: usize,
    /// Seed of every random choice (each expert draws from it and its index).
    #[config(default = 0)]
    pub seed: u64,
    /// Print progress lines.
    #[config(default = true)]
    pub progress: bool,
}

/// What `manifest.json` records: the config, the network and the data the experts were
/// trained on, and the parameter shapes of every epoch file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BufferManifest {
    /// Format tag.
    pub format: String,
    /// How the experts were trained.
    pub config: ExpertConfig,
    /// The ConvNet trained.
    pub convnet: ConvNetConfig,
    /// The data set's name, size, image shape and a checksum of its values and labels.
    pub data: DataFingerprint,
    /// Shape of each parameter tensor `p00`, `p01`, ...
    pub shapes: Vec<Vec<usize>>,
}

/// Identifies a data set: name, size, image shape, classes and an FNV-1a checksum of every
/// value and label, so a buffer is never matched against other data by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// The set's name.
    pub name: String,
    /// Number of images.
    pub len: usize,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// FNV-1a over the bits of every value and every label, as hex.
    pub checksum: String,
}

impl DataFingerprint {
    /// The fingerprint of `data`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::DataFingerprint;
    /// let a = ImageSet::from_pixels("t", [1, 1, 2], vec![0.0, 1.0, 1.0, 0.0], vec![0, 1], vec!["a".into(), "b".into()])?;
    /// let b = a.subset(&[1, 0]).named("t");
    /// assert_ne!(DataFingerprint::of(&a).checksum, DataFingerprint::of(&b).checksum);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn of(data: &ImageSet) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |v: u64| {
            h ^= v;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        for v in data.images() {
            eat(v.to_bits() as u64);
        }
        for &l in data.labels() {
            eat(l as u64);
        }
        DataFingerprint {
            name: data.name().to_string(),
            len: data.len(),
            shape: data.image_shape(),
            classes: data.num_classes(),
            checksum: format!("{h:016x}"),
        }
    }
}

const FORMAT: &str = "dd-prelude expert buffer v1";

impl ExpertConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "ExpertConfig";
        ensure(self.epochs >= 1, M, "epochs", || {
            "must be at least 1".into()
        })?;
        ensure(self.lr > 0.0 && self.lr.is_finite(), M, "lr", || {
            format!("must be positive, got {}", self.lr)
        })?;
        ensure(self.batch_size >= 1, M, "batch_size", || {
            "must be at least 1".into()
        })?;
        ensure(self.width >= 1, M, "width", || "must be at least 1".into())?;
        ensure((1..=4).contains(&self.depth), M, "depth", || {
            format!("must be 1 to 4 (the ConvNet family), got {}", self.depth)
        })
    }

    /// The ConvNet the experts train, for `data`.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        ConvNetConfig::for_set(data)
            .with_width(self.width)
            .with_depth(self.depth)
    }

    /// The training of one epoch of expert `index`: plain SGD, its own batch order.
    fn epoch_fit(&self, index: usize, epoch: usize) -> FitConfig {
        FitConfig::new()
            .with_epochs(1)
            .with_lr(self.lr)
            .with_momentum(0.0)
            .with_weight_decay(0.0)
            .with_schedule(Schedule::Constant)
            .with_batch_size(self.batch_size)
            .with_augment(self.augment)
            .with_seed(mix(mix(self.seed, index as u64), epoch as u64 + 1))
            .with_progress(false)
    }

    /// Trains experts `indices` (each resumed where a previous job left it) into `dir`, one
    /// after another, and returns the buffer.
    pub fn train_experts(
        &self,
        indices: impl IntoIterator<Item = usize>,
        data: &ImageSet,
        dir: impl AsRef<Path>,
        device: &Device,
    ) -> Result<ExpertBuffer> {
        for i in indices {
            self.train_expert(i, data, dir.as_ref(), device)?;
        }
        ExpertBuffer::open(dir)
    }

    /// Trains expert `index` into `dir` (the manifest is written or checked first), resuming
    /// at its last complete epoch; returns the expert's folder.
    pub fn train_expert(
        &self,
        index: usize,
        data: &ImageSet,
        dir: &Path,
        device: &Device,
    ) -> Result<PathBuf> {
        self.check()?;
        let convnet = self.convnet(data);
        let arch = MetaArch::convnet(&convnet)?;
        let manifest = BufferManifest {
            format: FORMAT.into(),
            config: self.clone().with_progress(true),
            convnet: convnet.clone(),
            data: DataFingerprint::of(data),
            shapes: arch.param_shapes(),
        };
        ExpertBuffer::write_or_check_manifest(dir, &manifest)?;
        let folder = dir.join(format!("expert_{index:04}"));
        std::fs::create_dir_all(&folder).map_err(|source| Error::Io {
            path: folder.clone(),
            source,
        })?;
        let done = (0..=self.epochs)
            .take_while(|&e| epoch_file(&folder, e).is_file())
            .count();
        if done == self.epochs + 1 {
            return Ok(folder);
        }
        let (mut model, first) = if done == 0 {
            device.seed(mix(self.seed, index as u64));
            let model = convnet.init(device);
            save_epoch(&folder, 0, &arch.params_from(&model)?)?;
            (model, 1)
        } else {
            let params = read_epoch(&folder, done - 1, &manifest.shapes, &arch, device)?;
            (arch.to_convnet(&params, device)?, done)
        };
        let label = format!("expert {index}");
        let mut progress = Progress::new(label, self.epochs + 1 - first).with_print(self.progress);
        let started = Instant::now();
        for epoch in first..=self.epochs {
            let trained = fit(model, data, &self.epoch_fit(index, epoch), device)?;
            let loss = trained.history.last().map(|r| r.loss).unwrap_or(f64::NAN);
            model = trained.model;
            save_epoch(&folder, epoch, &arch.params_from(&model)?)?;
            progress.tick(1, || {
                format!(
                    "epoch {epoch}/{} loss {loss:.4} ({:.0} s)",
                    self.epochs,
                    started.elapsed().as_secs_f64()
                )
            });
        }
        Ok(folder)
    }
}

fn epoch_file(folder: &Path, epoch: usize) -> PathBuf {
    folder.join(format!("epoch_{epoch:04}.safetensors"))
}

fn save_epoch(folder: &Path, epoch: usize, params: &Params) -> Result<()> {
    let path = epoch_file(folder, epoch);
    let entries: Vec<_> = params
        .values()
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let v = t
                .clone()
                .inner()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 parameters");
            (
                format!("p{k:02}"),
                Dtype::F32,
                params.shape(k).to_vec(),
                f32_bytes(&v),
            )
        })
        .collect();
    // One metadata entry: safetensors writes a HashMap's entries in its random order, and
    // jobs must write byte-identical files. The epoch is in the file name.
    let meta = std::collections::HashMap::from([("format".to_string(), FORMAT.to_string())]);
    let bytes = serialize(&entries, meta, &path)?;
    write_atomic(&path, &bytes)
}

fn read_epoch(
    folder: &Path,
    epoch: usize,
    shapes: &[Vec<usize>],
    arch: &MetaArch,
    device: &Device,
) -> Result<Params> {
    let path = epoch_file(folder, epoch);
    let bytes = std::fs::read(&path).map_err(|e| Error::data(&path, e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::data(&path, format!("not a safetensors file: {e}")))?;
    let mut values = Vec::with_capacity(shapes.len());
    for (k, shape) in shapes.iter().enumerate() {
        let name = format!("p{k:02}");
        let v = read_f32(&st, &name, &path)?;
        let n: usize = shape.iter().product();
        if v.len() != n || v.iter().any(|x| !x.is_finite()) {
            return Err(Error::data(
                &path,
                format!(
                    "tensor `{name}` has {} values (expected {n}, all finite)",
                    v.len()
                ),
            ));
        }
        values.push(Tensor::<1>::from_data(TensorData::new(v, [n]), device));
    }
    arch.params_with(values)
}

/// A folder of expert trajectories (see the [module docs](self) for the layout).
#[derive(Debug, Clone)]
pub struct ExpertBuffer {
    dir: PathBuf,
    manifest: BufferManifest,
    arch: MetaArch,
}

impl ExpertBuffer {
    /// Opens the buffer in `dir` (reads and checks its manifest).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join("manifest.json");
        let json = std::fs::read(&path).map_err(|e| {
            Error::data(
                &path,
                format!("{e}; train experts first (dd-experts --dir ...)"),
            )
        })?;
        let manifest: BufferManifest = serde_json::from_slice(&json)
            .map_err(|e| Error::data(&path, format!("not an expert buffer manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(Error::data(
                &path,
                format!("format `{}`, expected `{FORMAT}`", manifest.format),
            ));
        }
        let arch = MetaArch::convnet(&manifest.convnet)?;
        if arch.param_shapes() != manifest.shapes {
            return Err(Error::data(
                &path,
                "parameter shapes do not match the recorded ConvNet",
            ));
        }
        Ok(ExpertBuffer {
            dir,
            manifest,
            arch,
        })
    }

    fn write_or_check_manifest(dir: &Path, manifest: &BufferManifest) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.into(),
            source,
        })?;
        let path = dir.join("manifest.json");
        if path.is_file() {
            let existing = ExpertBuffer::open(dir)?;
            let json = |m: &BufferManifest| serde_json::to_value(m).unwrap_or_default();
            if json(&existing.manifest) != json(manifest) {
                return Err(Error::config(
                    "ExpertConfig",
                    "dir",
                    format!(
                        "{} holds experts of another configuration or data ({} vs {}); choose another folder",
                        dir.display(),
                        serde_json::to_string(&existing.manifest.data).unwrap_or_default(),
                        serde_json::to_string(&manifest.data).unwrap_or_default()
                    ),
                ));
            }
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::data(&path, format!("manifest not serialisable: {e}")))?;
        write_atomic(&path, &json)
    }

    /// The manifest.
    pub fn manifest(&self) -> &BufferManifest {
        &self.manifest
    }

    /// The network the experts trained, as a meta-gradient engine architecture.
    pub fn arch(&self) -> &MetaArch {
        &self.arch
    }

    /// Epochs per expert (each expert has `epochs + 1` parameter sets).
    pub fn epochs(&self) -> usize {
        self.manifest.config.epochs
    }

    /// Indices of the experts whose every epoch is on disk, in order.
    pub fn complete_experts(&self) -> Result<Vec<usize>> {
        let read =
            std::fs::read_dir(&self.dir).map_err(|e| Error::data(&self.dir, e.to_string()))?;
        let mut out = Vec::new();
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(i) = name
                .strip_prefix("expert_")
                .and_then(|s| s.parse::<usize>().ok())
                && epoch_file(&entry.path(), self.epochs()).is_file()
            {
                out.push(i);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Checks that the buffer was trained on `data`.
    pub fn check_data(&self, data: &ImageSet) -> Result<()> {
        if DataFingerprint::of(data) != self.manifest.data {
            return Err(Error::data(
                self.dir.join("manifest.json"),
                format!(
                    "the experts were trained on {} ({} images), not on {} ({} images) with these values",
                    self.manifest.data.name,
                    self.manifest.data.len,
                    data.name(),
                    data.len()
                ),
            ));
        }
        Ok(())
    }

    /// The parameters of expert `expert` after `epoch` epochs.
    pub fn load(&self, expert: usize, epoch: usize, device: &Device) -> Result<Params> {
        let folder = self.dir.join(format!("expert_{expert:04}"));
        read_epoch(&folder, epoch, &self.manifest.shapes, &self.arch, device)
    }
}
