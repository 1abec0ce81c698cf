use std::path::{Path, PathBuf};

use super::files::data_dir;
use super::idx::read_idx;
use super::image_set::ImageSplits;
use crate::error::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` package installs the data.
const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes, by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Fashion-MNIST (Xiao et al., 2017): 60,000 training and 10,000 test images, 28x28 grey,
/// 10 classes, in the IDX format.
///
/// # Example
/// ```no_run
/// use dd_prelude::FashionMnist;
/// let fmnist = FashionMnist::load_default()?;
/// assert_eq!(fmnist.train.len(), 60_000);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub struct FashionMnist;

impl FashionMnist {
    /// Loads the embedded default: `$DD_DATA/fashion-mnist` if it holds the files, else the
    /// files of Debian's `dataset-fashion-mnist` package.
    pub fn load_default() -> Result<ImageSplits> {
        let candidates = [data_dir().join("fashion-mnist"), PathBuf::from(DEBIAN_DIR)];
        match candidates
            .iter()
            .find(|d| find_file(d, "train-images-idx3-ubyte").is_some())
        {
            Some(dir) => Self::load(dir),
            None => Err(Error::data(
                &candidates[1],
                format!(
                    "Fashion-MNIST not found (looked in {} and {}); install it with \
                     `apt-get install dataset-fashion-mnist` or run the project set-up, \
                     or set DD_DATA to a folder holding fashion-mnist/",
                    candidates[0].display(),
                    candidates[1].display()
                ),
            )),
        }
    }

    /// Loads the four IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    /// `t10k-...`) from `dir`. The test split is normalised with the training statistics.
    pub fn load(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        load_idx_pair_splits(dir.as_ref(), "Fashion-MNIST", &FASHION_CLASSES)
    }
}

/// Loads an MNIST-layout folder (train/t10k images and labels in IDX).
pub(crate) fn load_idx_pair_splits(
    dir: &Path,
    name: &str,
    classes: &[&str],
) -> Result<ImageSplits> {
    let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
    let (shape, train_px, train_labels) = load_idx_pair(dir, "train", classes.len())?;
    let (_, test_px, test_labels) = load_idx_pair(dir, "t10k", classes.len())?;
    ImageSplits::from_pixels(
        name,
        shape,
        (train_px, train_labels),
        (test_px, test_labels),
        classes,
    )
}

type PixelsAndLabels = ([usize; 3], Vec<f32>, Vec<usize>);

fn load_idx_pair(dir: &Path, split: &str, num_classes: usize) -> Result<PixelsAndLabels> {
    let images_path = find_file(dir, &format!("{split}-images-idx3-ubyte"))
        .ok_or_else(|| missing(dir, &format!("{split}-images-idx3-ubyte")))?;
    let labels_path = find_file(dir, &format!("{split}-labels-idx1-ubyte"))
        .ok_or_else(|| missing(dir, &format!("{split}-labels-idx1-ubyte")))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    if images.dims.len() != 3 {
        return Err(Error::data(
            &images_path,
            format!(
                "expected 3 dimensions (count, rows, columns), found {:?}",
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(Error::data(
            &labels_path,
            format!("expected 1 dimension (count), found {:?}", labels.dims),
        ));
    }
    if labels.dims[0] != images.dims[0] {
        return Err(Error::data(
            &labels_path,
            format!(
                "{} labels but {} has {} images",
                labels.dims[0],
                images_path.display(),
                images.dims[0]
            ),
        ));
    }
    if let Some((i, l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= num_classes)
    {
        return Err(Error::data(
            &labels_path,
            format!("label {l} of record {i} is out of range 0..{num_classes}"),
        ));
    }
    let shape = [1, images.dims[1], images.dims[2]];
    let pixels = images.data.iter().map(|&b| b as f32 / 255.0).collect();
    let labels = labels.data.iter().map(|&l| l as usize).collect();
    Ok((shape, pixels, labels))
}

fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn missing(dir: &Path, stem: &str) -> Error {
    Error::data(
        dir.join(stem),
        format!("missing: neither {stem} nor {stem}.gz is in this folder"),
    )
}
