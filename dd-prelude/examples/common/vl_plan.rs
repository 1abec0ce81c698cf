//! What the vision-language probes share: the `cpu` plan with the experts changed by
//! `PROBE_EXPERTS`, `PROBE_EXPERT_EPOCHS` and `PROBE_EXPERT_LR`.

use dd_prelude::Scale;
use dd_prelude::vl::VlPlan;

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
    plan
}
