//! SLDD on embedded sentences (Sucholutsky & Schonlau's text dataset distillation, seed 002
//! section II.C): each sentence is a one-channel image `[1, length, dims]`, and the crate's
//! SLDD ([`SlddConfig`]: learnable sentences, soft labels and step size, unrolled through the
//! meta-gradient engine) runs on it with [`TextConvNet`](crate::models::TextConvNet) as the
//! network ([`text_arch`]) instead of the ConvNet. Nothing of SLDD is re-implemented here.

use burn::config::Config;
use burn::tensor::Device;

use super::arch::{text_arch, text_convnet};
use crate::data::{EmbeddedSentences, ImageSet};
use crate::distill::engine::MetaArch;
use crate::distill::{DistillRun, SlddConfig, SyntheticSet};
use crate::error::{Error, Result, ensure};
use crate::eval::{EvalReport, accuracy};
use crate::models::TextConvNetConfig;

/// Embedded sentences as one-channel images `[1, length, dims]` with the identity
/// normalisation (mean 0, std 1: the word vectors as they are), the form the distillation
/// loop takes.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::{sentences_as_images, sentences_of};
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["good".into(), "bad bad".into()], vec![1, 0],
///                            vec!["neg".into(), "pos".into()])?;
/// let emb = wv.embed_set(&set, 3);
/// let images = sentences_as_images(&emb)?;
/// assert_eq!(images.image_shape(), [1, 3, 2]);
/// assert_eq!(images.images(), &emb.values[..]);
/// # Ok::<(), Error>(())
/// ```
pub fn sentences_as_images(set: &EmbeddedSentences) -> Result<ImageSet> {
    let [_, len, dims] = set.shape;
    ImageSet::from_normalized(
        set.name.clone(),
        [1, len, dims],
        set.values.clone(),
        set.labels.clone(),
        set.classes.clone(),
        vec![0.0],
        vec![1.0],
    )
}

/// A distilled (or selected) set of `[1, length, dims]` images back as embedded sentences
/// (hard labels; its soft labels stay in the [`SyntheticSet`]).
///
/// # Example
/// ```
/// use dd_prelude::distill::SyntheticSet;
/// use dd_prelude::text::sentences_of;
/// let syn = SyntheticSet::new("SLDD", "toy", [1, 2, 3], vec![0.5; 12], vec![0, 1],
///                             vec!["a".into(), "b".into()], vec![0.0], vec![1.0])?;
/// let s = sentences_of(&syn)?;
/// assert_eq!(s.shape, [2, 2, 3]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub fn sentences_of(set: &SyntheticSet) -> Result<EmbeddedSentences> {
    let [c, len, dims] = set.shape;
    ensure(c == 1, "sentences_of", "set", || {
        format!(
            "needs one-channel sets [1, length, dims] (embedded sentences), got {:?}",
            set.shape
        )
    })?;
    Ok(EmbeddedSentences {
        name: format!(
            "{} sentences ({} per class)",
            set.method,
            set.images_per_class()
        ),
        values: set.images.clone(),
        shape: [set.len(), len, dims],
        labels: set.labels.clone(),
        classes: set.classes.clone(),
        coverage: 1.0,
    })
}

/// The text CNN for a set of `[length, dims]` sentences with `kernels` and `filters`.
pub(crate) fn net_for(
    data: &EmbeddedSentences,
    kernels: &[usize],
    filters: usize,
) -> Result<TextConvNetConfig> {
    let net = TextConvNetConfig::for_set(data)?
        .with_kernels(kernels.to_vec())
        .with_filters(filters);
    net.check()?;
    Ok(net)
}

/// Text dataset distillation: [`SlddConfig`] on embedded sentences with a
/// [`TextConvNet`](crate::models::TextConvNet) of `kernels` x `filters`. `sldd.ipc` is
/// sentences per class.
///
/// # Example
/// Two sentences of a toy two-class set, then scored the way they were learned:
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::SlddConfig;
/// use dd_prelude::text::TextSlddConfig;
/// let dev = device();
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
///                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
/// let emb = wv.embed_set(&set, 3);
/// let sldd = SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
/// let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
/// let syn = cfg.distill(&emb, &dev)?;
/// assert_eq!((syn.len(), syn.shape), (2, [1, 3, 2]));
/// assert!(syn.soft_labels.is_some() && syn.lr.is_some());
/// let report = cfg.evaluate(&syn, &emb, 2, &dev)?;
/// assert_eq!(report.accuracies.len(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct TextSlddConfig {
    /// SLDD itself (sentences per class, iterations, unrolled steps, learning rates, seed).
    pub sldd: SlddConfig,
    /// Kernel heights of the text CNN, in words.
    #[config(default = "vec![3, 4, 5]")]
    pub kernels: Vec<usize>,
    /// Filters per kernel height.
    #[config(default = 100)]
    pub filters: usize,
}

