//! Differentiable siamese augmentation (DSA, Zhao & Bilen, ICML 2021): colour, crop, cutout,
//! flip, scale and rotate, written in tracked tensor ops so gradients reach the synthetic
//! images through them.
//!
//! As in the reference code (`DiffAugment` in mode `'S'`), each call picks ONE family of the
//! strategy at random and samples its parameters. [`DiffAugConfig::sample`] samples one parameter
//! set for a whole batch (the *siamese* case: the same [`SiameseAug`] is applied to the real
//! and the synthetic batch of a class); [`DiffAugConfig::augment_batch`] samples per image (network
//! training on the synthetic set, and the DSA evaluation protocol).
//!
//! Spatial transforms are resampling maps: every output pixel reads up to four input pixels
//! with fixed weights (bilinear for scale and rotate, as `affine_grid` + `grid_sample` with
//! `align_corners=False` and zero padding; one tap for crop and flip). The map is built on the
//! host from the sampled parameters (a few kilobytes) and applied on the device with `select`
//! (siamese) or `gather` (per image), both differentiable.

use burn::config::Config;
use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, ensure};

/// One family of DSA transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AugOp {
    /// Brightness, saturation and contrast, in that order.
    Color,
    /// Translation by up to `ratio_crop_pad` of the size, zero fill.
    Crop,
    /// A square of `ratio_cutout` of the size set to zero.
    Cutout,
    /// Horizontal flip with probability `prob_flip`.
    Flip,
    /// Independent x/y scaling in `[1/ratio_scale, ratio_scale]`.
    Scale,
    /// Rotation by up to `ratio_rotate` degrees.
    Rotate,
}

/// The parameters of DSA (`ParamDiffAug` in the reference code) and its strategy.
///
/// # Example
/// ```
/// use dd_prelude::distill::DiffAugConfig;
/// let dsa = DiffAugConfig::new();
/// assert_eq!(dsa.strategy.len(), 6);
/// assert!(dsa.check().is_ok());
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct DiffAugConfig {
    /// The families one of which is drawn per call (`color_crop_cutout_flip_scale_rotate`).
    #[config(
        default = "vec![AugOp::Color, AugOp::Crop, AugOp::Cutout, AugOp::Flip, AugOp::Scale, AugOp::Rotate]"
    )]
    pub strategy: Vec<AugOp>,
    /// Probability of a horizontal flip.
    #[config(default = 0.5)]
    pub prob_flip: f64,
    /// Largest scale factor.
    #[config(default = 1.2)]
    pub ratio_scale: f64,
    /// Largest rotation, degrees.
    #[config(default = 15.0)]
    pub ratio_rotate: f64,
    /// Largest translation as a fraction of the size.
    #[config(default = 0.125)]
    pub ratio_crop_pad: f64,
    /// Cutout side as a fraction of the size.
    #[config(default = 0.5)]
    pub ratio_cutout: f64,
    /// Brightness shift range.
    #[config(default = 1.0)]
    pub brightness: f64,
    /// Saturation factor range.
    #[config(default = 2.0)]
    pub saturation: f64,
    /// Contrast factor offset.
    #[config(default = 0.5)]
    pub contrast: f64,
}

/// One sampled augmentation, applied identically to every image it is given (and to the
/// real and the synthetic batch alike).
#[derive(Debug, Clone, PartialEq)]
pub enum SiameseAug {
    /// `x + b`, then saturation `s` around the channel mean, then contrast `c` around the
    /// image mean.
    Color {
        /// Brightness shift.
        brightness: f32,
        /// Saturation factor.
        saturation: f32,
        /// Contrast factor.
        contrast: f32,
    },
    /// A resampling map (crop, flip, scale, rotate).
    Resample(ResampleMap),
    /// Multiply by a 0/1 mask `[h * w]`.
    Cutout(Vec<f32>),
}

/// Every output pixel `j` is `sum_k weight[k][j] * input[index[k][j]]`; index `h * w` reads zero.
#[derive(Debug, Clone, PartialEq)]
pub struct ResampleMap {
    size: [usize; 2],
    index: Vec<Vec<i64>>,
    weight: Vec<Vec<f32>>,
}

