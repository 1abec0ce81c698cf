//! The finite-difference cases of `distill_gradients.rs` in f64: the device's default float
//! type is set to f64 before any tensor exists (the engine is dtype-agnostic), so the
//! autodiff meta-gradients must agree with central differences to 1e-5 relative.

mod distill_common;

use std::sync::Once;

use burn::tensor::{Device, FloatDType};
use distill_common::{Fd, cases};

/// Configures the flex device for f64 once, before the first tensor of this process.
fn f64_device() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut dev = Device::flex();
        dev.configure(FloatDType::F64)
            .expect("f64 before any tensor");
        assert_eq!(dd_prelude::device().settings().float_dtype, FloatDType::F64);
    });
}

#[test]
fn dc_matching_gradient_f64() {
    f64_device();
    cases::dc(Fd::F64);
}

#[test]
fn dc_other_archs_gradient_f64() {
    f64_device();
    cases::dc_other_archs(Fd::F64);
}

#[test]
fn dsa_matching_gradient_f64() {
    f64_device();
    cases::dsa(Fd::F64);
}

#[test]
fn dm_gradient_f64() {
    f64_device();
    cases::dm(Fd::F64);
}

#[test]
fn cafe_gradient_f64() {
    f64_device();
    cases::cafe(Fd::F64);
}

#[test]
fn unrolled_sgd_meta_gradient_f64() {
    f64_device();
    cases::unrolled_sgd(Fd::F64);
}

/// Every case at 50 other seeds, in f64 (slow; see `sweep_seeds`).
#[test]
#[ignore]
fn every_case_passes_at_other_seeds_f64() {
    f64_device();
    distill_common::sweep_seeds(Fd::F64, 50);
}
