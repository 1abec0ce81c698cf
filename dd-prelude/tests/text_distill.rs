//! Text dataset distillation: the tokeniser, vocabulary, padding and out-of-vocabulary
//! handling; the cached GloVe vectors' neighbours; the text models' shapes and training on
//! real sentences; the text CNN in the meta-gradient engine against Burn's `TextConvNet`; and
//! SLDD's meta-gradient through the text CNN (sentences, soft labels, step size) against finite
//! differences, in f32 and in f64 (a child process).

mod distill_common;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::{SlddConfig, SlddParams, sldd_loss};
use dd_prelude::text::*;
use dd_prelude::*;
use distill_common::{
    Fd, assert_close, check_meta_gradient, check_scalar_meta_gradient, randn, run_child_test,
    seeded, serial, values,
};

fn toy_vectors() -> WordVectors {
    WordVectors::new(
        "toy",
        3,
        vec!["good".into(), "bad".into(), "film".into(), ",".into()],
        vec![1.0, 0.5, 0.0, -1.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.1, 0.1, 0.1],
    )
    .unwrap()
}

fn toy_set() -> SentenceSet {
    SentenceSet::new(
        "toy",
        vec![
            "A GOOD film, good!".into(),
            "bad film".into(),
            "Unheard-of words: zzz".into(),
        ],
        vec![1, 0, 0],
        vec!["neg".into(), "pos".into()],
    )
    .unwrap()
}

#[test]
fn tokeniser_lowercases_and_splits_punctuation() {
    assert_eq!(
        tokenize("A GOOD film, good!"),
        ["a", "good", "film", ",", "good", "!"]
    );
    assert_eq!(tokenize("It's not bad."), ["it", "'s", "not", "bad", "."]);
    assert_eq!(tokenize("well-made"), ["well-made"]);
}

#[test]
fn vocabulary_pads_truncates_and_marks_unknown_words() {
    let set = toy_set();
    let vocab = Vocab::build(&set, 1);
    assert_eq!(&vocab.words()[..2], ["<pad>", "<unk>"]);
    // "film" and "good" occur twice, then the words seen once, alphabetically.
    assert_eq!(&vocab.words()[2..6], ["film", "good", "!", ","]);
    assert_eq!(vocab.encode("good film", 4)[2..], [PAD, PAD]);
    let long = vocab.encode("good good good good good good", 3);
    assert_eq!(long, vec![vocab.id("good"); 3]);
    assert_eq!(vocab.encode("never seen", 3)[..2], [UNK, UNK]);
    assert_eq!(vocab.decode(&vocab.encode("bad film", 5)), ["bad", "film"]);
    let only_twice = Vocab::build(&set, 2);
    assert_eq!(only_twice.id("bad"), UNK);
    assert_eq!(only_twice.count("good"), 2);
}

#[test]
fn embedding_pads_with_zeros_and_handles_unknown_words() {
    let (wv, set) = (toy_vectors(), toy_set());
    let skip = EmbedConfig::new(4).embed(&set, &wv).unwrap();
    assert_eq!(skip.shape, [3, 4, 3]);
    // Sentence 0 under Skip: "a" and "!" are unknown: good film , good.
    let row = |s: &EmbeddedSentences, i: usize, t: usize| {
        s.values[(i * 4 + t) * 3..(i * 4 + t + 1) * 3].to_vec()
    };
    assert_eq!(row(&skip, 0, 0), wv.vector("good").unwrap());
    assert_eq!(row(&skip, 0, 3), wv.vector("good").unwrap());
    // Sentence 1 is two words, padded with zero vectors.
    assert_eq!(row(&skip, 1, 2), vec![0.0; 3]);
    // Sentence 2 has no known word: all padding.
    assert!(skip.values[2 * 12..].iter().all(|&v| v == 0.0));
    // Under Zero the unknown "a" keeps its position as a zero vector.
    let zero = EmbedConfig::new(4)
        .with_oov(Oov::Zero)
        .embed(&set, &wv)
        .unwrap();
    assert_eq!(row(&zero, 0, 0), vec![0.0; 3]);
    assert_eq!(row(&zero, 0, 1), wv.vector("good").unwrap());
    // 6 of the 12 tokens are known (not "a", "!", "unheard-of", "words", ":", "zzz").
    let tokens: usize = set.texts().iter().map(|t| tokenize(t).len()).sum();
    assert_eq!(tokens, 12);
    assert!((skip.coverage - 0.5).abs() < 1e-6, "{}", skip.coverage);
    assert!(EmbedConfig::new(0).embed(&set, &wv).is_err());
}

