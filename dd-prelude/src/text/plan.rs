//! What notebook 21 runs at each `DD_SCALE` ([`TextPlan`]), its results ([`TextOutcome`]) and
//! their table beside the published figures ([`text_table`]).

use std::fmt;
use std::time::Instant;

use burn::tensor::Device;
use polars::prelude::{Column, DataFrame};

use super::dm::TextDmConfig;
use super::knn::KnnConfig;
use super::sldd::{TextSlddConfig, arch_name, net_for};
use super::vocab::EmbedConfig;
use crate::data::{EmbeddedSentences, Examples, SentenceSplits, SoftLabelled, WordVectors};
use crate::distill::{DmConfig, Init, SlddConfig, SyntheticSet};
use crate::error::{Error, Result};
use crate::eval::{EvalPreset, EvalReport, evaluate_model};
use crate::models::{TextAttentionConfig, TextConvNet, TextConvNetConfig};
use crate::scale::Scale;
use crate::select::{
    Budget, HerdingConfig, KCenterConfig, KMeansConfig, RandomConfig, SelectWithModel, Selector,
};
use crate::show::Table;
use crate::train::fit;

/// Sizes of notebook 21 (text distillation) per [`Scale`]. Distilled-set sizes are total
/// sentences (the paper's 2, 10 and 20); a set holds `max(1, size / classes)` per class.
///
/// | scale | words | train / test sentences | CNN filters | networks x epochs (small / full set) | SLDD iterations | DM iterations |
/// |---|---|---|---|---|---|---|
/// | smoke | 16 | 400 / 200 | 3 x 8 | 2 x 20 / 2 x 1 | 3 | 5 |
/// | cpu | 32 | all / all | 3 x 32 | 5 x 100 / 5 x 5 | 300 | 300 |
/// | full | 40 | all / all | 3 x 100 | 10 x 300 / 10 x 10 | 2,000 | 2,000 |
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::TextPlan;
/// let plan = TextPlan::for_scale(Scale::Smoke);
/// assert_eq!(plan.sizes, vec![2, 10]);
/// assert_eq!(plan.sldd(10, 2).sldd.ipc, 5);
/// ```
#[derive(Debug, Clone)]
pub struct TextPlan {
    /// The scale these sizes are for.
    pub scale: Scale,
    /// Tokens per sentence.
    pub max_len: usize,
    /// Training sentences kept (a class-stratified subset; all when the split is smaller).
    pub train_sentences: usize,
    /// Test sentences scored.
    pub test_sentences: usize,
    /// Distilled-set sizes, in sentences.
    pub sizes: Vec<usize>,
    /// Kernel heights of the text CNN.
    pub kernels: Vec<usize>,
    /// Filters per kernel height.
    pub filters: usize,
    /// Fresh networks per score.
    pub models: usize,
    /// Training epochs on a small set (distilled, selected, random).
    pub epochs_small: usize,
    /// Training epochs on the full training set.
    pub epochs_full: usize,
    /// SGD learning rate of the scoring networks (momentum 0.9, divided by 10 at half; 0.05
    /// trained the cpu plan's CNN best of 0.01, 0.05 and 0.1 on Rotten Tomatoes).
    pub lr: f64,
    /// Sentences per training step.
    pub batch_size: usize,
    /// SLDD outer iterations.
    pub iterations_sldd: usize,
    /// Fresh networks per SLDD iteration.
    pub sldd_nets: usize,
    /// Real sentences per class per distillation iteration (SLDD and DM).
    pub batch_real: usize,
    /// DM outer iterations.
    pub iterations_dm: usize,
    /// Random draws of the k-NN baseline.
    pub knn_draws: usize,
}

