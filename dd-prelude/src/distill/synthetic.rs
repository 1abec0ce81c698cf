//! The distilled set ([`SyntheticSet`]) and its artefact: a safetensors file plus a JSON
//! manifest, both written atomically.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::{ImageSet, SoftLabelled};
use crate::error::{Error, Result};
use crate::show::{Png, ShowImages, Table};

/// A distilled image set: normalised images grouped by class, their labels, class names, the
/// normalisation statistics of the source set, the learned step size (if the method learns
/// one) and its provenance.
///
/// # Example
/// ```
/// use dd_prelude::distill::SyntheticSet;
/// let syn = SyntheticSet::new("DM", "toy", [1, 2, 2], vec![0.0; 8], vec![0, 1],
///                             vec!["a".into(), "b".into()], vec![0.5], vec![0.25])?;
/// assert_eq!(syn.to_image_set()?.len(), 2);
/// assert_eq!(syn.images_per_class(), 1);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSet {
    /// Method that produced the set (`DC`, `DSA`, `DM`, `CAFE`, ...).
    pub method: String,
    /// Name of the real set it was distilled from.
    pub source: String,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Normalised values, `N*C*H*W` row-major.
    #[serde(skip)]
    pub images: Vec<f32>,
    /// One label per image.
    #[serde(skip)]
    pub labels: Vec<usize>,
    /// Learned soft targets, `N x classes` row-major (each row a distribution), for methods
    /// that learn them (SLDD); `None` means the hard `labels` are the targets.
    #[serde(skip)]
    pub soft_labels: Option<Vec<f32>>,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Per-channel mean of the source set's normalisation.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the source set's normalisation.
    pub std: Vec<f32>,
    /// Learned step size, for methods that learn one (MTT, SLDD).
    pub lr: Option<f32>,
    /// The method's configuration as JSON (hyper-parameters, seed).
    pub config: serde_json::Value,
    /// Outer iterations run.
    pub iterations: usize,
    /// Wall-clock seconds of distillation.
    pub seconds: f64,
    /// Accuracy measured for this set, when it was scored.
    pub accuracy: Option<Accuracy>,
}

/// A measured accuracy of a distilled set (mean and std over freshly trained networks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Mean test accuracy in `[0, 1]`.
    pub mean: f64,
    /// Standard deviation over the networks.
    pub std: f64,
    /// Networks trained.
    pub models: usize,
    /// The protocol (preset name, epochs, ...).
    pub protocol: String,
}

/// The manifest written beside the tensors.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    tensors: String,
    /// FNV-1a of the tensors file's bytes: the manifest is written after the tensors, so a
    /// pair cut short between the two, or mixed with another save's, is refused on load.
    #[serde(default)]
    tensors_checksum: Option<String>,
    images: usize,
    #[serde(flatten)]
    set: SyntheticSet,
}

const FORMAT: &str = "dd-prelude synthetic set v1";

impl SyntheticSet {
    /// A set with empty provenance (config `null`, no iterations, no accuracy).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: impl Into<String>,
        source: impl Into<String>,
        shape: [usize; 3],
        images: Vec<f32>,
        labels: Vec<usize>,
        classes: Vec<String>,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<Self> {
        let set = SyntheticSet {
            method: method.into(),
            source: source.into(),
            shape,
            images,
            labels,
            soft_labels: None,
            classes,
            mean,
            std,
            lr: None,
            config: serde_json::Value::Null,
            iterations: 0,
            seconds: 0.0,
            accuracy: None,
        };
        set.to_image_set()?;
        Ok(set)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images per class (of the largest class).
    pub fn images_per_class(&self) -> usize {
        let mut counts = vec![0usize; self.classes.len()];
        // (a label out of range is counted nowhere: `to_image_set` names it as an error)
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts.into_iter().max().unwrap_or(0)
    }

    /// The set with its learned soft targets as a [`SoftLabelled`] image set (what `fit` and
    /// the evaluation protocol train a soft-label set as); hard one-hot targets when the
    /// method learned none.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::SyntheticSet;
    /// let mut syn = SyntheticSet::new("SLDD", "toy", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
    ///                                 vec!["a".into(), "b".into()], vec![0.0], vec![1.0])?;
    /// syn.soft_labels = Some(vec![0.8, 0.2, 0.4, 0.6]);
    /// assert_eq!(syn.to_soft_set()?.soft_targets().unwrap()[1], 0.2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_soft_set(&self) -> Result<SoftLabelled<ImageSet>> {
        let images = self.to_image_set()?;
        let k = self.classes.len();
        let targets = match &self.soft_labels {
            Some(soft) => soft.clone(),
            None => self
                .labels
                .iter()
                .flat_map(|&l| (0..k).map(move |c| if c == l { 1.0 } else { 0.0 }))
                .collect(),
        };
        SoftLabelled::new(images, targets)
    }

