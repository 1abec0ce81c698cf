//! Text dataset distillation (seed 002, sections II.C and III.E; Sucholutsky & Schonlau's
//! text dataset distillation): sentences embedded with GloVe into `length x dims` matrices,
//! one-channel images that the crate's distillers, selectors and training loop take.
//!
//! | concern | here | built on |
//! |---|---|---|
//! | tokens, vocabulary, padding, embedding, unknown words | [`Vocab`], [`EmbedConfig`], [`Oov`] | [`tokenize`](crate::data::tokenize), [`WordVectors`](crate::data::WordVectors), [`EmbeddedSentences`](crate::data::EmbeddedSentences) |
//! | the text CNN in the meta-gradient engine | [`TextConvLayer`], [`text_arch`], [`text_convnet`] | [`TextConvNet`](crate::models::TextConvNet), [`engine`](crate::distill::engine) |
//! | SLDD on sentences (learned sentences, soft labels, step size) | [`TextSlddConfig`] (`sldd.rs`) | [`SlddConfig::start_with_arch`](crate::distill::SlddConfig::start_with_arch) |
//! | distribution matching on sentences | [`TextDmConfig`] (`dm.rs`) | [`DmConfig::start_with_arch`](crate::distill::DmConfig::start_with_arch) |
//! | k-NN baseline | [`KnnConfig`], [`knn_accuracy`] | |
//! | distilled sentences shown | [`sentence_heatmap`], [`decode_sentences`] | [`SyntheticSet::soft_label_table`](crate::distill::SyntheticSet::soft_label_table) |
//! | notebook 21's sizes and rows | [`TextPlan`], [`TextOutcome`], [`text_table`] | [`Scale`](crate::Scale) |
//!
//! The module sits above `distill` and `select` and imports only from them and the layers
//! below. Coreset selectors, `fit`, `evaluate_model` and `accuracy` take
//! [`EmbeddedSentences`](crate::data::EmbeddedSentences) as they are; the distillers take them
//! as `[1, length, dims]` images ([`sentences_as_images`]) and give them back
//! ([`sentences_of`]).
//!
//! # Example
//! ```
//! use dd_prelude::*;
//! use dd_prelude::text::{EmbedConfig, text_arch};
//! let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
//! let set = SentenceSet::new("s", vec!["Good!".into(), "bad, bad".into()], vec![1, 0],
//!                            vec!["neg".into(), "pos".into()])?;
//! let emb = EmbedConfig::new(4).embed(&set, &wv)?;
//! let net = TextConvNetConfig::for_set(&emb)?.with_kernels(vec![1, 2]).with_filters(3);
//! assert_eq!(text_arch(&net)?.input_shape(), [1, 4, 2]);
//! # Ok::<(), Error>(())
//! ```

mod arch;
mod dm;
mod knn;
mod plan;
mod show;
mod sldd;
mod vocab;

pub use arch::{TextConvLayer, text_arch, text_convnet};
pub use dm::TextDmConfig;
pub use knn::{KnnConfig, knn_accuracy};
pub use plan::{TextOutcome, TextPlan, TextSplits, best_of, text_table, text_verdict};
pub use show::{decode_sentences, nearest_words, sentence_heatmap};
pub use sldd::{TextSlddConfig, sentences_as_images, sentences_of};
pub use vocab::{EmbedConfig, Oov, PAD, UNK, Vocab};