impl TextPlan {
    /// The plan for `DD_SCALE`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// let plan = TextPlan::from_env()?;
    /// assert!(plan.sizes.contains(&2));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The plan for `scale`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// assert_eq!(TextPlan::for_scale(Scale::Cpu).sizes, vec![2, 10, 20]);
    /// ```
    pub fn for_scale(scale: Scale) -> Self {
        TextPlan {
            scale,
            max_len: scale.pick(16, 32, 40),
            train_sentences: scale.pick(400, usize::MAX, usize::MAX),
            test_sentences: scale.pick(200, usize::MAX, usize::MAX),
            sizes: scale.pick(vec![2, 10], vec![2, 10, 20], vec![2, 10, 20]),
            kernels: vec![3, 4, 5],
            filters: scale.pick(8, 32, 100),
            models: scale.pick(2, 5, 10),
            epochs_small: scale.pick(20, 100, 300),
            epochs_full: scale.pick(1, 5, 10),
            lr: 0.05,
            batch_size: 64,
            iterations_sldd: scale.pick(3, 300, 2_000),
            sldd_nets: scale.pick(1, 2, 4),
            batch_real: scale.pick(16, 64, 100),
            iterations_dm: scale.pick(5, 300, 2_000),
            knn_draws: scale.pick(2, 5, 10),
        }
    }

    /// How sentences are embedded: the plan's length, unknown words left out.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// assert_eq!(TextPlan::for_scale(Scale::Cpu).embed_config().max_len, 32);
    /// ```
    pub fn embed_config(&self) -> EmbedConfig {
        EmbedConfig::new(self.max_len)
    }

