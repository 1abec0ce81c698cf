use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::examples::Examples;
use crate::augment::Augment;
use crate::error::{Error, Result};
use crate::show::{Png, ShowImages};

/// A labelled image classification set: images `N x C x H x W` (normalised per channel),
/// labels, class names and the per-channel mean/std used to normalise.
///
/// # Example
/// ```
/// use dd_prelude::ImageSet;
/// // two 1x2x2 images of classes 0 and 1
/// let set = ImageSet::from_pixels("toy", [1, 2, 2], vec![0.0, 0.5, 1.0, 0.5, 1.0, 1.0, 0.0, 0.0],
///                                 vec![0, 1], vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!(set.len(), 2);
/// assert_eq!(set.subset(&[1]).labels(), &[1]);
/// ```
#[derive(Clone)]
pub struct ImageSet {
    name: String,
    shape: [usize; 3],
    /// Shared, so a clone (a distillation's real pool, a plan's test set) copies no pixels.
    images: Arc<Vec<f32>>,
    labels: Vec<usize>,
    classes: Vec<String>,
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// A train and a test [`ImageSet`] of one data set.
#[derive(Clone)]
pub struct ImageSplits {
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
}

impl ImageSplits {
    /// A train and a test split named `{name} train` and `{name} test` from pixel values in
    /// `[0, 1]` (`(pixels, labels)` each), both normalised with the training split's
    /// per-channel statistics.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let classes = vec!["dark".to_string(), "light".into()];
    /// let s = ImageSplits::from_pixels("toy", [1, 1, 2], (vec![0.0, 0.2, 0.8, 1.0], vec![0, 1]),
    ///     (vec![0.1, 0.1], vec![0]), classes)?;
    /// assert_eq!((s.train.name(), s.test.name()), ("toy train", "toy test"));
    /// assert_eq!(s.test.mean(), s.train.mean());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_pixels(
        name: &str,
        shape: [usize; 3],
        train: (Vec<f32>, Vec<usize>),
        test: (Vec<f32>, Vec<usize>),
        classes: Vec<String>,
    ) -> Result<Self> {
        let train = ImageSet::from_pixels(
            format!("{name} train"),
            shape,
            train.0,
            train.1,
            classes.clone(),
        )?;
        let test = ImageSet::from_pixels_with_stats(
            format!("{name} test"),
            shape,
            test.0,
            test.1,
            classes,
            train.mean().to_vec(),
            train.std().to_vec(),
        )?;
        Ok(ImageSplits { train, test })
    }
}

impl ImageSet {
    /// Builds a set from pixel values in `[0, 1]` (`N*C*H*W`, row-major) and normalises them
    /// with the set's own per-channel mean and standard deviation.
    pub fn from_pixels(
        name: impl Into<String>,
        shape: [usize; 3],
        pixels: Vec<f32>,
        labels: Vec<usize>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let name = name.into();
        check_values(&name, shape, &pixels)?;
        let (mean, std) = channel_stats(&pixels, shape);
        Self::normalize_checked(name, shape, pixels, labels, classes, mean, std)
    }

