use std::time::Instant;

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{
    Budget, Coreset, DevicePoints, SelectWithModel, Selector, Vectors, check_data, group_seed,
    selection_groups,
};
use crate::data::Examples;
use crate::error::{Error, Result, ensure};
use crate::models::Classifier;
use crate::progress::Progress;

/// K-Means prototypes, as seed 000 builds its CIFAR-10 coreset: per class, cluster the
/// vectors (penultimate features of a trained model, or pixels) into `k` clusters with
/// k-means++ seeding and Lloyd iterations, then keep the *real* image nearest each centroid.
///
/// When two centroids share their nearest image, the later centroid takes its nearest image
/// not yet kept, so the budget is met with distinct images. One k-means run per class (no
/// restarts); an empty cluster keeps its previous centroid.
///
/// Scores: each kept image's Euclidean distance to its centroid.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 2], vec![0.0, 0.0, 0.1, 0.0, 5.0, 5.0, 5.1, 5.0],
///                                 vec![0, 0, 0, 0], vec!["a".into()])?;
/// let core = KMeansConfig::new(Budget::PerClass(2)).select(&set, &device())?;
/// let mut idx = core.indices.clone();
/// idx.sort();
/// assert!(idx[0] < 2 && idx[1] >= 2, "one prototype per cluster: {idx:?}");
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct KMeansConfig {
    /// How many images (= clusters) to keep.
    pub budget: Budget,
    /// Cluster each class on its own (seed 000) rather than the whole set at once.
    #[config(default = true)]
    pub balance: bool,
    /// Upper bound on Lloyd iterations (they stop earlier when no assignment changes).
    #[config(default = 100)]
    pub max_iters: usize,
    /// Seed of the k-means++ seeding.
    #[config(default = 0)]
    pub seed: u64,
}

/// The result of [`kmeans`].
#[derive(Debug, Clone)]
pub struct KMeansFit {
    /// Centroids, `k x dim` row-major.
    pub centroids: Vec<f32>,
    /// Number of clusters.
    pub k: usize,
    /// Vector width.
    pub dim: usize,
    /// Cluster of each point.
    pub assignments: Vec<usize>,
    /// Sum of squared distances of the points to their centroids.
    pub inertia: f64,
    /// Lloyd iterations run.
    pub iterations: usize,
    /// Whether the assignments stopped changing before `max_iters`.
    pub converged: bool,
}

/// The prototypes of one group (a class, or the whole set when not balanced).
#[derive(Debug, Clone)]
pub struct ClassPrototypes {
    /// The class, when clustering per class.
    pub class: Option<usize>,
    /// Positions in the data set of the group's images (the rows clustered, in order).
    pub members: Vec<usize>,
    /// The clustering.
    pub fit: KMeansFit,
    /// Position in the data set of the image kept for each centroid, in centroid order.
    pub chosen: Vec<usize>,
    /// Euclidean distance of each chosen image to its centroid.
    pub distances: Vec<f32>,
}

