//! SVHN cropped digits (Netzer et al., 2011): `train_32x32.mat` (73,257 images) and
//! `test_32x32.mat` (26,032), MATLAB level 5 files.
//!
//! Each file holds `X`, a `32 x 32 x 3 x N` uint8 array in MATLAB's column-major order
//! (row, column, channel, image), and `y`, an `N x 1` array of labels 1-10 where 10 stands for
//! the digit 0.

use std::path::Path;

use super::files::default_dir;
use super::image_set::ImageSplits;
use super::mat::{MatData, MatFile, parse_mat, read_mat};
use crate::error::{Error, Result};

/// The SVHN classes, by label: the digits, with label 0 for the digit 0.
pub const SVHN_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// SVHN cropped digits, format 2.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// // the folder holding train_32x32.mat and test_32x32.mat
/// let svhn = Svhn::load("/data/svhn")?;
/// assert_eq!(svhn.train.len(), 73_257);
/// # Ok::<(), Error>(())
/// ```
pub struct Svhn;

impl Svhn {
    /// Loads `$DD_DATA/svhn`.
    pub fn load_default() -> Result<ImageSplits> {
        Self::load(default_dir(
            "svhn",
            "put train_32x32.mat and test_32x32.mat in it",
        )?)
    }

    /// Loads `train_32x32.mat` and `test_32x32.mat` from `dir`; the test split is normalised
    /// with the training statistics.
    pub fn load(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        let dir = dir.as_ref();
        let classes: Vec<String> = SVHN_CLASSES.iter().map(|s| s.to_string()).collect();
        let (shape, px, labels) = Self::read_split(dir.join("train_32x32.mat"))?;
        let (_, test_px, test_labels) = Self::read_split(dir.join("test_32x32.mat"))?;
        ImageSplits::from_pixels("SVHN", shape, (px, labels), (test_px, test_labels), classes)
    }

    /// Reads one SVHN `.mat` file: image shape `[3, h, w]`, pixels in `[0, 1]` (`N x 3 x h x
    /// w`, row-major) and labels 0-9.
    ///
    /// # Example
    /// ```no_run
    /// let (shape, pixels, labels) = dd_prelude::Svhn::read_split("test_32x32.mat")?;
    /// assert_eq!(shape, [3, 32, 32]);
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn read_split(path: impl AsRef<Path>) -> Result<([usize; 3], Vec<f32>, Vec<usize>)> {
        let path = path.as_ref();
        let mat = read_mat(path)?;
        svhn_from_mat(&mat)
    }

    /// As [`Svhn::read_split`], from the bytes of the file; `path` only names the source in
    /// errors.
    ///
    /// # Example
    /// ```
    /// let err = dd_prelude::Svhn::parse_split("train_32x32.mat", &[0u8; 100]).unwrap_err();
    /// assert!(err.to_string().contains("truncated MAT-file header"));
    /// ```
    pub fn parse_split(
        path: impl AsRef<Path>,
        bytes: &[u8],
    ) -> Result<([usize; 3], Vec<f32>, Vec<usize>)> {
        svhn_from_mat(&parse_mat(path, bytes)?)
    }
}

/// Converts the `X` / `y` arrays of an SVHN MAT-file.
pub(crate) fn svhn_from_mat(mat: &MatFile) -> Result<([usize; 3], Vec<f32>, Vec<usize>)> {
    let path = &mat.path;
    let x = mat.array("X")?;
    let y = mat.array("y")?;
    let MatData::UInt8(bytes) = &x.data else {
        return Err(Error::data(
            path,
            format!("`X` is of class {:?}, expected uint8 images", x.class),
        ));
    };
    let &[h, w, c, n] = x.dims.as_slice() else {
        return Err(Error::data(
            path,
            format!(
                "`X` has dimensions {:?}, expected 4 (height, width, 3, count)",
                x.dims
            ),
        ));
    };
    if c != 3 {
        return Err(Error::data(
            path,
            format!("`X` has {c} channels (dimensions {:?}), expected 3", x.dims),
        ));
    }
    if y.data.len() != n || y.dims.iter().filter(|&&d| d != 1).count() > 1 {
        return Err(Error::data(
            path,
            format!(
                "`y` has dimensions {:?}, expected one label per image of `X` ({n} x 1)",
                y.dims
            ),
        ));
    }
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let v = y.data.get(i).unwrap_or(f64::NAN);
        if !(1.0..=10.0).contains(&v) || v.fract() != 0.0 {
            return Err(Error::data(
                path,
                format!("record {i}: label y = {v} is out of range 1..=10 (10 stands for digit 0)"),
            ));
        }
        labels.push(v as usize % 10);
    }
    // Column-major (row, col, ch, image) -> row-major (image, ch, row, col).
    let plane = h * w;
    let per = 3 * plane;
    let mut pixels = vec![0f32; n * per];
    for img in 0..n {
        for ch in 0..3 {
            let src = img * per + ch * plane;
            let dst = img * per + ch * plane;
            for col in 0..w {
                for row in 0..h {
                    pixels[dst + row * w + col] = bytes[src + col * h + row] as f32 / 255.0;
                }
            }
        }
    }
    Ok(([3, h, w], pixels, labels))
}
