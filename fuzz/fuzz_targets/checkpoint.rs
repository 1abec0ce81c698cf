//! A distillation run resuming from an arbitrary checkpoint file: refused with the file named,
//! or resumed with an iteration count that agrees with its history.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use dd_prelude::distill::{Distiller, DmConfig};
use dd_prelude::*;
use libfuzzer_sys::fuzz_target;

fn data() -> &'static ImageSet {
    static DATA: OnceLock<ImageSet> = OnceLock::new();
    DATA.get_or_init(|| {
        let px: Vec<f32> = (0..4 * 64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
        ImageSet::from_pixels("fuzz", [1, 8, 8], px, vec![0, 1, 0, 1], vec!["a".into(), "b".into()])
            .expect("a valid set")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let path = common::file("run.safetensors", bytes);
    let cfg = DmConfig::new(1)
        .with_iterations(3)
        .with_width(4)
        .with_depth(1)
        .with_batch_real(2)
        .with_progress(false)
        .with_checkpoint(Some(path.to_string_lossy().into_owned()));
    if let Ok(run) = cfg.start(data(), &device()) {
        assert_eq!(run.iterations(), run.history().len());
    }
});
