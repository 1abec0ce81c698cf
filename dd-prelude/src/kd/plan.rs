use std::fmt;

use polars::prelude::{Column, DataFrame};

use crate::data::{Cifar10, FashionMnist, ImageSet, ImageSplits};
use crate::error::{Error, Result};
use crate::models::Arch;
use crate::scale::Scale;
use crate::select::Budget;
use crate::show::{LinePlot, Png, Table};
use crate::train::History;
use crate::train::{Augment, FitConfig, Schedule};

use super::KdConfig;

/// Sizes of seed 000's coreset + KD experiment (`notebooks/10-coreset-kd.ipynb`): a teacher
/// trained on a training pool, a per-class K-Means coreset of its penultimate features (10% of
/// the pool, as seed 000's 5,000 of 50,000), and students trained on the coreset.
///
/// | scale | pool | test | teacher | teacher epochs | per class | student | student epochs |
/// |---|---|---|---|---|---|---|---|
/// | smoke | 200 | 200 | ConvNetW16 | 1 | 2 | ConvNetW16 | 2 |
/// | cpu | 10,000 | 2,000 | ConvNetW64 | 6 | 100 | ConvNetW64 | 30 |
/// | full | all (50,000 CIFAR-10) | all | ResNet18 | 60 | 500 | ResNet18 | 200 |
///
/// Seed 000 does not state its epochs or optimiser; these runs use SGD with momentum 0.9 and
/// weight decay 5e-4, lr 0.01 with cosine decay, batch 128 (64 at cpu scale), and random
/// crop (padding 1/8 of the side) + flip as the augmentation.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let plan = CoresetKdPlan::for_scale(Scale::Smoke);
/// assert_eq!(plan.budget(), Budget::PerClass(2));
/// assert_eq!(plan.student_fit(true).epochs, plan.student_epochs);
/// ```
#[derive(Debug, Clone)]
pub struct CoresetKdPlan {
    /// The scale these sizes are for.
    pub scale: Scale,
    /// Training images the teacher learns from and the coreset is chosen from (a class-stratified
    /// subset; `usize::MAX` = the whole split).
    pub pool_images: usize,
    /// Test images scored (`usize::MAX` = the whole split).
    pub test_images: usize,
    /// The teacher network.
    pub teacher: Arch,
    /// Teacher training epochs.
    pub teacher_epochs: usize,
    /// Coreset images per class (seed 000: 500).
    pub per_class: usize,
    /// The student network.
    pub student: Arch,
    /// Student training epochs.
    pub student_epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Epochs of the forgetting, GraNd and EL2N selectors' own training runs.
    pub selector_epochs: usize,
    /// Networks averaged by GraNd and EL2N.
    pub selector_repeats: usize,
    /// Distillation weights (seed 000: T = 4, a = 0.1).
    pub kd: KdConfig,
}

impl CoresetKdPlan {
    /// The plan for `DD_SCALE`.
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The plan for `scale`.
    pub fn for_scale(scale: Scale) -> Self {
        let convnet = |width| Arch::ConvNet {
            width,
            depth: 3,
            norm: crate::models::NormKind::Instance,
            pool: crate::models::PoolKind::Avg,
        };
        CoresetKdPlan {
            scale,
            pool_images: scale.pick(200, 10_000, usize::MAX),
            test_images: scale.pick(200, 2_000, usize::MAX),
            teacher: scale.pick(convnet(16), convnet(64), Arch::resnet18()),
            teacher_epochs: scale.pick(1, 6, 60),
            per_class: scale.pick(2, 100, 500),
            student: scale.pick(convnet(16), convnet(64), Arch::resnet18()),
            student_epochs: scale.pick(2, 30, 200),
            batch_size: scale.pick(64, 64, 128),
            selector_epochs: scale.pick(1, 2, 10),
            selector_repeats: scale.pick(1, 1, 10),
            kd: KdConfig::new(),
        }
    }

