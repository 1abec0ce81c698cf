//! Saved distilled sets under hostile conditions: names with dots, a manifest paired with other
//! tensors, tensors of another shape, labels out of range: each a named error, never a panic
//! or a silently different set.

use std::path::{Path, PathBuf};

use dd_prelude::distill::SyntheticSet;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dd-artefacts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn set(value: f32, n_per_class: usize, size: usize) -> SyntheticSet {
    let n = 2 * n_per_class;
    SyntheticSet::new(
        "DM",
        "toy",
        [1, size, size],
        vec![value; n * size * size],
        (0..n).map(|i| i / n_per_class).collect(),
        vec!["a".into(), "b".into()],
        vec![0.5],
        vec![0.25],
    )
    .unwrap()
}

/// The manifest of `base` without its tensors checksum (as written before it existed).
fn strip_checksum(manifest: &Path) {
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("tensors_checksum");
    std::fs::write(manifest, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn names_with_dots_are_kept_whole() {
    let d = dir("dots");
    let a = set(0.1, 1, 2).save(d.join("dm_lr0.1")).unwrap();
    let b = set(0.2, 1, 2).save(d.join("dm_lr0.2")).unwrap();
    assert_ne!(a, b);
    assert!(a.ends_with("dm_lr0.1.safetensors"), "{}", a.display());
    assert_eq!(SyntheticSet::load(&a).unwrap().images[0], 0.1);
    assert_eq!(
        SyntheticSet::load(d.join("dm_lr0.2")).unwrap().images[0],
        0.2
    );
    let leftovers = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_manifest_with_other_tensors_is_refused() {
    let d = dir("mixed");
    set(0.1, 1, 2).save(d.join("first")).unwrap();
    set(0.7, 1, 2).save(d.join("second")).unwrap();
    // A save cut short, or files copied by hand: the first manifest beside the second tensors.
    std::fs::copy(d.join("second.safetensors"), d.join("first.safetensors")).unwrap();
    let err = SyntheticSet::load(d.join("first")).unwrap_err().to_string();
    assert!(err.contains("does not match its manifest"), "{err}");
    assert!(err.contains("first.safetensors"), "{err}");
}

#[test]
fn tensors_of_another_shape_are_refused() {
    let d = dir("shape");
    // 1 image per class of 1x4x4 against a manifest for 2 per class of 1x2x2... both 16 values
    // per class in all: the lengths agree, the shapes do not.
    set(0.3, 2, 2).save(d.join("small")).unwrap();
    set(0.3, 1, 4).save(d.join("big")).unwrap();
    strip_checksum(&d.join("small.json"));
    std::fs::copy(d.join("big.safetensors"), d.join("small.safetensors")).unwrap();
    let err = SyntheticSet::load(d.join("small")).unwrap_err().to_string();
    assert!(err.contains("shape"), "{err}");
}

#[test]
fn labels_out_of_range_are_an_error_not_a_panic() {
    let d = dir("labels");
    let mut bad = set(0.3, 1, 2);
    bad.labels = vec![0, 7];
    // Building the image set names the label (it used to panic while counting per class).
    let err = bad.to_image_set().unwrap_err().to_string();
    assert!(err.contains("label of image 1"), "{err}");
    // A saved file whose labels are out of range loads as an error too.
    let ok = set(0.3, 1, 2);
    ok.save(d.join("ok")).unwrap();
    let mut raw = bad.clone();
    raw.labels = vec![0, 1];
    raw.save(d.join("raw")).unwrap();
    strip_checksum(&d.join("raw.json"));
    // Rewrite the labels tensor with an out-of-range label through safetensors.
    let bytes = std::fs::read(d.join("raw.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap();
    let labels: Vec<u8> = [0i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        (
            "images".to_string(),
            safetensors::tensor::TensorView::new(
                images.dtype(),
                images.shape().to_vec(),
                images.data(),
            )
            .unwrap(),
        ),
        (
            "labels".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![2], &labels)
                .unwrap(),
        ),
    ];
    let out = safetensors::tensor::serialize(views, None).unwrap();
    std::fs::write(d.join("raw.safetensors"), out).unwrap();
    let err = SyntheticSet::load(d.join("raw")).unwrap_err().to_string();
    assert!(err.contains("label"), "{err}");
    assert!(SyntheticSet::load(d.join("ok")).is_ok());
}