    /// Builds a set from pixel values in `[0, 1]` normalised with the given statistics
    /// (a test split uses its training split's statistics).
    pub fn from_pixels_with_stats(
        name: impl Into<String>,
        shape: [usize; 3],
        pixels: Vec<f32>,
        labels: Vec<usize>,
        classes: Vec<String>,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<Self> {
        let name = name.into();
        check_values(&name, shape, &pixels)?;
        Self::normalize_checked(name, shape, pixels, labels, classes, mean, std)
    }

    /// Normalises pixels that [`check_values`] accepted, then builds the set (which checks the
    /// normalised values, the layout and the statistics).
    fn normalize_checked(
        name: String,
        shape: [usize; 3],
        mut pixels: Vec<f32>,
        labels: Vec<usize>,
        classes: Vec<String>,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<Self> {
        if mean.len() == shape[0] && std.len() == shape[0] {
            let plane = shape[1] * shape[2];
            for (i, v) in pixels.iter_mut().enumerate() {
                let c = (i / plane) % shape[0];
                *v = (*v - mean[c]) / std[c];
            }
        }
        Self::from_normalized(name, shape, pixels, labels, classes, mean, std)
    }

    /// Builds a set from values that are already normalised with `mean`/`std`
    /// (synthetic images, a tensor read back from a device).
    pub fn from_normalized(
        name: impl Into<String>,
        shape: [usize; 3],
        images: Vec<f32>,
        labels: Vec<usize>,
        classes: Vec<String>,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<Self> {
        let name = name.into();
        check_values(&name, shape, &images)?;
        check_layout(
            &name,
            shape.iter().product(),
            images.len(),
            &labels,
            &classes,
        )?;
        if mean.len() != shape[0] || std.len() != shape[0] {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: normalisation statistics"),
                expected: format!("{} channels", shape[0]),
                got: format!("mean {} / std {}", mean.len(), std.len()),
            });
        }
        if let Some(c) =
            (0..shape[0]).find(|&c| !(mean[c].is_finite() && std[c].is_finite() && std[c] > 0.0))
        {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: normalisation statistics of channel {c}"),
                expected: "a finite mean and a finite, positive std".into(),
                got: format!("mean {} / std {}", mean[c], std[c]),
            });
        }
        Ok(ImageSet {
            name,
            shape,
            images: Arc::new(images),
            labels,
            classes,
            mean,
            std,
        })
    }

    /// The set's name (`"Fashion-MNIST train"`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the set (returns it, for chaining).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[channels, height, width]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The labels, one per image.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Per-channel mean used for normalisation.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-channel standard deviation used for normalisation.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// All normalised values, `N*C*H*W` row-major.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// The normalised values of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let per = self.per_image();
        &self.images[i * per..(i + 1) * per]
    }

    /// Image `i` back in `[0, 1]` pixel space (for display).
    pub fn pixels(&self, i: usize) -> Vec<f32> {
        denormalize(self.image(i), self.shape, &self.mean, &self.std)
    }

    fn per_image(&self) -> usize {
        self.shape.iter().product()
    }

    /// The images at `indices`, in that order (indices may repeat).
    ///
    /// # Panics
    /// On an index out of range: indices come from this set's own selectors.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let per = self.per_image();
        let mut images = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        ImageSet {
            name: format!("{} (subset of {})", self.name, indices.len()),
            shape: self.shape,
            images: Arc::new(images),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }

    /// Indices of the images of class `class`, in order.
    pub fn class_indices(&self, class: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels[i] == class)
            .collect()
    }

    /// Number of images per class, indexed by label.
    pub fn counts_per_class(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// `per_class` random images of every class (all of a class that has fewer), grouped by
    /// class; deterministic under `seed`.
    ///
    /// # Example
    /// ```
    /// # let set = dd_prelude::ImageSet::from_pixels("t", [1,1,1], vec![0.0;6], vec![0,0,0,1,1,1],
    /// #     vec!["a".into(), "b".into()]).unwrap();
    /// let idx = set.sample_per_class(2, 0);
    /// assert_eq!(set.subset(&idx).counts_per_class(), vec![2, 2]);
    /// ```
    pub fn sample_per_class(&self, per_class: usize, seed: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(per_class * self.num_classes());
        for class in 0..self.num_classes() {
            let mut idx = self.class_indices(class);
            idx.shuffle(&mut rng);
            idx.truncate(per_class);
            out.extend(idx);
        }
        out
    }

    /// A class-stratified random subset of about `n` images (each class keeps its share),
    /// deterministic under `seed`.
    pub fn stratified(&self, n: usize, seed: u64) -> Vec<usize> {
        let n = n.min(self.len());
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n);
        let counts = self.counts_per_class();
        for (class, count) in counts.iter().enumerate() {
            let take = (count * n).div_ceil(self.len().max(1));
            let mut idx = self.class_indices(class);
            idx.shuffle(&mut rng);
            idx.truncate(take);
            out.extend(idx);
        }
        out.shuffle(&mut rng);
        out.truncate(n);
        out
    }

    /// The images at `indices` as a `[n, C, H, W]` tensor and their labels, on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let per = self.per_image();
        let mut values = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            values.extend_from_slice(self.image(i));
        }
        let [c, h, w] = self.shape;
        let images = Tensor::from_data(TensorData::new(values, [indices.len(), c, h, w]), device);
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        let labels = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        (images, labels)
    }

    /// The whole set as one tensor `[N, C, H, W]` on `device`.
    pub fn tensor(&self, device: &Device) -> Tensor<4> {
        let [c, h, w] = self.shape;
        Tensor::from_data(
            TensorData::new(self.images.to_vec(), [self.len(), c, h, w]),
            device,
        )
    }

    /// One line: name, size, image shape and counts per class.
    pub fn summary(&self) -> String {
        let counts = self.counts_per_class();
        let (lo, hi) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        let per_class = if lo == hi {
            format!("{lo} per class")
        } else {
            format!("{lo}-{hi} per class")
        };
        format!(
            "{}: {} images {}x{}x{}, {} classes ({})",
            self.name,
            self.len(),
            self.shape[0],
            self.shape[1],
            self.shape[2],
            self.num_classes(),
            per_class
        )
    }

    /// Counts per class name (for tables).
    pub fn class_counts(&self) -> BTreeMap<String, usize> {
        self.classes
            .iter()
            .cloned()
            .zip(self.counts_per_class())
            .collect()
    }
}

impl fmt::Display for ImageSplits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.train.summary())?;
        write!(f, "{}", self.test.summary())
    }
}

