//! Every method's loss: the gradient with respect to the synthetic images (autodiff through
//! the engine's explicit backward) against central finite differences on tiny cases, in f32
//! (the precision distillation runs in). `distill_gradients_f64.rs` repeats the same cases in
//! f64 with tolerances five orders tighter.

mod distill_common;

use distill_common::{Fd, cases};

#[test]
fn dc_matching_gradient_matches_finite_differences() {
    cases::dc(Fd::F32);
}

#[test]
fn dc_matching_gradient_matches_finite_differences_on_mlp_and_plain_convnet() {
    cases::dc_other_archs(Fd::F32);
}

#[test]
fn dsa_matching_gradient_matches_finite_differences_for_every_augmentation() {
    cases::dsa(Fd::F32);
}

#[test]
fn dm_gradient_matches_finite_differences() {
    cases::dm(Fd::F32);
}

#[test]
fn cafe_gradient_matches_finite_differences() {
    cases::cafe(Fd::F32);
}

#[test]
fn unrolled_sgd_meta_gradient_matches_finite_differences() {
    cases::unrolled_sgd(Fd::F32);
}

/// Every case at 50 other seeds (slow; judges the f32 tolerances, see `sweep_seeds`).
#[test]
#[ignore]
fn every_case_passes_at_other_seeds() {
    distill_common::sweep_seeds(Fd::F32, 50);
}
