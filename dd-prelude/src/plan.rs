//! Experiment sizes per [`Scale`]: notebooks ask a plan for their sizes instead of writing
//! numbers, so `DD_SCALE` alone decides how big a run is.

use std::fmt;

use crate::data::ImageSet;
use crate::error::Result;
use crate::models::ConvNetConfig;
use crate::scale::Scale;
use crate::train::{FitConfig, Schedule};

/// Sizes of the tour (`notebooks/00-tour.ipynb`): the DC ConvNet trained on a stratified
/// subset of Fashion-MNIST.
///
/// | scale | train images | test images | epochs | width |
/// |---|---|---|---|---|
/// | smoke | 512 | 1,000 | 1 | 32 |
/// | cpu | 10,000 | 10,000 | 4 | 128 |
/// | full | 60,000 | 10,000 | 20 | 128 |
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let plan = TourPlan::for_scale(Scale::Smoke);
/// assert_eq!(plan.train_images, 512);
/// assert_eq!(plan.fit_config().epochs, 1);
/// ```
#[derive(Debug, Clone)]
pub struct TourPlan {
    /// The scale these sizes are for.
    pub scale: Scale,
    /// Training images (a class-stratified subset).
    pub train_images: usize,
    /// Test images scored.
    pub test_images: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// ConvNet width.
    pub width: usize,
}

impl TourPlan {
    /// The plan for `DD_SCALE`.
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The plan for `scale`.
    pub fn for_scale(scale: Scale) -> Self {
        TourPlan {
            scale,
            train_images: scale.pick(512, 10_000, 60_000),
            test_images: scale.pick(1_000, 10_000, 10_000),
            epochs: scale.pick(1, 4, 20),
            batch_size: 64,
            width: scale.pick(32, 128, 128),
        }
    }

    /// The ConvNet for `data` at this plan's width.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        ConvNetConfig::for_set(data).with_width(self.width)
    }

    /// SGD with momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 at half.
    pub fn fit_config(&self) -> FitConfig {
        FitConfig::new()
            .with_epochs(self.epochs)
            .with_batch_size(self.batch_size)
            .with_lr(0.01)
            .with_schedule(Schedule::StepAtHalf)
    }
}

impl fmt::Display for TourPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tour at DD_SCALE={}: {} training images, {} test images, {} epochs, batch {}, ConvNet width {}",
            self.scale,
            self.train_images,
            self.test_images,
            self.epochs,
            self.batch_size,
            self.width
        )
    }
}
