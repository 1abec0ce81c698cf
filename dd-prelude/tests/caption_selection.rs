//! Captioning (seed 000 section II.A): the causal mask, the teacher-forced loss on a hand-made
//! batch, per-pair losses, Algorithm 1's top-r selection, BLEU-4 and CIDEr-D against
//! hand-computed values, and training through the one loop.

mod distill_common;

use burn::tensor::{Tensor, TensorData};
use dd_prelude::caption::*;
use dd_prelude::*;
use distill_common::{seeded, values};

/// Four 8x8 RGB images with one or two captions each.
fn toy() -> (CaptionSet, CaptionTokenizer) {
    let captions: Vec<Vec<String>> = vec![
        vec!["red circle".into(), "a red round shape".into()],
        vec!["blue square".into()],
        vec!["green red triangle".into()],
        vec!["a blue circle".into(), "round blue".into()],
    ];
    let pixels: Vec<f32> = (0..4 * 192).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
    let ids = (0..4).map(|i| format!("{i}.png")).collect();
    let pairs = PairSet::from_pixels("toy", [3, 8, 8], pixels, captions, ids).unwrap();
    let tok = CaptionTokenizer::build(
        pairs.all_captions().iter().flatten().map(String::as_str),
        1,
        4,
    )
    .unwrap();
    (CaptionSet::new(&pairs, &tok), tok)
}

fn net(tok: &CaptionTokenizer, dev: &burn::tensor::Device) -> Captioner {
    CaptionerConfig::new(
        ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1),
        tok.vocab_size(),
        tok.seq_len(),
    )
    .with_d_model(16)
    .with_heads(2)
    .with_layers(2)
    .init(dev)
    .unwrap()
}

#[test]
fn causal_mask_no_position_attends_to_a_later_one() {
    let dev = device();
    // The mask itself: masked exactly where the key is later than the query.
    let len = 5;
    let mask = causal_mask(2, len, &dev)
        .into_data()
        .iter::<bool>()
        .collect::<Vec<_>>();
    for b in 0..2 {
        for q in 0..len {
            for k in 0..len {
                assert_eq!(mask[(b * len + q) * len + k], k > q, "query {q} key {k}");
            }
        }
    }
    // And the model obeys it: changing the token fed at position j + 1 leaves every output
    // at positions <= j unchanged and changes the one at j + 1.
    let _guard = seeded(&dev, 3);
    let (set, tok) = toy();
    let model = net(&tok, &dev);
    let (images, tokens) = set.inputs(&[0, 1], &dev);
    let l = tok.seq_len();
    let base = values(&model.forward((images.clone(), tokens.clone())));
    let vocab = tok.vocab_size();
    for j in 0..l - 1 {
        let mut ids = values(&tokens);
        for row in 0..2 {
            ids[row * l + j] = ((ids[row * l + j] as usize + 1) % vocab) as f64;
        }
        let changed = Tensor::<2>::from_data(
            TensorData::new(ids.iter().map(|&v| v as f32).collect(), [2, l]),
            &dev,
        );
        let out = values(&model.forward((images.clone(), changed)));
        for row in 0..2 {
            for t in 0..l {
                let r = (row * l + t) * vocab;
                let diff = (0..vocab)
                    .map(|v| (out[r + v] - base[r + v]).abs())
                    .fold(0.0, f64::max);
                if t <= j {
                    assert!(diff < 1e-5, "position {t} saw token {j} (diff {diff})");
                } else if t == j + 1 {
                    assert!(diff > 1e-6, "position {t} did not see token {j}");
                }
            }
        }
    }
}

