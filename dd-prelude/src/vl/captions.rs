//! [`CaptionEmbeddings`]: every caption of a [`PairSet`] embedded once by the frozen
//! [`MiniLm`], cached on disk, and the [`EmbeddedPairs`] training set they give.

use std::path::{Path, PathBuf};

use super::MiniLm;
use crate::data::{EmbeddedPairs, PairSet};
use crate::error::{Error, Result};

/// Sentence embeddings of all captions of a pair set, `len() x dim()` row-major, with the
/// image each caption belongs to (a set may have several captions per image).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::CaptionEmbeddings;
/// let e = CaptionEmbeddings::new(vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8], 2, vec![0, 1, 1])?;
/// assert_eq!((e.len(), e.dim(), e.owner(2)), (3, 2, 1));
/// assert_eq!(e.first_of_each(2), vec![0, 1]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CaptionEmbeddings {
    values: Vec<f32>,
    dim: usize,
    owners: Vec<usize>,
}

impl CaptionEmbeddings {
    /// Embeddings (`owners.len() x dim`, row-major) of captions of the images `owners`.
    pub fn new(values: Vec<f32>, dim: usize, owners: Vec<usize>) -> Result<Self> {
        if dim == 0 || values.len() != owners.len() * dim {
            return Err(Error::ShapeMismatch {
                context: "CaptionEmbeddings".into(),
                expected: format!("{} x {dim} values (dim >= 1)", owners.len()),
                got: format!("{} values", values.len()),
            });
        }
        Ok(CaptionEmbeddings {
            values,
            dim,
            owners,
        })
    }

    /// Embeds every caption of `pairs` with `encoder`, or reads them from the cache
    /// (`$DD_DATA/minilm/cache/<set name>-<hash of the captions>.f32`): the encoder is frozen,
    /// so a set's captions are embedded once.
    pub fn of(pairs: &PairSet, encoder: &MiniLm) -> Result<Self> {
        let captions = pairs.caption_pairs();
        let owners: Vec<usize> = captions.iter().map(|&(i, _)| i).collect();
        let path = cache_path(pairs, encoder);
        let dim = encoder.dim();
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.len() == owners.len() * dim * 4
        {
            return Self::new(f32_from_le(&bytes), dim, owners);
        }
        let texts: Vec<&str> = captions.iter().map(|&(_, c)| c).collect();
        let values = encoder.embed(&texts)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.into(),
                source,
            })?;
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Self::new(values, dim, owners)
    }

    /// Reads the embeddings of `pairs`' captions from an `.f32` file as [`CaptionEmbeddings::of`]
    /// caches them (little-endian, one row per caption in [`PairSet::caption_pairs`] order); the
    /// width is the file's length over the number of captions. A machine without the encoder's
    /// weights can use a copy of the cache this way.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::vl::CaptionEmbeddings;
    /// let pairs = PairSet::from_pixels("toy", [1, 1, 1], vec![0.0, 1.0],
    ///     vec![vec!["a".into()], vec!["b".into(), "c".into()]], vec!["0".into(), "1".into()])?;
    /// let path = std::env::temp_dir().join("dd-caption-embeddings-doc.f32");
    /// let bytes: Vec<u8> = [1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// std::fs::write(&path, bytes)?;
    /// let e = CaptionEmbeddings::read(&path, &pairs)?;
    /// assert_eq!((e.len(), e.dim(), e.owner(2)), (3, 2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(path: impl AsRef<Path>, pairs: &PairSet) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        let owners: Vec<usize> = pairs.caption_pairs().iter().map(|&(i, _)| i).collect();
        if owners.is_empty() || bytes.is_empty() || bytes.len() % (owners.len() * 4) != 0 {
            return Err(Error::data(
                path,
                format!(
                    "{} bytes are not whole f32 rows for the {} captions of {}",
                    bytes.len(),
                    owners.len(),
                    pairs.name()
                ),
            ));
        }
        let dim = bytes.len() / (owners.len() * 4);
        Self::new(f32_from_le(&bytes), dim, owners)
    }

    /// Number of captions.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether there are no captions.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Width of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// All embeddings, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The embedding of caption `c`.
    pub fn row(&self, c: usize) -> &[f32] {
        &self.values[c * self.dim..(c + 1) * self.dim]
    }

    /// The image caption `c` belongs to.
    pub fn owner(&self, c: usize) -> usize {
        self.owners[c]
    }

    /// The image of every caption.
    pub fn owners(&self) -> &[usize] {
        &self.owners
    }

    /// The first caption of each of `images` images (`images` entries; every image must have
    /// one).
    pub fn first_of_each(&self, images: usize) -> Vec<usize> {
        let mut first = vec![usize::MAX; images];
        for (c, &i) in self.owners.iter().enumerate().rev() {
            if i < images {
                first[i] = c;
            }
        }
        first
    }

    /// The training pairs: each image of `pairs` with its first caption's embedding (for
    /// Twemoji, its Unicode name).
    pub fn training_pairs(&self, pairs: &PairSet) -> Result<EmbeddedPairs> {
        let first = self.first_of_each(pairs.len());
        if let Some(i) = first.iter().position(|&c| c == usize::MAX) {
            return Err(Error::config(
                "CaptionEmbeddings",
                "training_pairs",
                format!("image {i} of {} has no caption", pairs.name()),
            ));
        }
        let text = first.iter().flat_map(|&c| self.row(c).to_vec()).collect();
        EmbeddedPairs::new(pairs.clone(), text, self.dim)
    }
}

fn cache_path(pairs: &PairSet, encoder: &MiniLm) -> PathBuf {
    // FNV-1a over the captions, their images and the model's width and vocabulary.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&(encoder.dim() as u64).to_le_bytes());
    eat(&(encoder.tokenizer().len() as u64).to_le_bytes());
    for (i, c) in pairs.caption_pairs() {
        eat(&(i as u64).to_le_bytes());
        eat(c.as_bytes());
        eat(&[0]);
    }
    let name: String = pairs
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    MiniLm::default_dir()
        .join("cache")
        .join(format!("{name}-{h:016x}.f32"))
}

/// Little-endian `f32` values, four bytes each (the cache's format).
fn f32_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