    /// The plan's share of `splits` (class-stratified, seed 0), embedded with `vectors`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::text::TextPlan;
    /// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// let set = SentenceSet::new("s", (0..20).map(|i| if i % 2 == 0 { "good".into() } else { "bad".into() }).collect(),
    ///                            (0..20).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// let data = TextPlan::for_scale(Scale::Smoke).embed(&set.split(0.5, 0)?, &wv)?;
    /// assert_eq!(data.train.shape, [10, 16, 2]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn embed(&self, splits: &SentenceSplits, vectors: &WordVectors) -> Result<TextSplits> {
        let cut = |set: &crate::data::SentenceSet, n: usize| {
            if set.len() <= n {
                set.clone()
            } else {
                set.subset(&set.stratified(n, 0))
            }
        };
        let cfg = self.embed_config();
        Ok(TextSplits {
            train: cfg.embed(&cut(&splits.train, self.train_sentences), vectors)?,
            test: cfg.embed(&cut(&splits.test, self.test_sentences), vectors)?,
        })
    }

    /// The text CNN for `data`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// assert_eq!(plan.net(&data.train)?.filters, 8);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn net(&self, data: &EmbeddedSentences) -> Result<TextConvNetConfig> {
        net_for(data, &self.kernels, self.filters)
    }

    /// Sentences per class of a set of `size` sentences over `classes` classes.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// let plan = TextPlan::for_scale(Scale::Cpu);
    /// assert_eq!((plan.per_class(10, 2), plan.per_class(2, 6)), (5, 1));
    /// ```
    pub fn per_class(&self, size: usize, classes: usize) -> usize {
        (size / classes.max(1)).max(1)
    }

    /// The scoring protocol for a training set of `n` sentences: the plan's networks, epochs
    /// (`epochs_full` beyond 1,000 sentences, else `epochs_small`), SGD with momentum 0.9 at
    /// the plan's learning rate, divided by 10 at half.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// let plan = TextPlan::for_scale(Scale::Cpu);
    /// assert_eq!((plan.preset(10).epochs, plan.preset(10_000).epochs), (100, 5));
    /// ```
    pub fn preset(&self, n: usize) -> EvalPreset {
        let (name, epochs) = if n > 1_000 {
            ("text-full", self.epochs_full)
        } else {
            ("text-small", self.epochs_small)
        };
        EvalPreset::new()
            .with_name(name.into())
            .with_models(self.models)
            .with_epochs(epochs)
            .with_lr(self.lr)
            .with_batch_size(self.batch_size)
            .with_progress(false)
    }

    /// SLDD with `size` sentences on a set of `classes` classes: the reference's
    /// hyper-parameters (Adam 0.01, 3 unrolled steps, initial step size 0.02) from real
    /// sentences, with the plan's iterations, networks and real batch.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// assert_eq!(TextPlan::for_scale(Scale::Cpu).sldd(20, 2).sldd.ipc, 10);
    /// ```
    pub fn sldd(&self, size: usize, classes: usize) -> TextSlddConfig {
        let sldd = SlddConfig::new(self.per_class(size, classes))
            .with_iterations(self.iterations_sldd)
            .with_nets(self.sldd_nets)
            .with_batch_real(self.batch_real)
            .with_init(Init::Real)
            .with_progress(false);
        TextSlddConfig::new(sldd)
            .with_kernels(self.kernels.clone())
            .with_filters(self.filters)
    }

    /// DM with `size` sentences on a set of `classes` classes (SGD 1.0 with momentum 0.5, from
    /// real sentences, no augmentation).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::TextPlan;
    /// let dm = TextPlan::for_scale(Scale::Cpu).dm(10, 2);
    /// assert_eq!((dm.dm.ipc, dm.dm.augment.is_none()), (5, true));
    /// ```
    pub fn dm(&self, size: usize, classes: usize) -> TextDmConfig {
        let dm = DmConfig::new(self.per_class(size, classes))
            .with_iterations(self.iterations_dm)
            .with_batch_real(self.batch_real)
            .with_augment(None)
            .with_init(Init::Real)
            .with_progress(false);
        TextDmConfig::new(dm)
            .with_kernels(self.kernels.clone())
            .with_filters(self.filters)
    }

    /// Fresh text CNNs trained on `train` by the one loop and tested: the plan's protocol.
    fn score<S: Examples<Input = burn::tensor::Tensor<3>> + Sync>(
        &self,
        train: &S,
        test: &EmbeddedSentences,
        device: &Device,
    ) -> Result<EvalReport> {
        let net = self.net(test)?;
        let mut report = evaluate_model(
            |d| net.init(d),
            train,
            test,
            &self.preset(train.len()),
            device,
        )?;
        report.arch = arch_name(&net);
        Ok(report)
    }

    /// Full-data accuracy: the plan's networks trained on every training sentence.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let full = plan.full_data(&data, &dev)?;
    /// assert_eq!((full.sentences, full.report.accuracies.len()), (12, 2));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn full_data(&self, data: &TextSplits, device: &Device) -> Result<TextOutcome> {
        let report = self.score(&data.train, &data.test, device)?;
        Ok(TextOutcome::new(
            data,
            "Full data",
            self.fit_protocol(&data.train),
            report,
            0.0,
            None,
        ))
    }

    /// k-NN with the budget of a `size`-sentence set (random real sentences of each class as
    /// the neighbours, `knn_draws` draws), or with the whole training set for `None`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// assert_eq!(plan.knn(&data, Some(2))?.sentences, 2);
    /// assert_eq!(plan.knn(&data, None)?.sentences, 12);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn knn(&self, data: &TextSplits, size: Option<usize>) -> Result<TextOutcome> {
        let per = size.map(|s| self.per_class(s, data.train.classes.len()));
        let report = KnnConfig::new()
            .with_per_class(per)
            .with_draws(self.knn_draws)
            .evaluate(&data.train, &data.test)?;
        let protocol = format!("1-NN, {} draws", report.accuracies.len());
        Ok(TextOutcome::new(data, "k-NN", protocol, report, 0.0, None))
    }

    /// Random real sentences of a `size`-sentence budget, scored both ways: trained by the
    /// plan's protocol, and by SLDD's few unrolled steps with the initial step size (seed
    /// 002's "training data after the same number of steps").
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let rows = plan.random_real(&data, 2, &dev)?;
    /// assert_eq!(rows.len(), 2);
    /// assert!(rows[1].protocol.starts_with("SLDD's"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn random_real(
        &self,
        data: &TextSplits,
        size: usize,
        device: &Device,
    ) -> Result<Vec<TextOutcome>> {
        let per = self.per_class(size, data.train.classes.len());
        let core = RandomConfig::new(Budget::PerClass(per)).select(&data.train, device)?;
        let set = class_major(&data.train, &core.indices);
        let fit_report = self.score(&set, &data.test, device)?;
        let syn = as_synthetic("Random real", &set)?;
        let sldd = self.sldd(size, data.train.classes.len());
        let sldd_report = sldd.evaluate(&syn, &data.test, self.models, device)?;
        Ok(vec![
            TextOutcome::new(
                data,
                "Random real",
                self.fit_protocol(&set),
                fit_report,
                0.0,
                Some(syn.clone()),
            ),
            TextOutcome::new(
                data,
                "Random real",
                sldd_protocol(&sldd),
                sldd_report,
                0.0,
                Some(syn),
            ),
        ])
    }

    /// Every coreset selector that reads any set (random, herding, k-center, K-Means), on the
    /// raw embedded sentences and on the features of `model` (a text CNN trained on the full
    /// set), each scored by the plan's protocol.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let model = plan.reference_model(&data, &dev)?;
    /// let rows = plan.coresets(&data, 2, &model, &dev)?;
    /// assert_eq!(rows.len(), 6);
    /// assert!(best_of(&rows, 2).unwrap().method.starts_with("Best coreset: "));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn coresets(
        &self,
        data: &TextSplits,
        size: usize,
        model: &TextConvNet,
        device: &Device,
    ) -> Result<Vec<TextOutcome>> {
        let b = Budget::PerClass(self.per_class(size, data.train.classes.len()));
        let selectors: Vec<(String, Box<dyn Selector<EmbeddedSentences>>)> = vec![
            (
                "Herding (word vectors)".into(),
                Box::new(HerdingConfig::new(b)),
            ),
            (
                "K-Center (word vectors)".into(),
                Box::new(KCenterConfig::new(b)),
            ),
            (
                "K-Means (word vectors)".into(),
                Box::new(KMeansConfig::new(b)),
            ),
            (
                "Herding (CNN features)".into(),
                Box::new(HerdingConfig::new(b).with_model(model)),
            ),
            (
                "K-Center (CNN features)".into(),
                Box::new(KCenterConfig::new(b).with_model(model)),
            ),
            (
                "K-Means (CNN features)".into(),
                Box::new(KMeansConfig::new(b).with_model(model)),
            ),
        ];
        let mut out = Vec::with_capacity(selectors.len());
        for (name, selector) in selectors {
            let started = Instant::now();
            let core = selector.select(&data.train, device)?;
            let seconds = started.elapsed().as_secs_f64();
            let set = class_major(&data.train, &core.indices);
            let report = self.score(&set, &data.test, device)?;
            let syn = as_synthetic(&name, &set)?;
            out.push(TextOutcome::new(
                data,
                &name,
                self.fit_protocol(&set),
                report,
                seconds,
                Some(syn),
            ));
        }
        Ok(out)
    }

    /// A text CNN trained on every training sentence (network 0 of the full-data protocol):
    /// the feature extractor of the model-reading selectors.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let model = plan.reference_model(&data, &dev)?;
    /// assert!((0.0..=1.0).contains(&accuracy(&model, &data.test, &dev)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn reference_model(&self, data: &TextSplits, device: &Device) -> Result<TextConvNet> {
        let preset = self.preset(data.train.len());
        device.seed(preset.model_seed(0));
        let net = self.net(&data.train)?.init(device);
        Ok(fit(net, &data.train, &preset.fit_config(0), device)?.model)
    }

    /// SLDD at `size` sentences, scored the way it learned (its unrolled steps, soft labels and
    /// step size) and by the plan's protocol (trained on its soft labels by the one loop).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let rows = plan.sldd_outcomes(&data, 2, &dev)?;
    /// assert_eq!(rows.len(), 2);
    /// assert!(rows[0].synthetic.as_ref().unwrap().lr.is_some());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn sldd_outcomes(
        &self,
        data: &TextSplits,
        size: usize,
        device: &Device,
    ) -> Result<Vec<TextOutcome>> {
        let cfg = self.sldd(size, data.train.classes.len());
        let run = cfg.run_all(&data.train, device)?;
        let syn = run.synthetic();
        let seconds = run.seconds();
        let own = cfg.evaluate(&syn, &data.test, self.models, device)?;
        let soft = SoftLabelled::new(
            super::sentences_of(&syn)?,
            syn.soft_labels.clone().unwrap_or_default(),
        )?;
        let fitted = self.score(&soft, &data.test, device)?;
        Ok(vec![
            TextOutcome::new(
                data,
                "SLDD",
                sldd_protocol(&cfg),
                own,
                seconds,
                Some(syn.clone()),
            ),
            TextOutcome::new(
                data,
                "SLDD",
                self.fit_protocol(&soft),
                fitted,
                seconds,
                Some(syn),
            ),
        ])
    }

    /// DM at `size` sentences, scored by the plan's protocol.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let dm = plan.dm_outcome(&data, 2, &dev)?;
    /// assert_eq!((dm.method.as_str(), dm.sentences), ("DM", 2));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dm_outcome(
        &self,
        data: &TextSplits,
        size: usize,
        device: &Device,
    ) -> Result<TextOutcome> {
        let cfg = self.dm(size, data.train.classes.len());
        let run = cfg.run_all(&data.train, device)?;
        let syn = run.synthetic();
        let set = super::sentences_of(&syn)?;
        let report = self.score(&set, &data.test, device)?;
        Ok(TextOutcome::new(
            data,
            "DM",
            self.fit_protocol(&set),
            report,
            run.seconds(),
            Some(syn),
        ))
    }

    /// The sets of `sentences` sentences among `outcomes` that were scored by training (random
    /// real, coresets, SLDD with its soft labels, DM), and the full training set, scored again
    /// on another architecture: fresh [`TextAttention`](crate::models::TextAttention) classifiers (attention pooling of the
    /// word vectors, width 64) trained by the same protocol. Do sets distilled through the text
    /// CNN teach a network they were not distilled with?
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let mut rows = plan.random_real(&data, 2, &dev)?;
    /// rows.push(plan.knn(&data, Some(2))?);
    /// let moved = plan.on_attention(&data, &rows, 2, &dev)?;
    /// assert_eq!(moved.len(), 2); // full data and the trained random row; k-NN has no network
    /// assert!(moved.iter().all(|o| o.report.arch == "TextAttention-64"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn on_attention(
        &self,
        data: &TextSplits,
        outcomes: &[TextOutcome],
        sentences: usize,
        device: &Device,
    ) -> Result<Vec<TextOutcome>> {
        let net = TextAttentionConfig::for_set(&data.test)?;
        let name = format!("TextAttention-{}", net.hidden);
        let score = |report: Result<EvalReport>| {
            report.map(|mut r| {
                r.arch = name.clone();
                r
            })
        };
        let build = |d: &Device| net.init(d);
        let full = score(evaluate_model(
            build,
            &data.train,
            &data.test,
            &self.preset(data.train.len()),
            device,
        ))?;
        let protocol = |n: usize| format!("{}, on {name}", self.fit_protocol_of(n));
        let mut out = vec![TextOutcome::new(
            data,
            "Full data",
            protocol(data.train.len()),
            full,
            0.0,
            None,
        )];
        for o in outcomes.iter().filter(|o| {
            o.sentences == sentences && o.protocol.starts_with("trained") && o.synthetic.is_some()
        }) {
            let syn = o.set()?;
            let set = super::sentences_of(syn)?;
            let preset = self.preset(set.len());
            let report = match &syn.soft_labels {
                Some(soft) => {
                    let soft = SoftLabelled::new(set, soft.clone())?;
                    evaluate_model(build, &soft, &data.test, &preset, device)
                }
                None => evaluate_model(build, &set, &data.test, &preset, device),
            };
            out.push(TextOutcome {
                protocol: protocol(o.sentences),
                report: score(report)?,
                ..o.clone()
            });
        }
        Ok(out)
    }

    /// The comparison on another data set: full data, then at every size k-NN, random real
    /// sentences (both scorings), SLDD (both scorings) and DM; each row printed as it comes.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let rows = plan.sweep(&data, &dev)?;
    /// assert_eq!(rows.len(), 1 + plan.sizes.len() * 6);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn sweep(&self, data: &TextSplits, device: &Device) -> Result<Vec<TextOutcome>> {
        let mut out = vec![self.full_data(data, device)?];
        println!("{}", out[0]);
        for &size in &self.sizes {
            let mut rows = vec![self.knn(data, Some(size))?];
            rows.extend(self.random_real(data, size, device)?);
            rows.extend(self.sldd_outcomes(data, size, device)?);
            rows.push(self.dm_outcome(data, size, device)?);
            for r in &rows {
                println!("{r}");
            }
            out.extend(rows);
        }
        Ok(out)
    }

    fn fit_protocol<S: Examples>(&self, set: &S) -> String {
        self.fit_protocol_of(set.len())
    }

    fn fit_protocol_of(&self, n: usize) -> String {
        let p = self.preset(n);
        format!("trained: {} x {} epochs", p.models, p.epochs)
    }
}

