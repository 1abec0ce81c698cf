//! Distil-then-score in one call, the random-real baseline, and the comparison table beside
//! the published figures.

use std::fmt;

use burn::tensor::Device;
use polars::prelude::{Column, DataFrame};

use super::{Accuracy, Distiller, StepRecord, SyntheticSet};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::eval::{EvalPreset, EvalReport, evaluate};
use crate::show::{LinePlot, Table};

/// A distilled (or baseline) set, its score under a protocol, and the time each took.
#[derive(Debug, Clone)]
pub struct DistillOutcome {
    /// Data set distilled (`Fashion-MNIST`, ...).
    pub dataset: String,
    /// The set, with its accuracy recorded.
    pub synthetic: SyntheticSet,
    /// The protocol's report.
    pub report: EvalReport,
    /// For a set with soft labels: the same protocol on its images with hard labels (each
    /// image's class), the figure DD-Ranking's hard-label recovery compares; `None` for a set
    /// with hard labels (its `report` is that figure).
    pub hard_labels: Option<EvalReport>,
    /// The distillation's loss per iteration (empty for a baseline).
    pub history: Vec<StepRecord>,
}

impl DistillOutcome {
    /// Images per class.
    pub fn ipc(&self) -> usize {
        self.synthetic.images_per_class()
    }

    /// Mean test accuracy (%) of the set's images trained on with hard labels: `report`'s for
    /// a hard-label set, `hard_labels`' for a soft-label set scored both ways.
    pub fn hard_label_pct(&self) -> Option<f64> {
        match (&self.synthetic.soft_labels, &self.hard_labels) {
            (None, _) => Some(self.report.mean_pct()),
            (Some(_), Some(h)) => Some(h.mean_pct()),
            (Some(_), None) => None,
        }
    }

    /// Whether this row is the full-data reference ([`full_data`]).
    pub fn is_full_data(&self) -> bool {
        self.synthetic.method.starts_with(FULL_DATA)
    }

    /// The distillation's loss curve.
    pub fn loss_plot(&self) -> LinePlot {
        let pts = self
            .history
            .iter()
            .map(|r| (r.iteration as f64, r.loss))
            .collect();
        LinePlot::new(
            format!(
                "{} loss on {} ({} per class)",
                self.synthetic.method,
                self.dataset,
                self.ipc()
            ),
            "iteration",
            "loss",
        )
        .series(self.synthetic.method.clone(), pts)
    }
}

impl fmt::Display for DistillOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} per class on {}: {:.2}% ± {:.2} ({} networks, {} protocol); distilled in {}, scored in {}",
            self.synthetic.method,
            self.ipc(),
            self.dataset,
            self.report.mean_pct(),
            self.report.std_pct(),
            self.report.accuracies.len(),
            self.report.preset,
            crate::format_secs(self.synthetic.seconds),
            crate::format_secs(self.report.seconds)
        )?;
        match &self.hard_labels {
            Some(h) => write!(
                f,
                "; with hard labels {:.2}% ± {:.2}",
                h.mean_pct(),
                h.std_pct()
            ),
            None => Ok(()),
        }
    }
}

fn score(
    dataset: &str,
    mut synthetic: SyntheticSet,
    history: Vec<StepRecord>,
    test: &ImageSet,
    preset: &EvalPreset,
    device: &Device,
) -> Result<DistillOutcome> {
    // A set is scored the way its method meant: on its learned soft targets (soft
    // cross-entropy) where it has them, with its learned step size where it learned one.
    let preset = &scoring_preset(&synthetic, preset);
    let images = synthetic.to_image_set()?;
    let (report, hard_labels) = match synthetic.soft_labels {
        Some(_) => (
            evaluate(&synthetic.to_soft_set()?, test, preset, device)?,
            Some(evaluate(&images, test, preset, device)?),
        ),
        None => (evaluate(&images, test, preset, device)?, None),
    };
    let protocol = format!(
        "{} ({} networks x {} epochs, lr {}{})",
        preset.name,
        preset.models,
        preset.epochs,
        preset.lr,
        if synthetic.lr.is_some() {
            " learned"
        } else {
            ""
        }
    );
    synthetic = synthetic.with_accuracy(Accuracy {
        mean: report.mean,
        std: report.std,
        models: report.accuracies.len(),
        protocol,
    });
    Ok(DistillOutcome {
        dataset: dataset.to_string(),
        synthetic,
        report,
        hard_labels,
        history,
    })
}

