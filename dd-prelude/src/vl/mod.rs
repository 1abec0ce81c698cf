//! Vision-language dataset distillation (seed 001; Wu et al., "Vision-Language Dataset
//! Distillation"): image-caption pairs, a frozen sentence encoder whose embeddings feed a
//! trainable projection, a contrastive dual encoder, and image-text retrieval.
//!
//! | concern | here | built on |
//! |---|---|---|
//! | WordPiece tokenisation of BERT's `vocab.txt` | [`WordPiece`] | |
//! | the frozen text encoder, all-MiniLM-L6-v2 | [`MiniLm`] | `safetensors` |
//!
//! The module sits above `distill`, `select`, `train` and `data`, and imports only from them
//! and the layers below.
//!
//! # Example
//! ```
//! use dd_prelude::vl::WordPiece;
//! let wp = WordPiece::new(["[UNK]", "[CLS]", "[SEP]", "red", "heart"].map(String::from).to_vec())?;
//! assert_eq!(wp.encode("Red heart", 16), vec![1, 3, 4, 2]);
//! # Ok::<(), dd_prelude::Error>(())
//! ```

mod minilm;
mod wordpiece;

pub use minilm::MiniLm;
pub use wordpiece::WordPiece;
