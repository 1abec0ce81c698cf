//! An image folder: one sub-folder per class, PNG or JPEG files inside (the layout of
//! torchvision's `ImageFolder`).

use std::path::{Path, PathBuf};

use super::decode::{check_decoded, decode_file, is_image_file};
use super::files::{LOUD_ABOVE, sorted_entries};
use super::image_set::{ImageSet, ImageSplits};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Reads an image folder: `root/<class>/<image>.png|jpg|jpeg`. Classes are the sub-folders in
/// name order; pictures are resized (shorter side) and centre-cropped to a square.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let root = std::env::temp_dir().join("dd-image-folder-doc");
/// for (class, v) in [("cat", 0u8), ("dog", 255u8)] {
///     std::fs::create_dir_all(root.join(class)).unwrap();
///     image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v])).save(root.join(class).join("a.png")).unwrap();
/// }
/// let set = ImageFolder::new(&root).with_image_size(4).load()?;
/// assert_eq!((set.len(), set.classes().to_vec()), (2, vec!["cat".to_string(), "dog".into()]));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageFolder {
    root: PathBuf,
    image_size: usize,
    grayscale: bool,
    name: Option<String>,
}

impl ImageFolder {
    /// A reader of the folder `root`, 32x32 RGB by default.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ImageFolder {
            root: root.into(),
            image_size: 32,
            grayscale: false,
            name: None,
        }
    }

    /// Side of the square images (default 32).
    pub fn with_image_size(mut self, size: usize) -> Self {
        self.image_size = size;
        self
    }

    /// One luminance channel instead of RGB (default false).
    pub fn with_grayscale(mut self, grayscale: bool) -> Self {
        self.grayscale = grayscale;
        self
    }

    /// The set's name (default: the folder's name).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn channels(&self) -> usize {
        if self.grayscale { 1 } else { 3 }
    }

    fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image folder".into())
        })
    }

    /// Reads `root/<class>/*` as one set, normalised with its own statistics.
    pub fn load(&self) -> Result<ImageSet> {
        let classes = class_folders(&self.root)?;
        let (pixels, labels) = self.read_tree(&self.root, &classes)?;
        ImageSet::from_pixels(self.name(), self.shape(), pixels, labels, classes)
    }

    /// Reads `root/train/<class>/*` and `root/test/<class>/*` (or `root/val/`); classes come
    /// from `train/`, and the test split is normalised with the training statistics.
    pub fn load_splits(&self) -> Result<ImageSplits> {
        let train_dir = self.root.join("train");
        let test_dir = ["test", "val"]
            .iter()
            .map(|s| self.root.join(s))
            .find(|d| d.is_dir())
            .ok_or_else(|| Error::data(&self.root, "no test/ (or val/) folder beside train/"))?;
        let classes = class_folders(&train_dir)?;
        for c in class_folders(&test_dir)? {
            if !classes.contains(&c) {
                return Err(Error::data(
                    test_dir.join(&c),
                    format!("class folder `{c}` is not among train/'s classes {classes:?}"),
                ));
            }
        }
        let train = self.read_tree(&train_dir, &classes)?;
        let test = self.read_tree(&test_dir, &classes)?;
        ImageSplits::from_pixels(&self.name(), self.shape(), train, test, classes)
    }

    fn shape(&self) -> [usize; 3] {
        [self.channels(), self.image_size, self.image_size]
    }

    fn read_tree(&self, dir: &Path, classes: &[String]) -> Result<(Vec<f32>, Vec<usize>)> {
        let mut files = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let sub = dir.join(class);
            if !sub.is_dir() {
                continue;
            }
            for f in sorted_entries(&sub)? {
                if f.is_file() && is_image_file(&f) {
                    files.push((f, label));
                }
            }
        }
        if files.is_empty() {
            return Err(Error::data(
                dir,
                "no PNG or JPEG file in any class folder (expected <class>/<image>.png)",
            ));
        }
        check_decoded(files.len(), self.image_size, self.channels())?;
        let mut progress = Progress::new(format!("reading {}", dir.display()), files.len())
            .with_print(files.len() >= LOUD_ABOVE);
        let mut pixels = Vec::with_capacity(files.len() * self.shape().iter().product::<usize>());
        let mut labels = Vec::with_capacity(files.len());
        for (f, label) in files {
            pixels.extend(decode_file(&f, self.image_size, self.channels())?);
            labels.push(label);
            progress.tick(1, || format!("{} images", labels.len()));
        }
        Ok((pixels, labels))
    }
}

/// Names of the class sub-folders of `dir`, in order.
fn class_folders(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Err(Error::data(
            dir,
            "not a folder (expected one sub-folder per class)",
        ));
    }
    let classes: Vec<String> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if classes.is_empty() {
        return Err(Error::data(
            dir,
            "no class sub-folder (expected <class>/<image>.png)",
        ));
    }
    Ok(classes)
}
