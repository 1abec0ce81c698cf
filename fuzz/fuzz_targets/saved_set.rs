//! `SyntheticSet::load` on an arbitrary manifest and tensors file (the input cut in two): the
//! loader must name the file and what is wrong, or return a set whose every field agrees with
//! its tensors.
#![no_main]

#[path = "common.rs"]
mod common;

use dd_prelude::distill::SyntheticSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (manifest, tensors) = common::halves(data);
    let json = common::file("set.json", manifest);
    common::file("set.safetensors", tensors);
    if let Ok(set) = SyntheticSet::load(&json) {
        let per: usize = set.shape.iter().product();
        assert_eq!(set.images.len(), set.labels.len() * per);
        assert!(set.labels.iter().all(|&l| l < set.classes.len()));
        assert!(set.images.iter().all(|v| v.is_finite()));
        if let Some(soft) = &set.soft_labels {
            assert_eq!(soft.len(), set.labels.len() * set.classes.len());
        }
    }
});
