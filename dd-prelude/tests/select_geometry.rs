//! The geometric selectors on real Fashion-MNIST images: K-Means keeps the real images nearest
//! its centroids, K-Center's covering radius never grows with k, herding's running mean
//! approaches the class mean.

use dd_prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

fn pool(n: usize) -> ImageSet {
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    fm.train.subset(&fm.train.stratified(n, 9))
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[test]
fn kmeans_keeps_the_real_images_nearest_its_centroids() {
    let data = pool(200);
    let dev = device();
    let cfg = KMeansConfig::new(Budget::PerClass(4)).with_seed(5);
    let groups = cfg.prototypes(&data, &dev).unwrap();
    assert_eq!(groups.len(), 10);
    let dim = 28 * 28;
    for g in &groups {
        let class = g.class.unwrap();
        assert!(g.members.iter().all(|&i| data.labels()[i] == class));
        assert_eq!(g.fit.k, 4);
        let centroid = |c: usize| &g.fit.centroids[c * dim..(c + 1) * dim];
        let mut taken = Vec::new();
        for (c, (&chosen, &dist)) in g.chosen.iter().zip(&g.distances).enumerate() {
            assert_eq!(data.labels()[chosen], class, "a real image of the class");
            let best = g
                .members
                .iter()
                .filter(|i| !taken.contains(*i))
                .map(|&i| sq_dist(data.image(i), centroid(c)))
                .fold(f32::INFINITY, f32::min);
            let got = sq_dist(data.image(chosen), centroid(c));
            assert!(
                got <= best * (1.0 + 1e-4) + 1e-3,
                "centroid {c}: kept {got}, nearest {best}"
            );
            assert!((dist * dist - got).abs() <= 1e-2 * got.max(1.0));
            taken.push(chosen);
        }
        // Lloyd's fixed point: every point is assigned to its nearest centroid
        if g.fit.converged {
            for (row, &i) in g.members.iter().enumerate() {
                let own = sq_dist(data.image(i), centroid(g.fit.assignments[row]));
                let best = (0..4)
                    .map(|c| sq_dist(data.image(i), centroid(c)))
                    .fold(f32::INFINITY, f32::min);
                assert!(own <= best * (1.0 + 1e-4) + 1e-3);
            }
        }
    }
    let core = cfg.select(&data, &dev).unwrap();
    let chosen: Vec<usize> = groups.iter().flat_map(|g| g.chosen.clone()).collect();
    assert_eq!(core.indices, chosen);
}

#[test]
fn kmeans_lowers_the_inertia_of_its_seeding() {
    let data = pool(300);
    let dev = device();
    let points: Vec<f32> = data.images().to_vec();
    let one_step = kmeans(&points, 784, 10, 1, 3, &dev).unwrap();
    let converged = kmeans(&points, 784, 10, 100, 3, &dev).unwrap();
    assert!(
        converged.inertia <= one_step.inertia + 1e-3,
        "{} vs {}",
        converged.inertia,
        one_step.inertia
    );
    assert!(converged.iterations > 1);
}

#[test]
fn kcenter_covering_radius_never_grows_with_k() {
    let data = pool(300);
    let dev = device();
    let class = 3;
    let members = data.class_indices(class);
    let points: Vec<f32> = members
        .iter()
        .flat_map(|&i| data.image(i).to_vec())
        .collect();
    let mut previous: Option<(Vec<usize>, f32)> = None;
    for k in 1..=12 {
        let core = KCenterConfig::new(Budget::PerClass(k))
            .with_seed(2)
            .select(&data, &dev)
            .unwrap();
        let picked: Vec<usize> = core
            .indices
            .iter()
            .copied()
            .filter(|&i| data.labels()[i] == class)
            .collect();
        assert_eq!(picked.len(), k);
        let rows: Vec<usize> = picked
            .iter()
            .map(|i| members.iter().position(|m| m == i).unwrap())
            .collect();
        let radius = covering_radius(&points, 784, &rows);
        if let Some((prev_picked, prev_radius)) = &previous {
            assert_eq!(
                &picked[..k - 1],
                &prev_picked[..],
                "greedy picks are nested"
            );
            assert!(
                radius <= *prev_radius + 1e-4,
                "k={k}: {radius} > {prev_radius}"
            );
        }
        // the score of the k-th pick is the covering radius of the first k-1 picks
        if k > 1 {
            let scores = core.scores.as_ref().unwrap();
            let pos = core
                .indices
                .iter()
                .position(|&i| i == picked[k - 1])
                .unwrap();
            let before = covering_radius(&points, 784, &rows[..k - 1]);
            assert!(
                (scores[pos] - before).abs() <= 1e-2 * before,
                "{} vs {before}",
                scores[pos]
            );
        }
        previous = Some((picked, radius));
    }
}

#[test]
fn herding_running_mean_approaches_the_class_mean() {
    let data = pool(400);
    let dev = device();
    let class = 7;
    let n = data.class_indices(class).len();
    let core = HerdingConfig::new(Budget::PerClass(n))
        .select(&data, &dev)
        .unwrap();
    let scores = core.scores.unwrap();
    let gaps: Vec<f32> = core
        .indices
        .iter()
        .zip(&scores)
        .filter(|(i, _)| data.labels()[**i] == class)
        .map(|(_, &g)| g)
        .collect();
    assert_eq!(gaps.len(), n);
    assert!(
        gaps[n - 1] < 1e-3,
        "all images: the mean itself, gap {}",
        gaps[n - 1]
    );
    assert!(
        gaps[9] < 0.5 * gaps[0],
        "gap after 10: {} vs first {}",
        gaps[9],
        gaps[0]
    );
    // better than random subsets of the same size
    let members = data.class_indices(class);
    let dim = 784;
    let mean: Vec<f64> = (0..dim)
        .map(|j| {
            members
                .iter()
                .map(|&i| data.image(i)[j] as f64)
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(0);
    for k in [5, 10, 20] {
        let mut random_gap = 0.0;
        for _ in 0..10 {
            let mut idx = members.clone();
            idx.shuffle(&mut rng);
            let gap: f64 = (0..dim)
                .map(|j| {
                    let m = idx[..k]
                        .iter()
                        .map(|&i| data.image(i)[j] as f64)
                        .sum::<f64>()
                        / k as f64;
                    (m - mean[j]).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            random_gap += gap / 10.0;
        }
        assert!(
            (gaps[k - 1] as f64) < random_gap,
            "k={k}: herding {} vs random {random_gap}",
            gaps[k - 1]
        );
    }
}
