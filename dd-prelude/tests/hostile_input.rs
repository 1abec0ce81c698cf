//! Hostile input through the public API: every case below must come back as a named error
//! (the file, the record or the config field, and what is wrong): no panic, no abort, no
//! silent acceptance. One test per kind of input; the saved-set and checkpoint cases are in
//! `distill_artefacts.rs` and `distill_plugin.rs`.

mod distill_common;

use std::io::Write;
use std::path::{Path, PathBuf};

use dd_prelude::distill::{CafeConfig, DcConfig, DiffAugConfig, Distiller, DmConfig};
use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The error's message, which must hold every one of `needles`.
fn refused<T>(r: Result<T>, needles: &[&str]) -> String {
    let Err(e) = r else {
        panic!("hostile input must be refused");
    };
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "`{msg}` does not mention `{n}`");
    }
    msg
}

fn gzip(bytes: &[u8], path: &Path) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

fn png(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
        .save(path)
        .unwrap();
}

#[test]
fn caption_files_cannot_name_images_outside_their_folder() {
    let dir = temp_dir("paths");
    let images = dir.join("images");
    png(&images.join("ok.png"));
    png(&dir.join("secret.png")); // exists, outside the image folder
    for name in ["../secret.png", "/etc/passwd", "a/../../secret.png", ""] {
        let coco = dir.join("captions.json");
        let json = serde_json::json!({
            "images": [{"id": 1, "file_name": name}],
            "annotations": [{"image_id": 1, "id": 1, "caption": "a caption"}]
        });
        std::fs::write(&coco, json.to_string()).unwrap();
        refused(
            CocoCaptions::new(&coco, &images).with_image_size(4).load(),
            &["captions.json", "images[0]", "is not a file name inside"],
        );
        let karpathy = dir.join("dataset.json");
        let json = serde_json::json!({
            "dataset": "flickr30k",
            "images": [{"filename": name, "split": "train", "sentences": [{"raw": "a caption"}]}]
        });
        std::fs::write(&karpathy, json.to_string()).unwrap();
        refused(
            Karpathy::new(&karpathy, &images).with_image_size(4).load(),
            &["dataset.json", "images[0]", "is not a file name inside"],
        );
    }
    // A `filepath` that climbs out is refused as well.
    let karpathy = dir.join("dataset.json");
    let json = serde_json::json!({
        "dataset": "coco",
        "images": [{"filepath": "..", "filename": "secret.png", "split": "train",
                    "sentences": [{"raw": "a caption"}]}]
    });
    std::fs::write(&karpathy, json.to_string()).unwrap();
    refused(
        Karpathy::new(&karpathy, &images).with_image_size(4).load(),
        &["`..`"],
    );
}

#[test]
fn text_readers_refuse_bytes_that_are_not_utf8_and_name_the_line() {
    let dir = temp_dir("utf8");
    let latin1 = b"caf\xe9";
    let mut imdb = b"review,sentiment\ngood film,positive\n".to_vec();
    imdb.extend_from_slice(latin1);
    imdb.extend_from_slice(b" film,negative\n");
    let path = dir.join("imdb.csv");
    std::fs::write(&path, &imdb).unwrap();
    refused(Imdb::read_csv(&path), &["imdb.csv", "line 3", "not UTF-8"]);

    let mut sst = b"label\tsentence\n3\tfine\n".to_vec();
    sst.extend_from_slice(latin1);
    let path = dir.join("train.tsv");
    std::fs::write(&path, &sst).unwrap();
    refused(Sst5::read(&path), &["train.tsv", "line 3", "not UTF-8"]);

    let mut rt = b"category,text\nfresh,good\n".to_vec();
    rt.extend_from_slice(b"rotten,");
    rt.extend_from_slice(latin1);
    let path = dir.join("rt.csv");
    std::fs::write(&path, &rt).unwrap();
    refused(
        RottenTomatoes::read(&path),
        &["rt.csv", "line 3", "not UTF-8"],
    );
}

