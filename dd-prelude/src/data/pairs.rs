//! [`PairSet`]: images with one or more captions each (vision-language data), and its splits.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::progress::thousands;
use crate::show::{Html, escape_html, image_grid};

/// Images `N x C x H x W` (normalised per channel, as [`ImageSet`]) with one or more captions
/// per image, an id per image (its file name) and an optional credit line shown with the
/// images.
///
/// [`ImageSet`]: crate::data::ImageSet
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let pairs = PairSet::from_pixels("toy", [1, 2, 2], vec![0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
///     vec![vec!["a checkerboard".into()], vec!["a bar".into(), "two stripes".into()]],
///     vec!["a.png".into(), "b.png".into()])?;
/// assert_eq!(pairs.len(), 2);
/// assert_eq!(pairs.captions(1), &["a bar".to_string(), "two stripes".into()]);
/// assert_eq!(pairs.caption_pairs().len(), 3);
/// assert!(pairs.show(2)?.html().contains("two stripes"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct PairSet {
    name: String,
    shape: [usize; 3],
    images: Vec<f32>,
    captions: Vec<Vec<String>>,
    ids: Vec<String>,
    mean: Vec<f32>,
    std: Vec<f32>,
    credit: Option<String>,
}

/// The train, validation and test [`PairSet`] of one data set (`val` may be empty).
#[derive(Clone)]
pub struct PairSplits {
    /// The training split.
    pub train: PairSet,
    /// The validation split; empty when the data set has none.
    pub val: PairSet,
    /// The test split.
    pub test: PairSet,
}

impl PairSet {
    /// Builds a set from pixel values in `[0, 1]` (`N*C*H*W`, row-major), normalised with the
    /// set's own per-channel statistics.
    pub fn from_pixels(
        name: impl Into<String>,
        shape: [usize; 3],
        pixels: Vec<f32>,
        captions: Vec<Vec<String>>,
        ids: Vec<String>,
    ) -> Result<Self> {
        let (mean, std) = channel_stats(&pixels, shape);
        Self::from_pixels_with_stats(name, shape, pixels, captions, ids, mean, std)
    }

    /// Builds a set from pixel values in `[0, 1]`, normalised with the given statistics (a
    /// test split uses its training split's).
    pub fn from_pixels_with_stats(
        name: impl Into<String>,
        shape: [usize; 3],
        mut pixels: Vec<f32>,
        captions: Vec<Vec<String>>,
        ids: Vec<String>,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<Self> {
        let name = name.into();
        let per: usize = shape.iter().product();
        if pixels.len() != captions.len() * per || ids.len() != captions.len() {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: images vs captions vs ids"),
                expected: format!(
                    "{} values and {} ids for {} caption lists",
                    captions.len() * per,
                    captions.len(),
                    captions.len()
                ),
                got: format!("{} values and {} ids", pixels.len(), ids.len()),
            });
        }
        if let Some(i) = captions.iter().position(|c| c.is_empty()) {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: captions of image {i} ({})", ids[i]),
                expected: "at least one caption".into(),
                got: "none".into(),
            });
        }
        if mean.len() != shape[0] || std.len() != shape[0] {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: normalisation statistics"),
                expected: format!("{} channels", shape[0]),
                got: format!("mean {} / std {}", mean.len(), std.len()),
            });
        }
        let plane = shape[1] * shape[2];
        for (i, v) in pixels.iter_mut().enumerate() {
            let c = (i / plane.max(1)) % shape[0];
            *v = (*v - mean[c]) / std[c];
        }
        Ok(PairSet {
            name,
            shape,
            images: pixels,
            captions,
            ids,
            mean,
            std,
            credit: None,
        })
    }

    /// An empty set of images of `shape` with the given statistics.
    pub fn empty(
        name: impl Into<String>,
        shape: [usize; 3],
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Self {
        PairSet {
            name: name.into(),
            shape,
            images: Vec::new(),
            captions: Vec::new(),
            ids: Vec::new(),
            mean,
            std,
            credit: None,
        }
    }

    /// Sets the credit line shown under the images (a licence attribution).
    pub fn with_credit(mut self, credit: impl Into<String>) -> Self {
        self.credit = Some(credit.into());
        self
    }

    /// Renames the set (returns it, for chaining).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The credit line, if any.
    pub fn credit(&self) -> Option<&str> {
        self.credit.as_deref()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.captions.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.captions.is_empty()
    }

    /// `[channels, height, width]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
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
    ///
    /// # Panics
    /// When `i >= len()` (as for the other per-image accessors).
    pub fn image(&self, i: usize) -> &[f32] {
        let per = self.per_image();
        &self.images[i * per..(i + 1) * per]
    }

    /// Image `i` back in `[0, 1]` pixel space (for display).
    pub fn pixels(&self, i: usize) -> Vec<f32> {
        super::image_set::denormalize(self.image(i), self.shape, &self.mean, &self.std)
    }

    /// The captions of image `i`.
    pub fn captions(&self, i: usize) -> &[String] {
        &self.captions[i]
    }

    /// All caption lists, one per image.
    pub fn all_captions(&self) -> &[Vec<String>] {
        &self.captions
    }

    /// Every (image index, caption) pair, image by image: the unit contrastive training and
    /// text-to-image retrieval count in.
    pub fn caption_pairs(&self) -> Vec<(usize, &str)> {
        self.captions
            .iter()
            .enumerate()
            .flat_map(|(i, cs)| cs.iter().map(move |c| (i, c.as_str())))
            .collect()
    }

    /// Total number of captions.
    pub fn num_captions(&self) -> usize {
        self.captions.iter().map(Vec::len).sum()
    }

    /// The id (file name) of image `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    /// All ids.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    fn per_image(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pairs at `indices`, in that order (indices may repeat).
    ///
    /// # Panics
    /// On an index out of range: indices come from this set's own samplers.
    pub fn subset(&self, indices: &[usize]) -> PairSet {
        let mut images = Vec::with_capacity(indices.len() * self.per_image());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        PairSet {
            name: format!("{} (subset of {})", self.name, indices.len()),
            shape: self.shape,
            images,
            captions: indices.iter().map(|&i| self.captions[i].clone()).collect(),
            ids: indices.iter().map(|&i| self.ids[i].clone()).collect(),
            mean: self.mean.clone(),
            std: self.std.clone(),
            credit: self.credit.clone(),
        }
    }

    /// `n` distinct random indices (all when `n >= len`), deterministic under `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed));
        idx.truncate(n);
        idx
    }

    /// The images at `indices` as a `[n, C, H, W]` tensor on `device`.
    pub fn batch_images(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let mut values = Vec::with_capacity(indices.len() * self.per_image());
        for &i in indices {
            values.extend_from_slice(self.image(i));
        }
        let [c, h, w] = self.shape;
        Tensor::from_data(TensorData::new(values, [indices.len(), c, h, w]), device)
    }

    /// One line: name, images and their shape, captions per image.
    pub fn summary(&self) -> String {
        let counts: Vec<usize> = self.captions.iter().map(Vec::len).collect();
        let lo = counts.iter().min().copied().unwrap_or(0);
        let hi = counts.iter().max().copied().unwrap_or(0);
        let per = if lo == hi {
            format!("{lo} per image")
        } else {
            format!("{lo}-{hi} per image")
        };
        format!(
            "{}: {} images {}x{}x{}, {} captions ({per})",
            self.name,
            thousands(self.len()),
            self.shape[0],
            self.shape[1],
            self.shape[2],
            thousands(self.num_captions()),
        )
    }

    /// The first `n` pairs as HTML rows: the image, its id and its captions; the credit line
    /// under them.
    pub fn show(&self, n: usize) -> Result<Html> {
        self.show_indices(&(0..n.min(self.len())).collect::<Vec<_>>())
    }

    /// The pairs at `indices` as HTML rows (see [`PairSet::show`]).
    pub fn show_indices(&self, indices: &[usize]) -> Result<Html> {
        let [_, h, _] = self.shape;
        let scale = (64 / h.max(1)).clamp(1, 4);
        let mut html = format!(
            "<table class=\"dd-pairs\" style=\"border-collapse:collapse\"><caption \
             style=\"font-weight:bold;text-align:left\">{}</caption>",
            escape_html(&self.summary())
        );
        let mut text = self.summary();
        for &i in indices {
            if i >= self.len() {
                return Err(Error::ShapeMismatch {
                    context: format!("{}: pair to show", self.name),
                    expected: format!("an index below {}", self.len()),
                    got: i.to_string(),
                });
            }
            let png = image_grid(&[self.pixels(i)], self.shape, 1, scale)?;
            let captions: Vec<String> = self.captions[i].iter().map(|c| escape_html(c)).collect();
            html.push_str(&format!(
                "<tr><td style=\"padding:2px 8px\"><img src=\"{}\" alt=\"{}\"/></td>\
                 <td style=\"padding:2px 8px;text-align:left\"><code>{}</code><br/>{}</td></tr>",
                png.data_uri(),
                escape_html(&self.ids[i]),
                escape_html(&self.ids[i]),
                captions.join("<br/>")
            ));
            text.push_str(&format!(
                "\n{}: {}",
                self.ids[i],
                self.captions[i].join(" | ")
            ));
        }
        html.push_str("</table>");
        if let Some(credit) = &self.credit {
            html.push_str(&format!(
                "<p style=\"font-size:smaller\">{}</p>",
                escape_html(credit)
            ));
            text.push_str(&format!("\n{credit}"));
        }
        Ok(Html::new(html, text))
    }

    /// Shows the first 6 pairs in a notebook cell.
    pub fn evcxr_display(&self) {
        match self.show(6) {
            Ok(h) => h.evcxr_display(),
            Err(e) => println!("{}\n({e})", self.summary()),
        }
    }
}

impl PairSplits {
    /// One line per split.
    pub fn summary(&self) -> String {
        [&self.train, &self.val, &self.test]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.summary())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Per-channel mean and standard deviation of `N*C*H*W` values in `[0, 1]`.
pub(crate) fn channel_stats(pixels: &[f32], shape: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let plane = (shape[1] * shape[2]).max(1);
    let c = shape[0].max(1);
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

super::fmt_as_summary!(PairSet, PairSplits);
