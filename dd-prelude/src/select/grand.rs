use std::time::Instant;

use burn::config::Config;
use burn::tensor::{Device, Tensor};

use super::{
    Budget, Coreset, Keep, SelectWithModel, Selector, check_data, group_seed, rank_and_pick,
};
use crate::data::Examples;
use crate::error::{Result, ensure};
use crate::eval::logits_and_features;
use crate::models::{Arch, Classifier};
use crate::progress::Progress;
use crate::train::{FitConfig, fit};

/// EL2N score of every image (Paul et al., NeurIPS 2021): `|softmax(logits) - onehot(y)|_2`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// assert!(el2n_scores(&net, &set, &dev).iter().all(|&s| (0.0..=2f32.sqrt()).contains(&s)));
/// # Ok::<(), Error>(())
/// ```
pub fn el2n_scores<M: Classifier, S: Examples<Input = M::Input>>(
    model: &M,
    data: &S,
    device: &Device,
) -> Vec<f32> {
    let (logits, classes, _, _) = logits_and_features(model, data, device);
    error_norms(&logits, classes, data.labels())
}

/// GraNd score of every image (Paul et al., NeurIPS 2021), as DeepCore computes it: the norm
/// of the cross-entropy gradient with respect to the last linear layer's weight and bias. With
/// `e = softmax(logits) - onehot(y)` and `h` the penultimate features, that gradient is
/// `(e h^T, e)`, whose norm is `|e| sqrt(1 + |h|^2)`: exact, in closed form, no backward pass.
/// (DeepCore applies the cross-entropy to softmax outputs; this uses the logits, as the paper.)
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let (g, e) = (grand_scores(&net, &set, &dev), el2n_scores(&net, &set, &dev));
/// assert!(g.iter().zip(&e).all(|(g, e)| g >= e));
/// # Ok::<(), Error>(())
/// ```
pub fn grand_scores<M: Classifier, S: Examples<Input = M::Input>>(
    model: &M,
    data: &S,
    device: &Device,
) -> Vec<f32> {
    let (logits, classes, features, width) = logits_and_features(model, data, device);
    let errors = error_norms(&logits, classes, data.labels());
    errors
        .iter()
        .zip(features.chunks(width.max(1)))
        .map(|(e, h)| e * (1.0 + h.iter().map(|v| v * v).sum::<f32>()).sqrt())
        .collect()
}

/// `|softmax(row) - onehot(y)|` for every row.
fn error_norms(logits: &[f32], classes: usize, labels: &[usize]) -> Vec<f32> {
    logits
        .chunks(classes.max(1))
        .zip(labels)
        .map(|(row, &y)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            exp.iter()
                .enumerate()
                .map(|(c, e)| {
                    let d = e / sum - if c == y { 1.0 } else { 0.0 };
                    d * d
                })
                .sum::<f32>()
                .sqrt()
        })
        .collect()
}

/// Which norm a [`GraNdConfig`] or [`El2nConfig`] ranks by.
#[derive(Clone, Copy)]
enum NormScore {
    GraNd,
    El2n,
}

impl NormScore {
    fn scores<M: Classifier, S: Examples<Input = M::Input>>(
        self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Vec<f32> {
        match self {
            NormScore::GraNd => grand_scores(model, data, device),
            NormScore::El2n => el2n_scores(model, data, device),
        }
    }
}

/// What the two configs share.
struct NormSelection<'a> {
    method: &'static str,
    score: NormScore,
    budget: Budget,
    balance: bool,
    keep: Keep,
    repeats: usize,
    arch: Arch,
    fit: &'a FitConfig,
    seed: u64,
}

impl NormSelection<'_> {
    fn check(&self) -> Result<()> {
        self.budget.check(self.method)?;
        ensure(self.repeats > 0, self.method, "repeats", || {
            "must be at least 1".into()
        })?;
        self.fit.check()
    }

    /// Trains `repeats` networks for `fit.epochs` and averages their scores.
    fn select<S: Examples<Input = Tensor<4>>>(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.check()?;
        check_data(self.method, data)?;
        self.arch.check_for(data)?;
        let started = Instant::now();
        let mut mean = vec![0f32; data.len()];
        let mut progress = Progress::new(self.method, self.repeats).with_print(self.fit.progress);
        for r in 0..self.repeats {
            let seed = group_seed(self.seed, r);
            device.seed(seed);
            let trained = fit(
                self.arch.init(data, device),
                data,
                &self.fit.clone().with_seed(seed),
                device,
            )?;
            for (m, s) in mean
                .iter_mut()
                .zip(self.score.scores(&trained.model, data, device))
            {
                *m += s / self.repeats as f32;
            }
            progress.tick(1, || format!("network {}/{}", r + 1, self.repeats));
        }
        let mut core = rank_and_pick(
            self.method,
            data,
            &mean,
            self.budget,
            self.balance,
            self.keep,
            self.seed,
        )?;
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }

    /// Ranks by one given model's scores.
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.check()?;
        check_data(self.method, data)?;
        let started = Instant::now();
        let scores = self.score.scores(model, data, device);
        let mut core = rank_and_pick(
            self.method,
            data,
            &scores,
            self.budget,
            self.balance,
            self.keep,
            self.seed,
        )?;
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

