//! CIFAR-10 and CIFAR-100 in their binary versions (`cifar-10-binary.tar.gz`,
//! `cifar-100-binary.tar.gz`, Krizhevsky 2009), unpacked.
//!
//! A batch file is a sequence of records: the label byte(s) (CIFAR-10: the class; CIFAR-100:
//! the coarse then the fine label), then 3,072 pixel bytes: the red, green and blue 32x32
//! planes, each row-major. That is already the `C x H x W` order of an [`ImageSet`].

use std::path::{Path, PathBuf};

use super::files::default_dir;
use super::image_set::ImageSplits;
use crate::error::{Error, Result};

/// Bytes of pixels in one CIFAR record.
const PIXELS: usize = 3 * 32 * 32;

/// The CIFAR-10 classes, by label (the content of `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which CIFAR record layout a batch file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte (0-9), then the pixels.
    Cifar10,
    /// A coarse (0-19) and a fine (0-99) label byte, then the pixels.
    Cifar100,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100 => 2,
        }
    }

    /// Bytes per record: 3,073 or 3,074.
    pub fn record_len(self) -> usize {
        self.label_bytes() + PIXELS
    }
}

/// The records of one CIFAR batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CifarBatch {
    /// Pixel bytes, `n x 3 x 32 x 32`.
    pub pixels: Vec<u8>,
    /// CIFAR-10: the class; CIFAR-100: the fine label.
    pub labels: Vec<u8>,
    /// CIFAR-100 only: the coarse (superclass) label; empty for CIFAR-10.
    pub coarse: Vec<u8>,
}

impl CifarBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Parses the bytes of a CIFAR batch file; `path` only names the source in errors.
///
/// Checks that the file is a whole number of records and that every label is in range
/// (0-9 for CIFAR-10; coarse 0-19 and fine 0-99 for CIFAR-100).
///
/// # Example
/// ```
/// use dd_prelude::{CifarKind, data::parse_cifar_batch};
/// let mut record = vec![3u8];                 // label: cat
/// record.extend(vec![128u8; 3072]);           // a grey image
/// let batch = parse_cifar_batch("b.bin", &record, CifarKind::Cifar10).unwrap();
/// assert_eq!(batch.labels, vec![3]);
/// let err = parse_cifar_batch("b.bin", &record[..100], CifarKind::Cifar10).unwrap_err();
/// assert!(err.to_string().contains("record 0"));
/// ```
pub fn parse_cifar_batch(
    path: impl AsRef<Path>,
    bytes: &[u8],
    kind: CifarKind,
) -> Result<CifarBatch> {
    let path = path.as_ref();
    let rec = kind.record_len();
    if bytes.is_empty() {
        return Err(Error::data(path, "empty CIFAR batch file"));
    }
    if !bytes.len().is_multiple_of(rec) {
        let whole = bytes.len() / rec;
        return Err(Error::data(
            path,
            format!(
                "truncated CIFAR batch: {} bytes is not a whole number of {rec}-byte records \
                 (record {whole} has only {} bytes){}",
                bytes.len(),
                bytes.len() % rec,
                if bytes
                    .len()
                    .is_multiple_of(3 * 1024 + 3 - kind.label_bytes())
                {
                    "; is this a file of the other CIFAR (10 vs 100)?"
                } else {
                    ""
                }
            ),
        ));
    }
    let n = bytes.len() / rec;
    let mut out = CifarBatch {
        pixels: Vec::with_capacity(n * PIXELS),
        labels: Vec::with_capacity(n),
        coarse: Vec::new(),
    };
    for (i, record) in bytes.chunks_exact(rec).enumerate() {
        let offset = i * rec;
        match kind {
            CifarKind::Cifar10 => {
                check_label(path, i, offset, "label", record[0], 10)?;
                out.labels.push(record[0]);
            }
            CifarKind::Cifar100 => {
                check_label(path, i, offset, "coarse label", record[0], 20)?;
                check_label(path, i, offset + 1, "fine label", record[1], 100)?;
                out.coarse.push(record[0]);
                out.labels.push(record[1]);
            }
        }
        out.pixels.extend_from_slice(&record[kind.label_bytes()..]);
    }
    Ok(out)
}

fn check_label(path: &Path, record: usize, offset: usize, what: &str, v: u8, n: u8) -> Result<()> {
    if v >= n {
        return Err(Error::data(
            path,
            format!(
                "record {record} (byte offset {offset}): {what} {v} is out of range 0..{n} \
                 (wrong CIFAR variant, or a corrupt file)"
            ),
        ));
    }
    Ok(())
}

/// Reads one CIFAR batch file.
pub fn read_cifar_batch(path: impl AsRef<Path>, kind: CifarKind) -> Result<CifarBatch> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::data(path, format!("cannot read CIFAR batch: {e}")))?;
    parse_cifar_batch(path, &bytes, kind)
}

/// CIFAR-10 (binary version): `data_batch_1.bin` .. `data_batch_5.bin` (50,000 training
/// images), `test_batch.bin` (10,000), class names from `batches.meta.txt`.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// // the folder unpacked from cifar-10-binary.tar.gz
/// let cifar = Cifar10::load("/data/cifar-10-batches-bin")?;
/// assert_eq!(cifar.train.len(), 50_000);
/// # Ok::<(), Error>(())
/// ```
pub struct Cifar10;

