//! Augmentation of image batches: the host-side transforms [`fit`](crate::fit) applies to
//! training batches ([`Augment`]), and DSA's differentiable siamese augmentation
//! ([`diff`]), which gradient matching applies to real and synthetic batches alike.
//!
//! Both work on pixels and tensors only, below the data sets: an image set hands its rows to
//! [`Augment::images`].

pub mod diff;

pub use diff::{AugOp, DiffAugConfig, ResampleMap, SiameseAug};

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Standard augmentation applied to training batches on the host.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let aug = Augment::CropFlip { pad: 4 };
/// assert_ne!(aug, Augment::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Augment {
    /// Images as they are.
    None,
    /// Random crop after zero padding by `pad` pixels, and random horizontal flip
    /// (the usual CIFAR augmentation).
    CropFlip {
        /// Padding on each side before cropping back to the original size.
        pad: usize,
    },
    /// DSA's augmentation with its reference parameters, each image with its own draw of one
    /// family per batch (colour, crop, cutout, flip, scale or rotate): what the DSA and DM
    /// papers' evaluation protocol trains every network with
    /// ([`DiffAugConfig::augment_batch`]).
    Dsa,
}

impl Augment {
    /// The images `rows` (each one normalised `C x H x W` image of `shape`), augmented, as a
    /// `[n, C, H, W]` tensor on `device`. Draws from `rng` in the order of the rows.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use rand::SeedableRng;
    /// let rows = [vec![1.0f32, 2.0, 3.0, 4.0]];
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let x = Augment::None.images(rows.iter().map(|r| r.as_slice()), [1, 2, 2], &mut rng, &device());
    /// assert_eq!(x.dims(), [1, 1, 2, 2]);
    /// ```
    pub fn images<'a>(
        &self,
        rows: impl ExactSizeIterator<Item = &'a [f32]>,
        shape: [usize; 3],
        rng: &mut StdRng,
        device: &Device,
    ) -> Tensor<4> {
        let [c, h, w] = shape;
        let n = rows.len();
        let mut values = Vec::with_capacity(n * c * h * w);
        match *self {
            Augment::None | Augment::Dsa => rows.for_each(|r| values.extend_from_slice(r)),
            Augment::CropFlip { pad } => {
                for img in rows {
                    let dy = rng.random_range(0..=2 * pad) as isize - pad as isize;
                    let dx = rng.random_range(0..=2 * pad) as isize - pad as isize;
                    let flip = rng.random_bool(0.5);
                    crop_flip(img, [c, h, w], dy, dx, flip, &mut values);
                }
            }
        }
        let images = Tensor::from_data(TensorData::new(values, [n, c, h, w]), device);
        match self {
            Augment::Dsa => DiffAugConfig::new().augment_batch(images, rng),
            _ => images,
        }
    }
}

/// The largest crop padding [`Augment::check`] accepts, in pixels (beyond the image every
/// crop is blank; this bound keeps the random offsets far from overflow).
pub const MAX_CROP_PAD: usize = 4096;

impl Augment {
    /// Checks the settings: a crop padding of at most [`MAX_CROP_PAD`] pixels.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert!(Augment::CropFlip { pad: 4 }.check().is_ok());
    /// assert!(Augment::CropFlip { pad: usize::MAX }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        match *self {
            Augment::CropFlip { pad } if pad > MAX_CROP_PAD => Err(Error::config(
                "Augment",
                "pad",
                format!("{pad} px; at most {MAX_CROP_PAD}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Parses `none`, `flip` (flip only), `cropN` (crop with `N` px of padding + flip) and `dsa`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// assert_eq!("crop4".parse::<Augment>()?, Augment::CropFlip { pad: 4 });
/// assert_eq!("flip".parse::<Augment>()?, Augment::CropFlip { pad: 0 });
/// assert_eq!("dsa".parse::<Augment>()?, Augment::Dsa);
/// assert!("blur".parse::<Augment>().is_err());
/// # Ok::<(), Error>(())
/// ```
impl std::str::FromStr for Augment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase();
        let pad = name.strip_prefix("crop").and_then(|n| n.parse().ok());
        match (name.as_str(), pad) {
            ("none", _) => Ok(Augment::None),
            ("flip", _) => Ok(Augment::CropFlip { pad: 0 }),
            ("dsa", _) => Ok(Augment::Dsa),
            (_, Some(pad)) => {
                let a = Augment::CropFlip { pad };
                a.check().map(|_| a)
            }
            (other, None) => Err(Error::config(
                "Augment",
                "name",
                format!("is `{other}`; valid names are none, flip, cropN (N px of padding), dsa"),
            )),
        }
    }
}

/// Appends `img` shifted by (`dy`, `dx`) with zero fill, optionally mirrored, to `out`.
fn crop_flip(
    img: &[f32],
    [c, h, w]: [usize; 3],
    dy: isize,
    dx: isize,
    flip: bool,
    out: &mut Vec<f32>,
) {
    for ch in 0..c {
        for y in 0..h as isize {
            for x in 0..w as isize {
                let sx = if flip { w as isize - 1 - x } else { x } + dx;
                let sy = y + dy;
                let v = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    img[ch * h * w + sy as usize * w + sx as usize]
                } else {
                    0.0
                };
                out.push(v);
            }
        }
    }
}