/// K-Means on `points` (`n x dim` row-major): k-means++ seeding (Arthur & Vassilvitskii 2007)
/// under `seed`, then Lloyd iterations until no assignment changes or `max_iters`. Distances
/// are computed as tensors on `device`. `k` is capped at `n`. Refused with a named error: no
/// point, `dim` 0, a length that is not a multiple of `dim`, `k` 0, and a value that is not
/// finite.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let pts = [0.0, 0.0, 0.0, 1.0, 10.0, 10.0, 10.0, 11.0];
/// let fit = kmeans(&pts, 2, 2, 50, 0, &device())?;
/// assert_eq!(fit.assignments[0], fit.assignments[1]);
/// assert_ne!(fit.assignments[0], fit.assignments[2]);
/// assert!((fit.inertia - 1.0).abs() < 1e-4);
/// assert!(kmeans(&pts, 3, 2, 50, 0, &device()).is_err());
/// assert!(kmeans(&[f32::NAN, 0.0], 2, 1, 50, 0, &device()).is_err());
/// # Ok::<(), Error>(())
/// ```
pub fn kmeans(
    points: &[f32],
    dim: usize,
    k: usize,
    max_iters: usize,
    seed: u64,
    device: &Device,
) -> Result<KMeansFit> {
    const M: &str = "kmeans";
    ensure(dim >= 1, M, "dim", || "must be at least 1".into())?;
    ensure(
        !points.is_empty() && points.len().is_multiple_of(dim),
        M,
        "points",
        || {
            format!(
                "{} values are not a positive number of {dim}-dimensional points",
                points.len()
            )
        },
    )?;
    ensure(k >= 1, M, "k", || "must be at least 1".into())?;
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(Error::config(
            M,
            "points",
            format!(
                "coordinate {} of point {} is {}",
                i % dim,
                i / dim,
                points[i]
            ),
        ));
    }
    let pts = DevicePoints::new(points.to_vec(), dim, device);
    let n = pts.n;
    let k = k.min(n);
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut centroids = plus_plus(&pts, points, k, seed);
    let mut assignments = vec![usize::MAX; n];
    let (mut iterations, mut converged, mut inertia) = (0, false, 0.0);
    for _ in 0..max_iters.max(1) {
        let (assign, dist) = nearest_centroid(&pts, &centroids, k);
        iterations += 1;
        inertia = dist.iter().map(|&d| d as f64).sum();
        if assign == assignments {
            converged = true;
            break;
        }
        assignments = assign;
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignments.iter().enumerate() {
            counts[c] += 1;
            for (s, &v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                *s += v as f64;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..dim {
                    centroids[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
                }
            }
        }
    }
    if !converged {
        // report the inertia and assignments of the final centroids
        let (assign, dist) = nearest_centroid(&pts, &centroids, k);
        inertia = dist.iter().map(|&d| d as f64).sum();
        assignments = assign;
    }
    Ok(KMeansFit {
        centroids,
        k,
        dim,
        assignments,
        inertia,
        iterations,
        converged,
    })
}

