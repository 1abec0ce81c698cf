//! Image-text retrieval recall: [`Recall`] (TR and IR, R@1/5/10) of a similarity matrix
//! with several captions per image, and of a trained [`DualEncoder`] on a test split.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::CaptionEmbeddings;
use crate::data::EmbeddedPairs;
use crate::error::{Error, Result};
use crate::eval::features;
use crate::models::DualEncoder;

/// The cut-offs of [`Recall`].
pub const RECALL_AT: [usize; 3] = [1, 5, 10];

/// Retrieval recall in percent at [`RECALL_AT`] (1, 5, 10), both ways, as seed 001 and the
/// Karpathy-split literature report it:
///
/// - `tr` (text retrieval, image-to-text): for each image, is any of its captions among the
///   `K` captions most similar to it;
/// - `ir` (image retrieval, text-to-image): for each caption, is its image among the `K`
///   images most similar to it.
///
/// Ranks are pessimistic: an item tied with the right answer counts as ranked above it, so a
/// model with all similarities equal scores `K / n`, not 100%.
///
/// # Example
/// ```
/// use dd_prelude::vl::Recall;
/// // 2 images, 3 captions: captions 0, 1 of image 0, caption 2 of image 1.
/// let sim = [0.9, 0.1, 0.5,
///            0.2, 0.8, 0.1];
/// let r = Recall::of_similarity(&sim, 2, &[0, 0, 1])?;
/// assert_eq!(r.tr, [50.0, 100.0, 100.0]);   // image 1's caption is ranked 2nd
/// assert_eq!(r.ir[0], 100.0 / 3.0);          // captions 1 and 2 pick the other image
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recall {
    /// Image-to-text R@1, R@5, R@10 (%).
    pub tr: [f64; 3],
    /// Text-to-image R@1, R@5, R@10 (%).
    pub ir: [f64; 3],
}

impl Recall {
    /// Recall of `sim`, the `images x captions` similarities (row-major), where caption `c`
    /// belongs to image `owners[c]`.
    pub fn of_similarity(sim: &[f32], images: usize, owners: &[usize]) -> Result<Self> {
        let captions = owners.len();
        if images == 0 || captions == 0 || sim.len() != images * captions {
            return Err(Error::ShapeMismatch {
                context: "Recall::of_similarity".into(),
                expected: format!("{images} x {captions} similarities (both >= 1)"),
                got: format!("{} values", sim.len()),
            });
        }
        if let Some(c) = owners.iter().position(|&o| o >= images) {
            return Err(Error::config(
                "Recall",
                "owners",
                format!("caption {c} belongs to image {} of {images}", owners[c]),
            ));
        }
        let at = |s: f32, ranks: &mut [usize; 3], others: &mut dyn Iterator<Item = f32>| {
            let above = others.filter(|&o| o >= s).count();
            for (r, &k) in ranks.iter_mut().zip(&RECALL_AT) {
                *r += usize::from(above < k);
            }
        };
        // Image to text: the best-ranked own caption.
        let mut tr = [0usize; 3];
        for i in 0..images {
            let row = &sim[i * captions..(i + 1) * captions];
            let best = (0..captions)
                .filter(|&c| owners[c] == i)
                .map(|c| row[c])
                .fold(f32::NEG_INFINITY, f32::max);
            if best == f32::NEG_INFINITY {
                continue; // an image without captions can never be retrieved right
            }
            let mut others = (0..captions).filter(|&c| owners[c] != i).map(|c| row[c]);
            at(best, &mut tr, &mut others);
        }
        // Text to image: the caption's own image.
        let mut ir = [0usize; 3];
        for (c, &own) in owners.iter().enumerate() {
            let s = sim[own * captions + c];
            let mut others = (0..images)
                .filter(|&i| i != own)
                .map(|i| sim[i * captions + c]);
            at(s, &mut ir, &mut others);
        }
        let pct = |hits: [usize; 3], n: usize| hits.map(|h| 100.0 * h as f64 / n as f64);
        Ok(Recall {
            tr: pct(tr, images),
            ir: pct(ir, captions),
        })
    }