    /// The data: CIFAR-10 from the binary batches in `$DD_CIFAR10` when that is set (seed
    /// 000's data set), else Fashion-MNIST (installed here).
    pub fn load_data(&self) -> Result<ImageSplits> {
        match std::env::var("DD_CIFAR10") {
            Ok(dir) if !dir.trim().is_empty() => Cifar10::load(dir.trim()),
            _ => FashionMnist::load_default(),
        }
    }

    /// The coreset budget: `per_class` images of every class.
    pub fn budget(&self) -> Budget {
        Budget::PerClass(self.per_class)
    }

    /// A class-stratified subset of `data` of at most `n` images (all of it for `usize::MAX`).
    pub fn take(&self, data: &ImageSet, n: usize, seed: u64) -> ImageSet {
        if n >= data.len() {
            data.clone()
        } else {
            data.subset(&data.stratified(n, seed))
        }
    }

    /// Random crop (padding 1/8 of the image side, at least 1) and horizontal flip.
    pub fn augment(&self, data: &ImageSet) -> Augment {
        let [_, h, _] = data.image_shape();
        Augment::CropFlip {
            pad: (h / 8).max(1),
        }
    }

    fn base_fit(&self, epochs: usize) -> FitConfig {
        FitConfig::new()
            .with_epochs(epochs)
            .with_batch_size(self.batch_size)
            .with_lr(0.01)
            .with_schedule(Schedule::Cosine)
    }

    /// The teacher's training on the pool (no augmentation at smoke and cpu scale, crop + flip
    /// at full scale, where the teacher trains long enough to profit).
    pub fn teacher_fit(&self, data: &ImageSet) -> FitConfig {
        let cfg = self.base_fit(self.teacher_epochs);
        match self.scale {
            Scale::Full => cfg.with_augment(self.augment(data)),
            _ => cfg,
        }
    }

    /// A student's training on the coreset, with or without augmentation.
    pub fn student_fit(&self, augment: bool) -> FitConfig {
        let cfg = self.base_fit(self.student_epochs);
        if augment {
            // the image side is only known with data; 28 and 32 px both give 3-4 px
            cfg.with_augment(Augment::CropFlip {
                pad: self.scale.pick(2, 3, 4),
            })
        } else {
            cfg
        }
    }

    /// The training runs of the forgetting, GraNd and EL2N selectors.
    pub fn selector_fit(&self) -> FitConfig {
        self.base_fit(self.selector_epochs)
    }
}

/// One training run of the experiment, for [`CoresetKdPlan::results_table`] and
/// [`CoresetKdPlan::curves`].
///
/// It owns a copy of the run's history (a few rows per epoch), so a notebook can keep a list
/// of runs in a variable across cells: evcxr cannot persist a value that borrows.
#[derive(Debug, Clone)]
pub struct KdRun {
    /// The scenario, as seed 000's tables name it (`"Student (KD)"`).
    pub scenario: &'static str,
    /// What it trained on (`"Coreset, with augment + KD"`).
    pub data: &'static str,
    /// Training images.
    pub images: usize,
    /// Its history, with a test accuracy per epoch ([`crate::TestEachEpoch`]).
    pub history: History,
}

/// Seed 000's published figures for its four runs (Tables II and III), in order: teacher,
/// student without augmentation, with augmentation, with augmentation + KD.
/// `(accuracy %, images, time per epoch, speed-up)`.
pub const SEED000_PUBLISHED: [(f64, u32, &str, &str); 4] = [
    (83.58, 50_000, "~7-8 s", "1x (baseline)"),
    (51.28, 5_000, "~1 s", "~8x"),
    (56.89, 5_000, "~1 s", "~8x"),
    (70.21, 5_000, "~1 s", "~8x"),
];

