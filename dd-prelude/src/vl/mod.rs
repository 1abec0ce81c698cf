//! Vision-language dataset distillation (seed 001; Wu et al., "Vision-Language Dataset
//! Distillation"): image-caption pairs, a frozen sentence encoder whose embeddings feed a
//! trainable projection, a contrastive dual encoder, and image-text retrieval.
//!
//! | concern | here | built on |
//! |---|---|---|
//! | WordPiece tokenisation of BERT's `vocab.txt` | [`WordPiece`] | |
//! | the frozen text encoder, all-MiniLM-L6-v2 | [`MiniLm`] | `safetensors` |
//! | caption embeddings, computed once and cached; the training pairs | [`CaptionEmbeddings`] | [`EmbeddedPairs`](crate::data::EmbeddedPairs) |
//! | retrieval R@1/5/10 both ways, several captions per image | [`Recall`], [`similarity`] | [`DualEncoder`](crate::models::DualEncoder) |
//! | bi-trajectory matching: both sides in the meta-gradient engine, expert trajectories, synthetic images + text embeddings + step size | [`BiArch`], [`train_bi_expert`], [`BiTrajectoryConfig`], [`bi_trajectory_loss`], [`DistilledPairs`] | [`engine`](crate::distill::engine), [`trajectory_loss`](crate::distill::trajectory_loss) |
//! | seed 001's protocol: fresh dual encoders, R@K mean ± std; its table | [`evaluate_pairs`], [`RetrievalReport`], [`retrieval_table`] | [`fit_with`](crate::train::fit_with), [`EvalPreset`](crate::eval::EvalPreset) |
//! | coreset baselines on pairs in the joint embedding | [`PairCoreset`], [`JointEmbedding`] | [`select`](crate::select) |
//! | notebook 30's sizes, data, rows, published figures, retrieval example | [`VlPlan`], [`VlData`], [`published_flickr30k`], [`retrieval_example`] | [`Scale`](crate::Scale), [`Twemoji`](crate::data::Twemoji) |
//! | symmetric InfoNCE with a temperature | [`infonce`](crate::train::infonce) | [`SymmetricContrastive`](crate::train::SymmetricContrastive) |
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

mod bitraj;
mod captions;
mod eval;
mod minilm;
mod plan;
mod retrieval;
mod wordpiece;

pub use bitraj::{
    BiArch, BiParams, BiTrajectoryConfig, DistilledPairs, LowRankSimilarity, MetaGrads,
    SimilarityConfig, bi_trajectory_loss, train_bi_expert, unrolled_bi_loss, unrolled_bi_loss_with,
};
pub use captions::CaptionEmbeddings;
pub use eval::{
    JointEmbedding, PairCoreset, RetrievalReport, evaluate_pairs, evaluate_pairs_with,
    retrieval_table,
};
pub use minilm::MiniLm;
pub use plan::{VlData, VlPlan, published_flickr30k, recall_plot, retrieval_example};
pub use retrieval::{RECALL_AT, Recall, similarity};
pub use wordpiece::WordPiece;

/// Each row of `t` scaled to unit length (a zero row stays zero): where MiniLM's sentence
/// embeddings lie, and where `BiTrajectoryConfig::unit_text` keeps the synthetic texts.
pub(crate) fn unit_rows(t: burn::tensor::Tensor<2>) -> burn::tensor::Tensor<2> {
    let norms = t.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    t.div(norms)
}
