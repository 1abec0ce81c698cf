//! The IDX reader and the Fashion-MNIST loader on files the tests write, good and corrupted.

use std::path::{Path, PathBuf};

use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-prelude-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a tiny MNIST-layout folder: `n_train`/`n_test` images of 4x4, labels cycling 0..10.
fn write_tiny_mnist(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
    let ext = if gz { ".gz" } else { "" };
    for (split, n) in [("train", n_train), ("t10k", n_test)] {
        let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 7 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_idx(
            dir.join(format!("{split}-images-idx3-ubyte{ext}")),
            &[n, 4, 4],
            &pixels,
        )
        .unwrap();
        write_idx(
            dir.join(format!("{split}-labels-idx1-ubyte{ext}")),
            &[n],
            &labels,
        )
        .unwrap();
    }
}

#[test]
fn raw_and_gzipped_idx_read_back_exactly() {
    let dir = temp_dir("idx-roundtrip");
    let data: Vec<u8> = (0..2 * 3 * 5).map(|i| i as u8).collect();
    for name in ["a.idx", "a.idx.gz"] {
        write_idx(dir.join(name), &[2, 3, 5], &data).unwrap();
        let back = read_idx(dir.join(name)).unwrap();
        assert_eq!(back.dims, vec![2, 3, 5]);
        assert_eq!(back.data, data);
    }
}

#[test]
fn missing_file_names_the_path() {
    let err = read_idx("/definitely/not/here/train-images-idx3-ubyte.gz").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/definitely/not/here/train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    assert!(msg.contains("cannot read"), "{msg}");
}

#[test]
fn wrong_magic_is_reported() {
    let dir = temp_dir("idx-magic");
    let path = dir.join("bad.idx");
    std::fs::write(&path, [0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1, 7]).unwrap();
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(
        msg.contains("wrong IDX magic") && msg.contains("bad.idx"),
        "{msg}"
    );
}

#[test]
fn unsupported_element_type_is_reported() {
    let dir = temp_dir("idx-type");
    let path = dir.join("floats.idx");
    std::fs::write(&path, [0, 0, 0x0d, 0x01, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(msg.contains("element type 0x0d"), "{msg}");
}

#[test]
fn truncated_data_is_reported_with_counts() {
    let dir = temp_dir("idx-trunc");
    let path = dir.join("short.idx");
    write_idx(&path, &[3, 2, 2], &[1; 12]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(
        msg.contains("truncated IDX data")
            && msg.contains("need 12 bytes")
            && msg.contains("has 7"),
        "{msg}"
    );
}

#[test]
fn truncated_header_is_reported() {
    let dir = temp_dir("idx-header");
    let path = dir.join("hdr.idx");
    std::fs::write(&path, [0, 0, 0x08, 3, 0, 0]).unwrap();
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(msg.contains("truncated IDX header"), "{msg}");
}

#[test]
fn corrupt_gzip_is_reported() {
    let dir = temp_dir("idx-gz");
    let path = dir.join("x-idx1-ubyte.gz");
    std::fs::write(&path, b"this is not gzip").unwrap();
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(msg.contains("gzip"), "{msg}");
}

#[test]
fn mnist_folder_loads_with_shapes_labels_and_test_normalised_by_train_stats() {
    let dir = temp_dir("mnist-ok");
    write_tiny_mnist(&dir, 20, 10, true);
    let splits = FashionMnist::load(&dir).unwrap();
    assert_eq!(splits.train.len(), 20);
    assert_eq!(splits.test.len(), 10);
    assert_eq!(splits.train.image_shape(), [1, 4, 4]);
    assert_eq!(splits.train.labels()[..3], [0, 1, 2]);
    assert_eq!(splits.train.classes()[9], "Ankle boot");
    assert_eq!(splits.test.mean(), splits.train.mean());
    // pixel 0 of image 0 is 0 -> normalised (0 - mean) / std, and back to 0 for display
    let px = splits.train.pixels(0);
    assert!(px[0].abs() < 1e-6 && (px[1] - 7.0 / 255.0).abs() < 1e-5);
}

#[test]
fn label_count_not_matching_image_count_is_reported() {
    let dir = temp_dir("mnist-count");
    write_tiny_mnist(&dir, 20, 10, false);
    write_idx(dir.join("train-labels-idx1-ubyte"), &[19], &[0; 19]).unwrap();
    let msg = FashionMnist::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("19 labels") && msg.contains("20 images"),
        "{msg}"
    );
}

#[test]
fn label_out_of_range_is_reported_with_its_record() {
    let dir = temp_dir("mnist-range");
    write_tiny_mnist(&dir, 20, 10, false);
    let mut labels = vec![0u8; 20];
    labels[13] = 10;
    write_idx(dir.join("train-labels-idx1-ubyte"), &[20], &labels).unwrap();
    let msg = FashionMnist::load(&dir).unwrap_err().to_string();
    assert!(msg.contains("label 10 of record 13"), "{msg}");
}

#[test]
fn missing_split_file_is_reported() {
    let dir = temp_dir("mnist-missing");
    write_tiny_mnist(&dir, 20, 10, false);
    std::fs::remove_file(dir.join("t10k-images-idx3-ubyte")).unwrap();
    let msg = FashionMnist::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn subsets_and_per_class_sampling_are_balanced_and_deterministic() {
    let dir = temp_dir("mnist-subset");
    write_tiny_mnist(&dir, 100, 10, false);
    let train = FashionMnist::load(&dir).unwrap().train;
    let a = train.sample_per_class(3, 7);
    assert_eq!(a, train.sample_per_class(3, 7));
    assert_eq!(train.subset(&a).counts_per_class(), vec![3; 10]);
    let s = train.stratified(50, 1);
    assert_eq!(s.len(), 50);
    assert_eq!(train.subset(&s).counts_per_class(), vec![5; 10]);
    let sub = train.subset(&[5, 5, 2]);
    assert_eq!(sub.labels(), &[5, 5, 2]);
    assert_eq!(sub.image(0), train.image(5));
}

#[test]
fn normalisation_statistics_must_match_the_channels() {
    for (mean, std) in [(vec![0.0, 0.0], vec![1.0]), (vec![0.0], vec![1.0, 1.0])] {
        let err = ImageSet::from_pixels_with_stats(
            "t",
            [1, 1, 1],
            vec![0.5],
            vec![0],
            vec!["a".into()],
            mean.clone(),
            std.clone(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("normalisation statistics") && err.contains("1 channels"),
            "{err}"
        );
        let err = ImageSet::from_normalized(
            "t",
            [1, 1, 1],
            vec![0.5],
            vec![0],
            vec!["a".into()],
            mean,
            std,
        )
        .unwrap_err();
        assert!(err.to_string().contains("normalisation statistics"));
    }
}
