use std::time::Instant;

use burn::config::Config;
use burn::tensor::{Device, Tensor};

use super::{Budget, Coreset, Keep, SelectWithModel, Selector, check_data, rank_and_pick};
use crate::data::Examples;
use crate::error::Result;
use crate::eval::logits;
use crate::models::{Arch, Classifier};
use crate::train::{FitConfig, fit};

/// Loss-based selection, seed 000's Algorithm 1: score every image by a pre-trained reference
/// model's cross-entropy (evaluation mode, no augmentation, no gradient), sort in descending
/// order and keep the first `budget` (the hardest); [`Keep::Lowest`] keeps the easiest.
/// Global by default, as the algorithm; `balance` keeps the budget per class.
///
/// With [`SelectWithModel::with_model`] the given model is the reference (the algorithm's
/// `M_ref`); without one, a network of `arch` is first trained on the set with `fit`.
///
/// Scores: each kept image's loss.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 9) as f32 / 9.0).collect(),
///                                 vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let core = LossBasedConfig::new(Budget::Total(2)).with_model(&net).select(&set, &dev)?;
/// let losses = per_sample_loss(&net, &set, &dev);
/// let kept = core.scores.unwrap();
/// assert!(kept[0] >= kept[1] && losses.iter().filter(|&&l| l > kept[1]).count() <= 1);
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct LossBasedConfig {
    /// How many images to keep (the algorithm's ratio `r` is `Budget::Fraction(r)`).
    pub budget: Budget,
    /// Keep the highest-loss (hardest, the algorithm) or the lowest-loss images.
    #[config(default = "Keep::Highest")]
    pub keep: Keep,
    /// Keep the budget per class (the algorithm ranks the whole set).
    #[config(default = false)]
    pub balance: bool,
    /// The reference network trained when none is given.
    #[config(default = "Arch::convnet()")]
    pub arch: Arch,
    /// Its training (its seed is replaced by `seed`).
    #[config(default = "FitConfig::new()")]
    pub fit: FitConfig,
    /// Seed of the reference network and of ties.
    #[config(default = 0)]
    pub seed: u64,
}

impl LossBasedConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("LossBasedConfig")?;
        self.fit.check()
    }
}

/// Cross-entropy of `model` on every image of `data` (validation mode, in batches).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// assert_eq!(per_sample_loss(&net, &set, &dev).len(), 2);
/// # Ok::<(), Error>(())
/// ```
pub fn per_sample_loss<M: Classifier, S: Examples<Input = M::Input>>(
    model: &M,
    data: &S,
    device: &Device,
) -> Vec<f32> {
    let values = logits(model, data, device);
    let classes = data.num_classes();
    values
        .chunks(classes.max(1))
        .zip(data.labels())
        .map(|(row, &y)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            lse - row[y]
        })
        .collect()
}

impl<S: Examples<Input = Tensor<4>>> Selector<S> for LossBasedConfig {
    fn name(&self) -> &'static str {
        "Loss-based"
    }

    /// Trains a reference network of `arch` on `data`, then ranks by its loss.
    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.check()?;
        check_data("LossBasedConfig", data)?;
        self.arch.check_for(data)?;
        let started = Instant::now();
        device.seed(self.seed);
        let trained = fit(
            self.arch.init(data, device),
            data,
            &self.fit.clone().with_seed(self.seed),
            device,
        )?;
        let mut core = self.select_with(&trained.model, data, device)?;
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

impl SelectWithModel for LossBasedConfig {
    /// Ranks by `model`'s loss (the algorithm's pre-trained `M_ref`).
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.check()?;
        check_data("LossBasedConfig", data)?;
        let started = Instant::now();
        let losses = per_sample_loss(model, data, device);
        let mut core = self.select_by_losses(data, &losses)?;
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

impl LossBasedConfig {
    /// Algorithm 1's ranking step on losses already computed (by any model of any modality:
    /// a captioner's per-caption cross-entropy, say): sort `losses` (one per example of
    /// `data`) in descending order and keep the first `budget` ([`Keep::Lowest`]: ascending).
    ///
    /// # Errors
    /// When the config fails its check or `losses` is not one per example.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0; 5], vec![0; 5], vec!["a".into()])?;
    /// let losses = [0.3, 2.0, 0.1, 1.5, 0.7];
    /// let hard = LossBasedConfig::new(Budget::Fraction(0.4)).select_by_losses(&set, &losses)?;
    /// assert_eq!(hard.indices, vec![1, 3]);
    /// let easy = LossBasedConfig::new(Budget::Total(1)).with_keep(Keep::Lowest).select_by_losses(&set, &losses)?;
    /// assert_eq!(easy.indices, vec![2]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn select_by_losses<S: Examples + ?Sized>(
        &self,
        data: &S,
        losses: &[f32],
    ) -> Result<Coreset> {
        self.check()?;
        rank_and_pick(
            "Loss-based",
            data,
            losses,
            self.budget,
            self.balance,
            self.keep,
            self.seed,
        )
    }
}
