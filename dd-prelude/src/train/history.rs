use polars::prelude::{Column, DataFrame};

use crate::show::{LinePlot, Png};

/// What one epoch of [`crate::fit`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Wall time of the epoch's training steps.
    pub seconds: f64,
    /// Training throughput.
    pub images_per_second: f64,
    /// Test accuracy in [0, 1], when a hook measured it.
    pub test_accuracy: Option<f64>,
}

/// The per-epoch records of a training run.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let mut h = History::default();
/// h.push_step(0.5, 0.7);
/// h.push_step(1.0, 0.3);
/// h.push(EpochRecord { epoch: 1, loss: 0.5, lr: 0.01, seconds: 1.0, images_per_second: 100.0, test_accuracy: None });
/// assert_eq!(h.frame().unwrap().height(), 1);
/// assert_eq!(h.steps().len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct History {
    records: Vec<EpochRecord>,
    steps: Vec<(f64, f64)>,
}

impl History {
    /// Adds an epoch.
    pub fn push(&mut self, record: EpochRecord) {
        self.records.push(record);
    }

    /// Adds one step's loss at `epoch` (fractional: 1.5 is half-way through the second epoch).
    pub fn push_step(&mut self, epoch: f64, loss: f64) {
        self.steps.push((epoch, loss));
    }

    /// Every step's `(fractional epoch, loss)`.
    pub fn steps(&self) -> &[(f64, f64)] {
        &self.steps
    }

    /// The records, in order.
    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    /// Number of epochs recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.records.last()
    }

    /// Mean seconds per epoch.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.records.iter().map(|r| r.seconds).sum::<f64>() / self.records.len().max(1) as f64
    }

    /// The history as a DataFrame: epoch, loss, lr, seconds, images/s, test accuracy.
    pub fn frame(&self) -> crate::Result<DataFrame> {
        let col = |name: &str, f: &dyn Fn(&EpochRecord) -> f64| {
            Column::new(
                name.into(),
                self.records.iter().map(f).collect::<Vec<f64>>(),
            )
        };
        let acc: Vec<Option<f64>> = self.records.iter().map(|r| r.test_accuracy).collect();
        DataFrame::new_infer_height(vec![
            Column::new(
                "epoch".into(),
                self.records
                    .iter()
                    .map(|r| r.epoch as u32)
                    .collect::<Vec<u32>>(),
            ),
            col("loss", &|r| r.loss),
            col("lr", &|r| r.lr),
            col("seconds", &|r| r.seconds),
            col("images_per_s", &|r| r.images_per_second),
            Column::new("test_accuracy".into(), acc),
        ])
        .map_err(|e| crate::Error::Render {
            what: "history table",
            reason: e.to_string(),
        })
    }

    /// The training-loss curve as a PNG.
    pub fn plot_loss(&self) -> crate::Result<Png> {
        LinePlot::new("Training loss", "epoch", "loss")
            .series(
                "loss",
                self.records
                    .iter()
                    .map(|r| (r.epoch as f64, r.loss))
                    .collect(),
            )
            .render()
    }
}
