//! The one data contract: the same `fit`, evaluation protocol, `accuracy` and selectors take
//! soft-labelled sets and sets whose inputs are not images.

use std::sync::Mutex;

use dd_prelude::*;

/// The flex device's generator is process-wide and tests run on parallel threads: each test
/// that seeds it holds this lock, so its draws are its own.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// 40 images of two classes: dark (class 0) and light (class 1) 4x4 squares with noise.
fn two_tone() -> ImageSet {
    let n = 40;
    let mut px = Vec::with_capacity(n * 16);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 2;
        for j in 0..16 {
            let noise = (((i * 31 + j * 17) % 11) as f32 - 5.0) / 50.0;
            px.push(if class == 0 { 0.2 } else { 0.8 } + noise);
        }
        labels.push(class);
    }
    ImageSet::from_pixels(
        "two-tone",
        [1, 4, 4],
        px,
        labels,
        vec!["dark".into(), "light".into()],
    )
    .unwrap()
}

fn small_net(data: &ImageSet, dev: &burn::tensor::Device) -> ConvNet {
    ConvNetConfig::for_set(data)
        .with_width(4)
        .with_depth(1)
        .init(dev)
}

fn cfg(epochs: usize) -> FitConfig {
    FitConfig::new()
        .with_epochs(epochs)
        .with_batch_size(8)
        .with_lr(0.05)
        .with_schedule(Schedule::Constant)
        .with_weight_decay(0.0)
        .with_progress(false)
}

/// Mean softmax probability of class 1 over the examples of `class`.
fn mean_prob_light(
    model: &ConvNet,
    data: &ImageSet,
    class: usize,
    dev: &burn::tensor::Device,
) -> f64 {
    let logits = logits(model, data, dev);
    let mut sum = 0.0;
    let mut n = 0;
    for (row, &l) in logits.chunks(2).zip(data.labels()) {
        if l == class {
            let (a, b) = (row[0] as f64, row[1] as f64);
            sum += 1.0 / (1.0 + (a - b).exp());
            n += 1;
        }
    }
    sum / n as f64
}

#[test]
fn fit_trains_towards_soft_targets() {
    let _g = serial();
    let dev = device();
    let data = two_tone();
    // Each dark image is 70 % dark, 30 % light; each light image 20 % dark, 80 % light.
    let soft: Vec<f32> = data
        .labels()
        .iter()
        .flat_map(|&l| if l == 0 { [0.7, 0.3] } else { [0.2, 0.8] })
        .collect();
    let soft_set = SoftLabelled::new(data.clone(), soft).unwrap();
    dev.seed(3);
    let trained = fit(small_net(&data, &dev), &soft_set, &cfg(60), &dev).unwrap();
    // Cross-entropy against a fixed distribution is minimised by predicting that distribution.
    let p_dark = mean_prob_light(&trained.model, &data, 0, &dev);
    let p_light = mean_prob_light(&trained.model, &data, 1, &dev);
    assert!(
        (p_dark - 0.3).abs() < 0.08,
        "P(light | dark image) = {p_dark}, target 0.3"
    );
    assert!(
        (p_light - 0.8).abs() < 0.08,
        "P(light | light image) = {p_light}, target 0.8"
    );
    // Hard labels on the same data drive the probabilities to the extremes instead.
    dev.seed(3);
    let hard = fit(small_net(&data, &dev), &data, &cfg(60), &dev).unwrap();
    assert!(mean_prob_light(&hard.model, &data, 1, &dev) > 0.95);
    // The soft loss is bounded below by the targets' entropy (about 0.56 nats here).
    let entropy = -(0.5 * (0.7f64 * 0.7f64.ln() + 0.3 * 0.3f64.ln())
        + 0.5 * (0.2f64 * 0.2f64.ln() + 0.8 * 0.8f64.ln()));
    let last = trained.history.last().unwrap().loss;
    assert!(
        last >= entropy - 1e-3 && last < entropy + 0.05,
        "loss {last}, entropy {entropy}"
    );
    // Accuracy reads the soft set's hard labels (the most probable class).
    assert_eq!(soft_set.labels(), data.labels());
    assert_eq!(accuracy(&trained.model, &soft_set, &dev), 1.0);
}

#[test]
fn one_hot_soft_targets_train_like_hard_labels() {
    let _g = serial();
    let dev = device();
    let data = two_tone();
    let one_hot: Vec<f32> = data
        .labels()
        .iter()
        .flat_map(|&l| if l == 0 { [1.0, 0.0] } else { [0.0, 1.0] })
        .collect();
    let soft = SoftLabelled::new(data.clone(), one_hot).unwrap();
    dev.seed(5);
    let a = fit(small_net(&data, &dev), &data, &cfg(3), &dev).unwrap();
    dev.seed(5);
    let b = fit(small_net(&data, &dev), &soft, &cfg(3), &dev).unwrap();
    for (x, y) in a.history.steps().iter().zip(b.history.steps()) {
        assert!(
            (x.1 - y.1).abs() < 1e-5 * x.1.abs().max(1.0),
            "{x:?} vs {y:?}"
        );
    }
}

