//! # dd-prelude
//!
//! Dataset distillation, coreset selection and knowledge distillation for Rust notebooks,
//! on [Burn](https://burn.dev) 0.22. One import gives a notebook everything:
//!
//! ```no_run
//! use dd_prelude::*;
//! let dev = device();
//! let fmnist = FashionMnist::load_default()?;
//! let net = ConvNetConfig::for_set(&fmnist.train).init(&dev);
//! let trained = fit(net, &fmnist.train.subset(&fmnist.train.stratified(1000, 0)), &FitConfig::new().with_epochs(2), &dev)?;
//! println!("test accuracy {:.3}", accuracy(&trained.model, &fmnist.test, &dev));
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Layers
//! - High: one-liners re-exported by [`prelude`] (`FashionMnist::load_default`, `fit`,
//!   `accuracy`, `show_grid`).
//! - Mid: configs with defaults and checks ([`FitConfig`], [`ConvNetConfig`]) and traits for
//!   each family ([`Classifier`], [`Hook`]).
//! - Low: plain Burn: models are `#[derive(Module)]` structs, tensors are `burn::tensor::Tensor`.
//!
//! ## Sizes
//! Every notebook is sized by [`Scale`], read from `DD_SCALE` (`smoke`, `cpu`, `full`).

#![warn(missing_docs)]

pub mod augment;
pub mod caption;
pub mod data;
mod device;
pub mod distill;
pub mod error;
pub mod eval;
pub mod kd;
pub mod models;
pub mod plan;
pub mod prelude;
mod progress;
mod scale;
pub mod select;
pub mod show;
pub mod text;
pub mod train;
pub mod vl;

/// Re-exported so notebooks can build tables with `polars::df!` without their own `:dep`.
pub use polars;

/// Re-exported so notebooks reach plain Burn with the same version.
pub use burn;

/// The crate root re-exports the curated [`prelude`] and nothing else: everything else is
/// reached through its module (`dd_prelude::data::parse_cifar_batch`,
/// `dd_prelude::distill::engine`).
pub use prelude::*;
