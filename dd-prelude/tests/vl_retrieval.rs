//! Retrieval recall on a hand-made similarity matrix and InfoNCE against a hand computation.

use burn::tensor::Tensor;
use dd_prelude::vl::Recall;
use dd_prelude::*;

#[test]
fn recall_on_a_hand_made_matrix() {
    // 4 images; captions 0,1 -> image 0, 2 -> image 1, 3,4 -> image 2, 5 -> image 3.
    let owners = [0, 0, 1, 2, 2, 3];
    #[rustfmt::skip]
    let sim = [
        // c0   c1   c2   c3   c4   c5
        0.1, 0.9, 0.2, 0.3, 0.0, 0.0, // image 0: own caption 1 first -> rank 1
        0.5, 0.4, 0.3, 0.6, 0.2, 0.1, // image 1: caption 2 behind c0, c3, c1 -> rank 4
        0.2, 0.1, 0.9, 0.8, 0.3, 0.4, // image 2: best own c3 (0.8) behind c2 -> rank 2
        0.3, 0.2, 0.1, 0.0, 0.5, 0.5, // image 3: c5 tied with c4 -> pessimistic rank 2
    ];
    let r = Recall::of_similarity(&sim, 4, &owners).unwrap();
    // TR ranks 1, 4, 2, 2: R@1 1/4, R@5 and R@10 all.
    assert_eq!(r.tr, [25.0, 100.0, 100.0]);
    // IR: column by column, rank of the own image.
    // c0 (img0 0.1): 0.5, 0.2, 0.3 above -> rank 4; c1 (img0 0.9) -> 1; c2 (img1 0.3): 0.9 above -> 2;
    // c3 (img2 0.8) -> 1; c4 (img2 0.3): 0.5 above -> 2; c5 (img3 0.5) -> 1.
    let hits1 = 3.0;
    assert!((r.ir[0] - 100.0 * hits1 / 6.0).abs() < 1e-9, "{:?}", r.ir);
    assert_eq!(r.ir[1], 100.0);
    // A constant matrix: every rank is the last, pessimistically.
    let flat = Recall::of_similarity(&[0.5; 24], 4, &owners).unwrap();
    assert_eq!(flat.tr[0], 0.0);
    assert_eq!(flat.ir[0], 0.0);
    assert!(Recall::of_similarity(&sim[..20], 4, &owners).is_err());
}

#[test]
fn recall_mean_and_std() {
    let a = Recall {
        tr: [10.0, 20.0, 30.0],
        ir: [0.0, 0.0, 0.0],
    };
    let b = Recall {
        tr: [20.0, 20.0, 50.0],
        ir: [4.0, 0.0, 0.0],
    };
    let (m, s) = Recall::mean_std(&[a, b]);
    assert_eq!(m.tr, [15.0, 20.0, 40.0]);
    assert_eq!(s.tr, [5.0, 0.0, 10.0]);
    assert_eq!((m.ir[0], s.ir[0]), (2.0, 2.0));
}

#[test]
fn infonce_matches_a_hand_computation() {
    let dev = device();
    // Rows already unit length except a scale, so the cosines are easy to write down.
    let image = Tensor::<2>::from_floats([[2.0, 0.0], [0.6, 0.8], [0.0, -1.0]], &dev);
    let text = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 3.0], [0.6, -0.8]], &dev);
    let t = 0.1f64;
    let cos = [[1.0, 0.0, 0.6], [0.6, 0.8, -0.28], [0.0, -1.0, 0.8]];
    let ce = |row: [f64; 3], k: usize| {
        let lse = row.iter().map(|v| (v / t).exp()).sum::<f64>().ln();
        lse - row[k] / t
    };
    let i2t: f64 = (0..3).map(|i| ce(cos[i], i)).sum::<f64>() / 3.0;
    let t2i: f64 = (0..3)
        .map(|j| ce([cos[0][j], cos[1][j], cos[2][j]], j))
        .sum::<f64>()
        / 3.0;
    let want = (i2t + t2i) / 2.0;
    let got: f32 = infonce(image, text, t).into_scalar();
    assert!(
        (got as f64 - want).abs() < 1e-4 * want.max(1.0),
        "{got} vs {want}"
    );
}
