//! The settings every distiller's config shares, in one nested config ([`DistillCommon`]), so
//! a new method's config holds `ipc`, a `common` field and only its own hyper-parameters.

use burn::config::Config;

use super::outer::Init;
use crate::data::ImageSet;
use crate::error::{Result, ensure};
use crate::models::ConvNetConfig;

/// Settings shared by every distiller: the iteration budget, the images' optimizer and
/// initialisation, the ConvNet distilled on, the seed, checkpoints and progress. Each method's
/// config nests one (`config.common`) with that method's reference defaults, and forwards the
/// usual setters (`DcConfig::new(10).with_iterations(100)` sets `common.iterations`).
///
/// # Example
/// ```
/// use dd_prelude::distill::{DcConfig, DistillCommon, Init};
/// let dc = DcConfig::new(10).with_iterations(100).with_init(Init::Noise);
/// assert_eq!((dc.common.iterations, dc.common.init), (100, Init::Noise));
/// assert!(DistillCommon::new().with_depth(9).check("DcConfig").is_err());
/// ```
#[derive(Config, Debug)]
pub struct DistillCommon {
    /// Outer iterations of [`Distiller::distill`](super::Distiller::distill).
    #[config(default = 1000)]
    pub iterations: usize,
    /// Step size of the images' SGD.
    #[config(default = 0.1)]
    pub lr_images: f64,
    /// Momentum of the images' SGD.
    #[config(default = 0.5)]
    pub momentum: f64,
    /// How the images start.
    #[config(default = "Init::Real")]
    pub init: Init,
    /// Width of the ConvNet distilled on.
    #[config(default = 128)]
    pub width: usize,
    /// Depth of the ConvNet distilled on.
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

impl DistillCommon {
    /// Checks every field; `method` names the config in errors.
    pub fn check(&self, method: &'static str) -> Result<()> {
        let m = method;
        ensure(self.iterations >= 1, m, "iterations", || {
            "must be at least 1".into()
        })?;
        ensure(
            self.lr_images > 0.0 && self.lr_images.is_finite(),
            m,
            "lr_images",
            || format!("must be positive, got {}", self.lr_images),
        )?;
        ensure((0.0..1.0).contains(&self.momentum), m, "momentum", || {
            format!("must be in [0, 1), got {}", self.momentum)
        })?;
        ensure(self.width >= 1, m, "width", || "must be at least 1".into())?;
        ensure((1..=4).contains(&self.depth), m, "depth", || {
            format!("must be 1 to 4 (the ConvNet family), got {}", self.depth)
        })?;
        ensure(self.checkpoint_every >= 1, m, "checkpoint_every", || {
            "must be at least 1".into()
        })
    }

    /// The ConvNet distilled on for `data`.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        ConvNetConfig::for_set(data)
            .with_width(self.width)
            .with_depth(self.depth)
    }
}

/// Checks `ipc` and the nested settings of a distiller config (and of [`super::run`]).
pub(crate) fn check_settings(
    method: &'static str,
    ipc: usize,
    common: &DistillCommon,
) -> Result<()> {
    ensure(ipc >= 1, method, "ipc", || "must be at least 1".into())?;
    common.check(method)
}

/// The `with_*` setters of [`DistillCommon`]'s fields on a config that nests it as `common`.
macro_rules! common_setters {
    ($config:ty) => {
        impl $config {
            /// Sets `common.iterations`: outer iterations of `distill`.
            pub fn with_iterations(mut self, iterations: usize) -> Self {
                self.common.iterations = iterations;
                self
            }
            /// Sets `common.lr_images`: step size of the images' SGD.
            pub fn with_lr_images(mut self, lr_images: f64) -> Self {
                self.common.lr_images = lr_images;
                self
            }
            /// Sets `common.momentum`: momentum of the images' SGD.
            pub fn with_momentum(mut self, momentum: f64) -> Self {
                self.common.momentum = momentum;
                self
            }
            /// Sets `common.init`: how the images start.
            pub fn with_init(mut self, init: $crate::distill::Init) -> Self {
                self.common.init = init;
                self
            }
            /// Sets `common.width`: width of the ConvNet distilled on.
            pub fn with_width(mut self, width: usize) -> Self {
                self.common.width = width;
                self
            }
            /// Sets `common.depth`: depth of the ConvNet distilled on.
            pub fn with_depth(mut self, depth: usize) -> Self {
                self.common.depth = depth;
                self
            }
            /// Sets `common.seed`: seed of every random choice.
            pub fn with_seed(mut self, seed: u64) -> Self {
                self.common.seed = seed;
                self
            }
            /// Sets `common.checkpoint`: the checkpoint file.
            pub fn with_checkpoint(mut self, checkpoint: Option<String>) -> Self {
                self.common.checkpoint = checkpoint;
                self
            }
            /// Sets `common.checkpoint_every`: iterations between checkpoints.
            pub fn with_checkpoint_every(mut self, checkpoint_every: usize) -> Self {
                self.common.checkpoint_every = checkpoint_every;
                self
            }
            /// Sets `common.progress`: print progress lines.
            pub fn with_progress(mut self, progress: bool) -> Self {
                self.common.progress = progress;
                self
            }
        }
    };
}
pub(crate) use common_setters;
