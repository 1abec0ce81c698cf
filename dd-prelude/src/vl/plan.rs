//! [`VlPlan`]: notebook 30's sizes per [`Scale`], its data ([`VlData`]: Twemoji pairs with
//! their caption embeddings), the full-data model, the coreset rows, a retrieval example and
//! the published Flickr30K figures.

use burn::tensor::Device;
use polars::prelude::*;

use super::{
    BiArch, BiParams, BiTrajectoryConfig, CaptionEmbeddings, DistilledPairs, MiniLm, PairCoreset,
    Recall, RetrievalReport, SimilarityConfig, evaluate_pairs, evaluate_pairs_with, similarity,
    train_bi_expert,
};
use crate::data::{EmbeddedPairs, Examples, PairSet, PairSplits, Twemoji};
use crate::error::{Error, Result};
use crate::eval::EvalPreset;
use crate::models::{ConvNetConfig, DualEncoder, DualEncoderConfig};
use crate::scale::Scale;
use crate::show::{Html, Table};
use crate::train::{SimilarityContrastive, SymmetricContrastive, fit_with};

/// Image-caption pairs ready for seed 001's experiments: the splits, the training pairs (each
/// image with its first caption's embedding) and every caption's embedding, per split.
#[derive(Debug, Clone)]
pub struct VlData {
    /// The image-caption pairs.
    pub splits: PairSplits,
    /// Training pairs: each training image with its first caption's embedding.
    pub train: EmbeddedPairs,
    /// Test pairs (the images; retrieval scores against `test_captions`).
    pub test: EmbeddedPairs,
    /// Every training caption's embedding.
    pub train_captions: CaptionEmbeddings,
    /// Every test caption's embedding (several per image).
    pub test_captions: CaptionEmbeddings,
}

impl VlData {
    /// Embeds every caption of `splits` with `encoder` (cached) and builds the pairs.
    pub fn new(splits: PairSplits, encoder: &MiniLm) -> Result<Self> {
        let train_captions = CaptionEmbeddings::of(&splits.train, encoder)?;
        let test_captions = CaptionEmbeddings::of(&splits.test, encoder)?;
        Ok(VlData {
            train: train_captions.training_pairs(&splits.train)?,
            test: test_captions.training_pairs(&splits.test)?,
            train_captions,
            test_captions,
            splits,
        })
    }

    /// One line: pairs and captions per split.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} training pairs ({} captions), {} test images with {} captions; text {}-d",
            self.train.name(),
            self.train.len(),
            self.train_captions.len(),
            self.test.len(),
            self.test_captions.len(),
            self.train.text_dim()
        )
    }
}

/// The sizes of notebook 30 (seed 001 on Twemoji) at a [`Scale`].
///
/// | | smoke | cpu | full |
/// |---|---|---|---|
/// | image side | 16 px | 32 px | 64 px |
/// | ConvNet width x depth | 8 x 2 | 32 x 3 | 128 x 3 |
/// | full-data models x epochs | 1 x 2 | 2 x 15 | 5 x 50 |
/// | subset models x epochs | 2 x 5 | 3 x 60 | 5 x 300 |
/// | pairs per subset | 100 | 100, 200 | 100, 200, 500 |
/// | experts x epochs | 1 x 2 | 10 x 4 | 10 x 20 |
/// | matching: iterations, student steps, expert epochs, max start | 3, 2, 1, 1 | 300, 5, 1, 2 | 1000, 20, 2, 10 |
/// | matching: initial step size, image rate, text rate | 0.05, 10, 0.01 | 0.02, 1000, 1 | 0.05, 10, 0.01 |
/// | LoRS similarity: rank, alpha, outer rate | 10, 3, 0.01 | 10, 3, 0.01 | 10, 3, 0.01 |
///
/// Optimiser: SGD, momentum 0.9, lr 0.05, batch 128, step at half (the [`EvalPreset`]).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::VlPlan;
/// let p = VlPlan::for_scale(Scale::Cpu);
/// assert_eq!((p.image_size, p.budgets.clone()), (32, vec![100, 200]));
/// assert_eq!(p.encoder(384).image.image_size, [32, 32]);
/// ```
#[derive(Debug, Clone)]
pub struct VlPlan {
    /// The scale the sizes are for.
    pub scale: Scale,
    /// Side of the square images.
    pub image_size: usize,
    /// ConvNet width.
    pub width: usize,
    /// ConvNet depth.
    pub depth: usize,
    /// Width of the shared embedding space.
    pub embed_dim: usize,
    /// Protocol of the full-data model (models, epochs, optimiser).
    pub full: EvalPreset,
    /// Protocol of every subset (coresets, distilled sets).
    pub eval: EvalPreset,
    /// Pairs per subset.
    pub budgets: Vec<usize>,
    /// Expert trajectories of both sides (stage 1).
    pub experts: usize,
    /// Epochs of each expert trajectory.
    pub expert_epochs: usize,
    /// Step size of the experts' plain SGD.
    pub expert_lr: f64,
    /// Bi-trajectory matching's settings (stage 2); `pairs` is set per budget.
    pub distill: BiTrajectoryConfig,
    /// LoRS's learned similarity for the LoRS rows (the same matching otherwise).
    pub lors: SimilarityConfig,
}

