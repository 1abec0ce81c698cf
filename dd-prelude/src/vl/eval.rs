//! Seed 001's evaluation protocol for a set of pairs (fresh dual encoders trained on it with
//! the symmetric contrastive loss, retrieval R@1/5/10 on the test split, mean and std), and
//! the coreset baselines on pairs (Random, Herding, K-Center, Forgetting) in the joint
//! image-text embedding.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use polars::prelude::*;

use super::{CaptionEmbeddings, Recall};
use crate::data::{EmbeddedPairs, Examples};
use crate::error::{Error, Result};
use crate::eval::EvalPreset;
use crate::models::{Classifier, DualEncoder, DualEncoderConfig};
use crate::progress::Progress;
use crate::select::{
    Budget, Coreset, ForgettingConfig, ForgettingTracker, HerdingConfig, KCenterConfig,
    RandomConfig, SelectWithModel, Selector,
};
use crate::show::Table;
use crate::train::{FitConfig, SymmetricContrastive, fit_with};

/// Retrieval scores of one set of pairs under the protocol: each fresh model's [`Recall`],
/// their mean and standard deviation.
#[derive(Debug, Clone)]
pub struct RetrievalReport {
    /// What was trained on (`"Random"`, `"Herding"`, `"full data"`, ...).
    pub method: String,
    /// Pairs in the training set.
    pub pairs: usize,
    /// Each fresh model's recall on the test split.
    pub runs: Vec<Recall>,
    /// Mean over the models.
    pub mean: Recall,
    /// Standard deviation over the models.
    pub std: Recall,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
}

impl RetrievalReport {
    /// A report of `runs`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::vl::{Recall, RetrievalReport};
    /// let r = Recall { tr: [10.0, 30.0, 50.0], ir: [5.0, 20.0, 40.0] };
    /// let rep = RetrievalReport::from_runs("Random", 100, vec![r, r], 1.0);
    /// assert_eq!((rep.mean.tr[0], rep.std.tr[0]), (10.0, 0.0));
    /// ```
    pub fn from_runs(
        method: impl Into<String>,
        pairs: usize,
        runs: Vec<Recall>,
        seconds: f64,
    ) -> Self {
        let (mean, std) = Recall::mean_std(&runs);
        RetrievalReport {
            method: method.into(),
            pairs,
            runs,
            mean,
            std,
            seconds,
        }
    }
}

/// Scores `train` as seed 001 does: `preset.models` fresh dual encoders built by `encoder`
/// (seeded per model by the preset), trained on `train` with the symmetric contrastive loss
/// and the preset's optimiser, then image-to-text and text-to-image recall on `test` against
/// every caption in `captions`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{CaptionEmbeddings, evaluate_pairs};
/// let dev = device();
/// let pairs = PairSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
///     (0..4).map(|i| vec![format!("c{i}")]).collect(), (0..4).map(|i| i.to_string()).collect())?;
/// let caps = CaptionEmbeddings::new((0..12).map(|i| ((i * 7) % 5) as f32).collect(), 3, vec![0, 1, 2, 3])?;
/// let set = caps.training_pairs(&pairs)?;
/// let enc = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3);
/// let preset = EvalPreset::smoke().with_batch_size(4).with_progress(false);
/// let rep = evaluate_pairs("full data", &set, &set, &caps, &enc, &preset, &dev)?;
/// assert_eq!((rep.runs.len(), rep.pairs), (2, 4));
/// # Ok::<(), Error>(())
/// ```
pub fn evaluate_pairs(
    method: &str,
    train: &EmbeddedPairs,
    test: &EmbeddedPairs,
    captions: &CaptionEmbeddings,
    encoder: &DualEncoderConfig,
    preset: &EvalPreset,
    device: &Device,
) -> Result<RetrievalReport> {
    evaluate_pairs_with(
        method,
        train,
        test,
        captions,
        encoder,
        preset,
        &mut SymmetricContrastive,
        device,
    )
}

