//! MNIST (LeCun et al., 1998) in its IDX files, raw or gzipped, the layout Fashion-MNIST
//! shares.

use std::path::Path;

use super::fashion_mnist::load_idx_pair_splits;
use super::files::default_dir;
use super::image_set::ImageSplits;
use crate::error::Result;

/// The MNIST classes, by label.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// MNIST: 60,000 training and 10,000 test images, 28x28 grey, in the IDX format.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// // a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-...
/// let mnist = Mnist::load("/data/mnist")?;
/// assert_eq!(mnist.test.len(), 10_000);
/// # Ok::<(), Error>(())
/// ```
pub struct Mnist;

impl Mnist {
    /// Loads `$DD_DATA/mnist`.
    pub fn load_default() -> Result<ImageSplits> {
        Self::load(default_dir(
            "mnist",
            "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-...) in it",
        )?)
    }

    /// Loads the four IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    /// `t10k-...`) from `dir`; the test split is normalised with the training statistics.
    pub fn load(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        load_idx_pair_splits(dir.as_ref(), "MNIST", &MNIST_CLASSES)
    }
}
