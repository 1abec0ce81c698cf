//! DSA: gradient matching with differentiable siamese augmentation (Zhao & Bilen, ICML 2021),
//! as in the reference code `main.py --method DSA --dsa_strategy color_crop_cutout_flip_scale_rotate`.

use burn::config::Config;
use burn::tensor::Device;

use super::dc::DcConfig;
use super::gm::{GradientMatching, MatchDistance};
use super::outer::run;
use super::settings::{DistillCommon, common_setters};
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
    /// The settings every distiller shares (iterations, the images' optimizer and
    /// initialisation, the ConvNet, seed, checkpoints, progress), with this method's
    /// reference defaults; their `with_*` setters are forwarded.
    #[config(default = "DistillCommon::new()")]
    pub common: DistillCommon,
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
    /// Gradient distance.
    #[config(default = "MatchDistance::PerLayer")]
    pub distance: MatchDistance,
    /// The augmentation (strategy and ranges).
    #[config(default = "DiffAugConfig::new()")]
    pub augment: DiffAugConfig,
}

common_setters!(DsaConfig);

impl DsaConfig {
    /// The gradient-matching part as a [`DcConfig`].
    pub fn as_dc(&self) -> DcConfig {
        DcConfig::new(self.ipc)
            .with_common(self.common.clone())
            .with_lr_net(self.lr_net)
            .with_batch_real(self.batch_real)
            .with_batch_train(self.batch_train)
            .with_outer_loop(self.outer_loop)
            .with_inner_loop(self.inner_loop)
            .with_distance(self.distance)
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
        self.common.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let dc = self.as_dc();
        let json = serde_json::to_value(self).unwrap_or_default();
        let mut settings = dc.settings("DSA", data, json)?;
        settings.augment = Some(self.augment.clone());
        run(
            GradientMatching { s: settings },
            dc.ipc,
            &dc.common,
            data,
            device,
        )
    }
}
