//! Scoring models: accuracy, logits and features over a whole set, in batches; and the
//! standard protocol for scoring a small training set ([`evaluate`], [`EvalPreset`]).

mod protocol;

pub use protocol::*;

use std::ops::ControlFlow;

use burn::tensor::{Device, Tensor};

use crate::data::{Examples, ImageSet, argmax};
use crate::models::Classifier;
use crate::train::{EpochRecord, Hook};

/// Images per forward pass when scoring (no gradients are kept, so this can be large).
const EVAL_BATCH: usize = 500;

/// Runs `f` over `data` in batches of [`EVAL_BATCH`] with the model in validation mode and
/// concatenates the rows it returns.
fn map_batches<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
    model: &M,
    data: &S,
    device: &Device,
    f: impl Fn(&M, M::Input) -> Tensor<2>,
) -> (Vec<f32>, usize) {
    let model = model.valid();
    let mut out = Vec::new();
    let mut width = 0;
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(EVAL_BATCH) {
        let y = f(&model, data.inputs(chunk, device));
        width = y.dims()[1];
        out.extend(
            y.into_data()
                .try_into_vec::<f32>()
                .expect("model outputs are f32"),
        );
    }
    (out, width)
}

/// Class logits of every image, row-major `[n, classes]`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// assert_eq!(logits(&net, &set, &dev).len(), 2 * 2);
/// # Ok::<(), Error>(())
/// ```
pub fn logits<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
    model: &M,
    data: &S,
    device: &Device,
) -> Vec<f32> {
    map_batches(model, data, device, |m, x| m.forward(x)).0
}

/// Penultimate features of every image: the values, row-major, and the feature width.
pub fn features<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
    model: &M,
    data: &S,
    device: &Device,
) -> (Vec<f32>, usize) {
    map_batches(model, data, device, |m, x| m.features(x))
}

/// Logits and penultimate features of every image in one sweep over the data (each batch is
/// moved to the device once): `(logits, classes, features,
/// feature width)`, row-major.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let (l, c, f, w) = logits_and_features(&net, &set, &dev);
/// assert_eq!((l.len(), c, f.len(), w), (4, 2, 2 * 16, 16));
/// # Ok::<(), Error>(())
/// ```
pub fn logits_and_features<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
    model: &M,
    data: &S,
    device: &Device,
) -> (Vec<f32>, usize, Vec<f32>, usize) {
    let model = model.valid();
    let (mut logits, mut feats) = (Vec::new(), Vec::new());
    let (mut classes, mut width) = (0, 0);
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(EVAL_BATCH) {
        let x = data.inputs(chunk, device);
        let f = model.features(x.clone());
        let l = model.forward(x);
        classes = l.dims()[1];
        width = f.dims()[1];
        logits.extend(
            l.into_data()
                .try_into_vec::<f32>()
                .expect("model outputs are f32"),
        );
        feats.extend(
            f.into_data()
                .try_into_vec::<f32>()
                .expect("model outputs are f32"),
        );
    }
    (logits, classes, feats, width)
}

/// Fraction of `data` that `model` classifies correctly (against each example's hard label,
/// the most probable class of a soft target), in `[0, 1]`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let acc = accuracy(&net, &set, &dev);
/// assert!((0.0..=1.0).contains(&acc));
/// # Ok::<(), Error>(())
/// ```
pub fn accuracy<M: Classifier, S: Examples<Input = M::Input> + ?Sized>(
    model: &M,
    data: &S,
    device: &Device,
) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let (values, classes) = map_batches(model, data, device, |m, x| m.forward(x));
    let correct = values
        .chunks(classes.max(1))
        .zip(data.labels())
        .filter(|(row, label)| argmax(row) == **label)
        .count();
    correct as f64 / data.len() as f64
}

/// Measures test accuracy after every epoch (the curves of seed 000's runs).
///
/// # Example
/// ```no_run
/// # use dd_prelude::*;
/// # let fm = FashionMnist::load_default()?; let dev = device();
/// let net = ConvNetConfig::for_set(&fm.train).init(&dev);
/// let mut hook = TestEachEpoch::new(&fm.test);
/// let trained = fit_with(net, &fm.train, &FitConfig::new(), &mut hook, &dev)?;
/// # Ok::<(), Error>(())
/// ```
pub struct TestEachEpoch<'a, S = ImageSet> {
    test: &'a S,
    device: Device,
}

impl<'a, S: Examples> TestEachEpoch<'a, S> {
    /// Tracks accuracy on `test`, computed on [`crate::device()`].
    pub fn new(test: &'a S) -> Self {
        TestEachEpoch {
            test,
            device: crate::device(),
        }
    }
}

impl<M: Classifier, S: Examples<Input = M::Input>> Hook<M> for TestEachEpoch<'_, S> {
    fn epoch_end(&mut self, model: &M, record: &mut EpochRecord) -> ControlFlow<()> {
        record.test_accuracy = Some(accuracy(model, self.test, &self.device));
        ControlFlow::Continue(())
    }
}
