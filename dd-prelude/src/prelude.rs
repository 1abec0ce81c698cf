//! Everything a notebook needs, in one import: `use dd_prelude::*;`.
//!
//! A curated list; names Burn's own prelude uses (`Dataset`, `Config`, `Module`) are avoided so
//! the two never collide. One block per concern.

// --- core: device, scale, errors, progress, plans ---
pub use crate::device::{PeakMemory, device, keep_large_buffers};
pub use crate::error::{Error, Result};
pub use crate::plan::TourPlan;
pub use crate::progress::{Progress, format_secs};
pub use crate::scale::Scale;

// --- data: the one contract, then the sets and readers ---
pub use crate::data::{Batch, EmbeddedPairs, Examples, SoftLabelled, Targets, soft_cross_entropy};
pub use crate::data::{
    Cifar10, Cifar100, CifarKind, CocoCaptions, EmbeddedSentences, FashionMnist, IdxArray,
    ImageFolder, ImageSet, ImageSplits, Imdb, Karpathy, Mnist, PairSet, PairSplits, RottenTomatoes,
    SentenceSet, SentenceSplits, Sst5, Svhn, Trec, TrecLabels, Twemoji, WordVectors, data_dir,
    embedded_data_table, read_idx, read_mat, tokenize, write_idx,
};

// --- models ---
pub use crate::models::{
    AlexNet, AlexNetConfig, AnyNet, Arch, Classifier, ConvNet, ConvNetConfig, DualEncoder,
    DualEncoderConfig, ImageClassifier, LeNet, LeNetConfig, Mlp, MlpConfig, NormKind, PoolKind,
    ResNet, ResNetConfig, TextAttention, TextAttentionConfig, TextConvNet, TextConvNetConfig, Vgg,
    VggConfig, init_params_now,
};

// --- train and eval ---
pub use crate::eval::{
    EvalPreset, EvalReport, evaluate, evaluate_arch, evaluate_cross_arch, evaluate_model,
    logits_and_features, reports_table,
};
pub use crate::eval::{TestEachEpoch, accuracy, features, logits};
pub use crate::train::{
    Augment, EpochRecord, FitConfig, History, Hook, NoHook, OptimizerKind, Schedule,
    SimilarityContrastive, SymmetricContrastive, Trained, cross_entropy, fit, fit_with, infonce,
    soft_symmetric_contrastive, symmetric_contrastive,
};

// --- select and kd ---
pub use crate::kd::{
    CachedLogits, CoresetKdPlan, KdConfig, KdHook, KdRun, LiveTeacher, SEED000_PUBLISHED,
    TeacherLogits, fit_kd, kd_loss,
};
pub use crate::select::{
    Budget, ClassPrototypes, Coreset, El2nConfig, ForgettingConfig, ForgettingTracker, GraNdConfig,
    HerdingConfig, KCenterConfig, KMeansConfig, KMeansFit, Keep, LossBasedConfig, RandomConfig,
    SelectWithModel, Selector, WithModel, count_forgetting, covering_radius, el2n_scores,
    grand_scores, kmeans, per_sample_loss,
};

// --- distill ---
pub use crate::distill::{
    Accuracy, Cafe, CafeConfig, Dc, DcConfig, DiffAugConfig, DistillOutcome, DistillPlan,
    DistillRun, Distiller, Dm, DmConfig, Dsa, DsaConfig, Init, Sldd, SlddConfig, SyntheticSet,
    comparison_table, distill_and_evaluate, full_data, published, random_real,
};

// --- text distillation ---
pub use crate::text::{
    EmbedConfig, KnnConfig, Oov, TextDmConfig, TextOutcome, TextPlan, TextSlddConfig, TextSplits,
    Vocab, best_of, decode_sentences, sentence_heatmap, text_table, text_verdict,
};

// --- captioning ---
pub use crate::caption::{
    CaptionData, CaptionPlan, CaptionRun, CaptionScore, CaptionSet, CaptionTokenizer, Captioner,
    CaptionerConfig, TeacherForcing, beam_captions, bleu4, caption_cross_entropy, caption_losses,
    cider, greedy_captions, validation_loss,
};

// --- show ---
pub use crate::show::{FrameDisplay, Html, LinePlot, Png, ShowImages, Table, image_grid};
pub use polars::df;
pub use polars::prelude::DataFrame;