/// The method name of the full-data reference row ([`full_data`]).
pub const FULL_DATA: &str = "Full data";

/// The full-data reference: `preset`'s networks trained on every image of `train` (or on a
/// class-stratified `images` of them, named as a stand-in), scored on `test`. Its accuracy is
/// the ceiling in every comparison table and the term DD-Ranking's hard-label recovery
/// subtracts from. `preset` is usually the distilled sets' protocol with fewer epochs (one
/// epoch over the full set is many more SGD steps than hundreds over a small one).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::full_data;
/// let px: Vec<f32> = (0..8 * 64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
/// let data = ImageSet::from_pixels("toy", [1, 8, 8], px, vec![0, 1, 0, 1, 0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let p = EvalPreset::smoke().with_width(4).with_progress(false);
/// let full = full_data("toy", &data, None, &data, &p, &device())?;
/// assert!(full.is_full_data());
/// assert_eq!((full.synthetic.len(), full.report.accuracies.len()), (8, 2));
/// # Ok::<(), Error>(())
/// ```
pub fn full_data(
    dataset: &str,
    train: &ImageSet,
    images: Option<usize>,
    test: &ImageSet,
    preset: &EvalPreset,
    device: &Device,
) -> Result<DistillOutcome> {
    let (method, set) = match images {
        Some(n) if n < train.len() => (
            format!(
                "{FULL_DATA} ({}-image stand-in)",
                crate::progress::thousands(n)
            ),
            train.subset(&train.stratified(n, 0)),
        ),
        _ => (FULL_DATA.to_string(), train.clone()),
    };
    let synthetic = SyntheticSet {
        method,
        source: train.name().to_string(),
        shape: set.image_shape(),
        images: set.images().to_vec(),
        labels: set.labels().to_vec(),
        soft_labels: None,
        classes: set.classes().to_vec(),
        mean: set.mean().to_vec(),
        std: set.std().to_vec(),
        lr: None,
        config: serde_json::json!({ "images": set.len(), "of": train.len() }),
        iterations: 0,
        seconds: 0.0,
        accuracy: None,
    };
    score(dataset, synthetic, Vec::new(), test, preset, device)
}

/// The protocol a set is scored with: `preset`, with the set's learned step size as the
/// networks' learning rate where its method learned one (MTT's and SLDD's evaluation).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{SyntheticSet, scoring_preset};
/// let mut syn = SyntheticSet::new("MTT", "toy", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
///                                 vec!["a".into(), "b".into()], vec![0.0], vec![1.0])?;
/// assert_eq!(scoring_preset(&syn, &EvalPreset::quick()).lr, 0.01);
/// syn.lr = Some(0.03);
/// assert!((scoring_preset(&syn, &EvalPreset::quick()).lr - 0.03).abs() < 1e-7);
/// # Ok::<(), Error>(())
/// ```
pub fn scoring_preset(synthetic: &SyntheticSet, preset: &EvalPreset) -> EvalPreset {
    match synthetic.lr {
        Some(lr) if lr.is_finite() && lr > 0.0 => preset.clone().with_lr(lr as f64),
        _ => preset.clone(),
    }
}