impl DiffAugConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "DiffAugConfig";
        ensure(!self.strategy.is_empty(), M, "strategy", || {
            "needs at least one family".into()
        })?;
        ensure(
            (0.0..=1.0).contains(&self.prob_flip),
            M,
            "prob_flip",
            || format!("must be in [0, 1], got {}", self.prob_flip),
        )?;
        ensure(
            self.ratio_scale >= 1.0 && self.ratio_scale.is_finite(),
            M,
            "ratio_scale",
            || format!("must be >= 1 and finite, got {}", self.ratio_scale),
        )?;
        ensure(
            self.ratio_rotate >= 0.0 && self.ratio_rotate.is_finite(),
            M,
            "ratio_rotate",
            || format!("must be >= 0 and finite, got {}", self.ratio_rotate),
        )?;
        ensure(
            (0.0..0.5).contains(&self.ratio_crop_pad),
            M,
            "ratio_crop_pad",
            || format!("must be in [0, 0.5), got {}", self.ratio_crop_pad),
        )?;
        ensure(
            (0.0..=1.0).contains(&self.ratio_cutout),
            M,
            "ratio_cutout",
            || format!("must be in [0, 1], got {}", self.ratio_cutout),
        )?;
        ensure(
            [self.saturation, self.brightness, self.contrast]
                .iter()
                .all(|v| *v >= 0.0 && v.is_finite()),
            M,
            "saturation",
            || "brightness, saturation and contrast must be >= 0 and finite".into(),
        )?;
        Ok(())
    }

    /// Draws one family and one parameter set for images of `size` `[h, w]` (siamese use).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::DiffAugConfig;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let aug = DiffAugConfig::new().sample([8, 8], &mut rng);
    /// let x = burn::tensor::Tensor::<4>::ones([2, 1, 8, 8], &dd_prelude::device());
    /// assert_eq!(aug.apply(x).dims(), [2, 1, 8, 8]);
    /// ```
    pub fn sample(&self, size: [usize; 2], rng: &mut StdRng) -> SiameseAug {
        let op = self.strategy[rng.random_range(0..self.strategy.len())];
        self.sample_op(op, size, rng)
    }

    /// One parameter set of family `op`.
    pub fn sample_op(&self, op: AugOp, size: [usize; 2], rng: &mut StdRng) -> SiameseAug {
        match op {
            AugOp::Color => SiameseAug::Color {
                brightness: ((rng.random::<f64>() - 0.5) * self.brightness) as f32,
                saturation: (rng.random::<f64>() * self.saturation) as f32,
                contrast: (rng.random::<f64>() + self.contrast) as f32,
            },
            AugOp::Crop => {
                let (sx, sy) = self.crop_shift(size);
                let tx = rng.random_range(-sx..=sx);
                let ty = rng.random_range(-sy..=sy);
                SiameseAug::Resample(ResampleMap::shift(size, tx, ty))
            }
            AugOp::Cutout => SiameseAug::Cutout(self.cutout_mask(size, rng)),
            AugOp::Flip => {
                if rng.random::<f64>() < self.prob_flip {
                    SiameseAug::Resample(ResampleMap::flip(size))
                } else {
                    SiameseAug::Resample(ResampleMap::shift(size, 0, 0))
                }
            }
            AugOp::Scale => {
                let r = self.ratio_scale;
                let sx = rng.random::<f64>() * (r - 1.0 / r) + 1.0 / r;
                let sy = rng.random::<f64>() * (r - 1.0 / r) + 1.0 / r;
                SiameseAug::Resample(ResampleMap::affine(size, [sx, 0.0, 0.0, sy]))
            }
            AugOp::Rotate => {
                let t = (rng.random::<f64>() - 0.5) * 2.0 * self.ratio_rotate / 180.0
                    * std::f64::consts::PI;
                SiameseAug::Resample(ResampleMap::affine(
                    size,
                    [t.cos(), -t.sin(), t.sin(), t.cos()],
                ))
            }
        }
    }

    /// Largest translation in rows and columns: `int(size * ratio + 0.5)`.
    fn crop_shift(&self, [h, w]: [usize; 2]) -> (i64, i64) {
        (
            (h as f64 * self.ratio_crop_pad + 0.5) as i64,
            (w as f64 * self.ratio_crop_pad + 0.5) as i64,
        )
    }

    /// A cutout mask as the reference draws it: a square of side `int(size * ratio + 0.5)`
    /// centred at a random position (clipped at the border).
    fn cutout_mask(&self, [h, w]: [usize; 2], rng: &mut StdRng) -> Vec<f32> {
        let ch = (h as f64 * self.ratio_cutout + 0.5) as i64;
        let cw = (w as f64 * self.ratio_cutout + 0.5) as i64;
        let ox = rng.random_range(0..h as i64 + (1 - ch % 2));
        let oy = rng.random_range(0..w as i64 + (1 - cw % 2));
        let mut mask = vec![1f32; h * w];
        for i in 0..ch {
            for j in 0..cw {
                let r = (ox + i - ch / 2).clamp(0, h as i64 - 1) as usize;
                let c = (oy + j - cw / 2).clamp(0, w as i64 - 1) as usize;
                mask[r * w + c] = 0.0;
            }
        }
        mask
    }

    /// Augments every image of `x` with its own parameters (one family drawn for the batch,
    /// as the reference's non-siamese `DiffAugment`); differentiable in `x`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::DiffAugConfig;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let x = burn::tensor::Tensor::<4>::ones([3, 2, 6, 6], &dd_prelude::device());
    /// assert_eq!(DiffAugConfig::new().augment_batch(x, &mut rng).dims(), [3, 2, 6, 6]);
    /// ```
    pub fn augment_batch(&self, x: Tensor<4>, rng: &mut StdRng) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let op = self.strategy[rng.random_range(0..self.strategy.len())];
        let device = x.device();
        let per: Vec<SiameseAug> = (0..n).map(|_| self.sample_op(op, [h, w], rng)).collect();
        match op {
            AugOp::Color => {
                let col = |f: &dyn Fn(&SiameseAug) -> f32| {
                    let v: Vec<f32> = per.iter().map(f).collect();
                    Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, 1]), &device)
                };
                let b = col(&|a| {
                    if let SiameseAug::Color { brightness, .. } = a {
                        *brightness
                    } else {
                        0.0
                    }
                });
                let s = col(&|a| {
                    if let SiameseAug::Color { saturation, .. } = a {
                        *saturation
                    } else {
                        1.0
                    }
                });
                let k = col(&|a| {
                    if let SiameseAug::Color { contrast, .. } = a {
                        *contrast
                    } else {
                        1.0
                    }
                });
                color(x, b, s, k)
            }
            AugOp::Cutout => {
                let mut m = Vec::with_capacity(n * h * w);
                for a in &per {
                    if let SiameseAug::Cutout(mask) = a {
                        m.extend_from_slice(mask);
                    }
                }
                x.mul(Tensor::<4>::from_data(
                    TensorData::new(m, [n, 1, h, w]),
                    &device,
                ))
            }
            _ => {
                let maps: Vec<&ResampleMap> = per
                    .iter()
                    .filter_map(|a| {
                        if let SiameseAug::Resample(m) = a {
                            Some(m)
                        } else {
                            None
                        }
                    })
                    .collect();
                let taps = maps.iter().map(|m| m.index.len()).max().unwrap_or(1);
                let hw = h * w;
                let mut out: Option<Tensor<3>> = None;
                let padded = pad_zero_column(x.reshape([n, c, hw]));
                for k in 0..taps {
                    let mut idx = Vec::with_capacity(n * c * hw);
                    let mut wts = Vec::with_capacity(n * hw);
                    for m in &maps {
                        let (ik, wk) = m.tap(k);
                        for _ in 0..c {
                            idx.extend_from_slice(&ik);
                        }
                        wts.extend_from_slice(&wk);
                    }
                    let idx =
                        Tensor::<3, Int>::from_data(TensorData::new(idx, [n, c, hw]), &device);
                    let wts = Tensor::<3>::from_data(TensorData::new(wts, [n, 1, hw]), &device);
                    let term = padded.clone().gather(2, idx).mul(wts);
                    out = Some(match out {
                        Some(o) => o.add(term),
                        None => term,
                    });
                }
                out.expect("at least one tap").reshape([n, c, h, w])
            }
        }
    }
}

