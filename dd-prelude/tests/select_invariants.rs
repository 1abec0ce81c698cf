//! Invariants every selector keeps on a small real subset of Fashion-MNIST: the budget is met,
//! indices are unique and in range, classes are balanced on request, the same seed gives the
//! same coreset.

use std::collections::HashSet;

use dd_prelude::*;

/// The device's random generator is process-wide and tests run on parallel threads: selectors
/// that train networks seed it, so each test holds this lock to keep its draws its own.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn pool() -> ImageSet {
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    fm.train.subset(&fm.train.stratified(300, 5))
}

fn tiny() -> Arch {
    "ConvNetW8D2".parse().unwrap()
}

fn quick_fit() -> FitConfig {
    FitConfig::new()
        .with_epochs(2)
        .with_batch_size(50)
        .with_progress(false)
}

/// Every selector under `budget`, balanced or not, with `seed`.
fn all_selectors(
    budget: Budget,
    balance: bool,
    seed: u64,
    model: &ConvNet,
) -> Vec<Box<dyn Selector>> {
    vec![
        Box::new(
            RandomConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed),
        ),
        Box::new(
            KMeansConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed),
        ),
        Box::new(
            KMeansConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_model(model),
        ),
        Box::new(
            HerdingConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed),
        ),
        Box::new(
            HerdingConfig::new(budget)
                .with_balance(balance)
                .with_model(model),
        ),
        Box::new(
            KCenterConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed),
        ),
        Box::new(
            KCenterConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_model(model),
        ),
        Box::new(
            ForgettingConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_arch(tiny())
                .with_fit(quick_fit()),
        ),
        Box::new(
            LossBasedConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_model(model),
        ),
        Box::new(
            LossBasedConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_arch(tiny())
                .with_fit(quick_fit().with_epochs(1)),
        ),
        Box::new(
            GraNdConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_repeats(2)
                .with_arch(tiny())
                .with_fit(quick_fit().with_epochs(1)),
        ),
        Box::new(
            El2nConfig::new(budget)
                .with_balance(balance)
                .with_seed(seed)
                .with_model(model),
        ),
    ]
}

fn check_indices(core: &Coreset, data: &ImageSet, expected_len: usize, who: &str) {
    assert_eq!(core.len(), expected_len, "{who}: budget");
    assert!(
        core.indices.iter().all(|&i| i < data.len()),
        "{who}: in range"
    );
    let unique: HashSet<usize> = core.indices.iter().copied().collect();
    assert_eq!(unique.len(), core.len(), "{who}: unique");
    if let Some(scores) = &core.scores {
        assert_eq!(scores.len(), core.len(), "{who}: one score per kept image");
    }
}

#[test]
fn balanced_budgets_are_met_exactly_per_class_and_reproducible() {
    let _serial = serial();
    let data = pool();
    let dev = device();
    dev.seed(0);
    let model = ConvNetConfig::for_set(&data)
        .with_width(8)
        .with_depth(2)
        .init(&dev);
    let first = all_selectors(Budget::PerClass(4), true, 11, &model);
    let second = all_selectors(Budget::PerClass(4), true, 11, &model);
    for (a, b) in first.iter().zip(&second) {
        let core = a.select(&data, &dev).unwrap();
        check_indices(&core, &data, 40, a.name());
        assert_eq!(
            core.counts_per_class(&data),
            vec![4; 10],
            "{}: balance",
            a.name()
        );
        let again = b.select(&data, &dev).unwrap();
        assert_eq!(
            core.indices,
            again.indices,
            "{}: same seed, same coreset",
            a.name()
        );
        assert_eq!(core.subset(&data).len(), 40);
    }
}

#[test]
fn unbalanced_and_fractional_budgets_are_met() {
    let _serial = serial();
    let data = pool();
    let dev = device();
    dev.seed(0);
    let model = ConvNetConfig::for_set(&data)
        .with_width(8)
        .with_depth(2)
        .init(&dev);
    for s in all_selectors(Budget::Total(37), false, 3, &model) {
        let core = s.select(&data, &dev).unwrap();
        check_indices(&core, &data, 37, s.name());
    }
    // 5% of 30 images per class is 1.5, rounded per class as DeepCore does: 2 each
    for s in all_selectors(Budget::Fraction(0.05), true, 3, &model) {
        let core = s.select(&data, &dev).unwrap();
        check_indices(&core, &data, 20, s.name());
        assert_eq!(core.counts_per_class(&data), vec![2; 10], "{}", s.name());
    }
}

