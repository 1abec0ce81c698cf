//! What notebook 11 runs at each `DD_SCALE` ([`CaptionPlan`]): seed 000's loss-based selection
//! for captioning (Algorithm 1, Table I) with random and easiest-first controls, each run's
//! scores at two epoch budgets ([`CaptionRun`]), the table beside Table I, sample captions and
//! the loss histogram.

use std::ops::ControlFlow;

use burn::tensor::Device;
use polars::prelude::{Column, DataFrame};

use super::decode::{beam_captions, greedy_captions};
use super::loss::{caption_cross_entropy, validation_loss};
use super::metrics::{bleu4, cider};
use super::model::{Captioner, CaptionerConfig};
use super::tokens::{CaptionSet, CaptionTokenizer};
use crate::data::{Examples, Karpathy, PairSet, PairSplits, Targets, Twemoji};
use crate::error::{Error, Result, ensure};
use crate::models::{Classifier, ConvNetConfig};
use crate::scale::Scale;
use crate::select::{Budget, Keep, LossBasedConfig, RandomConfig, Selector};
use crate::show::{Html, LinePlot, Table, escape_html, image_grid};
use crate::train::{EpochRecord, FitConfig, Hook, OptimizerKind, Schedule, fit_with};

/// Seed 000's Table I (COCO, 100k training pairs, GPT2Vision): `(row, ratio, epochs, validation
/// loss, training minutes)`; the 5% and 30% rows are the hardest-first subsets.
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::caption::SEED000_TABLE_I[0].3, 3.0);
/// ```
pub const SEED000_TABLE_I: [(&str, f64, usize, f64, f64); 4] = [
    ("Full Dataset (100%)", 1.0, 20, 3.0, 68.0),
    ("30% Distilled", 0.3, 10, 3.5, 30.0),
    ("5% Distilled (20 epochs)", 0.05, 20, 2.8, 25.0),
    ("5% Distilled (10 epochs)", 0.05, 10, 3.2, 13.0),
];

/// Sizes of notebook 11 per [`Scale`]. Every model trains with Adam at a constant learning
/// rate, so its state after the smaller budget of a longer run is the model a run of that
/// budget would give (same seed, same batch order): each run trains once, to the larger
/// budget, and is scored at both.
///
/// | scale | images (train / held-out) | image size | ConvNet width x depth | decoder d x layers | epoch budgets |
/// |---|---|---|---|---|---|
/// | smoke | 160 / 40 | 16 | 8 x 2 | 32 x 1 | 2, 4 |
/// | cpu | all (1,529 / 382) | 32 | 32 x 3 | 64 x 2 | 10, 20 |
/// | full | all | 64 | 64 x 3 | 128 x 4 | 10, 20 |
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::CaptionPlan;
/// let plan = CaptionPlan::for_scale(Scale::Smoke);
/// assert_eq!(plan.ratios, vec![0.05, 0.3]);
/// assert!(plan.epochs[0] < plan.epochs[1]);
/// ```
#[derive(Debug, Clone)]
pub struct CaptionPlan {
    /// The scale these sizes are for.
    pub scale: Scale,
    /// Side of the images.
    pub image_size: usize,
    /// Training images kept (a seeded uniform sample of the split; all when fewer).
    pub train_images: usize,
    /// Held-out images scored (a seeded uniform sample; all when fewer).
    pub val_images: usize,
    /// Words per caption (longer captions are cut).
    pub max_words: usize,
    /// A word enters the vocabulary when the training captions use it this often.
    pub min_count: usize,
    /// ConvNet width.
    pub width: usize,
    /// ConvNet blocks.
    pub depth: usize,
    /// Decoder width.
    pub d_model: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Kept shares of the training pairs (Table I: 5% and 30%).
    pub ratios: Vec<f64>,
    /// The two epoch budgets (Table I: 10 and 20).
    pub epochs: [usize; 2],
    /// Pairs per step.
    pub batch_size: usize,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// Beam width of the sample captions.
    pub beam: usize,
    /// Held-out images shown with their captions.
    pub samples: usize,
    /// Seed of the models, batch order and random subsets.
    pub seed: u64,
}

