//! Throttled progress lines for long work.
//!
//! Jupyter streams stdout line by line and has no terminal, so carriage-return bars do not
//! work; a line every few seconds does.

use std::time::{Duration, Instant};

/// Prints at most one progress line per interval, with rate and ETA.
///
/// # Example
/// ```
/// use dd_prelude::Progress;
/// let mut p = Progress::new("demo", 100).quiet();
/// for i in 0..100 { p.tick(1, || format!("step {i}")); }
/// assert_eq!(p.done(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    start: Instant,
    last: Option<Instant>,
    every: Duration,
    quiet: bool,
}

impl Progress {
    /// A progress reporter for `total` units of work (images, steps...).
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        let every = std::env::var("DD_PROGRESS_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(5));
        Progress {
            label: label.into(),
            total,
            done: 0,
            start: Instant::now(),
            last: None,
            every,
            quiet: false,
        }
    }

    /// Prints nothing (for tests and inner loops).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Sets whether lines are printed.
    pub fn with_print(mut self, print: bool) -> Self {
        self.quiet = !print;
        self
    }

    /// Records `n` more units; prints `detail()` with rate and ETA when the interval has passed
    /// (or the work is finished). `detail` is only evaluated when a line is printed.
    pub fn tick(&mut self, n: usize, detail: impl FnOnce() -> String) {
        self.done += n;
        let now = Instant::now();
        let due = self.last.is_none_or(|t| now - t >= self.every) || self.done >= self.total;
        if self.quiet || !due {
            return;
        }
        self.last = Some(now);
        let secs = self.elapsed_secs().max(1e-9);
        let rate = self.done as f64 / secs;
        let eta = (self.total.saturating_sub(self.done)) as f64 / rate.max(1e-9);
        println!(
            "{}: {}  {:.0}/s  elapsed {}  ETA {}",
            self.label,
            detail(),
            rate,
            format_secs(secs),
            format_secs(eta)
        );
    }

    /// Units done so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Seconds since the reporter was created.
    pub fn elapsed_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// `75.0` as `1m15s`, `3.2` as `3.2s`.
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::format_secs(75.0), "1m15s");
/// ```
pub fn format_secs(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

/// `12808` as `12,808`.
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