#[test]
fn compressed_files_inflate_no_further_than_their_header_says() {
    let dir = temp_dir("bombs");
    // An IDX header for 1,000 bytes, followed by 64 MiB of zeros (a 64 KB gzip file).
    let mut bytes = vec![0u8, 0, 8, 1];
    bytes.extend_from_slice(&1000u32.to_be_bytes());
    bytes.resize(8 + (64 << 20), 0);
    let path = dir.join("bomb-idx1-ubyte.gz");
    gzip(&bytes, &path);
    assert!(std::fs::metadata(&path).unwrap().len() < 200_000);
    refused(
        read_idx(&path),
        &["bomb-idx1-ubyte.gz", "inflates past the 1008 bytes"],
    );
    // A header that claims more than the file could ever inflate to is refused at once.
    let mut bytes = vec![0u8, 0, 8, 3];
    for d in [1u32 << 31, 28, 28] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    let path = dir.join("claims-idx3-ubyte.gz");
    gzip(&bytes, &path);
    refused(read_idx(&path), &["claims-idx3-ubyte.gz", "more than a"]);

    // A .mat variable whose compressed inner tag announces 4 GB.
    let mut inner = Vec::new();
    inner.extend_from_slice(&14u32.to_le_bytes()); // miMATRIX
    inner.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    inner.extend_from_slice(&[0u8; 64]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&inner).unwrap();
    let body = z.finish().unwrap();
    let mut mat = vec![b' '; 128];
    mat[..10].copy_from_slice(b"MATLAB 5.0");
    mat[124..126].copy_from_slice(&[0x00, 0x01]);
    mat[126..128].copy_from_slice(b"IM");
    mat.extend_from_slice(&15u32.to_le_bytes()); // miCOMPRESSED
    mat.extend_from_slice(&(body.len() as u32).to_le_bytes());
    mat.extend_from_slice(&body);
    refused(
        dd_prelude::data::parse_mat("lying.mat", &mat),
        &["lying.mat", "announces"],
    );
}