#[test]
fn soft_targets_are_checked() {
    let _g = serial();
    let data = two_tone();
    let err = SoftLabelled::new(data.clone(), vec![0.5; 10]).unwrap_err();
    assert!(err.to_string().contains("80 values"), "{err}");
    let mut bad = vec![0.5f32; 80];
    bad[6] = 0.9;
    let err = SoftLabelled::new(data.clone(), bad).unwrap_err();
    assert!(err.to_string().contains("row 3"), "{err}");
    let mut nan = vec![0.5f32; 80];
    nan[0] = f32::NAN;
    assert!(SoftLabelled::new(data, nan).is_err());
}

/// Sentences of two classes over a six-word vocabulary, embedded with hand-made vectors:
/// class 1 sentences hold "good" or "great", class 0 "bad" or "awful".
fn sentences() -> (EmbeddedSentences, WordVectors) {
    let words = ["good", "great", "bad", "awful", "film", "plot"];
    let dims = 4;
    let mut vectors = Vec::new();
    for (i, _) in words.iter().enumerate() {
        for d in 0..dims {
            vectors.push(match (i, d) {
                (0 | 1, 0) => 1.0,
                (2 | 3, 1) => 1.0,
                (_, 2) => (i as f32) / 6.0,
                _ => 0.1,
            });
        }
    }
    let wv = WordVectors::new(
        "toy",
        dims,
        words.iter().map(|w| w.to_string()).collect(),
        vectors,
    )
    .unwrap();
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for i in 0..48 {
        let class = i % 2;
        let sentiment = if class == 1 {
            ["good", "great"][i % 4 / 2]
        } else {
            ["bad", "awful"][i % 4 / 2]
        };
        let filler = ["film", "plot"][(i / 4) % 2];
        let text = match (i / 8) % 3 {
            0 => format!("{sentiment} {filler}"),
            1 => format!("the {filler} was {sentiment}"),
            _ => format!("{filler} {filler} {sentiment} !"),
        };
        texts.push(text);
        labels.push(class);
    }
    let set = SentenceSet::new(
        "toy reviews",
        texts,
        labels,
        vec!["neg".into(), "pos".into()],
    )
    .unwrap();
    (wv.embed_set(&set, 6), wv)
}

#[test]
fn fit_trains_a_text_model_on_embedded_sentences() {
    let _g = serial();
    let dev = device();
    let (emb, _) = sentences();
    assert_eq!(emb.example_shape(), vec![6, 4]);
    dev.seed(7);
    let net = TextConvNetConfig::for_set(&emb)
        .unwrap()
        .with_kernels(vec![1, 2])
        .with_filters(6)
        .init(&dev);
    let before = accuracy(&net, &emb, &dev);
    let trained = fit(net, &emb, &cfg(30), &dev).unwrap();
    let h = trained.history.records();
    assert!(
        h.last().unwrap().loss < 0.5 * h[0].loss,
        "loss {} -> {}",
        h[0].loss,
        h.last().unwrap().loss
    );
    let after = accuracy(&trained.model, &emb, &dev);
    assert!(
        after > 0.95 && after > before,
        "accuracy {before} -> {after}"
    );
    // The evaluation protocol takes the same set and model.
    let preset = EvalPreset::smoke()
        .with_epochs(30)
        .with_batch_size(8)
        .with_lr(0.05)
        .with_progress(false);
    let report = evaluate_model(
        |d| {
            TextConvNetConfig::for_set(&emb)
                .unwrap()
                .with_kernels(vec![1, 2])
                .with_filters(6)
                .init(d)
        },
        &emb,
        &emb,
        &preset,
        &dev,
    )
    .unwrap();
    assert_eq!(report.arch, "TextConvNet");
    assert!(report.mean > 0.9, "protocol mean {}", report.mean);
}

#[test]
fn augmentation_is_refused_by_name_for_sentences() {
    let _g = serial();
    let dev = device();
    let (emb, _) = sentences();
    let net = TextConvNetConfig::for_set(&emb)
        .unwrap()
        .with_filters(2)
        .init(&dev);
    let err = fit(
        net,
        &emb,
        &cfg(1).with_augment(Augment::CropFlip { pad: 1 }),
        &dev,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("augment") && msg.contains("toy reviews"),
        "{msg}"
    );
    let err = TextConvNetConfig::for_set(&two_tone()).unwrap_err();
    assert!(err.to_string().contains("[length, dims]"), "{err}");
}

