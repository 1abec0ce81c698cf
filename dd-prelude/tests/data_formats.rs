//! Image-classification readers on small files written in each real format: CIFAR-10/100
//! binary batches, SVHN's MATLAB level 5 files (written byte by byte per the MAT-file spec),
//! MNIST's IDX files and an image folder; then corrupted variants that must fail clearly.

use std::io::Write;
use std::path::{Path, PathBuf};

use dd_prelude::data::{parse_cifar_batch, parse_mat};
use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-data-formats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-5, "value {i}: {x} vs {y}");
    }
}

fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

// ---------- CIFAR ----------

/// Pixel `p` of record `r` in a test batch: a pattern that catches any reordering.
fn cifar_pixel(r: usize, p: usize) -> u8 {
    ((r * 31 + p * 7) % 256) as u8
}

fn cifar10_batch(labels: &[u8], first_record: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend((0..3072).map(|p| cifar_pixel(first_record + k, p)));
    }
    out
}

fn write_cifar10(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for b in 1..=5 {
        let labels = [(b as u8) % 10, (b as u8 + 3) % 10];
        std::fs::write(
            dir.join(format!("data_batch_{b}.bin")),
            cifar10_batch(&labels, (b - 1) * 2),
        )
        .unwrap();
        all.extend(labels);
    }
    std::fs::write(dir.join("test_batch.bin"), cifar10_batch(&[9, 0, 4], 100)).unwrap();
    std::fs::write(
        dir.join("batches.meta.txt"),
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
    )
    .unwrap();
    all
}

#[test]
fn cifar10_reads_back_exactly() {
    let dir = temp_dir("cifar10");
    let sub = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&sub).unwrap();
    let labels = write_cifar10(&sub);
    // The parent folder works too.
    let cifar = Cifar10::load(&dir).unwrap();
    assert_eq!(cifar.train.len(), 10);
    assert_eq!(cifar.test.len(), 3);
    let got: Vec<u8> = cifar.train.labels().iter().map(|&l| l as u8).collect();
    assert_eq!(got, labels);
    assert_eq!(cifar.test.labels(), &[9, 0, 4]);
    assert_eq!(cifar.train.classes()[3], "cat");
    assert_eq!(cifar.train.image_shape(), [3, 32, 32]);
    for r in [0, 7] {
        let want: Vec<f32> = (0..3072)
            .map(|p| cifar_pixel(r, p) as f32 / 255.0)
            .collect();
        assert_close(&cifar.train.pixels(r), &want);
    }
    let want: Vec<f32> = (0..3072)
        .map(|p| cifar_pixel(102, p) as f32 / 255.0)
        .collect();
    assert_close(&cifar.test.pixels(2), &want);
    // The test split is normalised with the training statistics.
    assert_eq!(cifar.test.mean(), cifar.train.mean());
}

#[test]
fn cifar10_corrupt_files_give_clear_errors() {
    let dir = temp_dir("cifar10-bad");
    write_cifar10(&dir);
    let b3 = dir.join("data_batch_3.bin");
    let good = std::fs::read(&b3).unwrap();

    std::fs::write(&b3, &good[..3073 + 1000]).unwrap();
    let e = err_text(Cifar10::load(&dir));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("truncated") && e.contains("record 1"),
        "{e}"
    );

    let mut bad = good.clone();
    bad[3073] = 10; // label of record 1
    std::fs::write(&b3, &bad).unwrap();
    let e = err_text(Cifar10::load(&dir));
    assert!(
        e.contains("data_batch_3.bin")
            && e.contains("record 1")
            && e.contains("label 10 is out of range 0..10"),
        "{e}"
    );

    std::fs::write(&b3, &good).unwrap();
    std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
    let e = err_text(Cifar10::load(&dir));
    assert!(e.contains("test_batch.bin"), "{e}");

    std::fs::write(dir.join("test_batch.bin"), b"").unwrap();
    let e = err_text(Cifar10::load(&dir));
    assert!(e.contains("test_batch.bin") && e.contains("empty"), "{e}");

    let e = err_text(Cifar10::load(dir.join("nowhere")));
    assert!(e.contains("data_batch_1.bin"), "{e}");
}

#[test]
fn cifar10_meta_with_wrong_class_count_is_an_error() {
    let dir = temp_dir("cifar10-meta");
    write_cifar10(&dir);
    std::fs::write(dir.join("batches.meta.txt"), "a\nb\n").unwrap();
    let e = err_text(Cifar10::load(&dir));
    assert!(
        e.contains("batches.meta.txt") && e.contains("expected 10 class names"),
        "{e}"
    );
}

