//! The standard protocol for scoring a small training set (a coreset, a distilled set):
//! train several fresh, randomly initialised networks on it and report the mean and standard
//! deviation of their final test accuracy, as DatasetCondensation's `evaluate_synset` does.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use burn::config::Config;
use burn::tensor::Device;
use polars::prelude::{Column, DataFrame};

use crate::data::Examples;
use crate::error::{Error, Result, ensure};
use crate::eval::accuracy;
use crate::models::{Arch, Classifier, ConvNetConfig, init_params_now};
use crate::progress::{Progress, format_secs};
use crate::scale::Scale;
use crate::show::{Html, Table, escape_html};
use crate::train::{Augment, FitConfig, Schedule, fit};
use burn::tensor::Tensor;

/// How a small training set is scored: how many fresh networks, trained how.
///
/// The named presets follow the reference implementations (VICO-UoE/DatasetCondensation,
/// `utils.py::evaluate_synset`): SGD with momentum 0.9, weight decay 5e-4, learning rate 0.01
/// divided by 10 at half of the epochs, batch 256, final-epoch test accuracy.
///
/// | preset | models | epochs | augmentation | source |
/// |---|---|---|---|---|
/// | [`EvalPreset::dc`] | 20 | 300 | none | DC (Zhao et al., ICLR 2021) |
/// | [`EvalPreset::dsa`] | 20 | 1000 | DSA ([`Augment::Dsa`]) | DSA (Zhao & Bilen, ICML 2021) |
/// | [`EvalPreset::dm`] | 20 | 1000 | DSA ([`Augment::Dsa`]) | DM (Zhao & Bilen, WACV 2023) |
/// | [`EvalPreset::quick`] | 5 | 100 | none | the reference code's quick runs use 5 models; 100 epochs fits a CPU |
/// | [`EvalPreset::quick_dsa`] | 5 | 500 | DSA ([`Augment::Dsa`]) | DSA's protocol at half its epochs: the cpu image-distillation notebook's |
/// | [`EvalPreset::smoke`] | 2 | 2 | none | tests only |
///
/// DSA and DM augment every evaluation batch with DSA's colour, crop, cutout, flip, scale and
/// rotate (one family per batch, parameters per image, as the reference's `DiffAugment` with
/// `seed=-1`): [`Augment::Dsa`]. The reference divides the rate after epoch `E/2 + 1` of
/// `E + 1` epochs; [`Schedule::StepAtHalf`] divides it after `E/2` of `E`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let p = EvalPreset::dc();
/// assert_eq!((p.models, p.epochs, p.batch_size), (20, 300, 256));
/// assert_eq!(EvalPreset::dsa().epochs, 1000);
/// assert!(EvalPreset::quick().with_models(0).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct EvalPreset {
    /// A short name shown in reports (`dc`, `dsa`, `dm`, `quick`, `smoke`, `custom`).
    #[config(default = "String::from(\"custom\")")]
    pub name: String,
    /// Fresh randomly initialised networks trained and scored.
    #[config(default = 20)]
    pub models: usize,
    /// Training epochs of each network.
    #[config(default = 300)]
    pub epochs: usize,
    /// Images per step.
    #[config(default = 256)]
    pub batch_size: usize,
    /// Initial learning rate.
    #[config(default = 0.01)]
    pub lr: f64,
    /// SGD momentum.
    #[config(default = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[config(default = 5e-4)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[config(default = "Schedule::StepAtHalf")]
    pub schedule: Schedule,
    /// Augmentation of every training batch.
    #[config(default = "Augment::None")]
    pub augment: Augment,
    /// Width of the ConvNets [`evaluate`] trains (the DC protocol's is 128; a CPU-sized run
    /// may score with the narrower network it distilled with).
    #[config(default = 128)]
    pub width: usize,
    /// Base seed: network `i` is initialised and shuffled under a seed derived from it and `i`.
    #[config(default = 0)]
    pub seed: u64,
    /// Print throttled progress lines.
    #[config(default = true)]
    pub progress: bool,
    /// Networks trained at the same time: `0` (the default) is one per core when the networks
    /// are narrow (`width` at most 64, whose operations are too small to keep two cores busy:
    /// 1.32x faster for width 32) and one at a time otherwise (two width-128 networks side by
    /// side were slower than one after another); `1` trains them one after another; never
    /// more than `models`. Each network is initialised in order
    /// under its own seed before any training starts, and trains from its own seeded batch
    /// order and augmentation, so the scores are the same for every value (a model that draws
    /// from the device's generator while training, as dropout does, would need `1`).
    #[config(default = 0)]
    pub workers: usize,
}