impl CaptionPlan {
    /// The plan for `DD_SCALE`.
    ///
    /// # Example
    /// ```
    /// let plan = dd_prelude::caption::CaptionPlan::from_env()?;
    /// assert!(plan.epochs[1] > 0);
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The plan for `scale`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert_eq!(dd_prelude::caption::CaptionPlan::for_scale(Scale::Cpu).epochs, [10, 20]);
    /// ```
    pub fn for_scale(scale: Scale) -> Self {
        CaptionPlan {
            scale,
            image_size: scale.pick(16, 32, 64),
            train_images: scale.pick(160, usize::MAX, usize::MAX),
            val_images: scale.pick(40, usize::MAX, usize::MAX),
            max_words: 8,
            min_count: scale.pick(1, 2, 2),
            width: scale.pick(8, 32, 64),
            depth: scale.pick(2, 3, 3),
            d_model: scale.pick(32, 64, 128),
            layers: scale.pick(1, 2, 4),
            heads: 4,
            ratios: vec![0.05, 0.3],
            epochs: scale.pick([2, 4], [10, 20], [10, 20]),
            batch_size: 64,
            lr: 2e-3,
            beam: 3,
            samples: scale.pick(4, 8, 8),
            seed: 0,
        }
    }

    /// The pairs notebook 11 runs on: COCO in the Karpathy split when
    /// `$DD_DATA/coco/dataset_coco.json` is there (seed 000's data; at most `train_images`
    /// images per split), else the embedded Twemoji pairs ([`CaptionPlan::load_twemoji`]).
    ///
    /// # Errors
    /// When the chosen data cannot be read.
    pub fn load_data(&self) -> Result<PairSplits> {
        if crate::data::data_dir()
            .join("coco")
            .join("dataset_coco.json")
            .is_file()
        {
            let mut reader = Karpathy::coco_default().with_image_size(self.image_size);
            if self.train_images < usize::MAX {
                reader = reader.with_limit(self.train_images);
            }
            return reader.load();
        }
        self.load_twemoji()
    }

    /// The embedded Twemoji pairs at the plan's image size (80/20 split by emoji).
    ///
    /// # Errors
    /// When the data set-up has not installed the Twemoji package.
    pub fn load_twemoji(&self) -> Result<PairSplits> {
        Twemoji::new(Twemoji::default_dir())
            .with_image_size(self.image_size)
            .load()
    }

    /// The training pairs and the held-out ones (the validation split, or the test split when
    /// there is none) as [`CaptionSet`]s, with the tokenizer of the training captions.
    ///
    /// # Errors
    /// When a split holds no pair.
    pub fn data(&self, splits: &PairSplits) -> Result<CaptionData> {
        let held_out = if splits.val.is_empty() {
            &splits.test
        } else {
            &splits.val
        };
        let take = |set: &PairSet, n: usize| {
            if n >= set.len() {
                set.clone()
            } else {
                set.subset(&set.sample(n, self.seed))
            }
        };
        let (train, val) = (
            take(&splits.train, self.train_images),
            take(held_out, self.val_images),
        );
        ensure(
            !train.is_empty() && !val.is_empty(),
            "CaptionPlan",
            "data",
            || "the training and held-out splits need at least one pair each".into(),
        )?;
        let tokenizer = CaptionTokenizer::build(
            train.all_captions().iter().flatten().map(String::as_str),
            self.min_count,
            self.max_words,
        )?;
        Ok(CaptionData {
            train: CaptionSet::new(&train, &tokenizer),
            val: CaptionSet::new(&val, &tokenizer),
            tokenizer,
        })
    }

    /// A fresh captioner for `data` (seeded with the plan's seed).
    ///
    /// # Errors
    /// When the sizes do not fit the images.
    pub fn model(&self, data: &CaptionData, device: &Device) -> Result<Captioner> {
        let [c, h, w] = data.train.pairs().image_shape();
        device.seed(self.seed);
        CaptionerConfig::new(
            ConvNetConfig::new(1, c, [h, w])
                .with_width(self.width)
                .with_depth(self.depth),
            data.tokenizer.vocab_size(),
            data.tokenizer.seq_len(),
        )
        .with_d_model(self.d_model)
        .with_layers(self.layers)
        .with_heads(self.heads)
        .init(device)
    }

    /// The training setting: Adam, constant learning rate, no weight decay, the larger budget.
    pub fn fit_config(&self) -> FitConfig {
        FitConfig::new()
            .with_epochs(self.epochs[1])
            .with_batch_size(self.batch_size)
            .with_lr(self.lr)
            .with_momentum(0.0)
            .with_weight_decay(0.0)
            .with_schedule(Schedule::Constant)
            .with_optimizer(OptimizerKind::Adam)
            .with_seed(self.seed)
    }