/// k-means++ seeding: the first centre uniformly, each next one with probability proportional
/// to its squared distance to the nearest centre chosen so far.
fn plus_plus(pts: &DevicePoints, points: &[f32], k: usize, seed: u64) -> Vec<f32> {
    let (n, dim) = (pts.n, pts.dim);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen = vec![false; n];
    let mut centroids = Vec::with_capacity(k * dim);
    let mut d2 = vec![f32::INFINITY; n];
    for _ in 0..k {
        let total: f64 = d2.iter().filter(|v| v.is_finite()).map(|&v| v as f64).sum();
        let pick = if centroids.is_empty() || total <= 0.0 {
            // first centre, or every point sits on a centre: uniform over the points left
            let left: Vec<usize> = (0..n).filter(|&i| !chosen[i]).collect();
            left[rng.random_range(0..left.len())]
        } else {
            let mut r = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &v) in d2.iter().enumerate() {
                r -= v as f64;
                if r < 0.0 && v > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        chosen[pick] = true;
        let centre = &points[pick * dim..(pick + 1) * dim];
        centroids.extend_from_slice(centre);
        for (d, new) in d2.iter_mut().zip(pts.sq_dists(centre)) {
            *d = d.min(new);
        }
    }
    centroids
}

/// The nearest centroid of every point and the squared distance to it.
fn nearest_centroid(pts: &DevicePoints, centroids: &[f32], k: usize) -> (Vec<usize>, Vec<f32>) {
    let device = pts.x.device();
    let c = Tensor::<2>::from_data(TensorData::new(centroids.to_vec(), [k, pts.dim]), &device);
    let c_sq = c.clone().powi_scalar(2).sum_dim(1).reshape([1, k]);
    let d = pts.sq.clone() - pts.x.clone().matmul(c.transpose()).mul_scalar(2.0) + c_sq;
    let (dist, idx) = d.min_dim_with_indices(1);
    let idx: Vec<usize> = idx.into_data().iter::<i64>().map(|v| v as usize).collect();
    let dist: Vec<f32> = dist
        .into_data()
        .try_into_vec::<f32>()
        .expect("distances are f32")
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    (idx, dist)
}

impl KMeansConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("KMeansConfig")?;
        ensure(self.max_iters > 0, "KMeansConfig", "max_iters", || {
            "must be at least 1".into()
        })
    }

    /// The clusters and kept images of every group, on raw pixels.
    pub fn prototypes<S: Examples>(
        &self,
        data: &S,
        device: &Device,
    ) -> Result<Vec<ClassPrototypes>> {
        self.prototypes_of(&Vectors::flat(data), data, device)
    }

    /// The clusters and kept images of every group, on `model`'s penultimate features.
    pub fn prototypes_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Vec<ClassPrototypes>> {
        self.prototypes_of(&Vectors::features(model, data, device), data, device)
    }

    fn prototypes_of<S: Examples + ?Sized>(
        &self,
        vectors: &Vectors,
        data: &S,
        device: &Device,
    ) -> Result<Vec<ClassPrototypes>> {
        self.check()?;
        check_data("KMeansConfig", data)?;
        let groups = selection_groups(data, self.budget, self.balance);
        let total = groups.len();
        let mut progress = Progress::new("K-Means", total);
        let mut out = Vec::with_capacity(groups.len());
        for (g, (members, take)) in groups.into_iter().enumerate() {
            if take == 0 {
                continue;
            }
            let points = vectors.gather(&members);
            let fit = kmeans(
                &points,
                vectors.dim,
                take,
                self.max_iters,
                group_seed(self.seed, g),
                device,
            )?;
            let (chosen, distances) = nearest_distinct(&points, vectors.dim, &fit, device);
            let chosen: Vec<usize> = chosen.into_iter().map(|i| members[i]).collect();
            progress.tick(1, || {
                format!(
                    "group {}/{total}: {} clusters, {} iterations",
                    g + 1,
                    fit.k,
                    fit.iterations
                )
            });
            out.push(ClassPrototypes {
                class: self.balance.then_some(g),
                members,
                fit,
                chosen,
                distances,
            });
        }
        Ok(out)
    }

    fn select_on<S: Examples + ?Sized>(
        &self,
        vectors: &Vectors,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        let started = Instant::now();
        let groups = self.prototypes_of(vectors, data, device)?;
        let mut core = Coreset::new(
            "K-Means",
            groups.iter().flat_map(|g| g.chosen.clone()).collect(),
        );
        core.scores = Some(groups.iter().flat_map(|g| g.distances.clone()).collect());
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}

/// For each centroid in order, the nearest point not yet taken, and its distance.
fn nearest_distinct(
    points: &[f32],
    dim: usize,
    fit: &KMeansFit,
    device: &Device,
) -> (Vec<usize>, Vec<f32>) {
    let pts = DevicePoints::new(points.to_vec(), dim, device);
    let d = pts.sq_dists(&fit.centroids);
    let mut taken = vec![false; pts.n];
    let mut chosen = Vec::with_capacity(fit.k);
    let mut dist = Vec::with_capacity(fit.k);
    for c in 0..fit.k {
        let best = (0..pts.n)
            .filter(|&i| !taken[i])
            .min_by(|&a, &b| d[a * fit.k + c].total_cmp(&d[b * fit.k + c]))
            .expect("k <= n leaves a point for every centroid");
        taken[best] = true;
        chosen.push(best);
        dist.push(d[best * fit.k + c].sqrt());
    }
    (chosen, dist)
}

impl<S: Examples> Selector<S> for KMeansConfig {
    fn name(&self) -> &'static str {
        "K-Means"
    }

    /// K-Means on raw pixels.
    fn select(&self, data: &S, device: &Device) -> Result<Coreset> {
        self.select_on(&Vectors::flat(data), data, device)
    }
}

impl SelectWithModel for KMeansConfig {
    /// K-Means on `model`'s penultimate features (seed 000).
    fn select_with<M: Classifier, S: Examples<Input = M::Input>>(
        &self,
        model: &M,
        data: &S,
        device: &Device,
    ) -> Result<Coreset> {
        self.select_on(&Vectors::features(model, data, device), data, device)
    }
}