impl EvalPreset {
    /// DC's protocol: 20 networks, 300 epochs, no augmentation.
    pub fn dc() -> Self {
        Self::new().with_name("dc".into())
    }

    /// DSA's protocol: 20 networks, 1000 epochs, every batch DSA-augmented.
    pub fn dsa() -> Self {
        Self::new()
            .with_name("dsa".into())
            .with_epochs(1000)
            .with_augment(Augment::Dsa)
    }

    /// DM's protocol: as DSA's (20 networks, 1000 epochs, augmented batches).
    pub fn dm() -> Self {
        Self::dsa().with_name("dm".into())
    }

    /// A CPU-sized protocol: 5 networks (the reference code's quick runs), 100 epochs.
    pub fn quick() -> Self {
        Self::new()
            .with_name("quick".into())
            .with_models(5)
            .with_epochs(100)
    }

    /// DSA's protocol at a CPU's size: 5 networks, 500 epochs (half DSA's), every batch
    /// DSA-augmented. On a 10-per-class set (100 images, one batch per epoch) 100 epochs are
    /// only 100 SGD steps; this is the cpu notebooks' protocol for distilled sets (90 to 170 s
    /// per width-32 network on a 10-per-class set, 2 cores).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let p = EvalPreset::quick_dsa();
    /// assert_eq!((p.models, p.epochs, p.augment), (5, 500, Augment::Dsa));
    /// ```
    pub fn quick_dsa() -> Self {
        Self::dsa()
            .with_name("quick-dsa".into())
            .with_models(5)
            .with_epochs(500)
    }

    /// Seconds, for tests and smoke runs: 2 networks, 2 epochs.
    pub fn smoke() -> Self {
        Self::new()
            .with_name("smoke".into())
            .with_models(2)
            .with_epochs(2)
    }

    /// The preset for a [`Scale`]: `smoke`, `quick` (cpu) or `dc` (full).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert_eq!(EvalPreset::for_scale(Scale::Cpu).name, "quick");
    /// ```
    pub fn for_scale(scale: Scale) -> Self {
        scale.pick(Self::smoke(), Self::quick(), Self::dc())
    }

    /// Checks every field; called by the `evaluate` verbs.
    pub fn check(&self) -> Result<()> {
        const M: &str = "EvalPreset";
        ensure(self.models > 0, M, "models", || "must be at least 1".into())?;
        ensure(self.width > 0, M, "width", || "must be at least 1".into())?;
        crate::train::check_sgd(
            M,
            self.epochs,
            self.batch_size,
            [self.lr, self.momentum, self.weight_decay],
            &self.augment,
        )
    }

    /// The training configuration of network `index`: the preset's optimiser, with the
    /// network's own batch-order seed.
    pub fn fit_config(&self, index: usize) -> FitConfig {
        FitConfig::new()
            .with_epochs(self.epochs)
            .with_batch_size(self.batch_size)
            .with_lr(self.lr)
            .with_momentum(self.momentum)
            .with_weight_decay(self.weight_decay)
            .with_schedule(self.schedule)
            .with_augment(self.augment)
            .with_seed(self.model_seed(index))
            .with_progress(self.progress)
    }

    /// The seed of network `index` (initialisation and batch order).
    pub fn model_seed(&self, index: usize) -> u64 {
        self.seed.wrapping_mul(1_000_003).wrapping_add(index as u64)
    }

    /// How many networks train at once: [`workers`](Self::workers), or when it is 0 one per
    /// core for networks of width at most 64 and one otherwise; never more than
    /// [`models`](Self::models).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert_eq!(EvalPreset::smoke().with_workers(1).worker_count(), 1);
    /// assert_eq!(EvalPreset::smoke().with_models(2).with_workers(8).worker_count(), 2);
    /// assert_eq!(EvalPreset::dc().worker_count(), 1); // width 128
    /// ```
    pub fn worker_count(&self) -> usize {
        let wanted = if self.workers == 0 {
            if self.width <= 64 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                1
            }
        } else {
            self.workers
        };
        wanted.clamp(1, self.models.max(1))
    }
}

impl EvalPreset {
    /// One line: networks, epochs, optimiser and augmentation.
    ///
    /// # Example
    /// ```
    /// assert!(dd_prelude::EvalPreset::dc().summary().starts_with("dc protocol: 20 networks x 300 epochs"));
    /// ```
    pub fn summary(&self) -> String {
        format!(
            "{} protocol: {} networks x {} epochs, batch {}, SGD lr {} (momentum {}, weight decay {}), {:?}, augmentation {:?}",
            self.name,
            self.models,
            self.epochs,
            self.batch_size,
            self.lr,
            self.momentum,
            self.weight_decay,
            self.schedule,
            self.augment
        )
    }
}