    /// Trains a fresh captioner on `train` with the one loop (`fit_with` and teacher forcing),
    /// scoring it on the held-out pairs after each epoch budget.
    ///
    /// # Errors
    /// When `train` is empty or the model does not fit the data.
    pub fn train(
        &self,
        data: &CaptionData,
        train: &CaptionSet,
        scenario: &str,
        ratio: f64,
        device: &Device,
    ) -> Result<CaptionRun> {
        println!("{scenario} ({:.0}%): {} pairs", 100.0 * ratio, train.len());
        let mut hook = Checkpoints {
            data,
            at: self.epochs.to_vec(),
            seconds: 0.0,
            scores: Vec::new(),
            device: device.clone(),
        };
        let trained = fit_with(
            self.model(data, device)?,
            train,
            &self.fit_config(),
            &mut hook,
            device,
        )?;
        Ok(CaptionRun {
            scenario: scenario.to_string(),
            ratio,
            examples: train.len(),
            model: trained.model,
            scores: hook.scores,
        })
    }

    /// The full-data model: Algorithm 1's reference model `M_ref`.
    ///
    /// # Errors
    /// As [`CaptionPlan::train`].
    pub fn train_full(&self, data: &CaptionData, device: &Device) -> Result<CaptionRun> {
        self.train(data, &data.train, "Full data", 1.0, device)
    }

    /// Algorithm 1 at every ratio, with its controls: keep the hardest (highest `losses`), a
    /// random subset and the easiest of the same size, and train a fresh model on each.
    ///
    /// # Errors
    /// When `losses` is not one per training pair.
    pub fn selection_runs(
        &self,
        data: &CaptionData,
        losses: &[f32],
        device: &Device,
    ) -> Result<Vec<CaptionRun>> {
        let mut runs = Vec::new();
        for &ratio in &self.ratios {
            let budget = Budget::Fraction(ratio);
            let hard = LossBasedConfig::new(budget).with_seed(self.seed);
            let chosen = [
                ("Hardest", hard.select_by_losses(&data.train, losses)?),
                (
                    "Random",
                    RandomConfig::new(budget)
                        .with_balance(false)
                        .with_seed(self.seed)
                        .select(&data.train, device)?,
                ),
                (
                    "Easiest",
                    hard.clone()
                        .with_keep(Keep::Lowest)
                        .select_by_losses(&data.train, losses)?,
                ),
            ];
            for (name, core) in chosen {
                runs.push(self.train(data, &core.subset(&data.train), name, ratio, device)?);
            }
        }
        Ok(runs)
    }

