//! The Karpathy split files (Karpathy and Fei-Fei, 2015) used for Flickr30K and COCO
//! retrieval: `dataset_flickr30k.json`, `dataset_coco.json`.
//!
//! Layout: `{"images": [{"filename", "filepath"?, "split": "train"|"val"|"test"|"restval",
//! "sentences": [{"raw", "tokens"}, ...]}, ...], "dataset": "flickr30k"}`; an image's file is
//! `<image root>/<filepath>/<filename>` (Flickr30K has no `filepath`).

use std::path::PathBuf;

use serde::Deserialize;

use super::decode::decode_many;
use super::files::{confined, data_dir};
use super::pairs::{PairSet, PairSplits};
use crate::error::{Error, Result};

/// The files, captions and ids of one split, before decoding.
type SplitParts = (Vec<PathBuf>, Vec<Vec<String>>, Vec<String>);

#[derive(Deserialize)]
struct KarpathyFile {
    images: Vec<KarpathyImage>,
    #[serde(default)]
    dataset: Option<String>,
}

#[derive(Deserialize)]
struct KarpathyImage {
    filename: String,
    #[serde(default)]
    filepath: Option<String>,
    split: String,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    tokens: Vec<String>,
}

/// Reader of a Karpathy split file and its images (builder; [`Karpathy::load`] is the verb).
/// `restval` images (COCO) join the training split, as in the retrieval papers' training
/// sets; each image keeps its sentences (`raw`, or the tokens joined) in file order.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let flickr = Karpathy::new("/data/flickr30k/dataset_flickr30k.json", "/data/flickr30k/flickr30k-images")
///     .with_image_size(64)
///     .load()?;
/// assert_eq!(flickr.test.len(), 1000);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Karpathy {
    json: PathBuf,
    image_root: PathBuf,
    image_size: usize,
    limit: Option<usize>,
}

impl Karpathy {
    /// A reader of the split file `json`, images under `image_root`.
    pub fn new(json: impl Into<PathBuf>, image_root: impl Into<PathBuf>) -> Self {
        Karpathy {
            json: json.into(),
            image_root: image_root.into(),
            image_size: 64,
            limit: None,
        }
    }

    /// `$DD_DATA/flickr30k/dataset_flickr30k.json` with images in
    /// `$DD_DATA/flickr30k/flickr30k-images`.
    pub fn flickr30k_default() -> Self {
        let root = data_dir().join("flickr30k");
        Self::new(
            root.join("dataset_flickr30k.json"),
            root.join("flickr30k-images"),
        )
    }

    /// `$DD_DATA/coco/dataset_coco.json` with images in `$DD_DATA/coco/{train2014,val2014}`.
    pub fn coco_default() -> Self {
        let root = data_dir().join("coco");
        Self::new(root.join("dataset_coco.json"), root)
    }

    /// Side of the square images (default 64): shorter side resized, centre cropped.
    pub fn with_image_size(mut self, size: usize) -> Self {
        self.image_size = size;
        self
    }

    /// Reads only the first `n` images of each split (default: all).
    pub fn with_limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Reads the split file, checks every image file exists, then decodes the images; val and
    /// test are normalised with the training statistics.
    pub fn load(&self) -> Result<PairSplits> {
        let path = &self.json;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::data(path, format!("cannot read Karpathy split file: {e}")))?;
        let file: KarpathyFile = serde_json::from_str(&text).map_err(|e| {
            Error::data(
                path,
                format!("not a Karpathy split file (images[].filename/split/sentences): {e}"),
            )
        })?;
        let name = match file.dataset.as_deref() {
            Some("flickr30k") => "Flickr30K".to_string(),
            Some("flickr8k") => "Flickr8K".to_string(),
            Some("coco") => "COCO (Karpathy)".to_string(),
            Some(other) => other.to_string(),
            None => "Karpathy".to_string(),
        };
        // Per split: train, val, test.
        let mut parts: [SplitParts; 3] = Default::default();
        for (i, img) in file.images.iter().enumerate() {
            let k = match img.split.as_str() {
                "train" | "restval" => 0,
                "val" => 1,
                "test" => 2,
                other => {
                    return Err(Error::data(
                        path,
                        format!(
                            "images[{i}] ({}): split `{other}` is not train, val, test or restval",
                            img.filename
                        ),
                    ));
                }
            };
            if self.limit.is_some_and(|n| parts[k].0.len() >= n) {
                continue;
            }
            let captions: Vec<String> = img
                .sentences
                .iter()
                .map(|s| match &s.raw {
                    Some(r) => r.trim().to_string(),
                    None => s.tokens.join(" "),
                })
                .filter(|s| !s.is_empty())
                .collect();
            if captions.is_empty() {
                return Err(Error::data(
                    path,
                    format!("images[{i}] ({}): no sentence", img.filename),
                ));
            }
            let mut names = Vec::with_capacity(2);
            if let Some(fp) = &img.filepath {
                names.push(fp.as_str());
            }
            names.push(img.filename.as_str());
            let f = confined(&self.image_root, &names, path, &format!("images[{i}]"))?;
            if !f.is_file() {
                return Err(Error::data(
                    &f,
                    format!(
                        "missing image: images[{i}] of {} refers to it (check the image root {})",
                        path.display(),
                        self.image_root.display()
                    ),
                ));
            }
            parts[k].0.push(f);
            parts[k].1.push(captions);
            parts[k].2.push(img.filename.clone());
        }
        let shape = [3, self.image_size, self.image_size];
        let [train, val, test] = parts;
        if train.0.is_empty() {
            return Err(Error::data(
                path,
                "no training image (split train or restval)",
            ));
        }
        let px = decode_many(
            &train.0,
            self.image_size,
            3,
            &format!("reading {name} train"),
        )?;
        let train = PairSet::from_pixels(format!("{name} train"), shape, px, train.1, train.2)?;
        let stats = (train.mean().to_vec(), train.std().to_vec());
        let mut rest = Vec::with_capacity(2);
        for (split, (files, captions, ids)) in [("val", val), ("test", test)] {
            let set_name = format!("{name} {split}");
            let px = decode_many(&files, self.image_size, 3, &format!("reading {set_name}"))?;
            rest.push(PairSet::from_pixels_with_stats(
                set_name,
                shape,
                px,
                captions,
                ids,
                stats.0.clone(),
                stats.1.clone(),
            )?);
        }
        let test = rest.pop().expect("two splits were pushed");
        let val = rest.pop().expect("two splits were pushed");
        Ok(PairSplits { train, val, test })
    }
}