/// The cached GloVe 6B vectors (fetched by `scripts/fetch-data.sh`): known neighbours. Skipped
/// with a note when the data is not there.
#[test]
fn glove_neighbours_of_known_words() {
    let wv = match WordVectors::load_default() {
        Ok(wv) => wv,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    assert_eq!(wv.dims(), 100);
    let near = |w: &str| -> Vec<String> {
        wv.nearest(w, 10)
            .unwrap()
            .into_iter()
            .map(|(w, _)| w)
            .collect()
    };
    assert!(
        near("king").iter().any(|w| w == "queen"),
        "{:?}",
        near("king")
    );
    assert!(
        near("good").iter().any(|w| w == "bad" || w == "better"),
        "{:?}",
        near("good")
    );
    assert!(
        near("film").iter().any(|w| w == "movie" || w == "films"),
        "{:?}",
        near("film")
    );
    // The embedding of a sentence decodes back to its words.
    let set = SentenceSet::new(
        "s",
        vec!["the king met the queen".into()],
        vec![0],
        vec!["c".into()],
    )
    .unwrap();
    let emb = EmbedConfig::new(6).embed(&set, &wv).unwrap();
    let vocab = Vocab::build(&set, 1).vectors(&wv).unwrap();
    assert_eq!(
        nearest_words(&emb, &vocab)[0],
        ["the", "king", "met", "the", "queen", "<pad>"]
    );
}

#[test]
fn text_models_give_logits_and_features_of_the_right_shapes() {
    let dev = device();
    let x = Tensor::<3>::ones([5, 9, 7], &dev);
    let cnn = TextConvNetConfig::new(4, 9, 7).with_filters(3).init(&dev);
    assert_eq!(cnn.forward(x.clone()).dims(), [5, 4]);
    assert_eq!(cnn.features(x.clone()).dims(), [5, 9]);
    let att = TextAttentionConfig::new(4, 7).with_hidden(6).init(&dev);
    assert_eq!(att.forward(x.clone()).dims(), [5, 4]);
    assert_eq!(att.features(x).dims(), [5, 6]);
    // Padding does not change the attention classifier's output.
    let one = Tensor::<3>::from_data(
        TensorData::new(
            (0..21).map(|v| v as f32 / 10.0).collect::<Vec<_>>(),
            [1, 3, 7],
        ),
        &dev,
    );
    let padded = Tensor::cat(vec![one.clone(), Tensor::zeros([1, 2, 7], &dev)], 1);
    assert_close(
        "attention ignores padding",
        &att.forward(padded),
        &att.forward(one),
        1e-5,
    );
    assert!(TextAttentionConfig::new(0, 7).check().is_err());
}

/// Both text models learn on real sentences: a few epochs on 400 Rotten Tomatoes snippets
/// lower the training loss (skipped with a note when the data is not there).
#[test]
fn text_models_lower_the_loss_on_real_sentences() {
    let (wv, rt) = match (WordVectors::load_default(), RottenTomatoes::load_default()) {
        (Ok(wv), Ok(rt)) => (wv, rt),
        (a, b) => {
            eprintln!("skipped: {:?} {:?}", a.err(), b.err());
            return;
        }
    };
    let dev = device();
    let _serial = seeded(&dev, 5);
    let train = rt.train.subset(&rt.train.stratified(400, 0));
    let emb = EmbedConfig::new(20).embed(&train, &wv).unwrap();
    let cfg = FitConfig::new()
        .with_epochs(4)
        .with_batch_size(32)
        .with_lr(0.05)
        .with_progress(false);
    let losses = |h: &History| (h.records()[0].loss, h.last().unwrap().loss);
    let cnn = TextConvNetConfig::for_set(&emb)
        .unwrap()
        .with_filters(8)
        .init(&dev);
    let (first, last) = losses(&fit(cnn, &emb, &cfg, &dev).unwrap().history);
    assert!(last < 0.9 * first, "TextConvNet: loss {first} -> {last}");
    let att = TextAttentionConfig::for_set(&emb)
        .unwrap()
        .with_hidden(16)
        .init(&dev);
    let (first, last) = losses(&fit(att, &emb, &cfg.with_lr(0.2), &dev).unwrap().history);
    assert!(last < 0.95 * first, "TextAttention: loss {first} -> {last}");
}

/// The engine's text CNN is Burn's `TextConvNet`: same logits, and the explicit backward gives
/// Burn's autodiff gradients.
#[test]
fn text_arch_matches_burn_text_convnet() {
    let dev = device();
    let _serial = seeded(&dev, 11);
    let cfg = TextConvNetConfig::new(3, 8, 5)
        .with_kernels(vec![2, 3])
        .with_filters(4);
    let arch = text_arch(&cfg).unwrap();
    let net = cfg.init(&dev);
    let params = arch.params_from(&net).unwrap();
    let x = randn([6, 8, 5], &dev);
    let (logits, _) = arch.forward(&params, x.clone().reshape([6, 1, 8, 5]));
    assert_close("logits", &logits, &net.forward(x.clone()), 1e-5);
    let targets = one_hot(&[0, 1, 2, 0, 1, 2], 3, &dev);
    let (_, grads) = arch.loss_and_grads(&params, x.clone().reshape([6, 1, 8, 5]), &targets);
    // Burn's autodiff of the same loss through the Burn module's parameters.
    let leaf = params.autodiff().require_grad();
    let (logits, _) = arch.forward(&leaf, x.reshape([6, 1, 8, 5]).autodiff());
    let loss = dd_prelude::distill::engine::ops::SoftmaxCrossEntropyOp
        .forward(logits, targets.autodiff())
        .0;
    let g = leaf.grads_from(&loss.backward());
    for i in 0..params.len() {
        assert_close(
            &format!("gradient {i}"),
            &grads.values()[i],
            &g.values()[i],
            1e-4,
        );
    }
    let back = text_convnet(&cfg, &params, &dev).unwrap();
    assert_eq!(
        values(&arch.params_from(&back).unwrap().flat()),
        values(&params.flat())
    );
}

/// SLDD's meta-loss through two unrolled steps of the text CNN: its gradients with respect to
/// the sentences, the label logits and the raw step size against finite differences.
fn text_sldd_gradients(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 23);
    let cfg = TextConvNetConfig::new(2, 6, 4)
        .with_kernels(vec![2, 3])
        .with_filters(3);
    let arch = text_arch(&cfg).unwrap();
    let init = arch.init(&dev);
    let n = 4;
    let sentences = randn([n, 1, 6, 4], &dev);
    let logits = randn([n, 2], &dev);
    let raw0 = (0.2f64).exp_m1().ln();
    let raw_at = |v: f64| {
        Tensor::<1>::from_data(TensorData::new(vec![raw0 + v], [1]), &dev).cast(sentences.dtype())
    };
    let real = randn([8, 1, 6, 4], &dev);
    let real_t = one_hot(&[0, 1, 0, 1, 0, 1, 0, 1], 2, &dev);
    let loss = |x: Tensor<4>, l: Tensor<2>, r: Tensor<1>| {
        let syn = SlddParams {
            images: x,
            label_logits: l,
            raw_lr: r,
        };
        sldd_loss(&arch, &init, &syn, 2, 1, real.clone(), &real_t)
    };
    check_meta_gradient(
        "text SLDD sentences",
        &sentences,
        |x| loss(x, logits.clone().autodiff(), raw_at(0.0).autodiff()),
        fd,
    );
    check_meta_gradient(
        "text SLDD soft-label logits",
        &logits.clone().reshape([n, 2, 1, 1]),
        |l| {
            loss(
                sentences.clone().autodiff(),
                l.reshape([n, 2]),
                raw_at(0.0).autodiff(),
            )
        },
        fd,
    );
    check_scalar_meta_gradient(
        "d loss / d raw_lr (text)",
        raw0,
        sentences.dtype(),
        &dev,
        |r, tracked| {
            if tracked {
                loss(sentences.clone().autodiff(), logits.clone().autodiff(), r)
            } else {
                loss(sentences.clone(), logits.clone(), r)
            }
        },
        fd,
    );
}