/// `[rows, cols]` to `[rows, cols + 1]` with a zero last column (the target of out-of-range taps).
fn pad_zero_column<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let mut dims = x.dims();
    dims[D - 1] = 1;
    let zeros = Tensor::zeros(dims, &x.device());
    Tensor::cat(vec![x, zeros], D - 1)
}

/// Brightness, saturation, contrast with per-image (or shared, `[1,1,1,1]`) factors.
fn color(x: Tensor<4>, b: Tensor<4>, s: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let x = x.add(b);
    let m = x.clone().mean_dim(1);
    let x = x.sub(m.clone()).mul(s).add(m);
    let m = x.clone().mean_dims(&[1, 2, 3]);
    x.sub(m.clone()).mul(k).add(m)
}

impl ResampleMap {
    /// `out[i][j] = in[i + tx][j + ty]`, zero outside (the reference's `rand_crop`).
    pub fn shift([h, w]: [usize; 2], tx: i64, ty: i64) -> Self {
        let zero = (h * w) as i64;
        let mut index = Vec::with_capacity(h * w);
        for i in 0..h as i64 {
            for j in 0..w as i64 {
                let (r, c) = (i + tx, j + ty);
                index.push(if r >= 0 && r < h as i64 && c >= 0 && c < w as i64 {
                    r * w as i64 + c
                } else {
                    zero
                });
            }
        }
        ResampleMap {
            size: [h, w],
            index: vec![index],
            weight: vec![vec![1.0; h * w]],
        }
    }