/// [`evaluate_pairs`] with the training loss of `hook` (LoRS's distilled sets train against
/// their learned similarity, [`SimilarityContrastive`](crate::train::SimilarityContrastive)).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{CaptionEmbeddings, evaluate_pairs_with};
/// let dev = device();
/// let pairs = PairSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
///     (0..4).map(|i| vec![format!("c{i}")]).collect(), (0..4).map(|i| i.to_string()).collect())?;
/// let caps = CaptionEmbeddings::new((0..12).map(|i| ((i * 7) % 5) as f32).collect(), 3, vec![0, 1, 2, 3])?;
/// let set = caps.training_pairs(&pairs)?;
/// let enc = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3);
/// let preset = EvalPreset::smoke().with_batch_size(4).with_progress(false);
/// let sim = (0..16).map(|k| if k % 5 == 0 { 0.9 } else { 0.05 }).collect();
/// let mut hook = SimilarityContrastive::new(sim, 4)?;
/// let rep = evaluate_pairs_with("LoRS", &set, &set, &caps, &enc, &preset, &mut hook, &dev)?;
/// assert_eq!(rep.runs.len(), 2);
/// # Ok::<(), Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn evaluate_pairs_with<H: crate::train::Hook<DualEncoder>>(
    method: &str,
    train: &EmbeddedPairs,
    test: &EmbeddedPairs,
    captions: &CaptionEmbeddings,
    encoder: &DualEncoderConfig,
    preset: &EvalPreset,
    hook: &mut H,
    device: &Device,
) -> Result<RetrievalReport> {
    preset.check()?;
    let started = Instant::now();
    let mut progress = Progress::new(
        format!("evaluate {method} ({} pairs)", train.len()),
        preset.models,
    )
    .with_print(preset.progress);
    let mut runs = Vec::with_capacity(preset.models);
    for i in 0..preset.models {
        device.seed(preset.model_seed(i));
        let net = encoder.init(device);
        let fit = preset.fit_config(i).with_progress(false);
        let trained = fit_with(net, train, &fit, hook, device)?;
        let r = Recall::of_model(&trained.model, test, captions, device)?;
        runs.push(r);
        progress.tick(1, || {
            format!(
                "model {}/{}: TR R@1 {:.1}%, IR R@1 {:.1}%",
                i + 1,
                preset.models,
                r.tr[0],
                r.ir[0]
            )
        });
    }
    Ok(RetrievalReport::from_runs(
        method,
        train.len(),
        runs,
        started.elapsed().as_secs_f64(),
    ))
}

/// A dual encoder read as one joint embedding per pair: its normalised image embedding and
/// its normalised caption projection side by side (`[n, 2 * embed_dim]`), the space the
/// geometric coreset methods (herding, k-center) work in on pairs.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::JointEmbedding;
/// let dev = device();
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3)
///     .with_embed_dim(5).init(&dev);
/// let joint = JointEmbedding::new(net);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 1, 4, 4], &dev);
/// let t = burn::tensor::Tensor::<2>::ones([2, 3], &dev);
/// assert_eq!(joint.features((x, t)).dims(), [2, 10]);
/// ```
#[derive(Module, Debug)]
pub struct JointEmbedding {
    model: DualEncoder,
}

impl JointEmbedding {
    /// `model` as a joint embedding.
    pub fn new(model: DualEncoder) -> Self {
        JointEmbedding { model }
    }
}

impl Classifier for JointEmbedding {
    type Input = (Tensor<4>, Tensor<2>);

    fn forward(&self, input: Self::Input) -> Tensor<2> {
        self.model.forward(input)
    }

    fn features(&self, (images, text): Self::Input) -> Tensor<2> {
        let image = self.model.features((images, text.clone()));
        Tensor::cat(vec![image, self.model.embed_text(text)], 1)
    }
}

/// The coreset baselines of seed 001 on pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairCoreset {
    /// Uniformly random pairs.
    Random,
    /// Herding in the joint embedding of a model trained on the full set.
    Herding,
    /// K-center greedy in the joint embedding of a model trained on the full set.
    KCenter,
    /// The pairs most often forgotten (image-to-text, within the batch) while training a
    /// fresh dual encoder on the full set.
    Forgetting,
}

impl PairCoreset {
    /// The four baselines, in seed 001's table order.
    pub const ALL: [PairCoreset; 4] = [
        PairCoreset::Random,
        PairCoreset::Herding,
        PairCoreset::KCenter,
        PairCoreset::Forgetting,
    ];

