//! DC: dataset condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021), as in
//! the reference code `main.py --method DC`.

use burn::config::Config;
use burn::tensor::Device;

use super::engine::MetaArch;
use super::gm::{GmSettings, GradientMatching, MatchDistance, loops};
use super::outer::{Init, RunSettings, check_common, run};
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
    /// Outer iterations of [`Distiller::distill`] (fresh networks).
    #[config(default = 1000)]
    pub iterations: usize,
    /// Step size of the images' SGD.
    #[config(default = 0.1)]
    pub lr_images: f64,
    /// Momentum of the images' SGD.
    #[config(default = 0.5)]
    pub momentum: f64,
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
    /// How the images start.
    #[config(default = "Init::Real")]
    pub init: Init,
    /// Gradient distance.
    #[config(default = "MatchDistance::PerLayer")]
    pub distance: MatchDistance,
    /// ConvNet width.
    #[config(default = 128)]
    pub width: usize,
    /// ConvNet depth.
    #[config(default = 3)]
    pub depth: usize,
    /// Seed of every random choice.
    #[config(default = 0)]
    pub seed: u64,
    /// Checkpoint file: written every `checkpoint_every` iterations and after every
    /// `steps(..)`, resumed from by `start` when it exists.
    #[config(default = "None")]
    pub checkpoint: Option<String>,
    /// Iterations between checkpoints.
    #[config(default = 50)]
    pub checkpoint_every: usize,
    /// Print progress lines.
    #[config(default = true)]
    pub progress: bool,
}

impl DcConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "DcConfig";
        check_common(
            M,
            self.ipc,
            self.iterations,
            self.lr_images,
            self.momentum,
            self.width,
            self.depth,
            self.checkpoint_every,
        )?;
        ensure(self.lr_net > 0.0, M, "lr_net", || {
            format!("must be positive, got {}", self.lr_net)
        })?;
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
        ConvNetConfig::for_set(data)
            .with_width(self.width)
            .with_depth(self.depth)
    }

    pub(crate) fn common(&self) -> RunSettings {
        RunSettings::new(self.ipc)
            .with_init(self.init)
            .with_momentum(self.momentum)
            .with_seed(self.seed)
            .with_checkpoint(self.checkpoint.clone())
            .with_checkpoint_every(self.checkpoint_every)
            .with_progress(self.progress)
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
            lr_images: self.lr_images,
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
        self.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let json = serde_json::to_value(self).unwrap_or_default();
        let method = GradientMatching {
            s: self.settings("DC", data, json)?,
        };
        run(method, self.common(), data, device)
    }
}