    /// Mirror left-right.
    pub fn flip([h, w]: [usize; 2]) -> Self {
        let index = (0..h)
            .flat_map(|i| (0..w).map(move |j| (i * w + (w - 1 - j)) as i64))
            .collect();
        ResampleMap {
            size: [h, w],
            index: vec![index],
            weight: vec![vec![1.0; h * w]],
        }
    }

    /// `affine_grid(theta)` + bilinear `grid_sample` (`align_corners=False`, zero padding) for
    /// `theta = [[a, b, 0], [c, d, 0]]`.
    pub fn affine([h, w]: [usize; 2], [a, b, c, d]: [f64; 4]) -> Self {
        let zero = (h * w) as i64;
        let mut index: Vec<Vec<i64>> = (0..4).map(|_| Vec::with_capacity(h * w)).collect();
        let mut weight: Vec<Vec<f32>> = (0..4).map(|_| Vec::with_capacity(h * w)).collect();
        for i in 0..h {
            for j in 0..w {
                let xn = (2.0 * j as f64 + 1.0) / w as f64 - 1.0;
                let yn = (2.0 * i as f64 + 1.0) / h as f64 - 1.0;
                let xs = a * xn + b * yn;
                let ys = c * xn + d * yn;
                let px = ((xs + 1.0) * w as f64 - 1.0) / 2.0;
                let py = ((ys + 1.0) * h as f64 - 1.0) / 2.0;
                let (x0, y0) = (px.floor(), py.floor());
                let (fx, fy) = (px - x0, py - y0);
                let taps = [
                    (y0, x0, (1.0 - fy) * (1.0 - fx)),
                    (y0, x0 + 1.0, (1.0 - fy) * fx),
                    (y0 + 1.0, x0, fy * (1.0 - fx)),
                    (y0 + 1.0, x0 + 1.0, fy * fx),
                ];
                for (k, (y, x, wt)) in taps.into_iter().enumerate() {
                    let inside = y >= 0.0 && y < h as f64 && x >= 0.0 && x < w as f64;
                    index[k].push(if inside {
                        y as i64 * w as i64 + x as i64
                    } else {
                        zero
                    });
                    weight[k].push(if inside { wt as f32 } else { 0.0 });
                }
            }
        }
        ResampleMap {
            size: [h, w],
            index,
            weight,
        }
    }

    /// Tap `k`'s indices and weights (a zero tap when the map has fewer).
    fn tap(&self, k: usize) -> (Vec<i64>, Vec<f32>) {
        let hw = self.size[0] * self.size[1];
        match (self.index.get(k), self.weight.get(k)) {
            (Some(i), Some(w)) => (i.clone(), w.clone()),
            _ => (vec![hw as i64; hw], vec![0.0; hw]),
        }
    }

    /// Applies the map to every image and channel of `x` (differentiable in `x`).
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let padded = pad_zero_column(x.reshape([n * c, h * w]));
        let mut out: Option<Tensor<2>> = None;
        for (idx, wts) in self.index.iter().zip(&self.weight) {
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx.clone(), [h * w]), &device);
            let term = padded.clone().select(1, idx);
            let term = if wts.iter().all(|&v| v == 1.0) {
                term
            } else {
                term.mul(Tensor::<2>::from_data(
                    TensorData::new(wts.clone(), [1, h * w]),
                    &device,
                ))
            };
            out = Some(match out {
                Some(o) => o.add(term),
                None => term,
            });
        }
        out.expect("a map has at least one tap")
            .reshape([n, c, h, w])
    }
}

impl SiameseAug {
    /// Applies this augmentation to `x` `[n, c, h, w]`; differentiable in `x`.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        match self {
            SiameseAug::Color {
                brightness,
                saturation,
                contrast,
            } => {
                let s = |v: f32| {
                    Tensor::<4>::from_data(TensorData::new(vec![v], [1, 1, 1, 1]), &device)
                };
                color(x, s(*brightness), s(*saturation), s(*contrast))
            }
            SiameseAug::Resample(map) => map.apply(x),
            SiameseAug::Cutout(mask) => {
                let [_, _, h, w] = x.dims();
                x.mul(Tensor::<4>::from_data(
                    TensorData::new(mask.clone(), [1, 1, h, w]),
                    &device,
                ))
            }
        }
    }
}
