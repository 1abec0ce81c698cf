//! Data sets: the [`ImageSet`] type and the readers of real on-disk formats.
//!
//! Images are held on the host, normalised per channel (as the DatasetCondensation reference
//! code does at load time), and moved to a device one batch at a time, so a data set never
//! ties a notebook to a device and subsets are cheap.
//!
//! Three data set types, one per kind of experiment:
//! - [`ImageSet`] (image classification): [`FashionMnist`], [`Mnist`] (IDX, raw or gzipped),
//!   [`Cifar10`], [`Cifar100`] (binary batches, fine and coarse labels), [`Svhn`] (MATLAB
//!   level 5 `.mat`, read by [`read_mat`]), [`ImageFolder`] (one sub-folder per class).
//! - [`PairSet`] (images with captions): [`Twemoji`] (the embedded default),
//!   [`CocoCaptions`] (COCO captions JSON and its images), [`Karpathy`] (the Flickr30K / COCO
//!   retrieval splits).
//! - [`SentenceSet`] (labelled sentences): [`RottenTomatoes`] (the embedded default),
//!   [`Imdb`] (aclImdb folder or CSV), [`Sst5`], [`Trec`] (TREC-6 / TREC-50).
//!
//! Word vectors: [`WordVectors`] (GloVe text, wink JSON; binary cache; cosine neighbours).
//! [`embedded_data_table`] lists the embedded defaults and where they come from. Every reader
//! validates what it reads and returns an [`Error::Data`](crate::Error::Data) naming the file,
//! the record and what is wrong.

/// `Display` and `Debug` of a data set type print its one-line `summary()` (`Debug` too: the
/// derived form would print every pixel).
macro_rules! fmt_as_summary {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.summary())
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.summary())
            }
        }
    )+};
}
use fmt_as_summary;

mod embedded_pairs;
mod examples;
mod fashion_mnist;
mod files;
mod idx;
mod image_set;

mod cifar;
mod coco;
mod decode;
mod defaults;
mod glove;
mod image_folder;
mod imdb;
mod karpathy;
mod mat;
mod mnist;
mod pairs;
mod rotten;
mod sampling;
mod sentences;
mod sst;
mod svhn;
mod text_files;
mod trec;
mod twemoji;

pub use embedded_pairs::EmbeddedPairs;
pub use examples::{Batch, Examples, SoftLabelled, Targets, soft_cross_entropy};
pub(crate) use examples::{argmax, hard_cross_entropy, image_shape};
pub use fashion_mnist::FashionMnist;
pub use files::data_dir;
pub use idx::{IdxArray, read_idx, write_idx};
pub use image_set::{ImageSet, ImageSplits};

pub use cifar::{
    CIFAR10_CLASSES, Cifar10, Cifar100, CifarBatch, CifarKind, parse_cifar_batch, read_cifar_batch,
};
pub use coco::CocoCaptions;
pub use defaults::{EmbeddedData, embedded_data, embedded_data_table};
pub use glove::{EmbeddedSentences, WordVectors, tokenize};
pub use image_folder::ImageFolder;
pub use imdb::{IMDB_CLASSES, Imdb};
pub use karpathy::Karpathy;
pub use mat::{MatArray, MatClass, MatData, MatFile, parse_mat, read_mat};
pub use mnist::{MNIST_CLASSES, Mnist};
pub use pairs::{PairSet, PairSplits};
pub use rotten::{ROTTEN_CLASSES, RottenTomatoes};
pub use sentences::{SentenceSet, SentenceSplits};
pub use sst::{SST5_CLASSES, Sst5};
pub use svhn::{SVHN_CLASSES, Svhn};
pub use trec::{TREC_COARSE, TREC_FINE, Trec, TrecLabels};
pub use twemoji::{TWEMOJI_CREDIT, Twemoji};