#[test]
fn different_seeds_change_the_random_draws() {
    let _serial = serial();
    let data = pool();
    let dev = device();
    let a = RandomConfig::new(Budget::PerClass(5))
        .with_seed(1)
        .select(&data, &dev)
        .unwrap();
    let b = RandomConfig::new(Budget::PerClass(5))
        .with_seed(2)
        .select(&data, &dev)
        .unwrap();
    assert_ne!(a.indices, b.indices);
    let a = KCenterConfig::new(Budget::PerClass(5))
        .with_seed(1)
        .select(&data, &dev)
        .unwrap();
    let b = KCenterConfig::new(Budget::PerClass(5))
        .with_seed(2)
        .select(&data, &dev)
        .unwrap();
    assert_ne!(a.indices, b.indices);
}

#[test]
fn score_rankings_keep_the_right_end() {
    let _serial = serial();
    let data = pool();
    let dev = device();
    dev.seed(4);
    let model = ConvNetConfig::for_set(&data)
        .with_width(8)
        .with_depth(2)
        .init(&dev);
    let losses = per_sample_loss(&model, &data, &dev);
    let hardest = LossBasedConfig::new(Budget::Total(30))
        .with_model(&model)
        .select(&data, &dev)
        .unwrap();
    let easiest = LossBasedConfig::new(Budget::Total(30))
        .with_keep(Keep::Lowest)
        .with_model(&model)
        .select(&data, &dev)
        .unwrap();
    let kept_min = hardest
        .indices
        .iter()
        .map(|&i| losses[i])
        .fold(f32::INFINITY, f32::min);
    let left_max = (0..data.len())
        .filter(|i| !hardest.indices.contains(i))
        .map(|i| losses[i])
        .fold(f32::NEG_INFINITY, f32::max);
    assert!(kept_min >= left_max, "Algorithm 1 keeps the highest losses");
    let easy_max = easiest
        .indices
        .iter()
        .map(|&i| losses[i])
        .fold(f32::NEG_INFINITY, f32::max);
    assert!(easy_max <= kept_min);
    // EL2N and GraNd scores of one model: GraNd = EL2N * sqrt(1 + |h|^2) >= EL2N
    let e = el2n_scores(&model, &data, &dev);
    let g = grand_scores(&model, &data, &dev);
    assert!(
        e.iter()
            .zip(&g)
            .all(|(e, g)| g >= e && *e <= 2f32.sqrt() + 1e-5)
    );
}

#[test]
fn invalid_configs_are_refused() {
    let _serial = serial();
    let data = pool();
    let dev = device();
    let cases: Vec<(Box<dyn Selector>, &str)> = vec![
        (Box::new(RandomConfig::new(Budget::PerClass(0))), "budget"),
        (Box::new(KMeansConfig::new(Budget::Fraction(1.5))), "budget"),
        (
            Box::new(KMeansConfig::new(Budget::PerClass(2)).with_max_iters(0)),
            "max_iters",
        ),
        (Box::new(HerdingConfig::new(Budget::Total(0))), "budget"),
        (
            Box::new(KCenterConfig::new(Budget::Fraction(0.0))),
            "budget",
        ),
        (
            Box::new(
                ForgettingConfig::new(Budget::PerClass(1))
                    .with_fit(FitConfig::new().with_epochs(0)),
            ),
            "epochs",
        ),
        (
            Box::new(GraNdConfig::new(Budget::PerClass(1)).with_repeats(0)),
            "repeats",
        ),
        (
            Box::new(El2nConfig::new(Budget::PerClass(1)).with_repeats(0)),
            "repeats",
        ),
        (
            Box::new(
                LossBasedConfig::new(Budget::PerClass(1)).with_fit(FitConfig::new().with_lr(0.0)),
            ),
            "lr",
        ),
    ];
    for (s, field) in cases {
        let err = s.select(&data, &dev).unwrap_err().to_string();
        assert!(err.contains(field), "{}: {err}", s.name());
    }
    let empty = data.subset(&[]);
    let err = RandomConfig::new(Budget::PerClass(1))
        .select(&empty, &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no image"), "{err}");
}