impl fmt::Debug for ImageSplits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Every dimension of `shape` at least 1 (their product without overflow) and every value
/// finite.
fn check_values(name: &str, shape: [usize; 3], values: &[f32]) -> Result<()> {
    let per_image = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if shape.contains(&0) || per_image.is_none() {
        return Err(Error::ShapeMismatch {
            context: format!("{name}: image shape"),
            expected: "channels, height and width of at least 1 each".into(),
            got: format!("{shape:?}"),
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let per = per_image.unwrap_or(1);
        return Err(Error::ShapeMismatch {
            context: format!("{name}: value {} of image {}", i % per, i / per),
            expected: "a finite number".into(),
            got: values[i].to_string(),
        });
    }
    Ok(())
}

fn check_layout(
    name: &str,
    per_image: usize,
    values: usize,
    labels: &[usize],
    classes: &[String],
) -> Result<()> {
    if values != labels.len() * per_image {
        return Err(Error::ShapeMismatch {
            context: format!("{name}: images vs labels"),
            expected: format!(
                "{} values ({} labels x {per_image})",
                labels.len() * per_image,
                labels.len()
            ),
            got: format!("{values} values"),
        });
    }
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l >= classes.len())
    {
        return Err(Error::ShapeMismatch {
            context: format!("{name}: label of image {i}"),
            expected: format!("a label below {} (the number of classes)", classes.len()),
            got: l.to_string(),
        });
    }
    Ok(())
}

/// Per-channel mean and standard deviation of `N*C*H*W` values.
fn channel_stats(pixels: &[f32], shape: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let plane = shape[1] * shape[2];
    let c = shape[0];
    let mut sum = vec![0f64; c];
    let mut sq = vec![0f64; c];
    let mut n = vec![0usize; c];
    for (i, &v) in pixels.iter().enumerate() {
        let ch = (i / plane) % c;
        sum[ch] += v as f64;
        sq[ch] += (v as f64) * (v as f64);
        n[ch] += 1;
    }
    let mean: Vec<f32> = (0..c)
        .map(|k| (sum[k] / n[k].max(1) as f64) as f32)
        .collect();
    let std = (0..c)
        .map(|k| {
            let m = sum[k] / n[k].max(1) as f64;
            let var = sq[k] / n[k].max(1) as f64 - m * m;
            (var.max(1e-12).sqrt() as f32).max(1e-6)
        })
        .collect();
    (mean, std)
}

super::fmt_as_summary!(ImageSet);

/// A normalised `C x H x W` image back in `[0, 1]` pixel space: `v * std[c] + mean[c]`,
/// clamped. Shared by every data set type that stores normalised images.
pub(crate) fn denormalize(image: &[f32], shape: [usize; 3], mean: &[f32], std: &[f32]) -> Vec<f32> {
    let plane = (shape[1] * shape[2]).max(1);
    image
        .iter()
        .enumerate()
        .map(|(j, v)| {
            let c = j / plane;
            (v * std[c] + mean[c]).clamp(0.0, 1.0)
        })
        .collect()
}

impl Examples for ImageSet {
    type Input = Tensor<4>;
    const PRECOMPILED_FIT: bool = true;

    fn as_image_set(&self) -> Option<&ImageSet> {
        Some(self)
    }

    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn labels(&self) -> &[usize] {
        &self.labels
    }
    fn example_shape(&self) -> Vec<usize> {
        self.shape.to_vec()
    }
    fn flat(&self) -> (&[f32], usize) {
        (&self.images, self.per_image())
    }
    fn inputs(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        self.batch(indices, device).0
    }
    /// Every [`Augment`] applies to images.
    fn augmented(
        &self,
        indices: &[usize],
        augment: &Augment,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<4>> {
        let rows = indices.iter().map(|&i| self.image(i));
        Ok(augment.images(rows, self.shape, rng, device))
    }
    fn subset(&self, indices: &[usize]) -> Self {
        ImageSet::subset(self, indices)
    }
    fn renamed(self, name: String) -> Self {
        self.named(name)
    }
}

impl ShowImages for ImageSet {
    fn show_grid(&self, per_class: usize) -> Result<Png> {
        let rows: Vec<(Option<String>, Vec<Vec<f32>>)> = (0..self.num_classes())
            .map(|c| {
                let imgs = self
                    .class_indices(c)
                    .into_iter()
                    .take(per_class)
                    .map(|i| self.pixels(i))
                    .collect();
                (Some(self.classes()[c].clone()), imgs)
            })
            .collect();
        let longest = self
            .classes()
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        let [_, h, _] = self.image_shape();
        let label_width = (longest * 8 + 12).min(200);
        crate::show::labelled_grid(
            &rows,
            self.image_shape(),
            per_class.max(1),
            crate::show::scale_for(h),
            label_width,
        )
    }

    fn show_first(&self, n: usize, ncol: usize) -> Result<Png> {
        let imgs: Vec<Vec<f32>> = (0..n.min(self.len())).map(|i| self.pixels(i)).collect();
        let [_, h, _] = self.image_shape();
        crate::show::image_grid(&imgs, self.image_shape(), ncol, crate::show::scale_for(h))
    }
}
