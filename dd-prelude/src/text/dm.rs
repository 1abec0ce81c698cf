//! Distribution matching on embedded sentences: the crate's DM ([`DmConfig`]) with the random
//! networks of a [`TextConvNet`](crate::models::TextConvNet) ([`text_arch`]) and no
//! augmentation: per class, the mean embedding of real and synthetic sentences under a freshly
//! drawn network each iteration. First order (no unrolled steps), the baseline beside SLDD.

use burn::config::Config;
use burn::tensor::Device;

use super::sldd::{net_for, run_to, text_inputs};
use crate::data::EmbeddedSentences;
use crate::distill::{DistillRun, DmConfig, SyntheticSet};
use crate::error::Result;
use crate::models::TextConvNetConfig;

/// DM on embedded sentences; `dm.ipc` is sentences per class.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::DmConfig;
/// use dd_prelude::text::TextDmConfig;
/// let dev = device();
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
///                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
/// let emb = wv.embed_set(&set, 3);
/// let cfg = TextDmConfig::new(DmConfig::new(1).with_iterations(3).with_batch_real(2).with_progress(false))
///     .with_kernels(vec![1, 2]).with_filters(3);
/// let syn = cfg.distill(&emb, &dev)?;
/// assert_eq!((syn.len(), syn.method.as_str()), (2, "DM"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct TextDmConfig {
    /// DM itself (sentences per class, iterations, learning rate, real batch, seed); its
    /// `augment` is ignored (no augmentation of sentences).
    pub dm: DmConfig,
    /// Kernel heights of the text CNN, in words.
    #[config(default = "vec![3, 4, 5]")]
    pub kernels: Vec<usize>,
    /// Filters per kernel height.
    #[config(default = 100)]
    pub filters: usize,
}

impl TextDmConfig {
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
    /// # let dm = dd_prelude::distill::DmConfig::new(1).with_iterations(2).with_batch_real(2).with_progress(false);
    /// # let cfg = TextDmConfig::new(dm).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.net(&emb)?.filters, 3);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn net(&self, data: &EmbeddedSentences) -> Result<TextConvNetConfig> {
        net_for(data, &self.kernels, self.filters)
    }

    /// Starts (or resumes from the checkpoint) a run on `train`, without augmentation.
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
    /// # let dm = dd_prelude::distill::DmConfig::new(1).with_iterations(2).with_batch_real(2).with_progress(false);
    /// # let cfg = TextDmConfig::new(dm).with_kernels(vec![1, 2]).with_filters(3);
    /// let mut run = cfg.start(&emb, &dev)?;
    /// assert_eq!(run.steps(1)?.iterations(), 1);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn start(&self, train: &EmbeddedSentences, device: &Device) -> Result<Box<dyn DistillRun>> {
        let (arch, name, images) = text_inputs(train, &self.kernels, self.filters)?;
        let dm = self.dm.clone().with_augment(None);
        dm.start_with_arch(arch, &name, &images, device)
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
    /// # let dm = dd_prelude::distill::DmConfig::new(1).with_iterations(2).with_batch_real(2).with_progress(false);
    /// # let cfg = TextDmConfig::new(dm).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.run_all(&emb, &dev)?.history().len(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn run_all(
        &self,
        train: &EmbeddedSentences,
        device: &Device,
    ) -> Result<Box<dyn DistillRun>> {
        run_to(self.start(train, device)?, self.dm.common.iterations)
    }

    /// The distilled set after every iteration ([`TextDmConfig::run_all`]).
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
    /// # let dm = dd_prelude::distill::DmConfig::new(1).with_iterations(2).with_batch_real(2).with_progress(false);
    /// # let cfg = TextDmConfig::new(dm).with_kernels(vec![1, 2]).with_filters(3);
    /// assert_eq!(cfg.distill(&emb, &dev)?.len(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn distill(&self, train: &EmbeddedSentences, device: &Device) -> Result<SyntheticSet> {
        Ok(self.run_all(train, device)?.synthetic())
    }
}