#[test]
fn loss_on_a_hand_made_batch() {
    let dev = device();
    // Captions [2, 1] and [1, <pad>] over 3 ids; the padded position does not count.
    let tokens = Tensor::<2>::from_floats([[2.0, 1.0], [1.0, 0.0]], &dev);
    let ln2 = 2f32.ln();
    let ln3 = 3f32.ln();
    let logits = Tensor::<2>::from_floats(
        [
            [0.0, 0.0, 0.0], // p(2) = 1/3
            [0.0, ln2, 0.0], // p(1) = 2/4
            [ln3, 0.0, 0.0], // p(1) = 1/5
            [100.0, 0.0, 0.0],
        ],
        &dev,
    );
    let got: f32 = caption_cross_entropy(logits, tokens).into_scalar();
    let want = (3f32.ln() + 2f32.ln() + 5f32.ln()) / 3.0;
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn per_pair_losses_are_each_pairs_own_loss() {
    let dev = device();
    let _guard = seeded(&dev, 5);
    let (set, tok) = toy();
    let model = net(&tok, &dev);
    let batched = caption_losses(&model, &set, &dev);
    assert_eq!(batched.len(), set.len());
    for (i, &l) in batched.iter().enumerate() {
        let x = set.inputs(&[i], &dev);
        let one: f32 = caption_cross_entropy(model.forward(x.clone()), x.1).into_scalar();
        assert!((one - l).abs() < 1e-4, "pair {i}: {one} vs {l}");
    }
    // The held-out loss weighs every token: the token-weighted mean of the pairs' losses.
    let tokens: Vec<f64> = (0..set.len())
        .map(|i| {
            values(&set.inputs(&[i], &dev).1)
                .iter()
                .filter(|&&t| t != 0.0)
                .count() as f64
        })
        .collect();
    let weighted = batched
        .iter()
        .zip(&tokens)
        .map(|(&l, &n)| l as f64 * n)
        .sum::<f64>()
        / tokens.iter().sum::<f64>();
    assert!((validation_loss(&model, &set, &dev) - weighted).abs() < 1e-4);
}

#[test]
fn selector_keeps_exactly_the_top_r_losses() {
    let (set, _) = toy();
    let mut set = set;
    // Twenty pairs (the toy's six, repeated) with distinct losses.
    set = set.subset(&(0..20).map(|i| i % 6).collect::<Vec<_>>());
    let losses: Vec<f32> = (0..20).map(|i| ((i * 7) % 20) as f32 * 0.1).collect();
    for r in [0.05, 0.3, 0.5] {
        let keep = (r * 20.0f64).round() as usize;
        let mut order: Vec<usize> = (0..20).collect();
        order.sort_by(|&a, &b| losses[b].total_cmp(&losses[a]));
        let hard = LossBasedConfig::new(Budget::Fraction(r))
            .select_by_losses(&set, &losses)
            .unwrap();
        assert_eq!(hard.indices, order[..keep].to_vec(), "hardest at r = {r}");
        let easy = LossBasedConfig::new(Budget::Fraction(r))
            .with_keep(Keep::Lowest)
            .select_by_losses(&set, &losses)
            .unwrap();
        let mut low = order[20 - keep..].to_vec();
        low.reverse();
        assert_eq!(easy.indices, low, "easiest at r = {r}");
        let random = RandomConfig::new(Budget::Fraction(r))
            .with_balance(false)
            .select(&set, &device())
            .unwrap();
        assert_eq!(random.len(), keep);
    }
    assert!(
        LossBasedConfig::new(Budget::Total(2))
            .select_by_losses(&set, &losses[..5])
            .is_err()
    );
}

#[test]
fn bleu4_against_hand_computed_cases() {
    let s = |v: &str| v.to_string();
    // Clipped precisions 5/6, 3/5, 2/4, 1/3 and equal lengths.
    let b = bleu4(
        &[s("the cat sat on the mat")],
        &[vec![s("the cat sat on a mat")]],
    );
    assert!((b - (1.0f64 / 12.0).powf(0.25)).abs() < 1e-12);
    // Brevity penalty: a 4-word candidate inside a 6-word reference, precisions all 1.
    let b = bleu4(&[s("the cat sat on")], &[vec![s("the cat sat on a mat")]]);
    assert!((b - (1.0f64 - 6.0 / 4.0).exp()).abs() < 1e-12);
    // The closest reference length is used: the 4-word reference, no penalty.
    let b = bleu4(
        &[s("the cat sat on")],
        &[vec![s("the cat sat on a mat"), s("a cat sat down")]],
    );
    assert!((b - 1.0).abs() < 1e-12);
    // Clipping: "the the the the" matches "the" at most twice of four; no bigram matches.
    assert_eq!(
        bleu4(&[s("the the the the")], &[vec![s("the cat the mat")]]),
        0.0
    );
    // Corpus level: matches and candidate n-grams summed over both pairs.
    let b = bleu4(
        &[s("a b c d"), s("e f g h")],
        &[vec![s("a b c d")], vec![s("e f g x")]],
    );
    // 1-grams 7/8, 2-grams 5/6, 3-grams 3/4, 4-grams 1/2
    let want = (7.0f64 / 8.0 * 5.0 / 6.0 * 3.0 / 4.0 * 1.0 / 2.0).powf(0.25);
    assert!((b - want).abs() < 1e-12, "{b} vs {want}");
}

#[test]
fn cider_against_hand_computed_cases() {
    let s = |v: &str| v.to_string();
    let refs = vec![vec![s("a b")], vec![s("c d")]];
    // Identical to its only reference: n = 1, 2 give cosine 1, n = 3, 4 have no n-gram.
    assert!((cider(&[s("a b"), s("c d")], &refs) - 5.0).abs() < 1e-12);
    assert_eq!(cider(&[s("c d"), s("a b")], &refs), 0.0);
    // An n-gram in every image's references has idf ln(2) - ln(2) = 0 and counts nothing.
    let refs = vec![vec![s("x a")], vec![s("x b")]];
    // candidate "x a" vs "x a": unigram vectors (x: 0, a: ln2), cos 1; bigram "x a" cos 1.
    let c = cider(&[s("x a"), s("x")], &refs);
    // image 1: "x" has only the zero-weight unigram: 0. image 0: (1 + 1) / 4 * 10 = 5.
    assert!((c - 2.5).abs() < 1e-12, "{c}");
    // Length penalty: candidate "a b" against reference "a b c" (one word shorter).
    let refs = vec![vec![s("a b c")], vec![s("d")]];
    let c = cider(&[s("a b"), s("d")], &refs);
    // every n-gram is in one image's references: weight w = ln 2, which cancels in the cosines
    // unigrams: c = (a, b) * w, r = (a, b, c) * w: sum min(c, r) r = 2 w^2, norms sqrt(2) w, sqrt(3) w
    let uni = 2.0 / (2f64.sqrt() * 3f64.sqrt());
    // bigrams: c = (ab) w, r = (ab, bc) w: w^2 / (w * sqrt(2) w)
    let bi = 1.0 / 2f64.sqrt();
    let pen = (-1.0f64 / 72.0).exp();
    let img0 = (uni + bi) * pen / 4.0 * 10.0;
    let img1 = 1.0 / 4.0 * 10.0; // "d" = "d": unigram cosine 1
    assert!((c - (img0 + img1) / 2.0).abs() < 1e-12, "{c}");
}

#[test]
fn teacher_forcing_trains_through_the_one_loop() {
    let dev = device();
    let _guard = seeded(&dev, 11);
    let (set, tok) = toy();
    let model = net(&tok, &dev);
    let before = validation_loss(&model, &set, &dev);
    let cfg = FitConfig::new()
        .with_epochs(100)
        .with_batch_size(6)
        .with_lr(3e-3)
        .with_momentum(0.0)
        .with_weight_decay(0.0)
        .with_schedule(Schedule::Constant)
        .with_optimizer(OptimizerKind::Adam)
        .with_progress(false);
    let trained = fit_with(model, &set, &cfg, &mut TeacherForcing, &dev).unwrap();
    let after = validation_loss(&trained.model, &set, &dev);
    assert!(after < 0.5 * before, "training loss {before} -> {after}");
    // The trained model writes a training caption of each image by greedy and by beam search.
    let firsts = set.first_of_each_image();
    for written in [
        greedy_captions(&trained.model, &set, &firsts, &tok, &dev),
        beam_captions(&trained.model, &set, &firsts, &tok, 3, &dev),
    ] {
        let hits = firsts
            .iter()
            .zip(&written)
            .filter(|(i, w)| set.references(**i).iter().any(|r| r == *w))
            .count();
        assert!(hits >= 3, "{written:?}");
    }
}
