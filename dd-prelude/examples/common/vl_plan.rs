//! What the vision-language probes share: the `cpu` plan with the experts changed by
//! `PROBE_EXPERTS`, `PROBE_EXPERT_EPOCHS` and `PROBE_EXPERT_LR` and the subsets' fresh models
//! by `PROBE_MODELS`, their epochs by `PROBE_EPOCHS` and their step size (the coreset and random
//! rows'; distilled sets train with their learned one) by `PROBE_EVAL_LR`, and its data (`PROBE_EMB_DIR`,
//! `PROBE_VAL`).

use burn::tensor::Device;
use dd_prelude::Scale;
use dd_prelude::data::{PairSet, PairSplits, Twemoji};
use dd_prelude::vl::{CaptionEmbeddings, MiniLm, VlData, VlPlan};

/// A number from the environment variable `key`, if set and a number.
pub fn env(key: &str) -> Option<f64> {
    std::env::var(key).ok().and_then(|v| v.parse::<f64>().ok())
}

/// The `cpu` plan, its experts as the environment asks.
pub fn cpu_plan() -> VlPlan {
    let mut plan = VlPlan::for_scale(Scale::Cpu);
    if let Some(v) = env("PROBE_EXPERTS") {
        plan.experts = v as usize;
    }
    if let Some(v) = env("PROBE_EXPERT_EPOCHS") {
        plan.expert_epochs = v as usize;
    }
    if let Some(v) = env("PROBE_EXPERT_LR") {
        plan.expert_lr = v;
    }
    if let Some(v) = env("PROBE_MODELS") {
        plan.eval.models = v as usize;
    }
    if let Some(v) = env("PROBE_EPOCHS") {
        plan.eval.epochs = v as usize;
    }
    if let Some(v) = env("PROBE_EVAL_LR") {
        plan.eval.lr = v;
    }
    plan
}

/// The plan's Twemoji pairs for a probe. `PROBE_EMB_DIR`: the caption embeddings are read from
/// `train.f32` and `test.f32` there (copies of the cache `CaptionEmbeddings::of` writes, so a
/// machine without the MiniLM weights can run the probe); otherwise MiniLM embeds them (or
/// reads its cache). `PROBE_VAL=k`: `k` training images (drawn with seed 7) are held out as a
/// validation split that takes the test split's place, and the rest is the training set, so
/// settings can be chosen without looking at the test split.
pub fn data(plan: &VlPlan, dev: &Device) -> anyhow::Result<VlData> {
    let data = match std::env::var("PROBE_EMB_DIR") {
        Ok(dir) => {
            let splits = Twemoji::new(Twemoji::default_dir())
                .with_image_size(plan.image_size)
                .load()?;
            let read = |name: &str, pairs: &PairSet| {
                CaptionEmbeddings::read(std::path::Path::new(&dir).join(name), pairs)
            };
            let train_captions = read("train.f32", &splits.train)?;
            let test_captions = read("test.f32", &splits.test)?;
            VlData {
                train: train_captions.training_pairs(&splits.train)?,
                test: test_captions.training_pairs(&splits.test)?,
                train_captions,
                test_captions,
                splits,
            }
        }
        Err(_) => plan.twemoji(&MiniLm::load_default(dev)?)?,
    };
    let Some(k) = env("PROBE_VAL").map(|v| v as usize) else {
        return Ok(data);
    };
    let pairs = &data.splits.train;
    let held = pairs.sample(k, 7);
    let rest: Vec<usize> = (0..pairs.len()).filter(|i| !held.contains(i)).collect();
    // Each image's caption rows, in the order of `caption_pairs` of the subset.
    let caps = &data.train_captions;
    let embed = |idx: &[usize]| -> anyhow::Result<CaptionEmbeddings> {
        let mut values = Vec::new();
        let mut owners = Vec::new();
        for (new, &i) in idx.iter().enumerate() {
            for c in (0..caps.len()).filter(|&c| caps.owner(c) == i) {
                values.extend_from_slice(caps.row(c));
                owners.push(new);
            }
        }
        Ok(CaptionEmbeddings::new(values, caps.dim(), owners)?)
    };
    let (train, val) = (pairs.subset(&rest), pairs.subset(&held));
    let (train_captions, test_captions) = (embed(&rest)?, embed(&held)?);
    Ok(VlData {
        train: train_captions.training_pairs(&train)?,
        test: test_captions.training_pairs(&val)?,
        train_captions,
        test_captions,
        splits: PairSplits {
            train,
            val: data.splits.val.clone(),
            test: val,
        },
    })
}
