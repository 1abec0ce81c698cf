use std::time::Instant;

use burn::config::Config;
use burn::tensor::Device;

use super::{
    Budget, Coreset, DevicePoints, SelectWithModel, Selector, Vectors, check_data, selection_groups,
};
use crate::data::Examples;
use crate::error::Result;
use crate::models::Classifier;

/// Herding (Welling 2009; the exemplar selection of iCaRL, Rebuffi et al. 2017; DeepCore's
/// `Herding`): per class, greedily add the image that brings the mean of the kept images
/// closest to the class mean, `argmin_x |(t+1) mu - sum(kept) - x|`.
///
/// DeepCore's code takes the `argmax` of that distance; the papers, and this implementation,
/// take the `argmin`, so the running mean approaches the class mean.
///
/// Herding is deterministic: the seed changes nothing and is kept so every selector's config
/// reads the same.
///
/// Scores: the distance between the class mean and the mean of the images kept so far, after
/// each image is added (it shrinks towards 0).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 0.45, 0.6, 1.0], vec![0, 0, 0, 0], vec!["a".into()])?;
/// let core = HerdingConfig::new(Budget::PerClass(2)).select(&set, &device())?;
/// // the mean is 0.5125: first the image nearest it, then the one that pulls the pair back to it
/// assert_eq!(core.indices, vec![1, 2]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct HerdingConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Herd each class on its own.
    #[config(default = true)]
    pub balance: bool,
    /// Unused (herding is deterministic); kept for a uniform config.
    #[config(default = 0)]
    pub seed: u64,
}

impl HerdingConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("HerdingConfig")
    }

    fn select_on<S: Examples + ?Sized>(
        &self,
        vectors: &Vectors,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.check()?;
        check_data("HerdingConfig", data)?;
        let started = Instant::now();
        let (mut indices, mut scores) = (Vec::new(), Vec::new());
        for (members, take) in selection_groups(data, self.budget, self.balance) {
            let (order, gaps) = herd(&vectors.gather(&members), vectors.dim, take, device);
            indices.extend(order.into_iter().map(|i| members[i]));
            scores.extend(gaps);
        }
        let mut core = Coreset::new("Herding", indices);
        core.scores = Some(scores);
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

/// Herds `take` rows of `points` (`n x dim`): their order and the gap between the full mean
/// and the running mean after each.
fn herd(points: &[f32], dim: usize, take: usize, device: &Device) -> (Vec<usize>, Vec<f32>) {
    let pts = DevicePoints::new(points.to_vec(), dim, device);
    let n = pts.n;
    let mut mu = vec![0f64; dim];
    for row in points.chunks(dim) {
        for (m, &v) in mu.iter_mut().zip(row) {
            *m += v as f64 / n as f64;
        }
    }
    let mut sum = vec![0f64; dim];
    let mut taken = vec![false; n];
    let (mut order, mut gaps) = (Vec::with_capacity(take), Vec::with_capacity(take));
    for t in 0..take.min(n) {
        let target: Vec<f32> = mu
            .iter()
            .zip(&sum)
            .map(|(m, s)| ((t + 1) as f64 * m - s) as f32)
            .collect();
        let d = pts.sq_dists(&target);
        let p = (0..n)
            .filter(|&i| !taken[i])
            .min_by(|&a, &b| d[a].total_cmp(&d[b]))
            .expect("t < n leaves a point");
        taken[p] = true;
        order.push(p);
        for (s, &v) in sum.iter_mut().zip(&points[p * dim..(p + 1) * dim]) {
            *s += v as f64;
        }
        let gap: f64 = mu
            .iter()
            .zip(&sum)
            .map(|(m, s)| (m - s / (t + 1) as f64).powi(2))
            .sum();
        gaps.push(gap.sqrt() as f32);
    }
    (order, gaps)
}

impl<S: Examples> Selector<S> for HerdingConfig {
    fn name(&self) -> &'static str {
        "Herding"
    }

    /// Herding on raw pixels.
    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.select_on(&Vectors::flat(data), data, device)
    }
}

impl SelectWithModel for HerdingConfig {
    /// Herding on `model`'s penultimate features.
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.select_on(&Vectors::features(model, data, device), data, device)
    }
}