/// GraNd (Paul et al., NeurIPS 2021; DeepCore's `GraNd`): train `repeats` networks briefly
/// (`fit.epochs`, early in training), score every image by [`grand_scores`] averaged over them,
/// keep the largest. With [`SelectWithModel::with_model`], one given model's scores.
///
/// Scores: each kept image's mean gradient norm.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let fm = FashionMnist::load_default()?;
/// let pool = fm.train.subset(&fm.train.stratified(2000, 0));
/// let core = GraNdConfig::new(Budget::Fraction(0.1)).with_repeats(2)
///     .with_fit(FitConfig::new().with_epochs(2)).select(&pool, &device())?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct GraNdConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Keep the budget per class.
    #[config(default = true)]
    pub balance: bool,
    /// Keep the largest (`Highest`, the paper) or smallest scores.
    #[config(default = "Keep::Highest")]
    pub keep: Keep,
    /// Networks whose scores are averaged (10 in DeepCore).
    #[config(default = 10)]
    pub repeats: usize,
    /// The networks scored.
    #[config(default = "Arch::convnet()")]
    pub arch: Arch,
    /// Their (short) training; the seed is replaced per network.
    #[config(default = "FitConfig::new()")]
    pub fit: FitConfig,
    /// Seed of the networks and of ties.
    #[config(default = 0)]
    pub seed: u64,
}

impl GraNdConfig {
    fn params(&self) -> NormSelection<'_> {
        NormSelection {
            method: "GraNd",
            score: NormScore::GraNd,
            budget: self.budget,
            balance: self.balance,
            keep: self.keep,
            repeats: self.repeats,
            arch: self.arch,
            fit: &self.fit,
            seed: self.seed,
        }
    }

    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.params().check()
    }
}

impl<S: Examples<Input = Tensor<4>>> Selector<S> for GraNdConfig {
    fn name(&self) -> &'static str {
        "GraNd"
    }

    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.params().select(data, device)
    }
}

impl SelectWithModel for GraNdConfig {
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.params().select_with(model, data, device)
    }
}

/// EL2N (Paul et al., NeurIPS 2021): as [`GraNdConfig`], ranking by [`el2n_scores`], the norm
/// of the error vector `softmax(logits) - onehot(y)` averaged over `repeats` briefly trained
/// networks.
///
/// Scores: each kept image's mean error norm.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// assert!(El2nConfig::new(Budget::Total(10)).with_repeats(0).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct El2nConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Keep the budget per class.
    #[config(default = true)]
    pub balance: bool,
    /// Keep the largest (`Highest`, the paper) or smallest scores.
    #[config(default = "Keep::Highest")]
    pub keep: Keep,
    /// Networks whose scores are averaged (10 in the paper).
    #[config(default = 10)]
    pub repeats: usize,
    /// The networks scored.
    #[config(default = "Arch::convnet()")]
    pub arch: Arch,
    /// Their (short) training; the seed is replaced per network.
    #[config(default = "FitConfig::new()")]
    pub fit: FitConfig,
    /// Seed of the networks and of ties.
    #[config(default = 0)]
    pub seed: u64,
}

impl El2nConfig {
    fn params(&self) -> NormSelection<'_> {
        NormSelection {
            method: "EL2N",
            score: NormScore::El2n,
            budget: self.budget,
            balance: self.balance,
            keep: self.keep,
            repeats: self.repeats,
            arch: self.arch,
            fit: &self.fit,
            seed: self.seed,
        }
    }

    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.params().check()
    }
}

impl<S: Examples<Input = Tensor<4>>> Selector<S> for El2nConfig {
    fn name(&self) -> &'static str {
        "EL2N"
    }

    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.params().select(data, device)
    }
}

impl SelectWithModel for El2nConfig {
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.params().select_with(model, data, device)
    }
}