fn sldd_protocol(cfg: &TextSlddConfig) -> String {
    format!(
        "SLDD's: {} unrolled steps",
        cfg.sldd.steps * cfg.sldd.epochs
    )
}

/// `indices` of `set` reordered class by class (the layout synthetic sets use).
fn class_major(set: &EmbeddedSentences, indices: &[usize]) -> EmbeddedSentences {
    let mut idx = indices.to_vec();
    idx.sort_by_key(|&i| (set.labels[i], i));
    set.subset(&idx)
}

/// Selected real sentences (class-major, the same number per class) as a [`SyntheticSet`],
/// so they are scored, decoded and saved as distilled ones are.
fn as_synthetic(method: &str, set: &EmbeddedSentences) -> Result<SyntheticSet> {
    let [_, len, dims] = set.shape;
    SyntheticSet::new(
        method,
        &set.name,
        [1, len, dims],
        set.values.clone(),
        set.labels.clone(),
        set.classes.clone(),
        vec![0.0],
        vec![1.0],
    )
}

impl fmt::Display for TextPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |n| self.preset(n);
        let cap = |n: usize| {
            if n == usize::MAX {
                "all".to_string()
            } else {
                format!("up to {n}")
            }
        };
        write!(
            f,
            "text distillation at DD_SCALE={}: {} words per sentence, {} train / {} test sentences, sets of {:?} sentences, TextConvNet kernels {:?} x {} filters, scored by {} fresh networks (SGD lr {}, {} epochs on a small set, {} on the full set), SLDD {} iterations x {} networks, DM {} iterations, real batch {} per class, k-NN {} draws",
            self.scale,
            self.max_len,
            cap(self.train_sentences),
            cap(self.test_sentences),
            self.sizes,
            self.kernels,
            self.filters,
            self.models,
            self.lr,
            p(1).epochs,
            p(usize::MAX).epochs,
            self.iterations_sldd,
            self.sldd_nets,
            self.iterations_dm,
            self.batch_real,
            self.knn_draws
        )
    }
}

