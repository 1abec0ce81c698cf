//! The distillation loss against hand computations, its gradient against the closed form, and
//! the hook in the training loop.

use burn::tensor::{Int, Tensor};
use dd_prelude::*;

const LN2: f32 = std::f32::consts::LN_2;

#[test]
fn loss_matches_a_hand_computation_at_t_1() {
    let dev = device();
    // student softmax [1/4, 1/2, 1/4], teacher softmax [1/2, 1/4, 1/4], label 1
    let s = Tensor::<2>::from_floats([[0.0, LN2, 0.0]], &dev);
    let t = Tensor::<2>::from_floats([[LN2, 0.0, 0.0]], &dev);
    let y = Tensor::<1, Int>::from_ints([1], &dev);
    let cfg = KdConfig::new().with_temperature(1.0).with_alpha(0.1);
    // CE = ln 2; KL(pt || ps) = 1/2 ln(2) + 1/4 ln(1/2) + 0 = ln2 / 4
    let expected = 0.1 * LN2 + 0.9 * LN2 / 4.0;
    let got: f32 = kd_loss(s, t, y, &cfg).into_scalar();
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
}

#[test]
fn loss_matches_a_hand_computation_at_t_2_over_a_batch() {
    let dev = device();
    // sample 0: s/2 and t/2 give the distributions above; CE uses the raw logits:
    // softmax([0, 2 ln2, 0]) = [1/6, 4/6, 1/6] -> CE(label 1) = ln(3/2)
    // sample 1: student equals teacher -> KL 0; CE(label 0) of [0,0,0] = ln 3
    let s = Tensor::<2>::from_floats([[0.0, 2.0 * LN2, 0.0], [0.0, 0.0, 0.0]], &dev);
    let t = Tensor::<2>::from_floats([[2.0 * LN2, 0.0, 0.0], [0.0, 0.0, 0.0]], &dev);
    let y = Tensor::<1, Int>::from_ints([1, 0], &dev);
    let cfg = KdConfig::new().with_temperature(2.0).with_alpha(0.1);
    let ce = (1.5f32.ln() + 3f32.ln()) / 2.0;
    let kl = (LN2 / 4.0 + 0.0) / 2.0;
    let expected = 0.1 * ce + 0.9 * 4.0 * kl;
    let got: f32 = kd_loss(s, t, y, &cfg).into_scalar();
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn gradient_matches_the_closed_form() {
    // dL/ds_i = [a (softmax(s) - y) + (1 - a) T (softmax(s/T) - softmax(t/T))] / n
    let dev = device().autodiff();
    let (a, temp) = (0.3f32, 3.0f32);
    let s_vals = [[0.5f32, -1.0, 2.0], [1.0, 0.0, -0.5]];
    let t_vals = [[2.0f32, 0.5, -1.0], [0.0, 1.5, 0.5]];
    let labels = [2usize, 0];
    let s = Tensor::<2>::from_floats(s_vals, &dev).require_grad();
    let t = Tensor::<2>::from_floats(t_vals, &dev);
    let y = Tensor::<1, Int>::from_ints([2, 0], &dev);
    let cfg = KdConfig::new()
        .with_temperature(temp as f64)
        .with_alpha(a as f64);
    let grads = kd_loss(s.clone(), t, y, &cfg).backward();
    let g: Vec<f32> = s.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    let softmax = |v: &[f32], temp: f32| {
        let e: Vec<f32> = v.iter().map(|x| (x / temp).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.into_iter().map(|x| x / sum).collect::<Vec<f32>>()
    };
    for i in 0..2 {
        let p = softmax(&s_vals[i], 1.0);
        let ps = softmax(&s_vals[i], temp);
        let pt = softmax(&t_vals[i], temp);
        for c in 0..3 {
            let onehot = if c == labels[i] { 1.0 } else { 0.0 };
            let expected = (a * (p[c] - onehot) + (1.0 - a) * temp * (ps[c] - pt[c])) / 2.0;
            assert!(
                (g[i * 3 + c] - expected).abs() < 1e-5,
                "({i},{c}): {} vs {expected}",
                g[i * 3 + c]
            );
        }
    }
}

#[test]
fn alpha_one_is_cross_entropy_and_config_is_checked() {
    let dev = device();
    let s = Tensor::<2>::from_floats([[0.3, -0.2, 1.1]], &dev);
    let t = Tensor::<2>::from_floats([[2.0, 0.0, -1.0]], &dev);
    let y = Tensor::<1, Int>::from_ints([2], &dev);
    let l: f32 = kd_loss(s.clone(), t, y.clone(), &KdConfig::new().with_alpha(1.0)).into_scalar();
    let ce: f32 = cross_entropy(s, y).into_scalar();
    assert!((l - ce).abs() < 1e-6);
    assert!(
        KdConfig::new()
            .with_temperature(0.0)
            .check()
            .unwrap_err()
            .to_string()
            .contains("temperature")
    );
    assert!(
        KdConfig::new()
            .with_alpha(-0.1)
            .check()
            .unwrap_err()
            .to_string()
            .contains("alpha")
    );
    assert!(KdConfig::new().check().is_ok());
}

#[test]
fn cached_and_live_teachers_give_the_same_loss_without_augmentation() {
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    let data = fm.train.subset(&fm.train.stratified(100, 0));
    let dev = device();
    dev.seed(0);
    let teacher = ConvNetConfig::for_set(&data).with_width(8).init(&dev);
    let student = ConvNetConfig::for_set(&data).with_width(8).init(&dev);
    let idx = [5, 17, 42];
    let (x, y) = data.batch(&idx, &dev);
    let logits = student.forward(x.clone());
    let mut cached = KdHook::cached(KdConfig::new(), &teacher, &data, &dev);
    let mut live = KdHook::live(KdConfig::new(), &teacher);
    let a: f32 = Hook::<ConvNet>::loss(
        &mut cached,
        logits.clone(),
        &Targets::Hard(y.clone()),
        &x,
        &idx,
    )
    .into_scalar();
    let b: f32 =
        Hook::<ConvNet>::loss(&mut live, logits, &Targets::Hard(y), &x, &idx).into_scalar();
    assert!((a - b).abs() < 1e-4, "{a} vs {b}");
}

#[test]
fn a_student_learns_from_its_teacher_in_the_training_loop() {
    let fm = FashionMnist::load_default().unwrap();
    let data = fm.train.subset(&fm.train.stratified(600, 1));
    let test = fm.test.subset(&fm.test.stratified(300, 1));
    let dev = device();
    dev.seed(1);
    let cfg = FitConfig::new()
        .with_epochs(4)
        .with_batch_size(32)
        .with_lr(0.05)
        .with_progress(false);
    let teacher = fit(
        ConvNetConfig::for_set(&data).with_width(16).init(&dev),
        &data,
        &cfg,
        &dev,
    )
    .unwrap()
    .model;
    let teacher_acc = accuracy(&teacher, &test, &dev);
    let student = ConvNetConfig::for_set(&data).with_width(8).init(&dev);
    let mut hook = KdHook::live(KdConfig::new(), &teacher).then(TestEachEpoch::new(&test));
    let trained = fit_kd(
        student,
        &data,
        &cfg.clone().with_augment(Augment::CropFlip { pad: 2 }),
        &mut hook,
        &dev,
    )
    .unwrap();
    let h = trained.history.records();
    assert!(
        h[3].loss < h[0].loss,
        "KD loss {} -> {}",
        h[0].loss,
        h[3].loss
    );
    let acc = h[3].test_accuracy.unwrap();
    assert!(acc > 0.5, "student {acc}, teacher {teacher_acc}");
}
