//! Scores saved synthetic sets (the `.json` manifests `SyntheticSet::save` writes) on
//! Fashion-MNIST test images under several evaluation protocols, one line per set and protocol:
//! how much of a distilled set's score is the protocol's.
//!
//! ```text
//! cargo run --release -p dd-prelude --example score_sets -- \
//!     reports/artefacts/fmnist-dm-ipc10.json reports/artefacts/fmnist-random-real-ipc10.json
//! SCORE_EPOCHS=100,300 SCORE_AUGMENT=none,dsa SCORE_WIDTH=32 SCORE_MODELS=5 SCORE_TEST=2000 ...
//! ```
//!
//! Every protocol is [`EvalPreset::quick`] with the epochs, augmentation (`none`, `dsa`,
//! `flip`, `cropN`: see `Augment`'s `FromStr`) and ConvNet width given; test images are a class-stratified subset, as in
//! `notebooks/20-image-distillation.ipynb`.

use dd_prelude::distill::SyntheticSet;
use dd_prelude::*;

fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

fn number(name: &str, default: usize) -> anyhow::Result<usize> {
    Ok(std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .parse()?)
}

fn main() -> anyhow::Result<()> {
    let manifests: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!manifests.is_empty(), "usage: score_sets <set.json>...");
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let test = fm
        .test
        .subset(&fm.test.stratified(number("SCORE_TEST", 2000)?, 0));
    let width = number("SCORE_WIDTH", 32)?;
    let models = number("SCORE_MODELS", 5)?;
    for epochs in list("SCORE_EPOCHS", "100") {
        for aug in list("SCORE_AUGMENT", "none") {
            let preset = EvalPreset::quick()
                .with_models(models)
                .with_epochs(epochs.parse()?)
                .with_augment(aug.parse()?)
                .with_width(width)
                .with_progress(false);
            for path in &manifests {
                let set = SyntheticSet::load(path)?.to_image_set()?;
                let r = evaluate(&set, &test, &preset, &dev)?;
                println!(
                    "{path}: {:.2} ± {:.2} % ({models} x ConvNetW{width}, {epochs} epochs, augment {aug}, {} test images, {:.0} s)",
                    r.mean_pct(),
                    r.std_pct(),
                    test.len(),
                    r.seconds
                );
            }
        }
    }
    Ok(())
}
