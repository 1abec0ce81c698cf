//! COCO captions (Chen et al., 2015): `annotations/captions_{train,val}{2014,2017}.json` and
//! the image folder they describe.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::decode::decode_many;
use super::files::{confined, data_dir};
use super::pairs::PairSet;
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    annotations: Vec<CocoCaption>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct CocoCaption {
    image_id: u64,
    caption: String,
}

/// Reader of one COCO captions file and its image folder (builder; [`CocoCaptions::load`] is
/// the verb). Images keep the order of the file's `images` list; images without a caption
/// are left out; each image's captions keep the order of `annotations`.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let val = CocoCaptions::new("/data/coco/annotations/captions_val2017.json", "/data/coco/val2017")
///     .with_image_size(64)
///     .with_limit(1000)
///     .load()?;
/// println!("{val}"); // COCO val2017: 1,000 images 3x64x64, 5,0xx captions (5-7 per image)
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CocoCaptions {
    annotations: PathBuf,
    images: PathBuf,
    image_size: usize,
    limit: Option<usize>,
}

impl CocoCaptions {
    /// A reader of the captions file `annotations` and the folder `images` holding its files.
    pub fn new(annotations: impl Into<PathBuf>, images: impl Into<PathBuf>) -> Self {
        CocoCaptions {
            annotations: annotations.into(),
            images: images.into(),
            image_size: 64,
            limit: None,
        }
    }

    /// `$DD_DATA/coco/annotations/captions_{split}.json` with images in `$DD_DATA/coco/{split}`,
    /// for a split such as `train2017`, `val2017`, `train2014`, `val2014`.
    pub fn default_split(split: &str) -> Self {
        let root = data_dir().join("coco");
        Self::new(
            root.join("annotations")
                .join(format!("captions_{split}.json")),
            root.join(split),
        )
    }

    /// Side of the square images (default 64): shorter side resized, centre cropped.
    pub fn with_image_size(mut self, size: usize) -> Self {
        self.image_size = size;
        self
    }

    /// Reads only the first `n` captioned images (default: all).
    pub fn with_limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Reads the captions, checks every referenced image exists, then decodes the images.
    pub fn load(&self) -> Result<PairSet> {
        let path = &self.annotations;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::data(path, format!("cannot read COCO captions file: {e}")))?;
        let file: CocoFile = serde_json::from_str(&text).map_err(|e| {
            Error::data(
                path,
                format!("not a COCO captions file (images[].id/file_name, annotations[].image_id/caption): {e}"),
            )
        })?;
        let mut by_id: HashMap<u64, usize> = HashMap::with_capacity(file.images.len());
        for (i, img) in file.images.iter().enumerate() {
            if let Some(prev) = by_id.insert(img.id, i) {
                return Err(Error::data(
                    path,
                    format!("images[{i}]: id {} already used by images[{prev}]", img.id),
                ));
            }
        }
        let mut captions: Vec<Vec<String>> = vec![Vec::new(); file.images.len()];
        let mut first_ref: Vec<usize> = vec![0; file.images.len()];
        for (a, ann) in file.annotations.iter().enumerate() {
            let &i = by_id.get(&ann.image_id).ok_or_else(|| {
                Error::data(
                    path,
                    format!(
                        "annotations[{a}]: image_id {} is not in `images`",
                        ann.image_id
                    ),
                )
            })?;
            let caption = ann.caption.trim();
            if caption.is_empty() {
                return Err(Error::data(
                    path,
                    format!("annotations[{a}]: empty caption"),
                ));
            }
            if captions[i].is_empty() {
                first_ref[i] = a;
            }
            captions[i].push(caption.to_string());
        }
        let mut keep: Vec<usize> = (0..file.images.len())
            .filter(|&i| !captions[i].is_empty())
            .collect();
        if let Some(n) = self.limit {
            keep.truncate(n);
        }
        if keep.is_empty() {
            return Err(Error::data(path, "no image with a caption"));
        }
        let mut files = Vec::with_capacity(keep.len());
        for &i in &keep {
            let img = &file.images[i];
            let f = confined(
                &self.images,
                &[&img.file_name],
                path,
                &format!("images[{i}] (id {})", img.id),
            )?;
            if !f.is_file() {
                return Err(Error::data(
                    &f,
                    format!(
                        "missing image: images[{i}] (id {}) is captioned by annotations[{}] of {}",
                        img.id,
                        first_ref[i],
                        path.display()
                    ),
                ));
            }
            files.push(f);
        }
        let name = format!("COCO {}", split_name(path));
        let pixels = decode_many(
            &files,
            self.image_size,
            3,
            &format!("reading {name} images"),
        )?;
        PairSet::from_pixels(
            name,
            [3, self.image_size, self.image_size],
            pixels,
            keep.iter()
                .map(|&i| std::mem::take(&mut captions[i]))
                .collect(),
            keep.iter()
                .map(|&i| file.images[i].file_name.clone())
                .collect(),
        )
    }
}

/// `captions_val2017.json` -> `val2017`.
fn split_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.strip_prefix("captions_").unwrap_or(&stem).to_string()
}