impl VlPlan {
    /// The plan for `scale`.
    pub fn for_scale(scale: Scale) -> Self {
        let preset = |name: &str, models, epochs| {
            EvalPreset::new()
                .with_name(name.into())
                .with_models(models)
                .with_epochs(epochs)
                .with_batch_size(128)
                .with_lr(0.05)
        };
        VlPlan {
            scale,
            image_size: scale.pick(16, 32, 64),
            width: scale.pick(8, 32, 128),
            depth: scale.pick(2, 3, 3),
            embed_dim: 64,
            full: scale.pick(
                preset("smoke", 1, 2),
                preset("vl-cpu", 2, 15),
                preset("vl-full", 5, 50),
            ),
            eval: scale.pick(
                preset("smoke", 2, 5),
                preset("vl-cpu", 3, 60),
                preset("vl-full", 5, 300),
            ),
            budgets: scale.pick(vec![100], vec![100, 200], vec![100, 200, 500]),
            // cpu: 10 experts of 4 epochs rather than 3 of 8. With 3 experts a set fitted to one
            // expert's segment did not lower another expert's loss at the same start epoch
            // (1.77 -> 1.77): the outer loop needs many inits to average over; only epochs 0-3
            // are matched (`examples/vl_scan.rs`, `examples/vl_probe.rs`, 2026-11-27).
            experts: scale.pick(1, 10, 10),
            expert_epochs: scale.pick(2, 4, 20),
            expert_lr: 0.05,
            // cpu, measured on random real pairs before any outer step (`examples/vl_scan.rs`):
            // a 2-epoch expert drift has a cosine of only 0.2-0.4 with the 100 pairs' gradient
            // (1 epoch from start 0-2: 0.3-0.5), and 5 student steps at the experts' 0.05
            // overshoot (summed loss 1.75-2.7, above 2 at every start but 0); 0.02 is the best
            // step size at starts 0-2 (1.50-1.72 with 1 expert epoch). So: 1 expert epoch, start
            // <= 2 (seed 001's and LoRS's Flickr30K commands), initial step size 0.02, and an
            // image rate of 1000 (MTT's; a fixed segment's loss fell 1.65 -> 1.29 in 16 steps at
            // 1000, 1.58 at 10). With 10 experts the loss then falls from 1.72-1.86 to 1.17-1.25
            // in 300 iterations at text rate 1 (1.31-1.32 at 0.1; the previous plan's ended at
            // 1.7-2.0). The text rate was chosen by that loss; TR / IR R@1 over seeds (4.0 / 2.8,
            // 3.6 / 3.1, 4.4 / 2.8 at 1; 4.5 / 2.8, 3.4 / 2.5 at 0.1) differ within the std.
            distill: BiTrajectoryConfig {
                iterations: scale.pick(3, 300, 1000),
                syn_steps: scale.pick(2, 5, 20),
                expert_epochs: scale.pick(1, 1, 2),
                max_start_epoch: scale.pick(1, 2, 10),
                batch_syn: scale.pick(50, 50, 100),
                init_lr: scale.pick(0.05, 0.02, 0.05),
                lr_images: scale.pick(10.0, 1000.0, 10.0),
                lr_text: scale.pick(0.01, 1.0, 0.01),
                // One step size shared by both sides. Seed 001's per-side step sizes (lr_lr 1e-4;
                // at 1e-3 the text one collapsed to 1e-6) made no measurable difference on a
                // validation split of 300 training images (seeds 0-2: matching loss 1.19 against
                // 1.17 shared, TR / IR R@1 4.8 / 3.5 against 4.8 / 3.5; `examples/vl_probe.rs`
                // with `PROBE_VAL=300`, 2026-11-27).
                per_side_lr: false,
                ..BiTrajectoryConfig::new(100)
            },
            // LoRS's rank and alpha. Its rate of 10 made the matching loss diverge on Twemoji
            // (NaN within 100 iterations), at 1 the step size collapsed (to 6e-4); at 0.1 and
            // 0.01 fresh models trained against the learned similarity scored below the same
            // pairs without it (TR R@1 0.8 and 1.9 against 3.4 and 3.3): 0.01 is the least
            // harmful rate measured (`examples/vl_probe.rs`, 2026-11-27).
            lors: SimilarityConfig {
                rank: 10,
                alpha: 3.0,
                lr: 0.01,
            },
        }
    }