    /// The results beside seed 000's Table I: one row per run and epoch budget (ratio, epochs,
    /// pairs, held-out loss, training time, BLEU-4, CIDEr), Table I's loss and time on the rows
    /// it reports (full data and hardest-first, the smaller budget read as its 10 epochs and
    /// the larger as its 20).
    ///
    /// # Errors
    /// When the table cannot be built.
    pub fn table(&self, runs: &[CaptionRun]) -> Result<Table> {
        let mut cols: [Vec<String>; 2] = Default::default();
        let (mut pct, mut epochs, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut loss, mut secs, mut bleu, mut cid) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut paper_loss, mut paper_min) = (Vec::new(), Vec::new());
        for run in runs {
            for (b, s) in run.scores.iter().enumerate() {
                cols[0].push(run.scenario.clone());
                pct.push(100.0 * run.ratio);
                epochs.push(s.epoch as u32);
                pairs.push(run.examples as u32);
                loss.push(s.val_loss);
                secs.push(s.seconds);
                bleu.push(100.0 * s.bleu4);
                cid.push(s.cider);
                let paper = (run.scenario == "Full data" || run.scenario == "Hardest")
                    .then(|| {
                        SEED000_TABLE_I
                            .iter()
                            .find(|r| (r.1 - run.ratio).abs() < 1e-9 && r.2 == [10, 20][b.min(1)])
                    })
                    .flatten();
                cols[1].push(paper.map_or(String::new(), |r| r.0.to_string()));
                paper_loss.push(paper.map(|r| r.3));
                paper_min.push(paper.map(|r| r.4));
            }
        }
        let [scenario, paper_row] = cols;
        let frame = DataFrame::new_infer_height(vec![
            Column::new("selection".into(), scenario),
            Column::new("ratio %".into(), pct),
            Column::new("epochs".into(), epochs),
            Column::new("pairs".into(), pairs),
            Column::new("val loss".into(), loss),
            Column::new("training s".into(), secs),
            Column::new("BLEU-4 %".into(), bleu),
            Column::new("CIDEr-D".into(), cid),
            Column::new("Table I row".into(), paper_row),
            Column::new("Table I loss (COCO)".into(), paper_loss),
            Column::new("Table I min (COCO)".into(), paper_min),
        ])
        .map_err(|e| Error::Render {
            what: "caption selection table",
            reason: e.to_string(),
        })?;
        Ok(Table::new(
            format!(
                "Loss-based selection for captioning ({} scale; held-out loss, greedy captions)",
                self.scale
            ),
            frame,
        ))
    }

    /// `samples` held-out images, evenly spaced through the split, with their reference captions and the caption each
    /// run's final model writes (beam search of the plan's width).
    ///
    /// # Errors
    /// When an image cannot be drawn.
    pub fn samples(
        &self,
        data: &CaptionData,
        runs: &[CaptionRun],
        device: &Device,
    ) -> Result<Html> {
        let firsts = data.val.first_of_each_image();
        let step = (firsts.len() / self.samples.max(1)).max(1);
        let picks: Vec<usize> = firsts
            .into_iter()
            .step_by(step)
            .take(self.samples)
            .collect();
        let written: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                beam_captions(
                    &r.model,
                    &data.val,
                    &picks,
                    &data.tokenizer,
                    self.beam,
                    device,
                )
            })
            .collect();
        let pairs = data.val.pairs();
        let shape = pairs.image_shape();
        let mut html = String::from(
            "<table style=\"border-collapse:collapse\"><tr><th>image</th><th>references</th>",
        );
        let mut text = String::new();
        for r in runs {
            html.push_str(&format!(
                "<th>{} {:.0}%</th>",
                escape_html(&r.scenario),
                100.0 * r.ratio
            ));
        }
        html.push_str("</tr>");
        for (k, &i) in picks.iter().enumerate() {
            let png = image_grid(
                &[pairs.pixels(data.val.image_of(i))],
                shape,
                1,
                (64 / shape[1].max(1)).clamp(1, 4),
            )?;
            let refs = data.val.references(i).join(" | ");
            html.push_str(&format!(
                "<tr><td><img src=\"{}\"/></td><td style=\"text-align:left\">{}</td>",
                png.data_uri(),
                escape_html(&refs)
            ));
            text.push_str(&format!("\n[{refs}]"));
            for (r, w) in runs.iter().zip(&written) {
                html.push_str(&format!(
                    "<td style=\"text-align:left\">{}</td>",
                    escape_html(&w[k])
                ));
                text.push_str(&format!(
                    " {} {:.0}%: {};",
                    r.scenario,
                    100.0 * r.ratio,
                    w[k]
                ));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
        if let Some(credit) = pairs.credit() {
            html.push_str(&format!(
                "<p style=\"font-size:smaller\">{}</p>",
                escape_html(credit)
            ));
        }
        Ok(Html::new(html, text))
    }

    /// Held-out loss against the kept share, one line per selection at the larger budget, the
    /// full-data model at 100%.
    pub fn loss_plot(&self, runs: &[CaptionRun]) -> LinePlot {
        let mut plot = LinePlot::new(
            format!("Held-out loss after {} epochs", self.epochs[1]),
            "training pairs kept (%)",
            "held-out loss",
        );
        let full = runs.iter().find(|r| r.scenario == "Full data");
        for name in ["Hardest", "Random", "Easiest"] {
            let mut points: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| r.scenario == name)
                .chain(full)
                .filter_map(|r| r.scores.last().map(|s| (100.0 * r.ratio, s.val_loss)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            plot = plot.series(name, points);
        }
        plot
    }

    /// Whether hardest-first beats a random subset of the same size here, at each ratio and
    /// budget, by held-out loss (lower is better), BLEU-4 and CIDEr-D (higher is better).
    pub fn verdict(&self, runs: &[CaptionRun]) -> String {
        let mut lines = Vec::new();
        for &ratio in &self.ratios {
            let find = |name: &str| {
                runs.iter()
                    .find(|r| r.scenario == name && (r.ratio - ratio).abs() < 1e-9)
            };
            let (Some(hard), Some(random)) = (find("Hardest"), find("Random")) else {
                continue;
            };
            for (h, r) in hard.scores.iter().zip(&random.scores) {
                let word = |better: bool| if better { "beats" } else { "does not beat" };
                lines.push(format!(
                    "{:.0}%, {} epochs: hardest-first {} random by held-out loss ({:.3} vs {:.3}), {} it by BLEU-4 ({:.2} vs {:.2} %), {} it by CIDEr-D ({:.3} vs {:.3})",
                    100.0 * ratio,
                    h.epoch,
                    word(h.val_loss < r.val_loss),
                    h.val_loss,
                    r.val_loss,
                    word(h.bleu4 > r.bleu4),
                    100.0 * h.bleu4,
                    100.0 * r.bleu4,
                    word(h.cider > r.cider),
                    h.cider,
                    r.cider
                ));
            }
        }
        lines.join("\n")
    }

    /// The histogram of per-pair losses (40 bins) with the cut of each ratio marked: pairs
    /// right of a cut are the hardest `ratio` of the set.
    pub fn loss_histogram(&self, losses: &[f32]) -> LinePlot {
        let (lo, hi) = losses
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &l| (a.min(l), b.max(l)));
        let bins = 40usize;
        let width = ((hi - lo) / bins as f32).max(1e-6);
        let mut counts = vec![0usize; bins];
        for &l in losses {
            counts[(((l - lo) / width) as usize).min(bins - 1)] += 1;
        }
        let mut steps = Vec::with_capacity(2 * bins);
        for (b, &c) in counts.iter().enumerate() {
            let x0 = (lo + b as f32 * width) as f64;
            steps.push((x0, c as f64));
            steps.push((x0 + width as f64, c as f64));
        }
        let top = counts.iter().copied().max().unwrap_or(1) as f64;
        let mut sorted = losses.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let mut plot = LinePlot::new(
            "Per-pair loss of the full-data model (training set)",
            "mean token cross-entropy",
            "pairs",
        )
        .series("pairs per bin", steps);
        for &r in &self.ratios {
            let keep = Budget::Fraction(r).total(&[losses.len()]).max(1);
            let cut = sorted.get(keep - 1).copied().unwrap_or(lo) as f64;
            plot = plot.series(
                format!("hardest {:.0}% cut ({cut:.2})", 100.0 * r),
                vec![(cut, 0.0), (cut, top)],
            );
        }
        plot
    }
}

