use std::time::Instant;

use burn::config::Config;
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{
    Budget, Coreset, DevicePoints, SelectWithModel, Selector, Vectors, check_data, group_seed,
    selection_groups,
};
use crate::data::Examples;
use crate::error::Result;
use crate::models::Classifier;

/// K-Center greedy (Sener & Savarese 2018; DeepCore's `kCenterGreedy`): start from a random
/// image, then repeatedly add the image farthest from everything kept so far, which greedily
/// minimises the covering radius (a 2-approximation of the k-center problem).
///
/// Scores: each kept image's distance to the nearest image kept before it (infinite for the
/// random first one); within a group they never increase.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0, 0.1, 0.5, 1.0], vec![0, 0, 0, 0], vec!["a".into()])?;
/// let core = KCenterConfig::new(Budget::PerClass(3)).with_seed(1).select(&set, &device())?;
/// let pts: Vec<f32> = set.images().to_vec();
/// assert!(covering_radius(&pts, 1, &core.indices) <= covering_radius(&pts, 1, &core.indices[..2]));
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct KCenterConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Run on each class on its own.
    #[config(default = true)]
    pub balance: bool,
    /// Seed of the first centre.
    #[config(default = 0)]
    pub seed: u64,
}

impl KCenterConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("KCenterConfig")
    }

    fn select_on<S: Examples + ?Sized>(
        &self,
        vectors: &Vectors,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.check()?;
        check_data("KCenterConfig", data)?;
        let started = Instant::now();
        let (mut indices, mut scores) = (Vec::new(), Vec::new());
        for (g, (members, take)) in selection_groups(data, self.budget, self.balance)
            .into_iter()
            .enumerate()
        {
            let points = vectors.gather(&members);
            let (order, radii) =
                k_center_greedy(&points, vectors.dim, take, group_seed(self.seed, g), device);
            indices.extend(order.into_iter().map(|i| members[i]));
            scores.extend(radii);
        }
        let mut core = Coreset::new("K-Center", indices);
        core.scores = Some(scores);
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

/// Farthest-first traversal of `take` rows of `points` from a seeded random start: the order
/// and each pick's distance to the nearest earlier pick.
fn k_center_greedy(
    points: &[f32],
    dim: usize,
    take: usize,
    seed: u64,
    device: &Device,
) -> (Vec<usize>, Vec<f32>) {
    let pts = DevicePoints::new(points.to_vec(), dim, device);
    let n = pts.n;
    let take = take.min(n);
    if take == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let first = rng.random_range(0..n);
    // squared distance to the nearest centre; -1 marks a centre
    let mut mins = pts.sq_dists(&points[first * dim..(first + 1) * dim]);
    mins[first] = -1.0;
    let (mut order, mut radii) = (vec![first], vec![f32::INFINITY]);
    while order.len() < take {
        let p = (0..n)
            .max_by(|&a, &b| mins[a].total_cmp(&mins[b]).then(b.cmp(&a)))
            .expect("n > 0");
        radii.push(mins[p].max(0.0).sqrt());
        order.push(p);
        mins[p] = -1.0;
        for (m, d) in mins
            .iter_mut()
            .zip(pts.sq_dists(&points[p * dim..(p + 1) * dim]))
        {
            if *m >= 0.0 {
                *m = m.min(d);
            }
        }
    }
    (order, radii)
}

/// The covering radius of `centers` (row indices of `points`, `n x dim` row-major): the largest
/// distance from any point to its nearest centre. Computed on the host.
///
/// # Example
/// ```
/// let pts = [0.0, 1.0, 3.0];
/// assert_eq!(dd_prelude::covering_radius(&pts, 1, &[0]), 3.0);
/// assert_eq!(dd_prelude::covering_radius(&pts, 1, &[0, 2]), 1.0);
/// ```
pub fn covering_radius(points: &[f32], dim: usize, centers: &[usize]) -> f32 {
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    (0..points.len() / dim.max(1))
        .map(|i| {
            centers
                .iter()
                .map(|&c| {
                    row(i)
                        .iter()
                        .zip(row(c))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                })
                .fold(f32::INFINITY, f32::min)
        })
        .fold(0.0f32, f32::max)
        .sqrt()
}

impl<S: Examples> Selector<S> for KCenterConfig {
    fn name(&self) -> &'static str {
        "K-Center"
    }

    /// K-Center greedy on raw pixels.
    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.select_on(&Vectors::flat(data), data, device)
    }
}

impl SelectWithModel for KCenterConfig {
    /// K-Center greedy on `model`'s penultimate features.
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.select_on(&Vectors::features(model, data, device), data, device)
    }
}
