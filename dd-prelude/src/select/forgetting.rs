use std::ops::ControlFlow;
use std::time::Instant;

use burn::config::Config;
use burn::tensor::{Device, Tensor};

use super::{Budget, Coreset, Keep, Selector, check_data, rank_and_pick};
use crate::data::{Examples, Targets};
use crate::error::Result;
use crate::models::{Arch, Classifier};
use crate::train::{EpochRecord, FitConfig, Hook, NoHook, fit_with};

/// Forgetting events (Toneva et al., ICLR 2019; DeepCore's `Forgetting`): train a network on
/// the whole set, record after every step whether each image of the batch was classified
/// correctly, and count the times an image goes from correct to wrong. Keeps the most
/// forgotten images by default (DeepCore); [`Keep::Lowest`] keeps the unforgettable ones.
///
/// Images never classified correctly count as forgotten infinitely often, as in the paper
/// (DeepCore scores them 0).
///
/// Scores: each kept image's forgetting count.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let fm = FashionMnist::load_default()?;
/// let pool = fm.train.subset(&fm.train.stratified(2000, 0));
/// let core = ForgettingConfig::new(Budget::Fraction(0.1))
///     .with_fit(FitConfig::new().with_epochs(5).with_batch_size(64))
///     .select(&pool, &device())?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct ForgettingConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Keep the budget per class (DeepCore's default for this method).
    #[config(default = true)]
    pub balance: bool,
    /// Keep the most (`Highest`) or least (`Lowest`) forgotten images.
    #[config(default = "Keep::Highest")]
    pub keep: Keep,
    /// The network trained while counting.
    #[config(default = "Arch::convnet()")]
    pub arch: Arch,
    /// The training run (its seed is replaced by `seed`).
    #[config(default = "FitConfig::new()")]
    pub fit: FitConfig,
    /// Seed of the network's initialisation, the batch order and ties.
    #[config(default = 0)]
    pub seed: u64,
}

impl ForgettingConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("ForgettingConfig")?;
        self.fit.check()
    }
}

impl<S: Examples<Input = Tensor<4>>> Selector<S> for ForgettingConfig {
    fn name(&self) -> &'static str {
        "Forgetting"
    }

    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.check()?;
        check_data("ForgettingConfig", data)?;
        self.arch.check_for(data)?;
        let started = Instant::now();
        device.seed(self.seed);
        let net = self.arch.init(data, device);
        let mut tracker = ForgettingTracker::new(data.len());
        fit_with(
            net,
            data,
            &self.fit.clone().with_seed(self.seed),
            &mut tracker,
            device,
        )?;
        let mut core = rank_and_pick(
            "Forgetting",
            data,
            &tracker.scores(),
            self.budget,
            self.balance,
            self.keep,
            self.seed,
        )?;
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

/// Forgetting events in one image's sequence of presentations (`true` = classified
/// correctly): the number of correct-to-wrong transitions, or `None` when it was never correct.
///
/// # Example
/// ```
/// use dd_prelude::count_forgetting;
/// assert_eq!(count_forgetting(&[false, true, true, false, true, false]), Some(2));
/// assert_eq!(count_forgetting(&[true, true]), Some(0));
/// assert_eq!(count_forgetting(&[false, false]), None);
/// ```
pub fn count_forgetting(sequence: &[bool]) -> Option<u32> {
    let learned = sequence.iter().any(|&c| c);
    let events = sequence.windows(2).filter(|w| w[0] && !w[1]).count() as u32;
    learned.then_some(events)
}

/// A [`Hook`] that counts forgetting events of every image while a network trains, then hands
/// the loss and the end of each epoch to an inner hook (so it can ride along a teacher's own
/// training run, test accuracy included).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let mut t = ForgettingTracker::new(2);
/// for correct in [false, true, false, true] { t.record(0, correct); }
/// t.record(1, false);
/// assert_eq!(t.events(), &[1, 0]);
/// assert_eq!(t.scores()[0], 1.0);
/// assert!(t.scores()[1].is_infinite(), "never learned");
/// ```
#[derive(Debug, Clone)]
pub struct ForgettingTracker<H = NoHook> {
    last: Vec<bool>,
    learned: Vec<bool>,
    events: Vec<u32>,
    inner: H,
}

impl ForgettingTracker<NoHook> {
    /// A tracker for a training set of `n` images.
    pub fn new(n: usize) -> Self {
        ForgettingTracker {
            last: vec![false; n],
            learned: vec![false; n],
            events: vec![0; n],
            inner: NoHook,
        }
    }
}

impl<H> ForgettingTracker<H> {
    /// Hands the loss and the end of each epoch to `inner` (a [`crate::TestEachEpoch`], a KD hook).
    pub fn then<H2>(self, inner: H2) -> ForgettingTracker<H2> {
        ForgettingTracker {
            last: self.last,
            learned: self.learned,
            events: self.events,
            inner,
        }
    }

    /// Records one presentation of image `index`.
    pub fn record(&mut self, index: usize, correct: bool) {
        if self.last[index] && !correct {
            self.events[index] += 1;
        }
        self.last[index] = correct;
        self.learned[index] |= correct;
    }

    /// Forgetting events per image.
    pub fn events(&self) -> &[u32] {
        &self.events
    }

    /// Forgetting score per image: its events, infinite when it was never learned.
    pub fn scores(&self) -> Vec<f32> {
        self.events
            .iter()
            .zip(&self.learned)
            .map(|(&e, &l)| if l { e as f32 } else { f32::INFINITY })
            .collect()
    }

    /// The inner hook.
    pub fn inner_hook(&self) -> &H {
        &self.inner
    }

    /// The coreset these counts give for `data` (the set the tracked run trained on): what
    /// [`ForgettingConfig`] does after its own training run, here after any run the tracker
    /// rode along (a teacher's, for instance). `config`'s budget, balance, keep and seed apply;
    /// its arch and fit are not used.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0; 4], vec![0, 0, 1, 1],
    ///                                 vec!["a".into(), "b".into()])?;
    /// let mut t = ForgettingTracker::new(4);
    /// for (i, seq) in [[true, false], [true, true], [true, true], [true, false]].iter().enumerate() {
    ///     for &c in seq { t.record(i, c); }
    /// }
    /// let core = t.select(&ForgettingConfig::new(Budget::PerClass(1)), &set)?;
    /// assert_eq!(core.indices, vec![0, 3]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn select<S: Examples>(&self, config: &ForgettingConfig, data: &S) -> Result<Coreset> {
        config.budget.check("ForgettingConfig")?;
        check_data("ForgettingConfig", data)?;
        rank_and_pick(
            "Forgetting",
            data,
            &self.scores(),
            config.budget,
            config.balance,
            config.keep,
            config.seed,
        )
    }
}

impl<M: Classifier, H: Hook<M>> Hook<M> for ForgettingTracker<H> {
    fn loss(
        &mut self,
        logits: Tensor<2>,
        targets: &Targets,
        inputs: &M::Input,
        indices: &[usize],
    ) -> Tensor<1> {
        let predicted = logits.clone().inner().argmax(1).into_data();
        let truth = targets.classes().into_data();
        for ((&i, p), t) in indices
            .iter()
            .zip(predicted.iter::<i64>())
            .zip(truth.iter::<i64>())
        {
            self.record(i, p == t);
        }
        self.inner.loss(logits, targets, inputs, indices)
    }

    fn epoch_end(&mut self, model: &M, record: &mut EpochRecord) -> ControlFlow<()> {
        self.inner.epoch_end(model, record)
    }
}