#[test]
fn sizes_that_cannot_be_built_are_refused_before_allocating() {
    let dev = device();
    refused(
        ConvNetConfig::new(10, 1, [4, 4]).try_init(&dev),
        &["image_size", "too small"],
    );
    refused(
        ConvNetConfig::new(10, 3, [1 << 20, 1 << 20]).try_init(&dev),
        &["image_size", "memory"],
    );
    refused(ConvNetConfig::new(0, 1, [28, 28]).check(), &["num_classes"]);
    refused(
        ConvNetConfig::new(10, 1, [28, 28]).with_depth(64).check(),
        &["image_size"],
    );
    let ok = ImageSet::from_pixels(
        "t",
        [1, 8, 8],
        vec![0.5; 128],
        vec![0, 1],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    refused(
        Arch::ConvNet {
            width: 8,
            depth: 4,
            norm: NormKind::Instance,
            pool: PoolKind::Avg,
        }
        .check_for(&ok),
        &["image_size", "too small"],
    );
    // Images per class that no memory holds.
    refused(
        DmConfig::new(usize::MAX / 8)
            .with_iterations(1)
            .with_progress(false)
            .start(&ok, &dev),
        &["ipc", "memory"],
    );
    // An image size for the readers that is merely large: refused before reserving room.
    let dir = temp_dir("size");
    png(&dir.join("a").join("x.png"));
    refused(
        ImageFolder::new(&dir).with_image_size(1 << 40).load(),
        &["image_size"],
    );
    refused("crop99999999999".parse::<Augment>(), &["pad"]);
    refused(
        FitConfig::new()
            .with_augment(Augment::CropFlip { pad: usize::MAX })
            .check(),
        &["pad"],
    );
}

#[test]
fn sets_and_points_with_no_room_or_no_number_are_refused() {
    let classes = vec!["a".to_string()];
    refused(
        ImageSet::from_pixels("zero", [1, 0, 4], vec![], vec![0], classes.clone()),
        &["zero", "image shape"],
    );
    refused(
        ImageSet::from_pixels(
            "nan",
            [1, 1, 2],
            vec![0.0, f32::NAN],
            vec![0],
            classes.clone(),
        ),
        &["nan", "value 1 of image 0", "finite"],
    );
    refused(
        ImageSet::from_pixels_with_stats(
            "inf",
            [1, 1, 1],
            vec![f32::INFINITY],
            vec![0],
            classes.clone(),
            vec![0.0],
            vec![1.0],
        ),
        &["finite"],
    );
    refused(
        ImageSet::from_normalized(
            "std",
            [1, 1, 1],
            vec![0.0],
            vec![0],
            classes,
            vec![0.0],
            vec![0.0],
        ),
        &["std", "positive"],
    );
    let dev = device();
    refused(kmeans(&[], 2, 1, 10, 0, &dev), &["points"]);
    refused(kmeans(&[1.0, 2.0, 3.0], 2, 1, 10, 0, &dev), &["points"]);
    refused(kmeans(&[1.0, 2.0], 0, 1, 10, 0, &dev), &["dim"]);
    refused(kmeans(&[1.0, 2.0], 2, 0, 10, 0, &dev), &["`k`"]);
    refused(
        kmeans(&[0.0, 0.0, f32::NAN, 1.0], 2, 1, 10, 0, &dev),
        &["coordinate 0 of point 1", "NaN"],
    );
    refused(
        WordVectors::new(
            "wv",
            2,
            vec!["a".into(), "b".into()],
            vec![0.0, 1.0, f32::INFINITY, 0.0],
        ),
        &["wv", "`b`", "finite"],
    );
    let dir = temp_dir("glove");
    let path = dir.join("glove.txt");
    std::fs::write(&path, "the 0.1 0.2\nking nan 0.3\n").unwrap();
    refused(
        WordVectors::read_glove(&path),
        &["glove.txt", "`king`", "not finite"],
    );
    let set = SentenceSet::new(
        "s",
        vec!["x".into(), "y".into()],
        vec![0, 0],
        vec!["a".into()],
    )
    .unwrap();
    refused(set.split(2.0, 0), &["test_fraction"]);
    refused(set.split(f64::NAN, 0), &["test_fraction"]);
}

#[test]
fn numbers_a_user_sets_must_be_finite() {
    let inf = f64::INFINITY;
    refused(DcConfig::new(1).with_lr_net(inf).check(), &["lr_net"]);
    refused(DcConfig::new(1).with_lr_net(f64::NAN).check(), &["lr_net"]);
    refused(CafeConfig::new(1).with_lr_net(inf).check(), &["lr_net"]);
    refused(
        CafeConfig::new(1).with_inner_weight(inf).check(),
        &["inner_weight"],
    );
    refused(
        CafeConfig::new(1)
            .with_layer_weights(vec![1.0, inf])
            .check(),
        &["layer_weights"],
    );
    refused(
        FitConfig::new().with_weight_decay(inf).check(),
        &["weight_decay"],
    );
    refused(FitConfig::new().with_lr(inf).check(), &["`lr`"]);
    refused(
        EvalPreset::quick().with_weight_decay(inf).check(),
        &["weight_decay"],
    );
    refused(
        DiffAugConfig::new().with_ratio_scale(inf).check(),
        &["ratio_scale"],
    );
    refused(
        DiffAugConfig::new().with_ratio_rotate(inf).check(),
        &["ratio_rotate"],
    );
    refused(
        DiffAugConfig::new().with_brightness(inf).check(),
        &["finite"],
    );
    refused(DmConfig::new(1).with_lr_images(inf).check(), &["lr_images"]);
    refused(
        KdConfig::new().with_temperature(inf).check(),
        &["temperature"],
    );
}