/// The result of scoring a training set: one final test accuracy per fresh network, their mean
/// and standard deviation.
///
/// The standard deviation is the population one (`numpy.std`, as the reference code reports).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let r = EvalReport::from_accuracies("toy", "ConvNet", "custom", 10, vec![0.5, 0.7], 1.0);
/// assert!((r.mean - 0.6).abs() < 1e-12);
/// assert!((r.std - 0.1).abs() < 1e-12);
/// assert!(r.to_string().contains("60.00% ± 10.00"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// What was scored (the training set's name).
    pub label: String,
    /// The architecture trained.
    pub arch: String,
    /// The preset's name.
    pub preset: String,
    /// Images in the scored training set.
    pub train_size: usize,
    /// Final test accuracy of each network, in `[0, 1]`.
    pub accuracies: Vec<f64>,
    /// Mean of `accuracies`.
    pub mean: f64,
    /// Population standard deviation of `accuracies`.
    pub std: f64,
    /// Wall time of the whole evaluation.
    pub seconds: f64,
}

impl EvalReport {
    /// A report from measured accuracies (mean and std computed here).
    pub fn from_accuracies(
        label: impl Into<String>,
        arch: impl Into<String>,
        preset: impl Into<String>,
        train_size: usize,
        accuracies: Vec<f64>,
        seconds: f64,
    ) -> Self {
        let (mean, std) = mean_std(&accuracies);
        EvalReport {
            label: label.into(),
            arch: arch.into(),
            preset: preset.into(),
            train_size,
            accuracies,
            mean,
            std,
            seconds,
        }
    }

    /// Mean accuracy in percent.
    pub fn mean_pct(&self) -> f64 {
        100.0 * self.mean
    }

    /// Standard deviation in percentage points.
    pub fn std_pct(&self) -> f64 {
        100.0 * self.std
    }

    /// One row per network: index and test accuracy %.
    pub fn frame(&self) -> Result<DataFrame> {
        DataFrame::new_infer_height(vec![
            Column::new(
                "network".into(),
                (1..=self.accuracies.len() as u32).collect::<Vec<u32>>(),
            ),
            Column::new(
                "test accuracy %".into(),
                self.accuracies
                    .iter()
                    .map(|a| 100.0 * a)
                    .collect::<Vec<f64>>(),
            ),
        ])
        .map_err(|e| Error::Render {
            what: "evaluation table",
            reason: e.to_string(),
        })
    }

    /// HTML with the text fallback.
    pub fn to_html_output(&self) -> Html {
        let accs: Vec<String> = self
            .accuracies
            .iter()
            .map(|a| format!("{:.2}", 100.0 * a))
            .collect();
        let html = format!(
            "<div class=\"dd-eval\"><b>{}</b> on <i>{}</i> ({} images): <b>{:.2}% ± {:.2}</b> \
             over {} networks ({} protocol, {})<br><small>per network: {}</small></div>",
            escape_html(&self.arch),
            escape_html(&self.label),
            self.train_size,
            self.mean_pct(),
            self.std_pct(),
            self.accuracies.len(),
            escape_html(&self.preset),
            format_secs(self.seconds),
            accs.join(", ")
        );
        Html::new(html, self.to_string())
    }

    /// Shows the report in a notebook cell.
    pub fn evcxr_display(&self) {
        self.to_html_output().evcxr_display();
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} ({} images): {:.2}% ± {:.2} over {} networks ({} protocol, {})",
            self.arch,
            self.label,
            self.train_size,
            self.mean_pct(),
            self.std_pct(),
            self.accuracies.len(),
            self.preset,
            format_secs(self.seconds)
        )
    }
}

