//! Forgetting events: counts against hand-worked sequences, through the training hook, and the
//! selector's ranking.

use burn::tensor::{Int, Tensor};
use dd_prelude::*;

#[test]
fn counts_match_hand_worked_sequences() {
    // correct = true; an event is a correct -> wrong transition
    assert_eq!(
        count_forgetting(&[false, true, true, false, true, false, false]),
        Some(2)
    );
    assert_eq!(
        count_forgetting(&[true, false, true, false, true, false]),
        Some(3)
    );
    assert_eq!(count_forgetting(&[true, true, true]), Some(0));
    assert_eq!(count_forgetting(&[false, false, true]), Some(0));
    assert_eq!(count_forgetting(&[false, false, false]), None);
    assert_eq!(count_forgetting(&[]), None);
}

#[test]
fn the_hook_counts_what_the_logits_say() {
    let dev = device();
    // three images seen over five epochs; image k's predicted class per epoch, label 1 for all
    let predicted = [[1, 0, 1], [0, 0, 1], [1, 0, 1], [1, 0, 0], [0, 0, 1]];
    let mut tracker = ForgettingTracker::new(3);
    let images = Tensor::<4>::zeros([3, 1, 1, 1], &dev);
    for epoch in predicted {
        let logits: Vec<f32> = epoch
            .iter()
            .flat_map(|&p| if p == 1 { [0.0, 5.0] } else { [5.0, 0.0] })
            .collect();
        let logits = Tensor::<2>::from_data(burn::tensor::TensorData::new(logits, [3, 2]), &dev);
        let labels = Tensor::<1, Int>::from_ints([1, 1, 1], &dev);
        // the batch comes in a shuffled order, as in training
        let order = [2, 0, 1];
        let logits = logits.select(0, Tensor::<1, Int>::from_ints(order, &dev));
        let loss = Hook::<ConvNet>::loss(
            &mut tracker,
            logits,
            &Targets::Hard(labels),
            &images,
            &order,
        );
        assert!(loss.into_scalar::<f32>().is_finite());
    }
    // image 0: T F T T F -> 2 events; image 1: never right; image 2: T T T F T -> 1 event
    assert_eq!(tracker.events(), &[2, 0, 1]);
    let scores = tracker.scores();
    assert_eq!(scores[0], 2.0);
    assert!(scores[1].is_infinite());
    assert_eq!(scores[2], 1.0);
    for k in 0..3 {
        let seq: Vec<bool> = predicted.iter().map(|e| e[k] == 1).collect();
        assert_eq!(
            count_forgetting(&seq)
                .map(|c| c as f32)
                .unwrap_or(f32::INFINITY),
            scores[k]
        );
    }
}

#[test]
fn the_selector_keeps_the_most_forgotten_per_class() {
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    let data = fm.train.subset(&fm.train.stratified(300, 2));
    let dev = device();
    let cfg = ForgettingConfig::new(Budget::PerClass(3))
        .with_arch("ConvNetW8D2".parse().unwrap())
        .with_fit(
            FitConfig::new()
                .with_epochs(4)
                .with_batch_size(30)
                .with_lr(0.05)
                .with_progress(false),
        )
        .with_seed(1);
    let most = cfg.select(&data, &dev).unwrap();
    let least = cfg
        .clone()
        .with_keep(Keep::Lowest)
        .select(&data, &dev)
        .unwrap();
    let (ms, ls) = (most.scores.clone().unwrap(), least.scores.clone().unwrap());
    for c in 0..10 {
        let m: Vec<f32> = (0..most.len())
            .filter(|&k| data.labels()[most.indices[k]] == c)
            .map(|k| ms[k])
            .collect();
        let l: Vec<f32> = (0..least.len())
            .filter(|&k| data.labels()[least.indices[k]] == c)
            .map(|k| ls[k])
            .collect();
        assert!(
            m.windows(2).all(|w| w[0] >= w[1]),
            "descending within class {c}: {m:?}"
        );
        assert!(
            l.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                <= m.iter().cloned().fold(f32::INFINITY, f32::min)
        );
    }
    assert!(
        ms.iter().any(|&s| s > 0.0),
        "some image was forgotten in 4 epochs: {ms:?}"
    );
}
