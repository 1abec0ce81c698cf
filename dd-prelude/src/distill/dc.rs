//! DC: dataset condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021), as in
//! the reference code `main.py --method DC`.

use burn::config::Config;
use burn::tensor::Device;

use super::engine::MetaArch;
use super::gm::{GmSettings, GradientMatching, MatchDistance, loops};
use super::outer::run;
use super::settings::{DistillCommon, check_settings, common_setters};
use super::{DistillRun, Distiller};
use crate::data::ImageSet;
use crate::error::{Result, ensure};
use crate::models::ConvNetConfig;

/// DC, the gradient-matching distiller; its config is [`DcConfig`].
pub type Dc = DcConfig;

/// Configuration of [`Dc`]: defaults are the reference code's (`lr_img` 0.1 SGD momentum 0.5,
/// `lr_net` 0.01, real batch 256 per class, network batch 256, loops from
/// [`get_loops`](super::get_loops),
/// ConvNet width 128 depth 3 with instance norm and average pooling, 1000 iterations).
/// Initialisation defaults to real images (the code's default is noise: `with_init(Init::Noise)`).
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// use dd_prelude::distill::{DcConfig, Distiller};
/// let fmnist = FashionMnist::load_default()?;
/// let syn = DcConfig::new(10).with_iterations(100).distill(&fmnist.train, &device())?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct DcConfig {
    /// Synthetic images per class.
    pub ipc: usize,
    /// The settings every distiller shares (iterations, the images' optimizer and
    /// initialisation, the ConvNet, seed, checkpoints, progress), with this method's
    /// reference defaults; their `with_*` setters are forwarded.
    #[config(default = "DistillCommon::new()")]
    pub common: DistillCommon,
    /// Step size of the network trained on the synthetic set between matchings.
    #[config(default = 0.01)]
    pub lr_net: f64,
    /// Real images per class per matching.
    #[config(default = 256)]
    pub batch_real: usize,
    /// Batch size of the network's training on the synthetic set.
    #[config(default = 256)]
    pub batch_train: usize,
    /// Matchings per network (default from [`get_loops`](super::get_loops)).
    #[config(default = "None")]
    pub outer_loop: Option<usize>,
    /// Epochs on the synthetic set between matchings (default from
    /// [`get_loops`](super::get_loops)).
    #[config(default = "None")]
    pub inner_loop: Option<usize>,
    /// Gradient distance.
    #[config(default = "MatchDistance::PerLayer")]
    pub distance: MatchDistance,
}

common_setters!(DcConfig);

impl DcConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "DcConfig";
        check_settings(M, self.ipc, &self.common)?;
        ensure(
            self.lr_net > 0.0 && self.lr_net.is_finite(),
            M,
            "lr_net",
            || format!("must be positive and finite, got {}", self.lr_net),
        )?;
        ensure(self.batch_real >= 1, M, "batch_real", || {
            "must be at least 1".into()
        })?;
        ensure(self.batch_train >= 1, M, "batch_train", || {
            "must be at least 1".into()
        })?;
        loops(M, self.ipc, self.outer_loop, self.inner_loop)?;
        Ok(())
    }

    /// The ConvNet distilled on for `data`.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        self.common.convnet(data)
    }

    pub(crate) fn settings(
        &self,
        name: &'static str,
        data: &ImageSet,
        json: serde_json::Value,
    ) -> Result<GmSettings> {
        let (outer_loop, inner_loop) =
            loops("DcConfig", self.ipc, self.outer_loop, self.inner_loop)?;
        Ok(GmSettings {
            name,
            arch: MetaArch::convnet(&self.convnet(data))?,
            lr_images: self.common.lr_images,
            lr_net: self.lr_net,
            batch_real: self.batch_real,
            batch_train: self.batch_train,
            outer_loop,
            inner_loop,
            distance: self.distance,
            augment: None,
            config: json,
        })
    }
}

impl Distiller for DcConfig {
    fn name(&self) -> &'static str {
        "DC"
    }

    fn iterations(&self) -> usize {
        self.common.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let json = serde_json::to_value(self).unwrap_or_default();
        let method = GradientMatching {
            s: self.settings("DC", data, json)?,
        };
        run(method, self.ipc, &self.common, data, device)
    }
}