impl CoresetKdPlan {
    /// Seed 000's Tables II and III for `runs` (teacher first, then the three students):
    /// scenario, training data, images, final test accuracy, seconds per epoch and speed-up per
    /// epoch over the teacher, each measured here on `dataset`, beside the published CIFAR-10
    /// figures (labelled, with their source).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let mut h = History::default();
    /// h.push(EpochRecord { epoch: 1, loss: 1.0, lr: 0.01, seconds: 2.0, images_per_second: 5.0, test_accuracy: Some(0.8) });
    /// let run = KdRun { scenario: "Teacher (Baseline)", data: "Full data", images: 10, history: h };
    /// let t = CoresetKdPlan::for_scale(Scale::Smoke).results_table("toy", &[run])?;
    /// assert!(t.to_html().contains("83.58"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn results_table(&self, dataset: &str, runs: &[KdRun]) -> Result<Table> {
        let teacher_secs = runs
            .first()
            .map(|r| r.history.seconds_per_epoch())
            .unwrap_or(f64::NAN);
        let acc = |r: &KdRun| {
            r.history
                .last()
                .and_then(|e| e.test_accuracy)
                .map(|a| 100.0 * a)
        };
        let published = |k: usize| SEED000_PUBLISHED.get(k).copied();
        let frame = DataFrame::new_infer_height(vec![
            Column::new(
                "scenario".into(),
                runs.iter()
                    .map(|r| r.scenario.to_string())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "training data".into(),
                runs.iter().map(|r| r.data.to_string()).collect::<Vec<_>>(),
            ),
            Column::new(
                format!("images ({dataset})").into(),
                runs.iter().map(|r| r.images as u32).collect::<Vec<_>>(),
            ),
            Column::new(
                format!("test accuracy % ({dataset}, this run)").into(),
                runs.iter().map(acc).collect::<Vec<_>>(),
            ),
            Column::new(
                "s / epoch (this run)".into(),
                runs.iter()
                    .map(|r| r.history.seconds_per_epoch())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "speed-up per epoch (this run)".into(),
                runs.iter()
                    .map(|r| teacher_secs / r.history.seconds_per_epoch())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "test accuracy % (CIFAR-10, published)".into(),
                (0..runs.len())
                    .map(|k| published(k).map(|p| p.0))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "images (published)".into(),
                (0..runs.len())
                    .map(|k| published(k).map(|p| p.1))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "time / epoch (published)".into(),
                (0..runs.len())
                    .map(|k| published(k).map(|p| p.2.to_string()))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "speed-up (published)".into(),
                (0..runs.len())
                    .map(|k| published(k).map(|p| p.3.to_string()))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "source".into(),
                (0..runs.len())
                    .map(|k| {
                        if k < SEED000_PUBLISHED.len() {
                            "measured here; published: seed 000, Tables II and III"
                        } else {
                            "measured here"
                        }
                        .to_string()
                    })
                    .collect::<Vec<_>>(),
            ),
        ])
        .map_err(|e| Error::Render {
            what: "coreset + KD table",
            reason: e.to_string(),
        })?;
        Ok(Table::new(
            format!(
                "Seed 000, Tables II and III: {} at DD_SCALE={}",
                dataset, self.scale
            ),
            frame,
        ))
    }

    /// Test accuracy per epoch of each run, one line each.
    pub fn curves(&self, runs: &[KdRun]) -> Result<Png> {
        let mut plot = LinePlot::new("Test accuracy per epoch", "epoch", "test accuracy %");
        for r in runs {
            let points = r
                .history
                .records()
                .iter()
                .filter_map(|e| e.test_accuracy.map(|a| (e.epoch as f64, 100.0 * a)))
                .collect();
            plot = plot.series(r.scenario, points);
        }
        plot.render()
    }
}

impl fmt::Display for CoresetKdPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: usize| {
            if v == usize::MAX {
                "all".to_string()
            } else {
                v.to_string()
            }
        };
        write!(
            f,
            "coreset + KD at DD_SCALE={}: pool {} images, test {}, teacher {} x {} epochs, coreset {} per class, \
             student {} x {} epochs, batch {}, KD T={} a={}",
            self.scale,
            n(self.pool_images),
            n(self.test_images),
            self.teacher,
            self.teacher_epochs,
            self.per_class,
            self.student,
            self.student_epochs,
            self.batch_size,
            self.kd.temperature,
            self.kd.alpha
        )
    }
}
