//! Dataset distillation: learn a few synthetic images per class such that networks trained on
//! them approach networks trained on the whole set (seed 002: gradient matching, distribution
//! matching, CAFE; trajectory matching and soft-label distillation, which seed 001 and seed 002's
//! text experiments build on).
//!
//! One trait per family: a [`Distiller`] (a method's config) starts a [`DistillRun`], which a
//! notebook advances step by step and inspects at will; the result is a [`SyntheticSet`]
//! (scored like any [`ImageSet`], saved as safetensors + JSON).
//!
//! | method | file | what is matched | reference |
//! |---|---|---|---|
//! | [`Dc`] | `dc.rs` | per-layer gradients of real and synthetic batches (`distance_wb`) | Zhao, Mopuri, Bilen, ICLR 2021 |
//! | [`Dsa`] | `dsa.rs` | the same, under the same random augmentation of both batches | Zhao & Bilen, ICML 2021 |
//! | [`Dm`] | `dm.rs` | per-class mean embeddings under freshly sampled networks | Zhao & Bilen, WACV 2023 |
//! | [`Cafe`] | `cafe.rs` | layer-wise per-class feature means + a discriminative loss | Wang et al., CVPR 2022 |
//! | [`Mtt`] | `mtt.rs` | the parameters an expert reaches, after SGD steps on the set (learnable step size) | Cazenavette et al., CVPR 2022 |
//! | [`Sldd`] | `sldd.rs` | nothing: real-batch loss after SGD steps on the set, learning images, soft labels and step size | Sucholutsky & Schonlau, IJCNN 2021 |
//!
//! Gradient matching differentiates a distance between parameter gradients with respect to
//! the images; Burn's autodiff is first order, so the gradients are computed by the
//! [`engine`] (a network whose backward pass is written in tracked tensor ops): see its docs
//! for the design, the proof (finite-difference tests) and the cost.
//!
//! # Example
//! ```
//! use dd_prelude::*;
//! use dd_prelude::distill::{DmConfig, Distiller};
//! let dev = device();
//! // a tiny two-class set of 4x4 images
//! let px: Vec<f32> = (0..8 * 16).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
//! let data = ImageSet::from_pixels("toy", [1, 4, 4], px, vec![0, 1, 0, 1, 0, 1, 0, 1],
//!                                  vec!["a".into(), "b".into()])?;
//! let dm = DmConfig::new(1).with_width(4).with_depth(1).with_batch_real(4).with_progress(false);
//! let mut run = dm.start(&data, &dev)?;
//! let syn = run.steps(3)?.synthetic();
//! assert_eq!(syn.len(), 2);
//! assert_eq!(run.history().len(), 3);
//! # Ok::<(), Error>(())
//! ```

mod cafe;
mod dc;
mod dm;
mod dsa;
pub mod engine;
mod experts;
mod gm;
mod mtt;
mod outer;
mod plan;
mod report;
mod settings;
mod sldd;
mod synthetic;

/// DSA's differentiable augmentation, where gradient matching has always found it.
pub use crate::augment::diff as augment;
pub use crate::augment::{AugOp, DiffAugConfig, ResampleMap, SiameseAug};
pub use cafe::{Cafe, CafeConfig, CafeLoss, RealStats};
pub use dc::{Dc, DcConfig};
pub use dm::{Dm, DmConfig, dm_loss};
pub use dsa::{Dsa, DsaConfig};
pub use experts::{BufferManifest, DataFingerprint, ExpertBuffer, ExpertConfig};
pub use gm::{MatchDistance, get_loops, match_loss};
pub use mtt::{Mtt, MttConfig, Unroll, UnrollCost, trajectory_loss};
pub use outer::{Ctx, Init, Method, RealPool, SynOptim, SynState, run};
pub use plan::DistillPlan;
pub use report::{
    DistillOutcome, FULL_DATA, Published, comparison_table, distill_and_evaluate, full_data,
    hard_label_recovery, improvement_over_random, lrs, published, random_real, random_real_set,
    scoring_preset,
};
pub use settings::DistillCommon;
pub use sldd::{Sldd, SlddConfig, SlddParams, sldd_evaluate, sldd_loss};
pub(crate) use synthetic::read_f32;
pub use synthetic::{Accuracy, SyntheticSet};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::error::Result;
use crate::show::LinePlot;

/// A distillation method, configured: starts runs on a data set.
///
/// Object-safe, so a notebook can sweep a `Vec<Box<dyn Distiller>>`.
///
/// # Example
/// ```
/// use dd_prelude::distill::{Distiller, DcConfig, DmConfig};
/// let methods: Vec<Box<dyn Distiller>> = vec![Box::new(DcConfig::new(1)), Box::new(DmConfig::new(1))];
/// assert_eq!(methods[1].name(), "DM");
/// ```
pub trait Distiller {
    /// Short name (`DC`, `DSA`, `DM`, `CAFE`).
    fn name(&self) -> &'static str;
    /// Iterations [`Distiller::distill`] runs.
    fn iterations(&self) -> usize;
    /// Checks the config and starts a run on `data` (resuming from the config's checkpoint
    /// file when it exists).
    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>>;
    /// Runs the configured number of iterations (those a resumed checkpoint did not already
    /// run) and returns the distilled set.
    fn distill(&self, data: &ImageSet, device: &Device) -> Result<SyntheticSet> {
        let mut run = self.start(data, device)?;
        let left = self.iterations().saturating_sub(run.iterations());
        Ok(run.steps(left)?.synthetic())
    }
}

/// A distillation in progress: advance it with [`DistillRun::steps`], look at it with
/// [`DistillRun::synthetic`] and [`DistillRun::loss_plot`], advance it more.
pub trait DistillRun {
    /// The method's short name.
    fn method(&self) -> &'static str;
    /// Runs `n` more outer iterations (writing the checkpoint, if configured).
    fn steps(&mut self, n: usize) -> Result<&mut dyn DistillRun>;
    /// The current synthetic set (copied to the host).
    fn synthetic(&self) -> SyntheticSet;
    /// Outer iterations run so far.
    fn iterations(&self) -> usize;
    /// One record per iteration.
    fn history(&self) -> &[StepRecord];
    /// Seconds spent in iterations so far.
    fn seconds(&self) -> f64;
    /// The loss curve.
    fn loss_plot(&self) -> LinePlot;
}

/// What one outer iteration measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based iteration number.
    pub iteration: usize,
    /// The method's loss, averaged as its reference code prints it.
    pub loss: f64,
    /// Cumulative seconds.
    pub seconds: f64,
}