/// Mean and population standard deviation (0, 0 for no value).
fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Scores `train` with the DC ConvNet (depth 3, instance norm, average pooling, width
/// `preset.width`: 128 in the papers' protocols): trains `preset.models` fresh networks on it
/// and tests each on `test`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("two", [1, 8, 8], (0..128).map(|i| (i / 64) as f32).collect(),
///                                 vec![0, 1], vec!["dark".into(), "light".into()])?;
/// let report = evaluate(&set, &set, &EvalPreset::smoke().with_progress(false), &dev)?;
/// assert_eq!(report.accuracies.len(), 2);
/// # Ok::<(), Error>(())
/// ```
pub fn evaluate<S, T>(
    train: &S,
    test: &T,
    preset: &EvalPreset,
    device: &Device,
) -> Result<EvalReport>
where
    S: Examples<Input = Tensor<4>> + Sync,
    T: Examples<Input = Tensor<4>> + Sync,
{
    Arch::convnet().check_for(train)?;
    let config = ConvNetConfig::for_set(train).with_width(preset.width);
    let mut report = evaluate_model(|dev| config.init(dev), train, test, preset, device)?;
    report.arch = format!("ConvNetW{}", preset.width);
    Ok(report)
}

/// Scores `train` with any architecture: `build` makes one fresh network (it is called once per
/// network, after the device is seeded with that network's seed).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("two", [1, 4, 4], (0..32).map(|i| (i / 16) as f32).collect(),
///                                 vec![0, 1], vec!["dark".into(), "light".into()])?;
/// let cfg = MlpConfig::for_set(&set).with_hidden(8);
/// let report = evaluate_model(|d| cfg.init(d), &set, &set, &EvalPreset::smoke().with_progress(false), &dev)?;
/// assert_eq!(report.arch, "Mlp");
/// # Ok::<(), Error>(())
/// ```
pub fn evaluate_model<M, S, T>(
    build: impl Fn(&Device) -> M,
    train: &S,
    test: &T,
    preset: &EvalPreset,
    device: &Device,
) -> Result<EvalReport>
where
    M: Classifier,
    S: Examples<Input = M::Input> + Sync,
    T: Examples<Input = M::Input> + Sync,
{
    preset.check()?;
    check_pair(train, test)?;
    let arch = short_type_name::<M>();
    let started = Instant::now();
    let mut progress =
        Progress::new(format!("evaluate {arch}"), preset.models).with_print(preset.progress);
    let mut accuracies = vec![f64::NAN; preset.models];
    let mut record = |i: usize, acc: f64| {
        accuracies[i] = acc;
        progress.tick(1, || {
            format!(
                "network {}/{}: test accuracy {:.2}%",
                i + 1,
                preset.models,
                100.0 * acc
            )
        });
    };
    // Network `i`, its parameters drawn now under its own seed.
    let fresh = |i: usize| {
        device.seed(preset.model_seed(i));
        let net = build(device);
        init_params_now(&net);
        net
    };
    let workers = preset.worker_count();
    if workers == 1 {
        for i in 0..preset.models {
            let trained = fit(fresh(i), train, &preset.fit_config(i), device)?;
            record(i, accuracy(&trained.model, test, device));
        }
    } else {
        // The device's generator is process-wide: draw every initialisation here, in order,
        // as the one-by-one run does; training then uses only each network's own generator.
        let queue: Mutex<VecDeque<(usize, M)>> =
            Mutex::new((0..preset.models).map(|i| (i, fresh(i))).collect());
        let (sender, results) = mpsc::channel::<(usize, Result<f64>)>();
        let mut failure = None;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (sender, queue) = (sender.clone(), &queue);
                scope.spawn(move || {
                    loop {
                        let next = queue.lock().map(|mut q| q.pop_front());
                        let Ok(Some((i, net))) = next else { break };
                        // per-network progress lines would interleave: the tick reports each
                        let config = preset.fit_config(i).with_progress(false);
                        let scored = fit(net, train, &config, device)
                            .map(|trained| accuracy(&trained.model, test, device));
                        if sender.send((i, scored)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (i, scored) in results {
                match scored {
                    Ok(acc) => record(i, acc),
                    Err(e) => {
                        // stop handing out networks; the running ones finish
                        if let Ok(mut q) = queue.lock() {
                            q.clear();
                        }
                        failure.get_or_insert(e);
                    }
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(EvalReport::from_accuracies(
        train.name(),
        arch,
        preset.name.clone(),
        train.len(),
        accuracies,
        started.elapsed().as_secs_f64(),
    ))
}

/// Scores `train` with an architecture named by an [`Arch`].
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("two", [1, 16, 16], (0..512).map(|i| (i / 256) as f32).collect(),
///                                 vec![0, 1], vec!["dark".into(), "light".into()])?;
/// let arch: Arch = "LeNet".parse()?;
/// let report = evaluate_arch(arch, &set, &set, &EvalPreset::smoke().with_progress(false), &dev)?;
/// assert_eq!(report.arch, "LeNet");
/// # Ok::<(), Error>(())
/// ```
pub fn evaluate_arch<S, T>(
    arch: Arch,
    train: &S,
    test: &T,
    preset: &EvalPreset,
    device: &Device,
) -> Result<EvalReport>
where
    S: Examples<Input = Tensor<4>> + Sync,
    T: Examples<Input = Tensor<4>> + Sync,
{
    arch.check_for(train)?;
    let mut report = evaluate_model(|d| arch.init(train, d), train, test, preset, device)?;
    report.arch = arch.to_string();
    Ok(report)
}

/// Cross-architecture evaluation: scores `train` (typically distilled with a ConvNet) with each
/// architecture in `archs` under the same preset, as the reference's `eval_mode='M'`
/// (MLP, ConvNet, LeNet, AlexNet, VGG11, ResNet18). Returns a table with one row per
/// architecture: networks, mean and std of test accuracy %, seconds.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("two", [1, 16, 16], (0..512).map(|i| (i / 256) as f32).collect(),
///                                 vec![0, 1], vec!["dark".into(), "light".into()])?;
/// let archs = [Arch::Mlp, Arch::LeNet];
/// let table = evaluate_cross_arch(&set, &set, &archs, &EvalPreset::smoke().with_progress(false), &dev)?;
/// assert_eq!(table.frame().height(), 2);
/// # Ok::<(), Error>(())
/// ```
pub fn evaluate_cross_arch<S, T>(
    train: &S,
    test: &T,
    archs: &[Arch],
    preset: &EvalPreset,
    device: &Device,
) -> Result<Table>
where
    S: Examples<Input = Tensor<4>> + Sync,
    T: Examples<Input = Tensor<4>> + Sync,
{
    ensure(!archs.is_empty(), "evaluate_cross_arch", "archs", || {
        format!("is empty; name at least one of {}", Arch::NAMES.join(", "))
    })?;
    let mut reports = Vec::with_capacity(archs.len());
    for &arch in archs {
        reports.push(evaluate_arch(arch, train, test, preset, device)?);
    }
    reports_table(
        &format!(
            "{} scored across architectures ({} protocol)",
            train.name(),
            preset.name
        ),
        &reports,
    )
}

/// A table of evaluation reports: one row each (label, architecture, images, networks, mean %,
/// std %, seconds).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let r = EvalReport::from_accuracies("toy", "ConvNet", "custom", 10, vec![0.5, 0.7], 1.0);
/// let t = reports_table("results", &[r])?;
/// assert!(t.to_html().contains("60"));
/// # Ok::<(), Error>(())
/// ```
pub fn reports_table(title: &str, reports: &[EvalReport]) -> Result<Table> {
    let frame = DataFrame::new_infer_height(vec![
        Column::new(
            "training set".into(),
            reports
                .iter()
                .map(|r| r.label.clone())
                .collect::<Vec<String>>(),
        ),
        Column::new(
            "architecture".into(),
            reports
                .iter()
                .map(|r| r.arch.clone())
                .collect::<Vec<String>>(),
        ),
        Column::new(
            "images".into(),
            reports
                .iter()
                .map(|r| r.train_size as u32)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "networks".into(),
            reports
                .iter()
                .map(|r| r.accuracies.len() as u32)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "test accuracy %".into(),
            reports.iter().map(|r| r.mean_pct()).collect::<Vec<f64>>(),
        ),
        Column::new(
            "std".into(),
            reports.iter().map(|r| r.std_pct()).collect::<Vec<f64>>(),
        ),
        Column::new(
            "seconds".into(),
            reports.iter().map(|r| r.seconds).collect::<Vec<f64>>(),
        ),
    ])
    .map_err(|e| Error::Render {
        what: "evaluation table",
        reason: e.to_string(),
    })?;
    Ok(Table::new(title, frame))
}

/// The train and test sets must describe the same examples and classes.
fn check_pair<S: Examples, T: Examples>(train: &S, test: &T) -> Result<()> {
    ensure(!train.is_empty(), "evaluate", "train", || {
        format!("{} holds no example", train.name())
    })?;
    ensure(!test.is_empty(), "evaluate", "test", || {
        format!("{} holds no example", test.name())
    })?;
    if train.example_shape() != test.example_shape() || train.num_classes() != test.num_classes() {
        return Err(Error::ShapeMismatch {
            context: format!("evaluate: {} vs {}", train.name(), test.name()),
            expected: format!(
                "{:?} examples, {} classes",
                train.example_shape(),
                train.num_classes()
            ),
            got: format!(
                "{:?} examples, {} classes",
                test.example_shape(),
                test.num_classes()
            ),
        });
    }
    Ok(())
}

/// `dd_prelude::models::convnet::ConvNet` as `ConvNet`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}
