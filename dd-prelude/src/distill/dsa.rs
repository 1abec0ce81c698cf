//! DSA: gradient matching with differentiable siamese augmentation (Zhao & Bilen, ICML 2021),
//! as in the reference code `main.py --method DSA --dsa_strategy color_crop_cutout_flip_scale_rotate`.

use burn::config::Config;
use burn::tensor::Device;

use super::dc::DcConfig;
use super::gm::{GradientMatching, MatchDistance};
use super::outer::{Init, run};
use super::{DistillRun, Distiller};
use crate::augment::DiffAugConfig;
use crate::data::ImageSet;
use crate::error::Result;

/// DSA, gradient matching under siamese augmentation; its config is [`DsaConfig`].
pub type Dsa = DsaConfig;

/// Configuration of [`Dsa`]: [`DcConfig`]'s fields (same defaults) plus the augmentation.
///
/// For every class and matching, ONE augmentation is drawn ([`DiffAugConfig::sample`]) and
/// applied to the real and to the synthetic batch, differentiably; the network trained on the
/// synthetic set between matchings sees per-image augmentations.
///
/// # Example
/// ```
/// use dd_prelude::distill::{DsaConfig, Distiller};
/// let dsa = DsaConfig::new(10).with_iterations(200);
/// assert_eq!(dsa.name(), "DSA");
/// assert!(dsa.check().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct DsaConfig {
    /// Synthetic images per class.
    pub ipc: usize,
    /// Outer iterations of [`Distiller::distill`].
    #[config(default = 1000)]
    pub iterations: usize,
    /// Step size of the images' SGD.
    #[config(default = 0.1)]
    pub lr_images: f64,
    /// Momentum of the images' SGD.
    #[config(default = 0.5)]
    pub momentum: f64,
    /// Step size of the network trained on the synthetic set.
    #[config(default = 0.01)]
    pub lr_net: f64,
    /// Real images per class per matching.
    #[config(default = 256)]
    pub batch_real: usize,
    /// Batch size of the network's training on the synthetic set.
    #[config(default = 256)]
    pub batch_train: usize,
    /// Matchings per network (default from [`super::get_loops`]).
    #[config(default = "None")]
    pub outer_loop: Option<usize>,
    /// Epochs on the synthetic set between matchings (default from [`super::get_loops`]).
    #[config(default = "None")]
    pub inner_loop: Option<usize>,
    /// How the images start.
    #[config(default = "Init::Real")]
    pub init: Init,
    /// Gradient distance.
    #[config(default = "MatchDistance::PerLayer")]
    pub distance: MatchDistance,
    /// The augmentation (strategy and ranges).
    #[config(default = "DiffAugConfig::new()")]
    pub augment: DiffAugConfig,
    /// ConvNet width.
    #[config(default = 128)]
    pub width: usize,
    /// ConvNet depth.
    #[config(default = 3)]
    pub depth: usize,
    /// Seed of every random choice.
    #[config(default = 0)]
    pub seed: u64,
    /// Checkpoint file (see [`DcConfig::checkpoint`]).
    #[config(default = "None")]
    pub checkpoint: Option<String>,
    /// Iterations between checkpoints.
    #[config(default = 50)]
    pub checkpoint_every: usize,
    /// Print progress lines.
    #[config(default = true)]
    pub progress: bool,
}

impl DsaConfig {
    /// The gradient-matching part as a [`DcConfig`].
    pub fn as_dc(&self) -> DcConfig {
        DcConfig::new(self.ipc)
            .with_iterations(self.iterations)
            .with_lr_images(self.lr_images)
            .with_momentum(self.momentum)
            .with_lr_net(self.lr_net)
            .with_batch_real(self.batch_real)
            .with_batch_train(self.batch_train)
            .with_outer_loop(self.outer_loop)
            .with_inner_loop(self.inner_loop)
            .with_init(self.init)
            .with_distance(self.distance)
            .with_width(self.width)
            .with_depth(self.depth)
            .with_seed(self.seed)
            .with_checkpoint(self.checkpoint.clone())
            .with_checkpoint_every(self.checkpoint_every)
            .with_progress(self.progress)
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        self.as_dc().check()?;
        self.augment.check()
    }
}

impl Distiller for DsaConfig {
    fn name(&self) -> &'static str {
        "DSA"
    }

    fn iterations(&self) -> usize {
        self.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let dc = self.as_dc();
        let json = serde_json::to_value(self).unwrap_or_default();
        let mut settings = dc.settings("DSA", data, json)?;
        settings.augment = Some(self.augment.clone());
        run(GradientMatching { s: settings }, dc.common(), data, device)
    }
}
