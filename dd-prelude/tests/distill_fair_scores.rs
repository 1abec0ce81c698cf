//! DD-Ranking's fair scores in the comparison table: a soft-label set is scored with its soft
//! labels and again with hard labels, the full-data row is found by data set, and IOR, HLR and
//! LRS are the differences the definitions say (`shared/REFERENCE.md` section 3), with no
//! figure for a row that has nothing to compare with.

mod distill_common;

use dd_prelude::distill::{
    FULL_DATA, SlddConfig, distill_and_evaluate, full_data, hard_label_recovery,
    improvement_over_random, lrs, random_real,
};
use dd_prelude::*;
use distill_common::seeded;

/// Four classes of 8x8 images, 8 each.
fn toy() -> ImageSet {
    let n = 32;
    let px: Vec<f32> = (0..n * 64)
        .map(|i| ((i * 7 + i / 64 * 3) % 13) as f32 / 13.0)
        .collect();
    ImageSet::from_pixels(
        "toy",
        [1, 8, 8],
        px,
        (0..n).map(|i| i % 4).collect(),
        (0..4).map(|c| format!("c{c}")).collect(),
    )
    .unwrap()
}

#[test]
fn soft_label_sets_get_a_hard_label_score_and_the_table_compares_with_full_data() {
    let dev = device();
    let _serial = seeded(&dev, 41);
    let data = toy();
    let preset = EvalPreset::smoke().with_width(4).with_progress(false);
    let sldd = SlddConfig::new(2)
        .with_iterations(2)
        .with_steps(2)
        .with_nets(1)
        .with_batch_real(3)
        .with_width(4)
        .with_depth(1)
        .with_progress(false);
    let soft = distill_and_evaluate("toy", &sldd, &data, &data, &preset, &dev).unwrap();
    let random = random_real("toy", 2, 0, &data, &data, &preset, &dev).unwrap();
    let full = full_data("toy", &data, None, &data, &preset, &dev).unwrap();
    let stand_in = full_data("toy", &data, Some(8), &data, &preset, &dev).unwrap();

    // The soft-label set was scored both ways; the hard-label sets once.
    assert!(soft.synthetic.soft_labels.is_some());
    let hard = soft.hard_labels.as_ref().expect("scored with hard labels");
    assert_eq!(hard.accuracies.len(), preset.models);
    assert!(random.hard_labels.is_none() && full.hard_labels.is_none());
    assert_eq!(soft.hard_label_pct(), Some(hard.mean_pct()));
    assert_eq!(random.hard_label_pct(), Some(random.report.mean_pct()));

    // The full-data rows: every image, or a named stand-in of the size asked.
    assert_eq!(full.synthetic.method, FULL_DATA);
    assert_eq!(full.synthetic.len(), data.len());
    assert!(stand_in.is_full_data() && stand_in.synthetic.method.contains("8-image stand-in"));
    assert_eq!(stand_in.synthetic.len(), 8);
    assert_eq!(stand_in.ipc(), 2);

    let all = vec![random.clone(), soft.clone(), full.clone()];
    let ior = improvement_over_random(&soft, &all).unwrap();
    assert!((ior - (soft.report.mean_pct() - random.report.mean_pct())).abs() < 1e-9);
    let hlr = hard_label_recovery(&soft, &all).unwrap();
    assert!((hlr - (full.report.mean_pct() - hard.mean_pct())).abs() < 1e-9);
    let hlr_random = hard_label_recovery(&random, &all).unwrap();
    assert!((hlr_random - (full.report.mean_pct() - random.report.mean_pct())).abs() < 1e-9);
    // Nothing to compare the full data with, and no full-data row for another data set.
    assert_eq!(improvement_over_random(&full, &all), None);
    assert_eq!(hard_label_recovery(&full, &all), None);
    let mut other = soft.clone();
    other.dataset = "another".into();
    assert_eq!(hard_label_recovery(&other, &all), None);
    // LRS from its definition, at its extremes and in between.
    assert!((lrs(100.0, -100.0) - 100.0).abs() < 1e-9);
    assert!(lrs(-100.0, 100.0).abs() < 1e-9);
    let a: f64 = 0.5 * ior / 100.0 - 0.5 * hlr / 100.0;
    let e = std::f64::consts::E;
    let expected = 100.0 * (a.exp() - 1.0 / e) / (e - 1.0 / e);
    assert!((lrs(ior, hlr) - expected).abs() < 1e-9);

    let table = comparison_table("toy", &all).unwrap();
    let frame = table.frame();
    let col = |name: &str| -> Vec<Option<f64>> {
        let values = frame.column(name).unwrap().f64().unwrap();
        (0..frame.height()).map(|i| values.get(i)).collect()
    };
    assert_eq!(
        col("HLR (points below full data, hard labels)"),
        vec![Some(hlr_random), Some(hlr), None]
    );
    assert_eq!(col("IOR (points over random)")[2], None);
    let lrs_col = col("LRS %");
    assert!((lrs_col[1].unwrap() - lrs(ior, hlr)).abs() < 1e-9);
    assert_eq!(lrs_col[2], None);
}
