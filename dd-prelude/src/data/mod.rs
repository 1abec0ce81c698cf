//! Data sets.
mod fashion_mnist;
mod idx;
mod image_set;
pub use fashion_mnist::{FashionMnist, data_dir};
pub use idx::{IdxArray, read_idx, write_idx};
pub use image_set::{ImageSet, ImageSplits};
