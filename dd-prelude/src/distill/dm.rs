//! DM: dataset condensation with distribution matching (Zhao & Bilen, WACV 2023), as in the
//! reference code `main_DM.py` (ConvNet with instance norm).

use burn::config::Config;
use burn::tensor::{Device, Tensor};

use super::engine::{MetaArch, Params};
use super::outer::{Ctx, Method, run};
use super::settings::{DistillCommon, check_settings, common_setters};
use super::{DistillRun, Distiller};
use crate::augment::DiffAugConfig;
use crate::data::ImageSet;
use crate::error::{Result, ensure};
use crate::models::ConvNetConfig;

/// DM, the distribution-matching distiller; its config is [`DmConfig`].
pub type Dm = DmConfig;

/// Configuration of [`Dm`]: defaults are `main_DM.py`'s (`lr_img` 1.0 SGD momentum 0.5, real
/// batch 256 per class, init from real images, DSA strategy
/// `color_crop_cutout_flip_scale_rotate`, ConvNet width 128 depth 3, 20,000 iterations).
///
/// Each iteration samples a fresh randomly initialised network and, for every class, matches
/// the mean embedding of a real batch and of the synthetic images under the same augmentation:
/// `loss = sum_c || mean f(A(real_c)) - mean f(A(syn_c)) ||^2`. First-order autodiff suffices.
///
/// # Example
/// ```
/// use dd_prelude::distill::{DmConfig, Distiller};
/// let dm = DmConfig::new(10).with_iterations(500);
/// assert_eq!(dm.name(), "DM");
/// assert!(DmConfig::new(0).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct DmConfig {
    /// Synthetic images per class.
    pub ipc: usize,
    /// The settings every distiller shares (iterations, the images' optimizer and
    /// initialisation, the ConvNet, seed, checkpoints, progress), with this method's
    /// reference defaults; their `with_*` setters are forwarded.
    #[config(
        default = "DistillCommon::new().with_iterations(20000).with_lr_images(1.0).with_checkpoint_every(200)"
    )]
    pub common: DistillCommon,
    /// Real images per class per iteration.
    #[config(default = 256)]
    pub batch_real: usize,
    /// Siamese augmentation (`None` for plain DM without DSA).
    #[config(default = "Some(DiffAugConfig::new())")]
    pub augment: Option<DiffAugConfig>,
}

common_setters!(DmConfig);

impl DmConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "DmConfig";
        check_settings(M, self.ipc, &self.common)?;
        ensure(self.batch_real >= 1, M, "batch_real", || {
            "must be at least 1".into()
        })?;
        if let Some(a) = &self.augment {
            a.check()?;
        }
        Ok(())
    }

    /// The ConvNet whose random instances embed the images.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        self.common.convnet(data)
    }
}

/// The DM loss of one class under one network: `|| mean f(real) - mean f(syn) ||^2`, `[1]`
/// (augment both batches with the same [`super::SiameseAug`] first for DM with DSA).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::dm_loss;
/// use dd_prelude::distill::engine::MetaArch;
/// use burn::tensor::{Tensor, Distribution};
/// let dev = device();
/// let arch = MetaArch::convnet(&ConvNetConfig::new(2, 1, [8, 8]).with_width(4).with_depth(1))?;
/// let params = arch.init(&dev);
/// let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
/// let same: f32 = dm_loss(&arch, &params, x.clone(), x).into_scalar();
/// assert!(same.abs() < 1e-6);
/// # Ok::<(), Error>(())
/// ```
pub fn dm_loss(arch: &MetaArch, params: &Params, real: Tensor<4>, syn: Tensor<4>) -> Tensor<1> {
    let mean_real = arch.features(params, real).mean_dim(0);
    let mean_syn = arch.features(params, syn).mean_dim(0);
    mean_real.sub(mean_syn).square().sum()
}

/// The DM method in the shared loop.
struct DmMethod {
    arch: MetaArch,
    lr_images: f64,
    batch_real: usize,
    augment: Option<DiffAugConfig>,
    config: serde_json::Value,
}