/// Distils `train` with `method`, then scores the set on `test` with the standard protocol
/// (see [`scoring_preset`] for sets with a learned step size).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{distill_and_evaluate, DmConfig};
/// let px: Vec<f32> = (0..8 * 64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
/// let data = ImageSet::from_pixels("toy", [1, 8, 8], px, vec![0, 1, 0, 1, 0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let dm = DmConfig::new(1).with_iterations(2).with_width(4).with_depth(1).with_batch_real(4).with_progress(false);
/// let out = distill_and_evaluate("toy", &dm, &data, &data, &EvalPreset::smoke().with_progress(false), &device())?;
/// assert_eq!(out.report.accuracies.len(), 2);
/// assert!(out.synthetic.accuracy.is_some());
/// # Ok::<(), Error>(())
/// ```
pub fn distill_and_evaluate(
    dataset: &str,
    method: &dyn Distiller,
    train: &ImageSet,
    test: &ImageSet,
    preset: &EvalPreset,
    device: &Device,
) -> Result<DistillOutcome> {
    let mut run = method.start(train, device)?;
    let left = method.iterations().saturating_sub(run.iterations());
    run.steps(left)?;
    score(
        dataset,
        run.synthetic(),
        run.history().to_vec(),
        test,
        preset,
        device,
    )
}

/// The baseline every distilled set must beat: `ipc` random real images per class, scored
/// with the same protocol (method name `Random real`).
pub fn random_real(
    dataset: &str,
    ipc: usize,
    seed: u64,
    train: &ImageSet,
    test: &ImageSet,
    preset: &EvalPreset,
    device: &Device,
) -> Result<DistillOutcome> {
    let synthetic = random_real_set(ipc, seed, train);
    score(dataset, synthetic, Vec::new(), test, preset, device)
}

/// `ipc` random real images per class of `train` as a set (class-major, method name
/// `Random real`), unscored: the baseline to score under any protocol.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::random_real_set;
/// let data = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 0.1, 0.2, 0.3], vec![1, 0, 1, 0],
///                                  vec!["a".into(), "b".into()])?;
/// let set = random_real_set(1, 0, &data);
/// assert_eq!((set.len(), set.labels.clone()), (2, vec![0, 1]));
/// # Ok::<(), Error>(())
/// ```
pub fn random_real_set(ipc: usize, seed: u64, train: &ImageSet) -> SyntheticSet {
    let sub = train.subset(&train.sample_per_class(ipc, seed));
    let mut order: Vec<usize> = (0..sub.len()).collect();
    order.sort_by_key(|&i| sub.labels()[i]);
    let sub = sub.subset(&order);
    SyntheticSet {
        method: "Random real".into(),
        source: train.name().to_string(),
        shape: sub.image_shape(),
        images: sub.images().to_vec(),
        labels: sub.labels().to_vec(),
        soft_labels: None,
        classes: sub.classes().to_vec(),
        mean: sub.mean().to_vec(),
        std: sub.std().to_vec(),
        lr: None,
        config: serde_json::json!({ "ipc": ipc, "seed": seed }),
        iterations: 0,
        seconds: 0.0,
        accuracy: None,
    }
}

/// A published test accuracy (%) with its source, from `shared/REFERENCE.md` section 2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    /// Accuracy in percent.
    pub accuracy: f64,
    /// Where it is published.
    pub source: &'static str,
}

