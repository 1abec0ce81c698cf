use std::time::Instant;

use burn::config::Config;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Budget, Coreset, Selector, check_data, group_seed, selection_groups};
use crate::data::Examples;
use crate::error::Result;

/// Uniform random selection (DeepCore's `Uniform`): the baseline every other method must beat.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 1, 1], vec![0.0; 6], vec![0, 0, 0, 1, 1, 1],
///                                 vec!["a".into(), "b".into()])?;
/// let core = RandomConfig::new(Budget::PerClass(2)).with_seed(7).select(&set, &device())?;
/// assert_eq!(core.counts_per_class(&set), vec![2, 2]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct RandomConfig {
    /// How many images to keep.
    pub budget: Budget,
    /// Keep the budget per class.
    #[config(default = true)]
    pub balance: bool,
    /// Seed of the draw.
    #[config(default = 0)]
    pub seed: u64,
}

impl RandomConfig {
    /// Checks every field; called by `select`.
    pub fn check(&self) -> Result<()> {
        self.budget.check("RandomConfig")
    }
}

impl<S: Examples> Selector<S> for RandomConfig {
    fn name(&self) -> &'static str {
        "Random"
    }

    fn select(&self, data: &S, _device: &Device) -> Result<Coreset> {
        self.check()?;
        check_data("RandomConfig", data)?;
        let started = Instant::now();
        let mut indices = Vec::new();
        for (g, (mut group, take)) in selection_groups(data, self.budget, self.balance)
            .into_iter()
            .enumerate()
        {
            let mut rng = StdRng::seed_from_u64(group_seed(self.seed, g));
            group.shuffle(&mut rng);
            indices.extend_from_slice(&group[..take]);
        }
        let mut core = Coreset::new("Random", indices);
        core.seconds = started.elapsed().as_secs_f64();
        Ok(core)
    }
}