fn write_cifar100(dir: &Path, records: &[(u8, u8)], file: &str) {
    let mut out = Vec::new();
    for (k, &(c, f)) in records.iter().enumerate() {
        out.push(c);
        out.push(f);
        out.extend((0..3072).map(|p| cifar_pixel(k, p)));
    }
    std::fs::write(dir.join(file), out).unwrap();
}

#[test]
fn cifar100_reads_fine_and_coarse_labels() {
    let dir = temp_dir("cifar100");
    write_cifar100(&dir, &[(4, 0), (19, 99), (0, 50)], "train.bin");
    write_cifar100(&dir, &[(7, 12)], "test.bin");
    let fine: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    let coarse: String = (0..20).map(|i| format!("coarse{i}\n")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), fine).unwrap();
    std::fs::write(dir.join("coarse_label_names.txt"), coarse).unwrap();

    let f = Cifar100::load(&dir).unwrap();
    assert_eq!(f.train.labels(), &[0, 99, 50]);
    assert_eq!(f.test.labels(), &[12]);
    assert_eq!(f.train.num_classes(), 100);
    assert_eq!(f.train.classes()[99], "fine99");
    let c = Cifar100::load_coarse(&dir).unwrap();
    assert_eq!(c.train.labels(), &[4, 19, 0]);
    assert_eq!(c.train.num_classes(), 20);
    let want: Vec<f32> = (0..3072)
        .map(|p| cifar_pixel(1, p) as f32 / 255.0)
        .collect();
    assert_close(&c.train.pixels(1), &want);

    // A fine label of 100 names the record and the field.
    write_cifar100(&dir, &[(4, 0), (3, 100)], "train.bin");
    let e = err_text(Cifar100::load(&dir));
    assert!(
        e.contains("train.bin") && e.contains("record 1") && e.contains("fine label 100"),
        "{e}"
    );
    // A CIFAR-10 file read as CIFAR-100 is a whole-record mismatch.
    std::fs::write(dir.join("train.bin"), cifar10_batch(&[1, 2], 0)).unwrap();
    let e = err_text(Cifar100::load(&dir));
    assert!(
        e.contains("train.bin") && e.contains("3074-byte records"),
        "{e}"
    );
}

#[test]
fn cifar_parser_never_panics_on_arbitrary_bytes() {
    for len in [0usize, 1, 3072, 3073, 3074, 6146, 6147, 9219] {
        for fill in [0u8, 9, 10, 99, 100, 255] {
            let bytes = vec![fill; len];
            let _ = parse_cifar_batch("x.bin", &bytes, CifarKind::Cifar10);
            let _ = parse_cifar_batch("x.bin", &bytes, CifarKind::Cifar100);
        }
    }
}

// ---------- MATLAB level 5 / SVHN ----------

/// A MAT-file writer following MathWorks' "MAT-File Format" (level 5), byte by byte.
struct MatWriter {
    little: bool,
    out: Vec<u8>,
}

impl MatWriter {
    fn new(little: bool) -> Self {
        let mut out = Vec::with_capacity(256);
        let mut text =
            b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Sun Nov 22 10:00:00 2026"
                .to_vec();
        text.resize(116, b' ');
        out.extend(text);
        out.extend([0u8; 8]); // subsystem data offset: none
        if little {
            out.extend(0x0100u16.to_le_bytes());
            out.extend(b"IM");
        } else {
            out.extend(0x0100u16.to_be_bytes());
            out.extend(b"MI");
        }
        MatWriter { little, out }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }

    fn tag(&self, buf: &mut Vec<u8>, kind: u32, n: usize) {
        buf.extend(self.u32(kind));
        buf.extend(self.u32(n as u32));
    }

    fn pad(buf: &mut Vec<u8>) {
        while !buf.len().is_multiple_of(8) {
            buf.push(0);
        }
    }

