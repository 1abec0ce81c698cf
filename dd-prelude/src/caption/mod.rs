//! Image captioning and seed 000's loss-based hard-example selection for it (section II.A,
//! Algorithm 1, Table I).
//!
//! - [`CaptionTokenizer`], [`CaptionSet`]: captions as ids of a [`Vocab`](crate::text::Vocab)
//!   of the training captions, image-caption pairs as an [`Examples`](crate::data::Examples)
//!   set.
//! - [`Captioner`]: a ConvNet image encoder whose features are the first position of a
//!   GPT-style causal transformer decoder; trained by `fit_with` with [`TeacherForcing`].
//! - [`greedy_captions`], [`beam_captions`]: decoding.
//! - [`caption_losses`]: each pair's loss under no gradient (Algorithm 1's scores), ranked by
//!   [`LossBasedConfig::select_by_losses`](crate::select::LossBasedConfig::select_by_losses);
//!   [`validation_loss`], [`bleu4`], [`cider`]: the scores.
//! - [`CaptionPlan`]: notebook 11's experiment at each `DD_SCALE`.

mod decode;
mod loss;
mod metrics;
mod model;
mod plan;
mod tokens;

pub use decode::{beam_captions, greedy_captions};
pub use loss::{TeacherForcing, caption_cross_entropy, caption_losses, validation_loss};
pub use metrics::{bleu4, cider};
pub use model::{Captioner, CaptionerConfig, causal_mask};
pub use plan::{CaptionData, CaptionPlan, CaptionRun, CaptionScore, SEED000_TABLE_I};
pub use tokens::{CaptionSet, CaptionTokenizer};