#[test]
fn selectors_take_sets_that_are_not_images() {
    let _g = serial();
    let dev = device();
    let (emb, _) = sentences();
    let budget = Budget::PerClass(3);
    let random = RandomConfig::new(budget)
        .with_seed(1)
        .select(&emb, &dev)
        .unwrap();
    let herding = HerdingConfig::new(budget).select(&emb, &dev).unwrap();
    let kcenter = KCenterConfig::new(budget).select(&emb, &dev).unwrap();
    let kmeans = KMeansConfig::new(budget)
        .with_seed(0)
        .select(&emb, &dev)
        .unwrap();
    for core in [&random, &herding, &kcenter, &kmeans] {
        assert_eq!(core.counts_per_class(&emb), vec![3, 3], "{}", core.method);
        let mut idx = core.indices.clone();
        idx.sort();
        idx.dedup();
        assert_eq!(idx.len(), 6, "{}: unique indices", core.method);
        let sub = core.subset(&emb);
        assert_eq!(sub.len(), 6);
        assert!(sub.name().contains(&core.method));
    }
    // With a model: K-Center in the text network's feature space.
    let net = TextConvNetConfig::for_set(&emb)
        .unwrap()
        .with_filters(3)
        .init(&dev);
    let with_model = KCenterConfig::new(budget)
        .with_model(&net)
        .select(&emb, &dev)
        .unwrap();
    assert_eq!(with_model.counts_per_class(&emb), vec![3, 3]);
    // Soft-labelled sets are selected from by their hard labels.
    let data = two_tone();
    let soft = SoftLabelled::new(
        data.clone(),
        data.labels()
            .iter()
            .flat_map(|&l| if l == 0 { [0.6, 0.4] } else { [0.1, 0.9] })
            .collect(),
    )
    .unwrap();
    let core = HerdingConfig::new(budget).select(&soft, &dev).unwrap();
    let sub = core.subset(&soft);
    assert_eq!(sub.counts_per_class(), vec![3, 3]);
    assert_eq!(sub.soft_targets().unwrap().len(), 12);
}

/// 24 image-caption pairs: 4x4 images of 6 patterns (a bright row, 4 noisy copies each) and
/// caption embeddings that name the pattern (a one-hot of 6, plus noise).
fn pattern_pairs() -> EmbeddedPairs {
    let n = 24;
    let mut px = Vec::with_capacity(n * 16);
    let mut text = Vec::with_capacity(n * 6);
    for i in 0..n {
        let p = i % 6;
        for j in 0..16 {
            let noise = (((i * 37 + j * 11) % 13) as f32 - 6.0) / 60.0;
            let on = if p < 4 { j / 4 == p } else { j % 4 == p - 4 };
            px.push(if on { 0.9 } else { 0.1 } + noise);
        }
        for k in 0..6 {
            let noise = (((i * 7 + k * 3) % 5) as f32 - 2.0) / 20.0;
            text.push(if k == p { 1.0 } else { 0.0 } + noise);
        }
    }
    let captions = (0..n).map(|i| vec![format!("pattern {}", i % 6)]).collect();
    let ids = (0..n).map(|i| format!("{i}.png")).collect();
    let pairs = PairSet::from_pixels("patterns", [1, 4, 4], px, captions, ids).unwrap();
    EmbeddedPairs::new(pairs, text, 6).unwrap()
}

/// Fraction of images whose best-scoring caption in the whole set names their pattern.
fn retrieval_top1(model: &DualEncoder, set: &EmbeddedPairs, dev: &burn::tensor::Device) -> f64 {
    let all: Vec<usize> = (0..set.len()).collect();
    let logits = model.forward(set.inputs(&all, dev));
    let rows: Vec<f32> = logits.into_data().convert::<f32>().try_to_vec().unwrap();
    let n = set.len();
    let hits = (0..n)
        .filter(|&i| {
            let row = &rows[i * n..(i + 1) * n];
            let best = (0..n).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best % 6 == i % 6
        })
        .count();
    hits as f64 / n as f64
}

#[test]
fn fit_trains_a_dual_encoder_on_image_caption_pairs() {
    let _g = serial();
    let dev = device();
    let set = pattern_pairs();
    assert_eq!(set.example_shape(), vec![1, 4, 4, 6]);
    dev.seed(9);
    let cfg = DualEncoderConfig::new(
        ConvNetConfig::new(1, 1, [4, 4]).with_width(8).with_depth(1),
        6,
    )
    .with_embed_dim(8);
    let net = cfg.init(&dev);
    let before = retrieval_top1(&net, &set, &dev);
    let fit_cfg = FitConfig::new()
        .with_epochs(40)
        .with_batch_size(6)
        .with_lr(0.05)
        .with_schedule(Schedule::Constant)
        .with_weight_decay(0.0)
        .with_progress(false);
    let trained = fit_with(net, &set, &fit_cfg, &mut SymmetricContrastive, &dev).unwrap();
    let h = trained.history.records();
    assert!(
        h.last().unwrap().loss < 0.6 * h[0].loss,
        "contrastive loss {} -> {}",
        h[0].loss,
        h.last().unwrap().loss
    );
    let after = retrieval_top1(&trained.model, &set, &dev);
    assert!(
        after >= 0.9 && after > before,
        "image-to-caption top-1 {before} -> {after}"
    );
    // Selection takes pairs too (one group: pairs have no classes).
    let core = RandomConfig::new(Budget::Total(5))
        .select(&set, &dev)
        .unwrap();
    assert_eq!(core.subset(&set).len(), 5);
    assert!(EmbeddedPairs::new(set.pairs().clone(), vec![0.0; 5], 6).is_err());
}