    /// The plan for `DD_SCALE`.
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The dual encoder: a ConvNet image side and a projection of `text_dim`-wide caption
    /// embeddings.
    pub fn encoder(&self, text_dim: usize) -> DualEncoderConfig {
        let s = self.image_size;
        DualEncoderConfig::new(
            ConvNetConfig::new(1, 3, [s, s])
                .with_width(self.width)
                .with_depth(self.depth),
            text_dim,
        )
        .with_embed_dim(self.embed_dim)
    }

    /// The Twemoji pairs at the plan's image size (fixed 80/20 split, seed 0), captions
    /// embedded by `encoder`.
    pub fn twemoji(&self, encoder: &MiniLm) -> Result<VlData> {
        let splits = Twemoji::new(Twemoji::default_dir())
            .with_image_size(self.image_size)
            .load()?;
        VlData::new(splits, encoder)
    }

    /// One line of the plan's sizes.
    pub fn summary(&self) -> String {
        format!(
            "scale {}: {}px images, ConvNet {}x{}, embed {}; full data {} models x {} epochs, \
             subsets {} models x {} epochs; pairs {:?}",
            self.scale,
            self.image_size,
            self.width,
            self.depth,
            self.embed_dim,
            self.full.models,
            self.full.epochs,
            self.eval.models,
            self.eval.epochs,
            self.budgets
        )
    }

    /// The full-data row under the full-data protocol, and a reference model trained on all
    /// pairs (the joint embedding the geometric coresets use, and the retrieval example's).
    pub fn full_data(
        &self,
        data: &VlData,
        device: &Device,
    ) -> Result<(RetrievalReport, DualEncoder)> {
        let enc = self.encoder(data.train.text_dim());
        let report = evaluate_pairs(
            "full data",
            &data.train,
            &data.test,
            &data.test_captions,
            &enc,
            &self.full,
            device,
        )?;
        device.seed(self.full.model_seed(0));
        let reference = fit_with(
            enc.init(device),
            &data.train,
            &self.full.fit_config(0).with_progress(false),
            &mut SymmetricContrastive,
            device,
        )?
        .model;
        Ok((report, reference))
    }

    /// Every coreset baseline at every budget, scored under the subset protocol.
    pub fn coresets(
        &self,
        data: &VlData,
        reference: &DualEncoder,
        device: &Device,
    ) -> Result<Vec<RetrievalReport>> {
        let enc = self.encoder(data.train.text_dim());
        let mut out = Vec::new();
        for &n in &self.budgets {
            for method in PairCoreset::ALL {
                let fit = self.full.fit_config(0).with_progress(false);
                let core = method.select(&data.train, n, reference, &enc, &fit, 0, device)?;
                let subset = data.train.subset(&core.indices);
                out.push(evaluate_pairs(
                    method.name(),
                    &subset,
                    &data.test,
                    &data.test_captions,
                    &enc,
                    &self.eval,
                    device,
                )?);
            }
        }
        Ok(out)
    }
}

impl VlPlan {
    /// Stage 1: the plan's expert trajectories of both sides on the training pairs (expert
    /// `i` seeded by `i`).
    pub fn experts(&self, data: &VlData, device: &Device) -> Result<Vec<Vec<BiParams>>> {
        let arch = BiArch::new(&self.encoder(data.train.text_dim()))?;
        let mut progress = crate::progress::Progress::new("expert trajectories", self.experts);
        (0..self.experts)
            .map(|i| {
                let t = train_bi_expert(
                    &arch,
                    &data.train,
                    self.expert_epochs,
                    self.expert_lr,
                    self.full.batch_size,
                    i as u64,
                    device,
                );
                progress.tick(1, || format!("expert {}/{}", i + 1, self.experts));
                t
            })
            .collect()
    }