/// The embedded train and test sentences of one data set.
///
/// # Example
/// ```
/// # use dd_prelude::*;
/// # use dd_prelude::text::*;
/// # let dev = device();
/// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
/// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
/// # let plan = TextPlan::for_scale(Scale::Smoke);
/// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
/// assert_eq!((data.train.shape, data.test.shape[0]), ([12, 16, 2], 12));
/// assert!(data.to_string().starts_with("train: 12 sentences"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TextSplits {
    /// Training sentences.
    pub train: EmbeddedSentences,
    /// Test sentences.
    pub test: EmbeddedSentences,
}

impl fmt::Display for TextSplits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (what, s) in [("train", &self.train), ("test", &self.test)] {
            writeln!(
                f,
                "{what}: {} sentences x {} words x {} dims, {} classes, {:.1}% of tokens known ({})",
                s.shape[0],
                s.shape[1],
                s.shape[2],
                s.classes.len(),
                100.0 * s.coverage,
                s.name
            )?;
        }
        Ok(())
    }
}

/// One scored row of notebook 21: a set (full data, k-NN neighbours, random, selected or
/// distilled sentences) and how it scored.
///
/// # Example
/// ```
/// # use dd_prelude::*;
/// # use dd_prelude::text::*;
/// # let dev = device();
/// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
/// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
/// # let plan = TextPlan::for_scale(Scale::Smoke);
/// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
/// let knn = plan.knn(&data, Some(2))?;
/// assert!(knn.to_string().contains("k-NN (2 sentences"));
/// assert!(knn.heatmap(1).is_err()); // k-NN keeps no set
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TextOutcome {
    /// The data set.
    pub dataset: String,
    /// What made the set.
    pub method: String,
    /// Sentences in the set.
    pub sentences: usize,
    /// How it was scored.
    pub protocol: String,
    /// The accuracies.
    pub report: EvalReport,
    /// Seconds to make the set (distillation or selection; 0 for given sets).
    pub seconds: f64,
    /// The set, where it is small enough to show.
    pub synthetic: Option<SyntheticSet>,
}

