//! Sizes of the image-distillation notebook per [`Scale`].

use std::fmt;

use burn::tensor::Device;

use super::report::random_real_set;
use super::report::{DistillOutcome, distill_and_evaluate, full_data, random_real};
use super::{
    Accuracy, CafeConfig, DcConfig, Distiller, DmConfig, DsaConfig, ExpertConfig, Init, MttConfig,
    SlddConfig, SyntheticSet,
};
use crate::data::{ImageSet, ImageSplits};
use crate::error::Result;
use crate::eval::EvalPreset;
use crate::scale::Scale;
use crate::show::Table;

/// Sizes of `notebooks/20-image-distillation.ipynb`: which sizes are distilled, how long each
/// method runs, and how the sets are scored. The methods keep their reference
/// hyper-parameters (step sizes, loop schedules, augmentation); only sizes change.
///
/// | scale | ipc | ConvNet width (distilling and scoring) | real batch / class | iterations DC, DSA, CAFE (ipc 1: x factor) | DM | inner loop at ipc >= 10 | test images | protocol | checkpoints |
/// |---|---|---|---|---|---|---|---|---|---|
/// | smoke | 1 | 8 | 16 | 2 | 2 | reference | 100 | smoke (2 networks x 2 epochs) | none |
/// | cpu | 1, 10 | 32 | 128 | 40 (x2) | 1000 | 10 | 2,000 | quick-dsa (5 networks x 500 epochs, DSA augmentation) | `reports/checkpoints/` |
/// | full | 1, 10, 50 | 128 | 256 | 1000 (x1); CAFE 2000 | 20,000 | reference (`get_loops`) | 10,000 | dc (20 networks x 300 epochs) | `reports/checkpoints/` |
///
/// Why the cpu column is smaller than the papers': on a 2-core CPU one DC iteration at 10
/// images per class with the reference loops (10 matchings, 50 epochs on the synthetic set
/// between them) takes over a minute at width 32, so the inner loop shrinks to 10 epochs
/// and DC, DSA and CAFE run 40 iterations (the papers 1,000): 6 to 7 s an iteration on this
/// machine after the CPU kernels, 4 to 7 minutes a method. Forty, not the 6 that fitted
/// before them: after 6 iterations DC's 10-per-class set was within the noise of random real
/// images on a data set other than Fashion-MNIST, after 40 it is clearly above on both
/// Fashion-MNIST and Twemoji's categories (README, "Gradient-matching budgets"). At 1 image
/// per class an iteration is one matching, so those run twice as many. DM is cheaper per
/// iteration (no inner training), so it runs 1,000. The methods keep their reference step
/// sizes and schedules; only widths, batch sizes, iteration counts and the inner loop shrink.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let plan = DistillPlan::for_scale(Scale::Smoke);
/// assert_eq!(plan.ipcs, vec![1]);
/// assert_eq!(plan.dm(1).common.iterations, 2);
/// assert_eq!(plan.preset().name, "smoke");
/// ```
#[derive(Debug, Clone)]
pub struct DistillPlan {
    /// The scale these sizes are for.
    pub scale: Scale,
    /// Images per class distilled.
    pub ipcs: Vec<usize>,
    /// ConvNet width used for distillation and for scoring.
    pub width: usize,
    /// Real images per class per matching.
    pub batch_real: usize,
    /// Iterations of DC and DSA at 10 or more images per class.
    pub iterations_gm: usize,
    /// Iterations of DM at 10 or more images per class.
    pub iterations_dm: usize,
    /// Iterations of CAFE at 10 or more images per class.
    pub iterations_cafe: usize,
    /// Factor on the DC, DSA and CAFE iterations at 1 image per class (an iteration there is
    /// one matching instead of ten).
    pub ipc1_factor: usize,
    /// Epochs on the synthetic set between matchings at 10 or more images per class
    /// (`None`: the reference's [`super::get_loops`]).
    pub inner_loop: Option<usize>,
    /// Folder of the runs' checkpoint files (`None`: no checkpoints).
    pub checkpoint_dir: Option<String>,
    /// Names the data set in checkpoint file names (`fashion-mnist`; [`DistillPlan::sweep`]
    /// sets it for other sets).
    pub data_tag: String,
    /// Test images each set is scored on (class-stratified; all at full scale).
    pub test_images: usize,
    /// Expert trajectories trained for MTT.
    pub experts: usize,
    /// Epochs of each expert.
    pub expert_epochs_total: usize,
    /// Training images the experts (and MTT) use: a class-stratified subset of this size, or
    /// all of them.
    pub expert_images: Option<usize>,
    /// MTT iterations.
    pub iterations_mtt: usize,
    /// MTT's SGD steps per iteration (`syn_steps`).
    pub syn_steps: usize,
    /// MTT's start epochs are drawn below this.
    pub max_start_epoch: usize,
    /// MTT's target: this many expert epochs after the start.
    pub expert_epochs: usize,
    /// SLDD iterations.
    pub iterations_sldd: usize,
    /// SLDD's freshly sampled networks per iteration.
    pub sldd_nets: usize,
    /// The full-data row's networks ([`DistillPlan::full_data`]).
    pub full_data_models: usize,
    /// Epochs over the full training set of each of those networks.
    pub full_data_epochs: usize,
    /// A class-stratified stand-in of this many images for the full set (smoke only).
    pub full_data_images: Option<usize>,
    /// The unroll lengths of the MTT memory table ([`DistillPlan::mtt_memory`]).
    pub memory_steps: Vec<usize>,
}