    /// The set as an [`ImageSet`] with hard labels (for `fit`, the evaluation protocol,
    /// grids).
    pub fn to_image_set(&self) -> Result<ImageSet> {
        ImageSet::from_normalized(
            format!(
                "{} synthetic ({} per class)",
                self.method,
                self.images_per_class()
            ),
            self.shape,
            self.images.clone(),
            self.labels.clone(),
            self.classes.clone(),
            self.mean.clone(),
            self.std.clone(),
        )
    }

    /// Records a measured accuracy (saved in the manifest).
    pub fn with_accuracy(mut self, accuracy: Accuracy) -> Self {
        self.accuracy = Some(Accuracy {
            mean: json_exact(accuracy.mean),
            std: json_exact(accuracy.std),
            ..accuracy
        });
        self
    }

    /// The soft labels of the first `per_class` images of every class as a table: one row per
    /// image (its class, then its probability of every class, in %); hard labels show as
    /// one-hot rows.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::SyntheticSet;
    /// let mut syn = SyntheticSet::new("SLDD", "toy", [1, 1, 1], vec![0.0, 1.0], vec![0, 1],
    ///                                 vec!["a".into(), "b".into()], vec![0.0], vec![1.0])?;
    /// syn.soft_labels = Some(vec![0.75, 0.25, 0.5, 0.5]);
    /// let t = syn.soft_label_table(1)?;
    /// assert_eq!(t.frame().height(), 2);
    /// assert!(t.to_html().contains("75"));
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn soft_label_table(&self, per_class: usize) -> Result<Table> {
        let k = self.classes.len();
        let soft = self.to_soft_set()?;
        let targets = crate::data::Examples::soft_targets(&soft).unwrap_or(&[]);
        let rows: Vec<usize> = (0..k)
            .flat_map(|c| {
                (0..self.len())
                    .filter(move |&i| self.labels[i] == c)
                    .take(per_class)
            })
            .collect();
        let mut columns = vec![
            polars::prelude::Column::new(
                "image".into(),
                rows.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            ),
            polars::prelude::Column::new(
                "class".into(),
                rows.iter()
                    .map(|&i| self.classes[self.labels[i]].clone())
                    .collect::<Vec<_>>(),
            ),
        ];
        for (c, name) in self.classes.iter().enumerate() {
            columns.push(polars::prelude::Column::new(
                format!("{name} %").into(),
                rows.iter()
                    .map(|&i| 100.0 * targets[i * k + c] as f64)
                    .collect::<Vec<_>>(),
            ));
        }
        let frame =
            polars::prelude::DataFrame::new_infer_height(columns).map_err(|e| Error::Render {
                what: "soft label table",
                reason: e.to_string(),
            })?;
        let lr = self
            .lr
            .map_or(String::new(), |lr| format!("; learned step size {lr:.4}"));
        Ok(Table::new(
            format!("{} soft labels of {}{lr}", self.method, self.source),
            frame,
        ))
    }

    /// A class-by-class grid (`per_class` images per row, class names on the left).
    pub fn show_grid(&self, per_class: usize) -> Result<Png> {
        self.to_image_set()?.show_grid(per_class)
    }

    /// Shows the class-by-class grid in a notebook.
    pub fn evcxr_display(&self) {
        match self.show_grid(self.images_per_class().min(10)) {
            Ok(png) => png.evcxr_display(),
            Err(e) => println!("{self}\n(grid not rendered: {e})"),
        }
    }