impl TextOutcome {
    fn new(
        data: &TextSplits,
        method: &str,
        protocol: String,
        report: EvalReport,
        seconds: f64,
        synthetic: Option<SyntheticSet>,
    ) -> Self {
        TextOutcome {
            dataset: dataset_name(&data.train),
            method: method.to_string(),
            sentences: report.train_size,
            protocol,
            report,
            seconds,
            synthetic,
        }
    }
}

impl TextOutcome {
    /// The set's first `count` sentences as heat maps ([`super::sentence_heatmap`]).
    ///
    /// # Errors
    /// When the outcome keeps no set (full data, k-NN).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// assert!(plan.dm_outcome(&data, 2, &dev)?.heatmap(2).is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn heatmap(&self, count: usize) -> Result<crate::show::Png> {
        super::sentence_heatmap(&super::sentences_of(self.set()?)?, count)
    }

    /// The set's sentences decoded to their nearest words among `vectors`
    /// ([`super::decode_sentences`]).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let t = plan.dm_outcome(&data, 2, &dev)?.decoded(&wv)?;
    /// assert_eq!(t.frame().height(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn decoded(&self, vectors: &WordVectors) -> Result<Table> {
        super::decode_sentences(self.set()?, vectors)
    }

    /// The set's soft labels, `per_class` sentences of each class
    /// ([`SyntheticSet::soft_label_table`]).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let texts = (0..24).map(|i| if i % 2 == 0 { "good good" } else { "bad" }.to_string()).collect();
    /// # let set = SentenceSet::new("toy", texts, (0..24).map(|i| i % 2).collect(), vec!["neg".into(), "pos".into()])?;
    /// # let plan = TextPlan::for_scale(Scale::Smoke);
    /// # let data = plan.embed(&set.split(0.5, 0)?, &wv)?;
    /// let sldd = plan.sldd_outcomes(&data, 2, &dev)?.remove(0);
    /// assert!(sldd.soft_labels(1)?.to_html().contains("learned step size"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn soft_labels(&self, per_class: usize) -> Result<Table> {
        self.set()?.soft_label_table(per_class)
    }

    fn set(&self) -> Result<&SyntheticSet> {
        self.synthetic.as_ref().ok_or_else(|| {
            Error::config(
                "TextOutcome",
                "synthetic",
                format!("{} keeps no set of sentences to show", self.method),
            )
        })
    }
}