impl DistillPlan {
    /// The plan for `DD_SCALE`.
    pub fn from_env() -> Result<Self> {
        Ok(Self::for_scale(Scale::from_env()?))
    }

    /// The plan for `scale`.
    pub fn for_scale(scale: Scale) -> Self {
        DistillPlan {
            scale,
            ipcs: scale.pick(vec![1], vec![1, 10], vec![1, 10, 50]),
            width: scale.pick(8, 32, 128),
            batch_real: scale.pick(16, 128, 256),
            iterations_gm: scale.pick(2, 40, 1000),
            iterations_dm: scale.pick(2, 1000, 20000),
            iterations_cafe: scale.pick(2, 40, 2000),
            ipc1_factor: scale.pick(1, 2, 1),
            inner_loop: scale.pick(None, Some(10), None),
            checkpoint_dir: scale.pick(
                None,
                Some("../reports/checkpoints".into()),
                Some("../reports/checkpoints".into()),
            ),
            test_images: scale.pick(100, 2000, 10_000),
            data_tag: "fashion-mnist".into(),
            experts: scale.pick(2, 4, 100),
            expert_epochs_total: scale.pick(3, 12, 50),
            expert_images: scale.pick(Some(500), Some(10_000), None),
            iterations_mtt: scale.pick(2, 200, 5000),
            syn_steps: scale.pick(3, 20, 20),
            max_start_epoch: scale.pick(2, 10, 20),
            expert_epochs: scale.pick(1, 2, 2),
            iterations_sldd: scale.pick(2, 300, 2000),
            sldd_nets: scale.pick(1, 2, 4),
            full_data_models: scale.pick(1, 2, 20),
            full_data_epochs: scale.pick(1, 2, 300),
            full_data_images: scale.pick(Some(1000), None, None),
            memory_steps: scale.pick(vec![2, 4], vec![10, 20, 40], vec![10, 20, 40]),
        }
    }

    fn iterations(&self, base: usize, ipc: usize) -> usize {
        if ipc == 1 {
            base * self.ipc1_factor
        } else {
            base
        }
    }

    /// The inner loop at `ipc`: the plan's override at 10 or more, the reference's otherwise.
    fn inner(&self, ipc: usize) -> Option<usize> {
        if ipc >= 10 { self.inner_loop } else { None }
    }

    /// The checkpoint file of `method` at `ipc`.
    fn checkpoint(&self, method: &str, ipc: usize) -> Option<String> {
        self.checkpoint_dir.as_ref().map(|d| {
            format!(
                "{d}/{}-{method}-ipc{ipc}-{}.safetensors",
                self.data_tag, self.scale
            )
        })
    }

    /// DC at `ipc` images per class.
    pub fn dc(&self, ipc: usize) -> DcConfig {
        DcConfig::new(ipc)
            .with_iterations(self.iterations(self.iterations_gm, ipc))
            .with_width(self.width)
            .with_batch_real(self.batch_real)
            .with_inner_loop(self.inner(ipc))
            .with_checkpoint(self.checkpoint("dc", ipc))
    }

    /// DSA at `ipc` images per class.
    pub fn dsa(&self, ipc: usize) -> DsaConfig {
        DsaConfig::new(ipc)
            .with_iterations(self.iterations(self.iterations_gm, ipc))
            .with_width(self.width)
            .with_batch_real(self.batch_real)
            .with_inner_loop(self.inner(ipc))
            .with_checkpoint(self.checkpoint("dsa", ipc))
    }

    /// DM at `ipc` images per class (its cost is the real batches', whatever the size).
    pub fn dm(&self, ipc: usize) -> DmConfig {
        DmConfig::new(ipc)
            .with_iterations(self.iterations_dm)
            .with_width(self.width)
            .with_batch_real(self.batch_real)
            .with_checkpoint(self.checkpoint("dm", ipc))
    }