impl TextSlddConfig {
    /// The text CNN for `data`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// # let sldd = dd_prelude::distill::SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
    /// # let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.net(&emb)?.kernels, vec![1, 2]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn net(&self, data: &EmbeddedSentences) -> Result<TextConvNetConfig> {
        net_for(data, &self.kernels, self.filters)
    }

    /// Starts (or resumes from the checkpoint) a run on `train`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// # let sldd = dd_prelude::distill::SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
    /// # let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
    /// let mut run = cfg.start(&emb, &dev)?;
    /// assert_eq!(run.steps(1)?.iterations(), 1);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn start(&self, train: &EmbeddedSentences, device: &Device) -> Result<Box<dyn DistillRun>> {
        let (arch, name, images) = text_inputs(train, &self.kernels, self.filters)?;
        self.sldd.start_with_arch(arch, &name, &images, device)
    }

    /// Starts (or resumes) a run on `train` and runs the iterations left.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// # let sldd = dd_prelude::distill::SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
    /// # let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.run_all(&emb, &dev)?.history().len(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn run_all(
        &self,
        train: &EmbeddedSentences,
        device: &Device,
    ) -> Result<Box<dyn DistillRun>> {
        run_to(self.start(train, device)?, self.sldd.common.iterations)
    }

    /// The distilled set after every iteration ([`TextSlddConfig::run_all`]).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// # let sldd = dd_prelude::distill::SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
    /// # let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.distill(&emb, &dev)?.iterations, 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn distill(&self, train: &EmbeddedSentences, device: &Device) -> Result<SyntheticSet> {
        Ok(self.run_all(train, device)?.synthetic())
    }

    /// Scores `set` the way SLDD learned it: `models` fresh text CNNs take the unrolled steps
    /// on it with its soft labels and learned step size (the initial step size for a set
    /// without one, such as random real sentences), then are tested on `test`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// # let sldd = dd_prelude::distill::SlddConfig::new(1).with_iterations(2).with_nets(1).with_batch_real(2).with_progress(false);
    /// # let cfg = TextSlddConfig::new(sldd).with_kernels(vec![1, 2]).with_filters(3);
    /// let set = cfg.distill(&emb, &dev)?;
    /// let report = cfg.evaluate(&set, &emb, 3, &dev)?;
    /// assert_eq!(report.arch, "TextConvNet-1,2x3");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn evaluate(
        &self,
        set: &SyntheticSet,
        test: &EmbeddedSentences,
        models: usize,
        device: &Device,
    ) -> Result<EvalReport> {
        let net = self.net(test)?;
        if set.shape != [1, net.length, net.dims] {
            return Err(Error::ShapeMismatch {
                context: "TextSlddConfig::evaluate: the set's sentences".into(),
                expected: format!("[1, {}, {}] (the test sentences)", net.length, net.dims),
                got: format!("{:?}", set.shape),
            });
        }
        let arch = text_arch(&net)?;
        self.sldd
            .evaluate_with(&arch, &arch_name(&net), set, models, device, |theta| {
                Ok(accuracy(&text_convnet(&net, theta, device)?, test, device))
            })
    }
}

/// What a text distiller hands the crate's distiller: the text CNN for `train` in the engine,
/// its name, and the sentences as `[1, length, dims]` images.
pub(crate) fn text_inputs(
    train: &EmbeddedSentences,
    kernels: &[usize],
    filters: usize,
) -> Result<(MetaArch, String, ImageSet)> {
    let net = net_for(train, kernels, filters)?;
    Ok((
        text_arch(&net)?,
        arch_name(&net),
        sentences_as_images(train)?,
    ))
}

/// `run` after the iterations left to reach `iterations` (none left after a complete resume).
pub(crate) fn run_to(
    mut run: Box<dyn DistillRun>,
    iterations: usize,
) -> Result<Box<dyn DistillRun>> {
    let left = iterations.saturating_sub(run.iterations());
    run.steps(left)?;
    Ok(run)
}

/// `TextConvNet-<kernels>x<filters>`, as reports and configs name it.
pub(crate) fn arch_name(net: &TextConvNetConfig) -> String {
    let k: Vec<String> = net.kernels.iter().map(|k| k.to_string()).collect();
    format!("TextConvNet-{}x{}", k.join(","), net.filters)
}