impl Method for DmMethod {
    fn name(&self) -> &'static str {
        "DM"
    }

    fn config_json(&self) -> serde_json::Value {
        self.config.clone()
    }

    fn lr_images(&self, _it: usize) -> f64 {
        self.lr_images
    }

    /// One iteration of `main_DM.py` with the classes batched: the real batches go through the
    /// network a few classes per forward (no graph), the synthetic images of all classes in one
    /// tracked forward; the loss is the sum of the per-class losses, so the gradient of each
    /// class's images is that of its own loss, exactly as class by class.
    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64> {
        let params = self.arch.init(ctx.device);
        let classes = ctx.real.num_classes();
        let ipc = ctx.syn.ipc;
        let [_, h, w] = ctx.real.shape;
        let mut real = Vec::with_capacity(classes);
        let mut augs = Vec::with_capacity(classes);
        for c in 0..classes {
            let batch = ctx.real.batch(c, self.batch_real, &mut ctx.rng);
            let aug = self
                .augment
                .as_ref()
                .map(|a| a.sample([h, w], &mut ctx.rng));
            real.push(match &aug {
                Some(a) => a.apply(batch),
                None => batch,
            });
            augs.push(aug);
        }
        let real_means = self.real_means(&params, real);
        let leaf = ctx.syn.leaf();
        let syn: Vec<Tensor<4>> = (0..classes)
            .map(|c| {
                let part = leaf.clone().narrow(0, c * ipc, ipc);
                match &augs[c] {
                    Some(a) => a.apply(part),
                    None => part,
                }
            })
            .collect();
        let d = self.arch.feature_dim();
        let syn_means = self
            .arch
            .features(&params, Tensor::cat(syn, 0))
            .reshape([classes, ipc, d])
            .mean_dim(1)
            .reshape([classes, d]);
        let loss = syn_means.sub(real_means).square().sum();
        let loss_sum = loss.clone().into_scalar::<f32>() as f64;
        let grad = leaf
            .grad(&loss.backward())
            .expect("synthetic images require grad");
        ctx.syn.step(grad, ctx.lr);
        Ok(loss_sum / classes as f64)
    }
}

/// Real images per forward pass when computing class means (bounds the activations' memory).
/// One class at the reference's batch of 256: at 1,024 (four classes per pass) a DM iteration
/// at width 128 peaked at 969 MiB against PyTorch's 356, at 256 it peaks at 284 MiB, at the
/// same speed (`bench_distill`, 2026-11-27).
const REAL_CHUNK: usize = 256;

impl DmMethod {
    /// Mean embedding of each class's real batch, `[classes, feature_dim]`, a few classes per
    /// forward pass.
    fn real_means(&self, params: &Params, batches: Vec<Tensor<4>>) -> Tensor<2> {
        let mut means = Vec::with_capacity(batches.len());
        let mut group: Vec<Tensor<4>> = Vec::new();
        let mut size = 0;
        let flush = |group: &mut Vec<Tensor<4>>, means: &mut Vec<Tensor<2>>| {
            if group.is_empty() {
                return;
            }
            let sizes: Vec<usize> = group.iter().map(|t| t.dims()[0]).collect();
            let f = self
                .arch
                .features(params, Tensor::cat(std::mem::take(group), 0));
            let mut offset = 0;
            for n in sizes {
                means.push(f.clone().narrow(0, offset, n).mean_dim(0));
                offset += n;
            }
        };
        for b in batches {
            size += b.dims()[0];
            group.push(b);
            if size >= REAL_CHUNK {
                flush(&mut group, &mut means);
                size = 0;
            }
        }
        flush(&mut group, &mut means);
        Tensor::cat(means, 0)
    }
}

impl Distiller for DmConfig {
    fn name(&self) -> &'static str {
        "DM"
    }

    fn iterations(&self) -> usize {
        self.common.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let method = DmMethod {
            arch: MetaArch::convnet(&self.convnet(data))?,
            lr_images: self.common.lr_images,
            batch_real: self.batch_real,
            augment: self.augment.clone(),
            config: serde_json::to_value(self).unwrap_or_default(),
        };
        run(method, self.ipc, &self.common, data, device)
    }
}

impl DmConfig {
    /// Starts DM on `data` with the random networks of any architecture of the engine in place
    /// of the ConvNet ([`Distiller::start`] is this with [`MetaArch::convnet`]); `arch_name` is
    /// recorded in the run's config. Embedded sentences are distilled this way as one-channel
    /// images `[1, words, dims]`, without augmentation (`dd_prelude::text`).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::DmConfig;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let data = ImageSet::from_pixels("t", [1, 2, 2], (0..16).map(|i| (i % 3) as f32).collect(),
    ///                                  vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
    /// let dm = DmConfig::new(1).with_augment(None).with_batch_real(2).with_progress(false);
    /// let mut run = dm.start_with_arch(MetaArch::mlp([1, 2, 2], &[3], 2), "MLP", &data, &dev)?;
    /// assert_eq!(run.steps(2)?.synthetic().config["arch"], "MLP");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn start_with_arch(
        &self,
        arch: MetaArch,
        arch_name: &str,
        data: &ImageSet,
        device: &Device,
    ) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let mut config = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = config.as_object_mut() {
            o.insert("arch".into(), arch_name.into());
        }
        let method = DmMethod {
            arch,
            lr_images: self.common.lr_images,
            batch_real: self.batch_real,
            augment: self.augment.clone(),
            config,
        };
        run(method, self.ipc, &self.common, data, device)
    }
}