    /// Stage 2: `pairs` synthetic pairs by bi-trajectory matching of `experts`, with the
    /// plan's settings changed by `adjust` (an ablation turns a side off, or starts from
    /// noise).
    pub fn distill_with(
        &self,
        data: &VlData,
        experts: &[Vec<BiParams>],
        pairs: usize,
        adjust: impl FnOnce(&mut BiTrajectoryConfig),
        device: &Device,
    ) -> Result<DistilledPairs> {
        let arch = BiArch::new(&self.encoder(data.train.text_dim()))?;
        let mut cfg = self.distill.clone();
        cfg.pairs = pairs;
        adjust(&mut cfg);
        cfg.distill(&arch, &data.train, &data.train_captions, experts, device)
    }

    /// Scores a distilled set under the subset protocol, training with its learned step size
    /// (as MTT and seed 001's code evaluate).
    pub fn score_distilled(
        &self,
        method: &str,
        data: &VlData,
        distilled: &DistilledPairs,
        device: &Device,
    ) -> Result<RetrievalReport> {
        let (enc, preset) = (
            self.encoder(data.train.text_dim()),
            self.eval.clone().with_lr(distilled.lr),
        );
        let (set, test, caps) = (&distilled.set, &data.test, &data.test_captions);
        match &distilled.similarity {
            Some(sim) => {
                let mut hook = SimilarityContrastive::new(sim.clone(), set.len())?;
                evaluate_pairs_with(method, set, test, caps, &enc, &preset, &mut hook, device)
            }
            None => evaluate_pairs(method, set, test, caps, &enc, &preset, device),
        }
    }

    /// Bi-trajectory distillation (seed 001) and the same with LoRS's learned similarity at
    /// every budget, each scored: the table's distilled rows and the sets, in the order
    /// (budget, method).
    pub fn distilled_rows(
        &self,
        data: &VlData,
        experts: &[Vec<BiParams>],
        device: &Device,
    ) -> Result<(Vec<RetrievalReport>, Vec<DistilledPairs>)> {
        let mut rows = Vec::new();
        let mut sets = Vec::new();
        for &n in &self.budgets {
            for (name, lors) in [
                ("Bi-trajectory (seed 001)", None),
                ("LoRS (learned similarity)", Some(self.lors)),
            ] {
                let d = self.distill_with(data, experts, n, |c| c.similarity = lors, device)?;
                rows.push(self.score_distilled(name, data, &d, device)?);
                sets.push(d);
            }
        }
        Ok((rows, sets))
    }

    /// Seed 001's ablations at the plan's first budget, each scored: image side only (text
    /// embeddings kept real), text side only (images kept real), and both sides from noise
    /// instead of real pairs.
    pub fn ablations(
        &self,
        data: &VlData,
        experts: &[Vec<BiParams>],
        device: &Device,
    ) -> Result<Vec<RetrievalReport>> {
        let n = self.budgets[0];
        type Adjust = fn(&mut BiTrajectoryConfig);
        let variants: [(&str, Adjust); 3] = [
            ("ablation: images only", |c| c.learn_text = false),
            ("ablation: text only", |c| c.learn_images = false),
            ("ablation: noise init", |c| c.real_init = false),
        ];
        variants
            .into_iter()
            .map(|(name, adjust)| {
                let d = self.distill_with(data, experts, n, adjust, device)?;
                self.score_distilled(name, data, &d, device)
            })
            .collect()
    }
}

/// Seed 001's and LoRS's published Flickr30K figures (R@1/5/10, NFNet + BERT; the LoRS
/// paper's table), for beside the Twemoji table.
///
/// # Example
/// ```
/// let t = dd_prelude::vl::published_flickr30k()?;
/// assert!(t.to_html().contains("MTT-VL"));
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub fn published_flickr30k() -> Result<Table> {
    let rows: [(&str, &str, &str, &str); 6] = [
        (
            "best coreset (K-Center)",
            "100",
            "3.0 / 9.1 / 14.3",
            "1.1 / 4.9 / 8.7",
        ),
        (
            "seed 001 (MTT-VL)",
            "100",
            "9.9 / 28.3 / 39.1",
            "4.7 / 15.7 / 24.6",
        ),
        ("LoRS", "100", "11.8 / 35.8 / 49.2", "8.3 / 24.1 / 35.1"),
        (
            "seed 001 (MTT-VL)",
            "200",
            "10.2 / 28.7 / 41.9",
            "4.6 / 16.0 / 25.5",
        ),
        ("LoRS", "200", "14.5 / 38.7 / 53.4", "8.6 / 25.3 / 36.6"),
        (
            "full data",
            "all",
            "34.9 / 65.4 / 77.6",
            "28.1 / 57.9 / 70.3",
        ),
    ];
    let col = |name: &str, k: usize| {
        Column::new(
            name.into(),
            rows.iter()
                .map(|r| [r.0, r.1, r.2, r.3][k].to_string())
                .collect::<Vec<_>>(),
        )
    };
    let df = DataFrame::new_infer_height(vec![
        col("method", 0),
        col("pairs", 1),
        col("TR R@1 / 5 / 10", 2),
        col("IR R@1 / 5 / 10", 3),
    ])
    .map_err(|e| Error::config("published_flickr30k", "rows", e.to_string()))?;
    Ok(Table::new(
        "Published: Flickr30K, NFNet + BERT (LoRS paper's table; seed 001 = MTT-VL)",
        df,
    ))
}