/// The outcome of `sentences` sentences with the highest mean accuracy among `outcomes` (the
/// best coreset of a sweep of selectors), its method prefixed with `Best coreset: `.
///
/// # Example
/// ```
/// use dd_prelude::text::best_of;
/// assert!(best_of(&[], 10).is_none());
/// ```
pub fn best_of(outcomes: &[TextOutcome], sentences: usize) -> Option<TextOutcome> {
    outcomes
        .iter()
        .filter(|o| o.sentences == sentences)
        .max_by(|a, b| a.report.mean.total_cmp(&b.report.mean))
        .map(|o| TextOutcome {
            method: format!("Best coreset: {}", o.method),
            ..o.clone()
        })
}

impl fmt::Display for TextOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({} sentences, {}): {:.2}% ± {:.2} over {}, made in {:.1}s, scored in {:.1}s",
            self.dataset,
            self.method,
            self.sentences,
            self.protocol,
            self.report.mean_pct(),
            self.report.std_pct(),
            self.report.accuracies.len(),
            self.seconds,
            self.report.seconds
        )
    }
}

/// The data set's name without the split and embedding (`Rotten Tomatoes`).
fn dataset_name(set: &EmbeddedSentences) -> String {
    let name = set.name.split(" (").next().unwrap_or(&set.name);
    name.trim_end_matches(" train").to_string()
}