    /// CAFE at `ipc` images per class (its step-size milestones scaled to the iterations run).
    pub fn cafe(&self, ipc: usize) -> CafeConfig {
        let iterations = self.iterations(self.iterations_cafe, ipc);
        let milestones = [1200, 1600, 1800]
            .iter()
            .map(|m| m * iterations / 2000)
            .collect();
        CafeConfig::new(ipc)
            .with_iterations(iterations)
            .with_lr_milestones(milestones)
            .with_width(self.width)
            .with_batch_real(self.batch_real)
            .with_inner_loop(self.inner(ipc))
            .with_checkpoint(self.checkpoint("cafe", ipc))
    }

    /// The training set the experts and MTT use: `train`, or a class-stratified subset of
    /// `expert_images` of it.
    pub fn expert_set(&self, train: &ImageSet) -> ImageSet {
        match self.expert_images {
            Some(n) if n < train.len() => train.subset(&train.stratified(n, 0)),
            _ => train.clone(),
        }
    }

    /// How the experts are trained (MTT's `buffer.py` with the plan's width and epochs).
    pub fn expert_config(&self) -> ExpertConfig {
        ExpertConfig::new()
            .with_epochs(self.expert_epochs_total)
            .with_width(self.width)
    }

    /// The expert buffer's folder for the plan's data and scale (under `reports/`, beside the
    /// checkpoints; in the temporary folder at smoke scale).
    pub fn buffer_dir(&self) -> String {
        let root = self.checkpoint_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join("dd-prelude")
                .to_string_lossy()
                .into_owned()
        });
        format!(
            "{root}/experts-{}-{}-w{}",
            self.data_tag, self.scale, self.width
        )
    }

    /// MTT at `ipc` images per class, matching the experts in [`DistillPlan::buffer_dir`].
    pub fn mtt(&self, ipc: usize) -> MttConfig {
        MttConfig::new(ipc, self.buffer_dir())
            .with_iterations(self.iterations_mtt)
            .with_width(self.width)
            .with_syn_steps(self.syn_steps)
            .with_max_start_epoch(self.max_start_epoch)
            .with_expert_epochs(self.expert_epochs)
            .with_checkpoint(self.checkpoint("mtt", ipc))
    }

    /// SLDD at `ipc` images per class: the reference's hyper-parameters (Adam 0.01 for images,
    /// labels and step size; 3 unrolled epochs; initial step size 0.02) from real images, with
    /// the plan's width, real batch and iterations.
    pub fn sldd(&self, ipc: usize) -> SlddConfig {
        SlddConfig::new(ipc)
            .with_iterations(self.iterations_sldd)
            .with_width(self.width)
            .with_nets(self.sldd_nets)
            .with_batch_real(self.batch_real.min(100))
            .with_init(Init::Real)
            .with_checkpoint(self.checkpoint("sldd", ipc))
    }

    /// SLDD at every size of the plan, each set scored the way SLDD trains on it (the
    /// protocol's number of fresh networks, each trained by SLDD's unrolled steps with the
    /// set's soft labels and learned step size), beside random real images of the same size
    /// under the same scoring (with the initial step size): two outcomes per size.
    pub fn sldd_sweep(
        &self,
        dataset: &str,
        train: &ImageSet,
        test: &ImageSet,
        device: &Device,
    ) -> Result<Vec<DistillOutcome>> {
        let models = self.preset().models;
        let mut out = Vec::new();
        for &ipc in &self.ipcs {
            let cfg = self.sldd(ipc);
            let mut run = cfg.start(train, device)?;
            let left = cfg.iterations().saturating_sub(run.iterations());
            run.steps(left)?;
            let runs = [
                (random_real_set(ipc, 0, train), Vec::new()),
                (run.synthetic(), run.history().to_vec()),
            ];
            for (set, history) in runs {
                let report = cfg.evaluate(&set, test, models, device)?;
                // DD-Ranking's hard-label figure: the same images and scoring, each image's
                // class as its label.
                let hard_labels = match set.soft_labels {
                    Some(_) => {
                        let hard = SyntheticSet {
                            soft_labels: None,
                            ..set.clone()
                        };
                        Some(cfg.evaluate(&hard, test, models, device)?)
                    }
                    None => None,
                };
                let synthetic = set.with_accuracy(Accuracy {
                    mean: report.mean,
                    std: report.std,
                    models,
                    protocol: format!("SLDD's own ({} unrolled steps)", cfg.steps * cfg.epochs),
                });
                let o = DistillOutcome {
                    dataset: dataset.to_string(),
                    synthetic,
                    report,
                    hard_labels,
                    history,
                };
                println!("{o}");
                out.push(o);
            }
        }
        Ok(out)
    }

    /// The protocol of the full-data row: the plan's [`DistillPlan::preset`] (network,
    /// optimiser, schedule, augmentation) with `full_data_models` networks of
    /// `full_data_epochs` epochs (at cpu 2 x 2: one epoch of Fashion-MNIST is 235 steps of 256
    /// images, against the 500 one-batch epochs a 10-per-class set gets).
    pub fn full_data_preset(&self) -> EvalPreset {
        self.preset()
            .with_models(self.full_data_models)
            .with_epochs(self.full_data_epochs)
    }

    /// The full-data reference row for `train` ([`full_data`] with
    /// [`DistillPlan::full_data_preset`]): the ceiling of the comparison table and the term of
    /// DD-Ranking's hard-label recovery.
    pub fn full_data(
        &self,
        dataset: &str,
        train: &ImageSet,
        test: &ImageSet,
        device: &Device,
    ) -> Result<DistillOutcome> {
        full_data(
            dataset,
            train,
            self.full_data_images,
            test,
            &self.full_data_preset(),
            device,
        )
    }

    /// Peak memory and time of one MTT gradient, plain unroll against constant memory, at each
    /// of the plan's `memory_steps` ([`MttConfig::memory_table`]) on the plan's network with
    /// 10 images per class shaped like `data`.
    pub fn mtt_memory(&self, data: &ImageSet, device: &Device) -> Result<Table> {
        self.mtt(10).memory_table(data, &self.memory_steps, device)
    }

    /// DC, DSA, DM and CAFE at `ipc` images per class.
    pub fn methods(&self, ipc: usize) -> Vec<Box<dyn Distiller>> {
        vec![
            Box::new(self.dc(ipc)),
            Box::new(self.dsa(ipc)),
            Box::new(self.dm(ipc)),
            Box::new(self.cafe(ipc)),
        ]
    }

    /// The scoring protocol, the same for every row: `smoke`, `quick-dsa` (cpu) or `dc`
    /// (full), with ConvNets of the plan's width (at full scale 128, the papers' protocol; at
    /// cpu scale the width-32 network the sets were distilled with, since a width-128 ConvNet
    /// trains at about 50 images per second on 2 cores). Why quick-dsa at cpu: with 100
    /// epochs and no augmentation (the plain quick preset) DM's 10-per-class set scored 3.5
    /// points lower and random real images about 0.7 lower (README, the protocol study).
    pub fn preset(&self) -> EvalPreset {
        self.scale
            .pick(
                EvalPreset::smoke(),
                EvalPreset::quick_dsa(),
                EvalPreset::dc(),
            )
            .with_width(self.width)
    }

    /// The test images scored on: a class-stratified subset of `test` of the plan's size.
    pub fn test_set(&self, test: &ImageSet) -> ImageSet {
        if self.test_images >= test.len() {
            test.clone()
        } else {
            test.subset(&test.stratified(self.test_images, 0))
        }
    }

    /// For every size of the plan: random real images, then DC, DSA, DM and CAFE, each
    /// scored with the plan's protocol on the plan's test set; one outcome each.
    pub fn sweep(
        &self,
        dataset: &str,
        data: &ImageSplits,
        device: &Device,
    ) -> Result<Vec<DistillOutcome>> {
        let mut plan = self.clone();
        plan.data_tag = dataset.to_ascii_lowercase().replace(' ', "-");
        let test = plan.test_set(&data.test);
        let preset = plan.preset();
        let mut out = Vec::new();
        for &ipc in &plan.ipcs {
            let baseline = random_real(dataset, ipc, 0, &data.train, &test, &preset, device)?;
            println!("{baseline}");
            out.push(baseline);
            for method in plan.methods(ipc) {
                let o = distill_and_evaluate(
                    dataset,
                    method.as_ref(),
                    &data.train,
                    &test,
                    &preset,
                    device,
                )?;
                println!("{o}");
                out.push(o);
            }
        }
        Ok(out)
    }
}

impl fmt::Display for DistillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "image distillation at DD_SCALE={}: ipc {:?}, ConvNet width {}, real batch {} per class, iterations DC/DSA {}, DM {}, CAFE {} (x{} at ipc 1), inner loop {}, {} test images, {} protocol",
            self.scale,
            self.ipcs,
            self.width,
            self.batch_real,
            self.iterations_gm,
            self.iterations_dm,
            self.iterations_cafe,
            self.ipc1_factor,
            self.inner_loop
                .map_or("as the reference".to_string(), |n| n.to_string()),
            self.test_images,
            self.preset().name
        )
    }
}