#[test]
fn text_sldd_meta_gradient_matches_finite_differences_f32() {
    text_sldd_gradients(Fd::F32);
}

/// The f64 check runs in a fresh process of this binary (the device must be configured for
/// f64 before any tensor exists).
#[test]
fn text_sldd_meta_gradient_matches_finite_differences_f64() {
    run_child_test("text_f64_child", "DD_TEXT_F64_CHILD");
}

/// Runs only as the child of `text_sldd_meta_gradient_matches_finite_differences_f64`.
#[test]
#[ignore]
fn text_f64_child() {
    if std::env::var("DD_TEXT_F64_CHILD").is_err() {
        return;
    }
    let mut dev = Device::flex();
    dev.configure(FloatDType::F64)
        .expect("f64 before any tensor");
    text_sldd_gradients(Fd::F64);
}

/// Distillation of sentences end to end on a toy set: SLDD's soft labels and step size are
/// learned and saved in the set, DM gives one sentence per class, and both decode to words.
#[test]
fn sentences_distil_and_decode() {
    let dev = device();
    let _serial = serial();
    let wv = toy_vectors();
    let texts: Vec<String> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                "good film , good".into()
            } else {
                "bad , bad film".into()
            }
        })
        .collect();
    let set = SentenceSet::new(
        "toy",
        texts,
        (0..12).map(|i| i % 2).collect(),
        vec!["neg".into(), "pos".into()],
    )
    .unwrap();
    let emb = EmbedConfig::new(5).embed(&set, &wv).unwrap();
    let sldd = TextSlddConfig::new(
        SlddConfig::new(1)
            .with_iterations(3)
            .with_nets(1)
            .with_batch_real(4)
            .with_progress(false),
    )
    .with_kernels(vec![1, 2])
    .with_filters(2);
    let syn = sldd.distill(&emb, &dev).unwrap();
    assert_eq!((syn.len(), syn.shape), (2, [1, 5, 3]));
    assert_eq!(syn.config["arch"], "TextConvNet-1,2x2");
    assert!(
        syn.soft_label_table(1)
            .unwrap()
            .to_html()
            .contains("learned step size")
    );
    let decoded = decode_sentences(&syn, &wv).unwrap().to_html();
    assert!(
        decoded.contains("good") || decoded.contains("bad"),
        "{decoded}"
    );
    let report = sldd.evaluate(&syn, &emb, 2, &dev).unwrap();
    assert_eq!(report.accuracies.len(), 2);
    let dm = TextDmConfig::new(
        dd_prelude::distill::DmConfig::new(1)
            .with_iterations(2)
            .with_batch_real(4)
            .with_progress(false),
    )
    .with_kernels(vec![1])
    .with_filters(2)
    .distill(&emb, &dev)
    .unwrap();
    assert_eq!(sentences_of(&dm).unwrap().labels, vec![0, 1]);
    assert_eq!(
        sentence_heatmap(&sentences_of(&dm).unwrap(), 2)
            .unwrap()
            .size(),
        (9, 2 * 30 + 6)
    );
}

#[test]
fn knn_finds_the_class_of_the_nearest_sentence() {
    let wv = toy_vectors();
    let embed = |texts: [&str; 2]| {
        let set = SentenceSet::new(
            "t",
            texts.iter().map(|t| t.to_string()).collect(),
            vec![1, 0],
            vec!["neg".into(), "pos".into()],
        )
        .unwrap();
        EmbedConfig::new(3).embed(&set, &wv).unwrap()
    };
    let train = embed(["good", "bad"]);
    let test = embed(["good good film", "bad film"]);
    assert_eq!(knn_accuracy(&train, &test, 1), 1.0);
    let flipped = EmbeddedSentences {
        labels: vec![0, 1],
        ..test.clone()
    };
    assert_eq!(knn_accuracy(&train, &flipped, 1), 0.0);
    let r = KnnConfig::new()
        .with_per_class(Some(1))
        .with_draws(4)
        .evaluate(&train, &test)
        .unwrap();
    assert_eq!(r.accuracies, vec![1.0; 4]);
    assert!(KnnConfig::new().with_draws(0).check().is_err());
    assert!(KnnConfig::new().with_per_class(Some(0)).check().is_err());
}