    /// Display name.
    ///
    /// # Example
    /// ```
    /// assert_eq!(dd_prelude::vl::PairCoreset::KCenter.name(), "K-Center");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            PairCoreset::Random => "Random",
            PairCoreset::Herding => "Herding",
            PairCoreset::KCenter => "K-Center",
            PairCoreset::Forgetting => "Forgetting",
        }
    }

    /// `n` pairs of `train` by this method: `reference` is a dual encoder trained on `train`
    /// (its joint embedding for herding and k-center), `encoder` and `fit` the fresh run the
    /// forgetting counts ride on; `seed` seeds the choice (and forgetting's run).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::vl::{CaptionEmbeddings, PairCoreset};
    /// let dev = device();
    /// let pairs = PairSet::from_pixels("t", [1, 4, 4], (0..96).map(|i| (i % 5) as f32 / 5.0).collect(),
    ///     (0..6).map(|i| vec![format!("c{i}")]).collect(), (0..6).map(|i| i.to_string()).collect())?;
    /// let caps = CaptionEmbeddings::new((0..18).map(|i| ((i * 7) % 5) as f32).collect(), 3, (0..6).collect())?;
    /// let set = caps.training_pairs(&pairs)?;
    /// let enc = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3);
    /// let fit = FitConfig::new().with_epochs(2).with_batch_size(3).with_progress(false);
    /// let reference = enc.init(&dev);
    /// for m in PairCoreset::ALL {
    ///     let core = m.select(&set, 2, &reference, &enc, &fit, 0, &dev)?;
    ///     assert_eq!(core.len(), 2, "{}", m.name());
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn select(
        self,
        train: &EmbeddedPairs,
        n: usize,
        reference: &DualEncoder,
        encoder: &DualEncoderConfig,
        fit: &FitConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Coreset> {
        if n == 0 || n > train.len() {
            return Err(Error::config(
                "PairCoreset",
                "n",
                format!("is {n}; expected 1..={} (the training pairs)", train.len()),
            ));
        }
        let budget = Budget::Total(n);
        let joint = JointEmbedding::new(reference.clone());
        match self {
            PairCoreset::Random => RandomConfig::new(budget)
                .with_seed(seed)
                .select(train, device),
            PairCoreset::Herding => HerdingConfig::new(budget)
                .with_model(&joint)
                .select(train, device),
            PairCoreset::KCenter => KCenterConfig::new(budget)
                .with_seed(seed)
                .with_model(&joint)
                .select(train, device),
            PairCoreset::Forgetting => {
                let started = Instant::now();
                device.seed(seed);
                let mut tracker = ForgettingTracker::new(train.len()).then(SymmetricContrastive);
                fit_with(
                    encoder.init(device),
                    train,
                    &fit.clone().with_seed(seed),
                    &mut tracker,
                    device,
                )?;
                let mut core =
                    tracker.select(&ForgettingConfig::new(budget).with_seed(seed), train)?;
                core.seconds = started.elapsed().as_secs_f64();
                Ok(core)
            }
        }
    }
}

/// Seed 001's results table: one row per report, TR and IR R@1/5/10 as `mean ± std`
/// (percent), with the published Flickr30K figures (R@1/5/10) where `published` gives them.
///
/// # Example
/// ```
/// use dd_prelude::vl::{Recall, RetrievalReport, retrieval_table};
/// let r = Recall { tr: [10.0, 30.0, 50.0], ir: [5.0, 20.0, 40.0] };
/// let t = retrieval_table("Twemoji", &[RetrievalReport::from_runs("Random", 100, vec![r], 1.0)])?;
/// assert!(t.to_html().contains("10.0 ± 0.0"));
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub fn retrieval_table(title: &str, reports: &[RetrievalReport]) -> Result<Table> {
    let cell = |m: f64, s: f64| format!("{m:.1} ± {s:.1}");
    let mut cols: Vec<Column> = vec![
        Column::new(
            "method".into(),
            reports.iter().map(|r| r.method.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "pairs".into(),
            reports.iter().map(|r| r.pairs as u64).collect::<Vec<_>>(),
        ),
    ];
    for (side, name) in [(0, "TR"), (1, "IR")] {
        for (k, at) in super::RECALL_AT.iter().enumerate() {
            let vals: Vec<String> = reports
                .iter()
                .map(|r| {
                    let (m, s) = if side == 0 {
                        (r.mean.tr[k], r.std.tr[k])
                    } else {
                        (r.mean.ir[k], r.std.ir[k])
                    };
                    cell(m, s)
                })
                .collect();
            cols.push(Column::new(format!("{name} R@{at}").into(), vals));
        }
    }
    cols.push(Column::new(
        "models".into(),
        reports
            .iter()
            .map(|r| r.runs.len() as u64)
            .collect::<Vec<_>>(),
    ));
    let df = DataFrame::new_infer_height(cols)
        .map_err(|e| Error::config("retrieval_table", "reports", e.to_string()))?;
    Ok(Table::new(title, df))
}