    /// One `miMATRIX` element: flags, dimensions, name (small form when <= 4 bytes), real part.
    fn matrix(&self, name: &str, class: u8, dims: &[u32], data_type: u32, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        self.tag(&mut body, 6, 8); // miUINT32 array flags
        body.extend(self.u32(class as u32));
        body.extend(self.u32(0));
        self.tag(&mut body, 5, 4 * dims.len()); // miINT32 dimensions
        for &d in dims {
            body.extend(self.u32(d));
        }
        Self::pad(&mut body);
        if name.len() <= 4 {
            body.extend(self.u32(((name.len() as u32) << 16) | 1)); // small miINT8
            let mut b = name.as_bytes().to_vec();
            b.resize(4, 0);
            body.extend(b);
        } else {
            self.tag(&mut body, 1, name.len());
            body.extend(name.as_bytes());
            Self::pad(&mut body);
        }
        self.tag(&mut body, data_type, data.len());
        body.extend(data);
        Self::pad(&mut body);
        let mut el = Vec::new();
        self.tag(&mut el, 14, body.len());
        el.extend(body);
        el
    }

    fn add(&mut self, element: Vec<u8>, compressed: bool) {
        if compressed {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&element).unwrap();
            let z = z.finish().unwrap();
            let mut tagged = Vec::new();
            self.tag(&mut tagged, 15, z.len());
            tagged.extend(z);
            self.out.extend(tagged);
        } else {
            self.out.extend(element);
        }
    }
}

/// SVHN-like `X` (h x w x 3 x n, column-major) and `y` (n x 1, stored as uint8 or double).
fn svhn_pixel(row: usize, col: usize, ch: usize, n: usize) -> u8 {
    ((row * 7 + col * 3 + ch * 50 + n * 11) % 256) as u8
}

fn svhn_mat(
    h: usize,
    w: usize,
    labels: &[u8],
    little: bool,
    compressed: bool,
    y_as_double: bool,
) -> Vec<u8> {
    let n = labels.len();
    let mut x = Vec::with_capacity(h * w * 3 * n);
    for img in 0..n {
        for ch in 0..3 {
            for col in 0..w {
                for row in 0..h {
                    x.push(svhn_pixel(row, col, ch, img));
                }
            }
        }
    }
    let mut m = MatWriter::new(little);
    let xe = m.matrix("X", 9, &[h as u32, w as u32, 3, n as u32], 2, &x); // mxUINT8, miUINT8
    m.add(xe, compressed);
    let ye = if y_as_double {
        let bytes: Vec<u8> = labels
            .iter()
            .flat_map(|&l| {
                if little {
                    (l as f64).to_le_bytes()
                } else {
                    (l as f64).to_be_bytes()
                }
            })
            .collect();
        m.matrix("y", 6, &[n as u32, 1], 9, &bytes) // mxDOUBLE, miDOUBLE
    } else {
        m.matrix("y", 6, &[n as u32, 1], 2, labels) // mxDOUBLE stored as miUINT8, as MATLAB does
    };
    m.add(ye, compressed);
    m.out
}