/// Text retrieval of one test image: the image with the `k` captions `model` ranks first,
/// the right ones marked ✓.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{CaptionEmbeddings, retrieval_example};
/// let dev = device();
/// let pairs = PairSet::from_pixels("t", [1, 2, 2], vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
///     vec![vec!["a".into()], vec!["b".into()]], vec!["0".into(), "1".into()])?;
/// let caps = CaptionEmbeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2, vec![0, 1])?;
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [2, 2]).with_width(2).with_depth(1), 2).init(&dev);
/// let html = retrieval_example(&net, &pairs, &caps.training_pairs(&pairs)?, &caps, 1, 2, &dev)?;
/// assert!(html.html().contains("✓"));
/// # Ok::<(), Error>(())
/// ```
pub fn retrieval_example(
    model: &DualEncoder,
    pairs: &PairSet,
    test: &EmbeddedPairs,
    captions: &CaptionEmbeddings,
    query: usize,
    k: usize,
    device: &Device,
) -> Result<Html> {
    if query >= pairs.len() {
        return Err(Error::config(
            "retrieval_example",
            "query",
            format!("is {query}; the set has {} images", pairs.len()),
        ));
    }
    let sim = similarity(model, test, captions, device)?;
    let n = captions.len();
    let row = &sim[query * n..(query + 1) * n];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    let all = pairs.caption_pairs();
    let lines: Vec<String> = order
        .iter()
        .take(k)
        .enumerate()
        .map(|(rank, &c)| {
            let mark = if captions.owner(c) == query {
                "✓"
            } else {
                "✗"
            };
            format!("{} {mark} {} (cos {:.2})", rank + 1, all[c].1, row[c])
        })
        .collect();
    let shown = PairSet::from_pixels(
        format!(
            "query image {} ({}), top-{k} captions",
            query,
            pairs.id(query)
        ),
        pairs.image_shape(),
        pairs.pixels(query),
        vec![lines],
        vec![pairs.id(query).to_string()],
    )?;
    shown.show_indices(&[0])
}

/// R@1 against pairs per method (TR and IR side by side as two series each), with the
/// full-data model's R@1 as flat lines.
///
/// # Example
/// ```
/// use dd_prelude::vl::{Recall, RetrievalReport, recall_plot};
/// let r = |v| Recall { tr: [v, 0.0, 0.0], ir: [v / 2.0, 0.0, 0.0] };
/// let rows = [RetrievalReport::from_runs("Random", 100, vec![r(3.0)], 1.0),
///             RetrievalReport::from_runs("Random", 200, vec![r(4.0)], 1.0)];
/// let full = RetrievalReport::from_runs("full data", 1500, vec![r(10.0)], 1.0);
/// assert_eq!(recall_plot("Twemoji", &rows, &full)?.size(), (720, 420));
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub fn recall_plot(
    title: &str,
    rows: &[RetrievalReport],
    full: &RetrievalReport,
) -> Result<crate::show::Png> {
    let mut methods: Vec<&str> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let (lo, hi) = rows.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
        (lo.min(r.pairs as f64), hi.max(r.pairs as f64))
    });
    let (lo, hi) = if lo >= hi {
        (lo - 10.0, lo + 10.0)
    } else {
        (lo, hi)
    };
    let mut plot = crate::show::LinePlot::new(
        format!("{title}: retrieval R@1 (mean over fresh models)"),
        "pairs",
        "R@1 %",
    );
    for (side, name) in [(0, "TR"), (1, "IR")] {
        let pick = |r: &Recall| if side == 0 { r.tr[0] } else { r.ir[0] };
        for m in &methods {
            let pts = rows
                .iter()
                .filter(|r| r.method == *m)
                .map(|r| (r.pairs as f64, pick(&r.mean)))
                .collect();
            plot = plot.series(format!("{m} {name}"), pts);
        }
        let f = pick(&full.mean);
        plot = plot.series(format!("full data {name}"), vec![(lo, f), (hi, f)]);
    }
    plot.render()
}