/// The training and held-out pairs of notebook 11 and the tokenizer of the training captions.
#[derive(Clone)]
pub struct CaptionData {
    /// Tokenizer of the training captions.
    pub tokenizer: CaptionTokenizer,
    /// Training pairs.
    pub train: CaptionSet,
    /// Held-out pairs (validation loss, BLEU-4, CIDEr).
    pub val: CaptionSet,
}

/// Scores of a model after one epoch budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptionScore {
    /// Epochs trained.
    pub epoch: usize,
    /// Training seconds up to here (scoring excluded).
    pub seconds: f64,
    /// Mean token cross-entropy on the held-out pairs.
    pub val_loss: f64,
    /// Corpus BLEU-4 of the greedy captions of the held-out images, in `[0, 1]`.
    pub bleu4: f64,
    /// CIDEr-D of the same captions.
    pub cider: f64,
}

/// One trained captioner: which data, and its scores at each epoch budget.
#[derive(Debug, Clone)]
pub struct CaptionRun {
    /// `Full data`, `Hardest`, `Random` or `Easiest`.
    pub scenario: String,
    /// Share of the training pairs it trained on.
    pub ratio: f64,
    /// Training pairs.
    pub examples: usize,
    /// The model after the larger budget.
    pub model: Captioner,
    /// Scores after each budget.
    pub scores: Vec<CaptionScore>,
}

/// The hook of [`CaptionPlan::train`]: teacher-forced loss, and held-out scores after the
/// epochs in `at`.
struct Checkpoints<'a> {
    data: &'a CaptionData,
    at: Vec<usize>,
    seconds: f64,
    scores: Vec<CaptionScore>,
    device: Device,
}

impl Hook<Captioner> for Checkpoints<'_> {
    fn loss(
        &mut self,
        logits: burn::tensor::Tensor<2>,
        _targets: &Targets,
        inputs: &<Captioner as Classifier>::Input,
        _indices: &[usize],
    ) -> burn::tensor::Tensor<1> {
        caption_cross_entropy(logits, inputs.1.clone())
    }

    fn epoch_end(&mut self, model: &Captioner, record: &mut EpochRecord) -> ControlFlow<()> {
        self.seconds += record.seconds;
        if self.at.contains(&record.epoch) {
            let val = &self.data.val;
            let images = val.first_of_each_image();
            let written = greedy_captions(model, val, &images, &self.data.tokenizer, &self.device);
            let refs: Vec<Vec<String>> =
                images.iter().map(|&i| val.references(i).to_vec()).collect();
            self.scores.push(CaptionScore {
                epoch: record.epoch,
                seconds: self.seconds,
                val_loss: validation_loss(model, val, &self.device),
                bleu4: bleu4(&written, &refs),
                cider: cider(&written, &refs),
            });
        }
        ControlFlow::Continue(())
    }
}