#[test]
fn mat_reader_reads_every_variant_back() {
    let dir = temp_dir("mat");
    for little in [true, false] {
        for compressed in [false, true] {
            for y_double in [false, true] {
                let path = dir.join(format!("t-{little}-{compressed}-{y_double}.mat"));
                std::fs::write(
                    &path,
                    svhn_mat(2, 3, &[10, 1, 7], little, compressed, y_double),
                )
                .unwrap();
                let mat = read_mat(&path).unwrap();
                let x = mat.array("X").unwrap();
                assert_eq!(x.dims, vec![2, 3, 3, 3]);
                assert_eq!(x.class, dd_prelude::data::MatClass::UInt8);
                let y = mat.array("y").unwrap();
                assert_eq!(y.dims, vec![3, 1]);
                assert_eq!(
                    y.data,
                    dd_prelude::data::MatData::Float(vec![10.0, 1.0, 7.0])
                );
                let e = mat.array("Z").unwrap_err().to_string();
                assert!(
                    e.contains("no numeric variable `Z`") && e.contains("X, y"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn svhn_reads_back_with_label_10_as_digit_0() {
    let dir = temp_dir("svhn");
    std::fs::write(
        dir.join("train_32x32.mat"),
        svhn_mat(32, 32, &[10, 1, 5, 9], true, true, false),
    )
    .unwrap();
    std::fs::write(
        dir.join("test_32x32.mat"),
        svhn_mat(32, 32, &[3, 10], true, false, true),
    )
    .unwrap();
    let svhn = Svhn::load(&dir).unwrap();
    assert_eq!(svhn.train.labels(), &[0, 1, 5, 9]);
    assert_eq!(svhn.test.labels(), &[3, 0]);
    assert_eq!(svhn.train.image_shape(), [3, 32, 32]);
    assert_eq!(svhn.train.classes()[0], "0");
    for img in [0, 3] {
        let mut want = Vec::new();
        for ch in 0..3 {
            for row in 0..32 {
                for col in 0..32 {
                    want.push(svhn_pixel(row, col, ch, img) as f32 / 255.0);
                }
            }
        }
        assert_close(&svhn.train.pixels(img), &want);
    }
    assert_eq!(svhn.test.mean(), svhn.train.mean());
}

#[test]
fn svhn_and_mat_errors_name_file_record_and_problem() {
    let dir = temp_dir("svhn-bad");
    let p = dir.join("train_32x32.mat");
    let e = |bytes: &[u8]| {
        std::fs::write(&p, bytes).unwrap();
        err_text(Svhn::read_split(&p))
    };
    // Label 11 in record 2.
    let msg = e(&svhn_mat(4, 4, &[1, 2, 11], true, false, false));
    assert!(
        msg.contains("train_32x32.mat") && msg.contains("record 2") && msg.contains("11"),
        "{msg}"
    );
    // Label 0 is out of range too (SVHN labels are 1-10).
    let msg = e(&svhn_mat(4, 4, &[0], true, false, true));
    assert!(
        msg.contains("record 0") && msg.contains("out of range 1..=10"),
        "{msg}"
    );
    // Truncated anywhere: inside the header, inside X, inside y.
    let good = svhn_mat(4, 4, &[1, 2], true, false, false);
    for cut in [10, 128 + 4, 200, good.len() - 9] {
        let msg = e(&good[..cut]);
        assert!(
            msg.contains("train_32x32.mat") && msg.contains("truncated"),
            "cut {cut}: {msg}"
        );
    }
    // Wrong endian indicator.
    let mut bad = good.clone();
    bad[126..128].copy_from_slice(b"XX");
    let msg = e(&bad);
    assert!(msg.contains("endian indicator"), "{msg}");
    // An HDF5 (v7.3) file.
    let mut h5 = b"\x89HDF\r\n\x1a\n".to_vec();
    h5.resize(512, 0);
    let msg = e(&h5);
    assert!(msg.contains("v7.3"), "{msg}");
    // Count mismatch: X declares 5 images but holds data for 2.
    let mut m = MatWriter::new(true);
    let xe = m.matrix("X", 9, &[4, 4, 3, 5], 2, &[0u8; 4 * 4 * 3 * 2]);
    m.add(xe, false);
    let msg = e(&m.out);
    assert!(
        msg.contains("`X`") && msg.contains("holds 96 miUINT8 values, the dimensions need 240"),
        "{msg}"
    );
    // X and y disagree on the number of images.
    let mut m = MatWriter::new(true);
    let xe = m.matrix("X", 9, &[4, 4, 3, 2], 2, &[0u8; 96]);
    m.add(xe, false);
    let ye = m.matrix("y", 6, &[3, 1], 2, &[1, 2, 3]);
    m.add(ye, false);
    let msg = e(&m.out);
    assert!(
        msg.contains("`y`") && msg.contains("one label per image"),
        "{msg}"
    );
    // No y at all.
    let mut m = MatWriter::new(true);
    let xe = m.matrix("X", 9, &[4, 4, 3, 2], 2, &[0u8; 96]);
    m.add(xe, true);
    let msg = e(&m.out);
    assert!(msg.contains("no numeric variable `y`"), "{msg}");
    // A corrupt zlib stream.
    let mut bad = svhn_mat(4, 4, &[1], true, true, false);
    for b in &mut bad[128 + 8 + 2..128 + 8 + 40] {
        *b ^= 0x5a;
    }
    let msg = e(&bad);
    assert!(
        msg.contains("train_32x32.mat") && (msg.contains("zlib") || msg.contains("compressed")),
        "{msg}"
    );
}

#[test]
fn mat_parser_never_panics_on_truncations_and_bit_flips() {
    let good = svhn_mat(4, 4, &[1, 2], true, true, false);
    let plain = svhn_mat(4, 4, &[1, 2], false, false, true);
    for bytes in [&good, &plain] {
        for cut in 0..bytes.len() {
            let _ = parse_mat("x.mat", &bytes[..cut]);
        }
        for i in 128..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let _ = parse_mat("x.mat", &b);
            }
        }
    }
}

// ---------- MNIST (IDX) ----------

#[test]
fn mnist_reads_idx_files_raw_and_gzipped() {
    let dir = temp_dir("mnist");
    let px: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 256) as u8).collect();
    write_idx(dir.join("train-images-idx3-ubyte.gz"), &[3, 28, 28], &px).unwrap();
    write_idx(dir.join("train-labels-idx1-ubyte.gz"), &[3], &[7, 0, 9]).unwrap();
    write_idx(dir.join("t10k-images-idx3-ubyte"), &[1, 28, 28], &px[..784]).unwrap();
    write_idx(dir.join("t10k-labels-idx1-ubyte"), &[1], &[3]).unwrap();
    let mnist = Mnist::load(&dir).unwrap();
    assert_eq!(mnist.train.labels(), &[7, 0, 9]);
    assert_eq!(mnist.test.labels(), &[3]);
    let want: Vec<f32> = px[784..1568].iter().map(|&b| b as f32 / 255.0).collect();
    assert_close(&mnist.train.pixels(1), &want);
    write_idx(dir.join("t10k-labels-idx1-ubyte"), &[1], &[10]).unwrap();
    let e = err_text(Mnist::load(&dir));
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("record 0"),
        "{e}"
    );
}

// ---------- image folder ----------

fn save_png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
    img.save(path).unwrap();
}