/// The published figure for `method` (`DC`, `DSA`, `DM`, `MTT`, `SLDD`) on `dataset` (`MNIST`,
/// `Fashion-MNIST`, `SVHN`, `CIFAR-10`, `CIFAR-100`) at `ipc` images per class, if any.
///
/// # Example
/// ```
/// use dd_prelude::distill::published;
/// assert_eq!(published("DSA", "Fashion-MNIST", 10).unwrap().accuracy, 84.6);
/// assert!(published("CAFE", "Fashion-MNIST", 10).is_none());
/// ```
pub fn published(method: &str, dataset: &str, ipc: usize) -> Option<Published> {
    let col = match ipc {
        1 => 0,
        10 => 1,
        50 => 2,
        _ => return None,
    };
    let key = dataset.to_ascii_lowercase().replace(['-', ' ', '_'], "");
    let (row, source): ([f64; 3], &'static str) = match (method, key.as_str()) {
        ("DC", "mnist") => ([91.7, 97.4, 98.8], "DC paper (Zhao et al., ICLR 2021)"),
        ("DC", "fashionmnist") => ([70.5, 82.3, 83.6], "DC paper (Zhao et al., ICLR 2021)"),
        ("DC", "svhn") => ([31.2, 76.1, 82.3], "DC paper (Zhao et al., ICLR 2021)"),
        ("DC", "cifar10") => ([28.3, 44.9, 53.9], "DC paper (Zhao et al., ICLR 2021)"),
        ("DC", "cifar100") => ([12.8, 25.2, f64::NAN], "DC paper (Zhao et al., ICLR 2021)"),
        ("DSA", "mnist") => ([88.7, 97.8, 99.2], "seed 002 Table I (DSA)"),
        ("DSA", "fashionmnist") => ([70.6, 84.6, 88.7], "seed 002 Table I (DSA)"),
        ("DSA", "svhn") => ([27.5, 79.2, 84.4], "seed 002 Table I (DSA)"),
        ("DSA", "cifar10") => ([28.8, 52.1, 60.6], "seed 002 Table I (DSA)"),
        ("DSA", "cifar100") => ([13.9, 32.3, f64::NAN], "seed 002 Table I (DSA)"),
        ("DM", "cifar10") => ([26.0, 48.9, 63.0], "DM paper (Zhao & Bilen, WACV 2023)"),
        ("DM", "cifar100") => ([11.4, 29.7, 43.6], "DM paper (Zhao & Bilen, WACV 2023)"),
        ("MTT", "cifar10") => (
            [46.3, 65.3, 71.6],
            "MTT paper (Cazenavette et al., CVPR 2022)",
        ),
        ("SLDD", "mnist") => (
            [96.0, f64::NAN, f64::NAN],
            "soft-label paper (Sucholutsky & Schonlau, IJCNN 2021): about 96 % with 10 images",
        ),
        ("MTT", "cifar100") => (
            [24.3, 40.1, 47.7],
            "MTT paper (Cazenavette et al., CVPR 2022)",
        ),
        _ => return None,
    };
    let accuracy = row[col];
    (!accuracy.is_nan()).then_some(Published { accuracy, source })
}