    /// Writes `<path>.safetensors` (tensors `images` f32 `[n, c, h, w]`, `labels` i64 `[n]`,
    /// and `lr` f32 `[1]` when learned) and `<path>.json` (the manifest: method,
    /// hyper-parameters, source, seed, iterations, time, accuracy, class names,
    /// normalisation), each through a temporary file and a rename, so a crash never leaves a
    /// half-written artefact. Returns the safetensors path.
    ///
    /// Load it in PyTorch with `safetensors.torch.load_file(path)`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::distill::SyntheticSet;
    /// let syn = SyntheticSet::new("DM", "toy", [1, 1, 2], vec![0.0, 1.0, 2.0, 3.0], vec![0, 1],
    ///                             vec!["a".into(), "b".into()], vec![0.0], vec![1.0])?;
    /// let dir = std::env::temp_dir().join(format!("dd-doc-{}", std::process::id()));
    /// let file = syn.save(dir.join("toy"))?;
    /// assert_eq!(SyntheticSet::load(&file)?, syn);
    /// # std::fs::remove_dir_all(dir).ok();
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let base = strip_ext(path.as_ref());
        let tensors_path = with_suffix(&base, "safetensors");
        let manifest_path = with_suffix(&base, "json");
        if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.into(),
                source,
            })?;
        }
        let [c, h, w] = self.shape;
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        let mut entries = vec![
            (
                "images".to_string(),
                Dtype::F32,
                vec![self.len(), c, h, w],
                f32_bytes(&self.images),
            ),
            (
                "labels".to_string(),
                Dtype::I64,
                vec![self.len()],
                i64_bytes(&labels),
            ),
        ];
        if let Some(lr) = self.lr {
            entries.push(("lr".to_string(), Dtype::F32, vec![1], f32_bytes(&[lr])));
        }
        if let Some(soft) = &self.soft_labels {
            entries.push((
                "soft_labels".to_string(),
                Dtype::F32,
                vec![self.len(), self.classes.len()],
                f32_bytes(soft),
            ));
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("method".to_string(), self.method.clone());
        let bytes = serialize(&entries, meta, &tensors_path)?;
        let manifest = Manifest {
            format: FORMAT.into(),
            tensors: tensors_path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            tensors_checksum: Some(fnv_hex(&bytes)),
            images: self.len(),
            set: self.clone(),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::data(&manifest_path, format!("manifest not serialisable: {e}")))?;
        write_atomic(&tensors_path, &bytes)?;
        write_atomic(&manifest_path, &json)?;
        Ok(tensors_path)
    }

    /// Reads a set written by [`SyntheticSet::save`] (give the `.safetensors`, the `.json`
    /// or the common stem).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let base = strip_ext(path.as_ref());
        let tensors_path = with_suffix(&base, "safetensors");
        let manifest_path = with_suffix(&base, "json");
        let json = std::fs::read(&manifest_path)
            .map_err(|e| Error::data(&manifest_path, e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| Error::data(&manifest_path, format!("not a dd-prelude manifest: {e}")))?;
        let bytes =
            std::fs::read(&tensors_path).map_err(|e| Error::data(&tensors_path, e.to_string()))?;
        if let Some(want) = &manifest.tensors_checksum
            && *want != fnv_hex(&bytes)
        {
            return Err(Error::data(
                &tensors_path,
                format!(
                    "does not match its manifest {} (another save's tensors, or a save cut short): save the set again",
                    manifest_path.display()
                ),
            ));
        }
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::data(&tensors_path, format!("not a safetensors file: {e}")))?;
        let [c, h, w] = manifest.set.shape;
        let n = manifest.images;
        let k = manifest.set.classes.len();
        for (name, want) in [
            ("images", vec![n, c, h, w]),
            ("labels", vec![n]),
            ("soft_labels", vec![n, k]),
        ] {
            if let Ok(t) = st.tensor(name)
                && t.shape() != want.as_slice()
            {
                return Err(Error::data(
                    &tensors_path,
                    format!(
                        "tensor `{name}` has shape {:?}; the manifest describes {want:?}",
                        t.shape()
                    ),
                ));
            }
        }
        let mut set = manifest.set;
        set.images = read_f32(&st, "images", &tensors_path)?;
        set.labels = read_i64(&st, "labels", &tensors_path)?
            .into_iter()
            .map(|l| l as usize)
            .collect();
        set.lr = match st.tensor("lr") {
            Ok(_) => read_f32(&st, "lr", &tensors_path)?.first().copied(),
            Err(_) => None,
        };
        set.soft_labels = match st.tensor("soft_labels") {
            Ok(_) => Some(read_f32(&st, "soft_labels", &tensors_path)?),
            Err(_) => None,
        };
        if let Some(lr) = set.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(Error::data(
                &tensors_path,
                format!(
                    "learned step size `lr` is {lr}; a set is scored with a positive, finite one"
                ),
            ));
        }
        set.to_image_set()?;
        if set.soft_labels.is_some() {
            set.to_soft_set()
                .map_err(|e| Error::data(&tensors_path, e.to_string()))?;
        }
        Ok(set)
    }
}