impl Cifar10 {
    /// Loads `$DD_DATA/cifar-10-batches-bin`.
    pub fn load_default() -> Result<ImageSplits> {
        Self::load(default_dir(
            "cifar-10-batches-bin",
            "unpack cifar-10-binary.tar.gz in {data} (it creates cifar-10-batches-bin/)",
        )?)
    }

    /// Loads the unpacked binary version from `dir` (the folder holding `data_batch_1.bin`,
    /// or its parent). The test split is normalised with the training statistics.
    pub fn load(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        let dir = locate(dir.as_ref(), "cifar-10-batches-bin", "data_batch_1.bin")?;
        let classes = class_names(&dir.join("batches.meta.txt"), &CIFAR10_CLASSES, 10)?;
        let mut train = CifarBatch {
            pixels: Vec::new(),
            labels: Vec::new(),
            coarse: Vec::new(),
        };
        for k in 1..=5 {
            let b = read_cifar_batch(dir.join(format!("data_batch_{k}.bin")), CifarKind::Cifar10)?;
            train.pixels.extend(b.pixels);
            train.labels.extend(b.labels);
        }
        let test = read_cifar_batch(dir.join("test_batch.bin"), CifarKind::Cifar10)?;
        splits("CIFAR-10", train, test, classes, false)
    }
}

/// CIFAR-100 (binary version): `train.bin` (50,000), `test.bin` (10,000), 100 fine classes in
/// 20 superclasses, names from `fine_label_names.txt` / `coarse_label_names.txt`.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let fine = Cifar100::load("/data/cifar-100-binary")?;
/// let coarse = Cifar100::load_coarse("/data/cifar-100-binary")?;
/// assert_eq!((fine.train.num_classes(), coarse.train.num_classes()), (100, 20));
/// # Ok::<(), Error>(())
/// ```
pub struct Cifar100;

impl Cifar100 {
    /// Loads `$DD_DATA/cifar-100-binary` with the fine labels.
    pub fn load_default() -> Result<ImageSplits> {
        Self::load(default_dir(
            "cifar-100-binary",
            "unpack cifar-100-binary.tar.gz in {data} (it creates cifar-100-binary/)",
        )?)
    }

    /// Loads the unpacked binary version from `dir` with the 100 fine labels.
    pub fn load(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        Self::load_labels(dir.as_ref(), false)
    }

    /// Loads the unpacked binary version from `dir` with the 20 coarse labels.
    pub fn load_coarse(dir: impl AsRef<Path>) -> Result<ImageSplits> {
        Self::load_labels(dir.as_ref(), true)
    }

    fn load_labels(dir: &Path, coarse: bool) -> Result<ImageSplits> {
        let dir = locate(dir, "cifar-100-binary", "train.bin")?;
        let (file, n) = if coarse {
            ("coarse_label_names.txt", 20)
        } else {
            ("fine_label_names.txt", 100)
        };
        let classes = class_names(&dir.join(file), &[], n)?;
        let train = read_cifar_batch(dir.join("train.bin"), CifarKind::Cifar100)?;
        let test = read_cifar_batch(dir.join("test.bin"), CifarKind::Cifar100)?;
        let name = if coarse {
            "CIFAR-100 (coarse)"
        } else {
            "CIFAR-100"
        };
        splits(name, train, test, classes, coarse)
    }
}

fn splits(
    name: &str,
    train: CifarBatch,
    test: CifarBatch,
    classes: Vec<String>,
    coarse: bool,
) -> Result<ImageSplits> {
    let to_set = |b: CifarBatch| {
        let labels: Vec<usize> = if coarse { &b.coarse } else { &b.labels }
            .iter()
            .map(|&l| l as usize)
            .collect();
        let pixels: Vec<f32> = b.pixels.iter().map(|&p| p as f32 / 255.0).collect();
        (pixels, labels)
    };
    ImageSplits::from_pixels(name, [3, 32, 32], to_set(train), to_set(test), classes)
}

/// `dir` itself when it holds `marker`, else `dir/sub` when that does.
fn locate(dir: &Path, sub: &str, marker: &str) -> Result<PathBuf> {
    for d in [dir.to_path_buf(), dir.join(sub)] {
        if d.join(marker).is_file() {
            return Ok(d);
        }
    }
    Err(Error::data(
        dir,
        format!(
            "no {marker} here nor in {sub}/: point the reader at the folder unpacked from the \
             binary version of the data set (`tar -xzf {sub}.tar.gz` gives {sub}/)"
        ),
    ))
}

/// Class names, one per non-empty line of `path`; `fallback` when the file is absent and a
/// fallback exists. Exactly `n` names are required.
fn class_names(path: &Path, fallback: &[&str], n: usize) -> Result<Vec<String>> {
    if !path.is_file() && !fallback.is_empty() {
        return Ok(fallback.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::data(path, format!("cannot read class names: {e}")))?;
    let names: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if names.len() != n {
        return Err(Error::data(
            path,
            format!(
                "expected {n} class names (one per line), found {}",
                names.len()
            ),
        ));
    }
    Ok(names)
}