    /// The recall of `model` on a test split: its image embeddings of `test`'s images against
    /// its projections of every caption embedding in `captions` (several per image).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::vl::{CaptionEmbeddings, Recall};
    /// let dev = device();
    /// let pairs = PairSet::from_pixels("t", [1, 4, 4], (0..48).map(|i| (i % 5) as f32 / 5.0).collect(),
    ///     vec![vec!["a".into()], vec!["b".into(), "bb".into()], vec!["c".into()]],
    ///     vec!["0".into(), "1".into(), "2".into()])?;
    /// let caps = CaptionEmbeddings::new((0..12).map(|i| (i % 3) as f32).collect(), 3, vec![0, 1, 1, 2])?;
    /// let test = caps.training_pairs(&pairs)?;
    /// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(4).with_depth(1), 3).init(&dev);
    /// let r = Recall::of_model(&net, &test, &caps, &dev)?;
    /// assert!(r.tr.iter().chain(&r.ir).all(|&v| (0.0..=100.0).contains(&v)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn of_model(
        model: &DualEncoder,
        test: &EmbeddedPairs,
        captions: &CaptionEmbeddings,
        device: &Device,
    ) -> Result<Self> {
        let sim = similarity(model, test, captions, device)?;
        Self::of_similarity(&sim, test.pairs().len(), captions.owners())
    }

    /// Mean and standard deviation (population) of several models' recalls, per entry.
    pub fn mean_std(runs: &[Recall]) -> (Recall, Recall) {
        let n = runs.len().max(1) as f64;
        let stat = |f: &dyn Fn(&Recall) -> [f64; 3]| {
            let mean: [f64; 3] =
                std::array::from_fn(|k| runs.iter().map(|r| f(r)[k]).sum::<f64>() / n);
            let std = std::array::from_fn(|k| {
                (runs
                    .iter()
                    .map(|r| (f(r)[k] - mean[k]).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt()
            });
            (mean, std)
        };
        let (tr, tr_sd) = stat(&|r| r.tr);
        let (ir, ir_sd) = stat(&|r| r.ir);
        (
            Recall { tr, ir },
            Recall {
                tr: tr_sd,
                ir: ir_sd,
            },
        )
    }
}

/// The `images x captions` cosine similarities of `model`: each test image's embedding
/// against the projection of each caption embedding (row-major).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{CaptionEmbeddings, similarity};
/// let dev = device();
/// let pairs = PairSet::from_pixels("t", [1, 2, 2], vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
///     vec![vec!["a".into()], vec!["b".into()]], vec!["0".into(), "1".into()])?;
/// let caps = CaptionEmbeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2, vec![0, 1])?;
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [2, 2]).with_width(2).with_depth(1), 2).init(&dev);
/// let sim = similarity(&net, &caps.training_pairs(&pairs)?, &caps, &dev)?;
/// assert!(sim.len() == 4 && sim.iter().all(|s| s.abs() <= 1.0 + 1e-5));
/// # Ok::<(), Error>(())
/// ```
pub fn similarity(
    model: &DualEncoder,
    test: &EmbeddedPairs,
    captions: &CaptionEmbeddings,
    device: &Device,
) -> Result<Vec<f32>> {
    if captions.dim() != test.text_dim() {
        return Err(Error::ShapeMismatch {
            context: "retrieval: caption embeddings".into(),
            expected: format!("width {}", test.text_dim()),
            got: format!("width {}", captions.dim()),
        });
    }
    let (img, width) = features(model, test, device);
    let n = test.pairs().len();
    let img = Tensor::<2>::from_data(TensorData::new(img, [n, width]), device);
    let text = Tensor::<2>::from_data(
        TensorData::new(captions.values().to_vec(), [captions.len(), captions.dim()]),
        device,
    );
    let txt = model.valid().embed_text(text);
    img.matmul(txt.transpose())
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Error::config("similarity", "model", format!("{e:?}")))
}