/// Sucholutsky & Schonlau's IMDB figures quoted in the reference: 20 distilled sentences
/// about 80%, the full data 87%.
fn published(method: &str, sentences: usize) -> Option<&'static str> {
    match (method, sentences) {
        ("SLDD", 20) => Some("IMDB: about 80 (Sucholutsky & Schonlau)"),
        ("Full data", _) => Some("IMDB: 87 (Sucholutsky & Schonlau)"),
        _ => None,
    }
}

/// The outcomes as a table: data set, method, sentences, scoring, accuracy (mean ± std over
/// networks or draws), the time to make and to score each set, and the published figure
/// beside the rows that have one (IMDB's, Sucholutsky & Schonlau).
///
/// # Example
/// ```
/// use dd_prelude::text::text_table;
/// let t = text_table("none yet", &[])?;
/// assert_eq!(t.frame().height(), 0);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub fn text_table(title: &str, outcomes: &[TextOutcome]) -> Result<Table> {
    let col = |name: &str, f: &dyn Fn(&TextOutcome) -> String| {
        Column::new(name.into(), outcomes.iter().map(f).collect::<Vec<_>>())
    };
    let frame = DataFrame::new_infer_height(vec![
        col("data", &|o| o.dataset.clone()),
        col("method", &|o| o.method.clone()),
        Column::new(
            "sentences".into(),
            outcomes
                .iter()
                .map(|o| o.sentences as u64)
                .collect::<Vec<_>>(),
        ),
        col("scored by", &|o| o.protocol.clone()),
        col("accuracy %", &|o| {
            format!("{:.2} ± {:.2}", o.report.mean_pct(), o.report.std_pct())
        }),
        Column::new(
            "networks / draws".into(),
            outcomes
                .iter()
                .map(|o| o.report.accuracies.len() as u64)
                .collect::<Vec<_>>(),
        ),
        col("made in s", &|o| format!("{:.1}", o.seconds)),
        col("scored in s", &|o| format!("{:.1}", o.report.seconds)),
        col("published %", &|o| {
            published(&o.method, o.sentences).unwrap_or("").to_string()
        }),
    ])
    .map_err(|e| Error::Render {
        what: "text distillation table",
        reason: e.to_string(),
    })?;
    Ok(Table::new(title, frame))
}

/// Whether SLDD's set of `size` sentences beats random real sentences (same size, same
/// scoring) and k-NN with the same budget, in one line from the outcomes; `None` when a row
/// is missing.
///
/// # Example
/// ```
/// use dd_prelude::text::text_verdict;
/// assert_eq!(text_verdict(&[], 10), None);
/// ```
pub fn text_verdict(outcomes: &[TextOutcome], size: usize) -> Option<String> {
    let find = |m: &str, sldd_scoring: bool| {
        outcomes.iter().find(|o| {
            o.method == m && o.sentences == size && o.protocol.starts_with("SLDD's") == sldd_scoring
        })
    };
    let sldd = find("SLDD", true)?;
    let random = find("Random real", true)?;
    let knn = find("k-NN", false)?;
    let beats = |o: &TextOutcome| sldd.report.mean > o.report.mean;
    Some(format!(
        "{}: SLDD with {size} sentences {:.2}% ± {:.2} vs random real {:.2}% ± {:.2} ({}) and k-NN {:.2}% ± {:.2} ({})",
        sldd.dataset,
        sldd.report.mean_pct(),
        sldd.report.std_pct(),
        random.report.mean_pct(),
        random.report.std_pct(),
        if beats(random) {
            "beats"
        } else {
            "does not beat"
        },
        knn.report.mean_pct(),
        knn.report.std_pct(),
        if beats(knn) { "beats" } else { "does not beat" },
    ))
}