#[test]
fn image_folder_reads_png_and_jpeg_with_sorted_classes() {
    let dir = temp_dir("folder");
    for class in ["zebra", "ant"] {
        std::fs::create_dir_all(dir.join("train").join(class)).unwrap();
        std::fs::create_dir_all(dir.join("test").join(class)).unwrap();
    }
    let pattern = |x: u32, y: u32| [(x * 60) as u8, (y * 60) as u8, 200];
    save_png(&dir.join("train/ant/b.png"), 4, 4, pattern);
    save_png(&dir.join("train/ant/a.png"), 4, 4, |_, _| [0, 0, 0]);
    save_png(&dir.join("train/zebra/z.png"), 8, 4, |_, _| [255, 255, 255]);
    std::fs::write(dir.join("train/zebra/notes.txt"), "not an image").unwrap();
    let rgb = image::RgbImage::from_pixel(4, 4, image::Rgb([128, 64, 32]));
    rgb.save(dir.join("test/zebra/q.jpg")).unwrap();

    let splits = ImageFolder::new(&dir)
        .with_image_size(4)
        .load_splits()
        .unwrap();
    assert_eq!(splits.train.classes(), &["ant".to_string(), "zebra".into()]);
    assert_eq!(splits.train.labels(), &[0, 0, 1]); // a.png, b.png, z.png
    assert_eq!(splits.test.labels(), &[1]);
    // b.png read back exactly, channel planes in order.
    let mut want = Vec::new();
    for ch in 0..3 {
        for y in 0..4u32 {
            for x in 0..4u32 {
                want.push(pattern(x, y)[ch] as f32 / 255.0);
            }
        }
    }
    assert_close(&splits.train.pixels(1), &want);
    // The 8x4 picture is resized to 4x2 and centre-cropped to 4x4... of a white image: white.
    assert!(
        splits
            .train
            .pixels(2)
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-5)
    );
    // JPEG is lossy: within a few levels.
    let q = splits.test.pixels(0);
    assert!(
        (q[0] - 128.0 / 255.0).abs() < 0.03 && (q[32] - 32.0 / 255.0).abs() < 0.03,
        "{:?}",
        &q[..1]
    );

    let grey = ImageFolder::new(dir.join("train"))
        .with_image_size(2)
        .with_grayscale(true)
        .load()
        .unwrap();
    assert_eq!(grey.image_shape(), [1, 2, 2]);

    // An unreadable PNG names the file.
    std::fs::write(
        dir.join("train/ant/c.png"),
        b"\x89PNG\r\n\x1a\nthis is not a png",
    )
    .unwrap();
    let e = err_text(ImageFolder::new(&dir).with_image_size(4).load_splits());
    assert!(e.contains("c.png") && e.contains("unreadable image"), "{e}");
    // A test class that train does not have.
    std::fs::remove_file(dir.join("train/ant/c.png")).unwrap();
    std::fs::create_dir_all(dir.join("test/yak")).unwrap();
    let e = err_text(ImageFolder::new(&dir).with_image_size(4).load_splits());
    assert!(e.contains("yak") && e.contains("not among"), "{e}");
    // An image size of 0 is a config error, not a panic.
    let e = err_text(
        ImageFolder::new(dir.join("train"))
            .with_image_size(0)
            .load(),
    );
    assert!(e.contains("image_size"), "{e}");
}