impl fmt::Display for SyntheticSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.shape;
        write!(
            f,
            "{} synthetic set of {}: {} images {}x{}x{} ({} per class), {} iterations in {}",
            self.method,
            self.source,
            self.len(),
            c,
            h,
            w,
            self.images_per_class(),
            self.iterations,
            crate::format_secs(self.seconds)
        )?;
        if let Some(lr) = self.lr {
            write!(f, ", learned lr {lr:.4}")?;
        }
        if let Some(a) = &self.accuracy {
            write!(
                f,
                ", accuracy {:.2} ± {:.2}% ({})",
                a.mean * 100.0,
                a.std * 100.0,
                a.protocol
            )?;
        }
        Ok(())
    }
}

/// `x` to 13 significant digits: a value the manifest's JSON reads back bit for bit
/// (serde_json parses long decimals to within one unit in the last place, short ones
/// exactly), so a loaded set equals the saved one.
pub(crate) fn json_exact(x: f64) -> f64 {
    format!("{x:.12e}").parse().unwrap_or(x)
}

/// `base` with `.ext` appended (not replacing a dot in the name: `dm_lr0.1` gives
/// `dm_lr0.1.safetensors`, not `dm_lr0.safetensors`).
fn with_suffix(base: &Path, ext: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// FNV-1a of `bytes`, as hex.
fn fnv_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `a/b.safetensors` or `a/b.json` to `a/b`; anything else unchanged.
fn strip_ext(p: &Path) -> PathBuf {
    match p.extension().and_then(|e| e.to_str()) {
        Some("safetensors") | Some("json") => p.with_extension(""),
        _ => p.to_path_buf(),
    }
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Serialises named tensors `(name, dtype, shape, little-endian bytes)` with string metadata.
pub(crate) fn serialize(
    entries: &[(String, Dtype, Vec<usize>, Vec<u8>)],
    meta: HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>> {
    let views = entries
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::data(path, format!("tensor layout: {e}")))?;
    safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| Error::data(path, format!("safetensors: {e}")))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let io = |source| Error::Io {
        path: tmp.clone(),
        source,
    };
    // Written and flushed to disk before it takes the final name; removed on failure.
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(source));
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: path.into(),
            source,
        }
    })
}

pub(crate) fn read_f32(st: &SafeTensors<'_>, name: &str, path: &Path) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|e| Error::data(path, format!("tensor `{name}`: {e}")))?;
    if t.dtype() != Dtype::F32 {
        return Err(Error::data(
            path,
            format!("tensor `{name}` is {:?}, expected F32", t.dtype()),
        ));
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn read_i64(st: &SafeTensors<'_>, name: &str, path: &Path) -> Result<Vec<i64>> {
    let t = st
        .tensor(name)
        .map_err(|e| Error::data(path, format!("tensor `{name}`: {e}")))?;
    if t.dtype() != Dtype::I64 {
        return Err(Error::data(
            path,
            format!("tensor `{name}` is {:?}, expected I64", t.dtype()),
        ));
    }
    Ok(t.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}