/// One table: every outcome (method, images per class, measured accuracy ± std, networks,
/// distillation and scoring time) beside the published figure for the same method, data set
/// and size (labelled as published, with its source).
///
/// # Example
/// ```
/// use dd_prelude::distill::comparison_table;
/// let t = comparison_table("empty", &[]).unwrap();
/// assert_eq!(t.frame().height(), 0);
/// ```
pub fn comparison_table(title: &str, outcomes: &[DistillOutcome]) -> Result<Table> {
    let pubs: Vec<Option<Published>> = outcomes
        .iter()
        .map(|o| published(&o.synthetic.method, &o.dataset, o.ipc()))
        .collect();
    let frame = DataFrame::new_infer_height(vec![
        Column::new(
            "data set".into(),
            outcomes
                .iter()
                .map(|o| o.dataset.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "method".into(),
            outcomes
                .iter()
                .map(|o| o.synthetic.method.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "images per class".into(),
            outcomes.iter().map(|o| o.ipc() as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "test accuracy % (this run)".into(),
            outcomes
                .iter()
                .map(|o| o.report.mean_pct())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "std".into(),
            outcomes
                .iter()
                .map(|o| o.report.std_pct())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "IOR (points over random)".into(),
            outcomes
                .iter()
                .map(|o| improvement_over_random(o, outcomes))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "HLR (points below full data, hard labels)".into(),
            outcomes
                .iter()
                .map(|o| hard_label_recovery(o, outcomes))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "LRS %".into(),
            outcomes
                .iter()
                .map(|o| label_robust_score(o, outcomes))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "networks".into(),
            outcomes
                .iter()
                .map(|o| o.report.accuracies.len() as u32)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "iterations".into(),
            outcomes
                .iter()
                .map(|o| o.synthetic.iterations as u32)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "distill s".into(),
            outcomes
                .iter()
                .map(|o| o.synthetic.seconds)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "score s".into(),
            outcomes
                .iter()
                .map(|o| o.report.seconds)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "published %".into(),
            pubs.iter()
                .map(|p| p.map(|p| p.accuracy))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "published in".into(),
            pubs.iter()
                .map(|p| p.map_or("-", |p| p.source).to_string())
                .collect::<Vec<_>>(),
        ),
    ])
    .map_err(|e| Error::Render {
        what: "distillation table",
        reason: e.to_string(),
    })?;
    Ok(Table::new(title, frame))
}

/// DD-Ranking's improvement over random (IOR), in points: `o`'s accuracy minus that of the
/// random real subset of the same data set and size among `all`, if there is one.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{DistillOutcome, SyntheticSet, improvement_over_random};
/// let row = |method: &str, acc: f64| {
///     let set = SyntheticSet::new(method, "toy", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
///                                 vec!["a".into(), "b".into()], vec![0.0], vec![1.0]).unwrap();
///     let report = EvalReport::from_accuracies(method, "ConvNet", "p", 2, vec![acc], 0.0);
///     DistillOutcome { dataset: "toy".into(), synthetic: set, report, hard_labels: None, history: vec![] }
/// };
/// let all = [row("Random real", 0.5), row("DM", 0.7)];
/// assert!((improvement_over_random(&all[1], &all).unwrap() - 20.0).abs() < 1e-9);
/// ```
pub fn improvement_over_random(o: &DistillOutcome, all: &[DistillOutcome]) -> Option<f64> {
    if o.is_full_data() {
        return None;
    }
    all.iter()
        .find(|r| {
            r.synthetic.method == "Random real" && r.dataset == o.dataset && r.ipc() == o.ipc()
        })
        .map(|r| o.report.mean_pct() - r.report.mean_pct())
}

/// DD-Ranking's hard-label recovery (HLR), in points: the full-data accuracy of the same data
/// set among `all` ([`full_data`]) minus `o`'s accuracy with hard labels
/// ([`DistillOutcome::hard_label_pct`]). Lower is better: a set whose images alone recover
/// the full data's accuracy needs no soft labels to do it.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{DistillOutcome, SyntheticSet, hard_label_recovery};
/// let row = |method: &str, acc: f64| {
///     let set = SyntheticSet::new(method, "toy", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
///                                 vec!["a".into(), "b".into()], vec![0.0], vec![1.0]).unwrap();
///     let report = EvalReport::from_accuracies(method, "ConvNet", "p", 2, vec![acc], 0.0);
///     DistillOutcome { dataset: "toy".into(), synthetic: set, report, hard_labels: None, history: vec![] }
/// };
/// let all = [row("Full data", 0.9), row("DM", 0.7)];
/// assert!((hard_label_recovery(&all[1], &all).unwrap() - 20.0).abs() < 1e-9);
/// assert_eq!(hard_label_recovery(&all[0], &all), None);
/// ```
pub fn hard_label_recovery(o: &DistillOutcome, all: &[DistillOutcome]) -> Option<f64> {
    if o.is_full_data() {
        return None;
    }
    let full = all
        .iter()
        .find(|r| r.is_full_data() && r.dataset == o.dataset)?;
    Some(full.report.mean_pct() - o.hard_label_pct()?)
}

/// DD-Ranking's label-robust score (LRS), in percent: `(e^a - e^-1) / (e - e^-1)` with
/// `a = (IOR - HLR) / 2` as fractions; 0 to 100, higher is better, a set no better than random
/// with images that recover nothing scores low whatever its soft labels did.
///
/// # Example
/// ```
/// use dd_prelude::distill::lrs;
/// assert!((lrs(0.0, 0.0) - 100.0 * (1.0 - (-1.0f64).exp()) / (1.0f64.exp() - (-1.0f64).exp())).abs() < 1e-9);
/// assert!(lrs(10.0, 5.0) > lrs(0.0, 5.0));
/// ```
pub fn lrs(ior_points: f64, hlr_points: f64) -> f64 {
    let a = 0.5 * ior_points / 100.0 - 0.5 * hlr_points / 100.0;
    let e = std::f64::consts::E;
    100.0 * (a.exp() - 1.0 / e) / (e - 1.0 / e)
}

fn label_robust_score(o: &DistillOutcome, all: &[DistillOutcome]) -> Option<f64> {
    Some(lrs(
        improvement_over_random(o, all)?,
        hard_label_recovery(o, all)?,
    ))
}
