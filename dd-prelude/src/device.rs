//! Picking the compute device once.

use std::sync::OnceLock;

use burn::tensor::Device;

static CHOSEN: OnceLock<Device> = OnceLock::new();

/// The device every high-level call runs on: CUDA when compiled in (feature `cuda`) and a GPU
/// answers, else Burn's `flex` CPU backend. The choice is made and printed once per process.
///
/// The returned device has no autodiff; training wraps it with `.autodiff()` itself.
///
/// On Linux with glibc the first call also tells the allocator to keep large buffers for reuse
/// (see [`keep_large_buffers`]); set `DD_MALLOC=system` to leave glibc's defaults.
///
/// # Example
/// ```
/// let dev = dd_prelude::device();
/// assert!(!dev.is_autodiff());
/// ```
pub fn device() -> Device {
    CHOSEN
        .get_or_init(|| {
            if std::env::var("DD_MALLOC").as_deref() != Ok("system") {
                keep_large_buffers();
            }
            let (dev, why) = pick();
            println!("dd-prelude: computing on {why}");
            dev
        })
        .clone()
}

/// Makes glibc serve large allocations from its heap and keep freed memory for the next one,
/// instead of mapping every buffer above its mmap threshold (at most 32 MiB) afresh and
/// unmapping it on free. A CPU training step allocates and frees activations of tens of MB
/// (batch 128 x 128 channels x 28 x 28 floats is 51 MB); fresh maps are zero-filled page by page,
/// which cost about half the step. Measured with `bench_train` (width 128, batch 128): 171 ->
/// 335 images/s, peak resident memory unchanged (550 MB). The heap keeps its peak size until
/// [`libc::malloc_trim`] (which `MttConfig::unroll_cost` calls) or the process ends.
///
/// Called once by [`device`]; a no-op off glibc. Returns whether glibc accepted both settings.
///
/// # Example
/// ```
/// let applied = dd_prelude::keep_large_buffers();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_large_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(feature = "cuda")]
fn pick() -> (Device, String) {
    // Creating a CUDA device panics when no driver or GPU answers; catch that and fall back.
    let probe = std::panic::catch_unwind(|| {
        let dev = Device::cuda(0);
        let t = burn::tensor::Tensor::<1>::from_floats([1.0f32], &dev);
        let _ = t.into_data();
        dev
    });
    match probe {
        Ok(dev) => (dev, "CUDA device 0".to_string()),
        Err(_) => (
            Device::flex(),
            "the CPU (flex backend): CUDA was compiled in but no GPU answered".to_string(),
        ),
    }
}

#[cfg(not(feature = "cuda"))]
fn pick() -> (Device, String) {
    (Device::flex(), "the CPU (flex backend)".to_string())
}

/// Peak resident memory of this process over a stretch of work, above what it held when the
/// watch started (Linux: the high-water mark `VmHWM`, reset by writing 5 to
/// `/proc/self/clear_refs`; glibc's free heap is trimmed first so reused memory counts).
/// Figures are NaN where the platform gives none.
///
/// # Example
/// ```
/// let watch = dd_prelude::PeakMemory::start();
/// let v = vec![1u8; 64 << 20];
/// std::hint::black_box(&v);
/// let mib = watch.peak_mib();
/// assert!(mib.is_nan() || mib >= 60.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PeakMemory {
    before_mib: Option<f64>,
    reset: bool,
}

impl PeakMemory {
    /// Trims the heap, resets the high-water mark and records the resident memory now.
    pub fn start() -> Self {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free heap memory; it takes no pointers.
        unsafe {
            libc::malloc_trim(0);
        }
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        PeakMemory {
            before_mib: proc_status_mib("VmRSS:"),
            reset,
        }
    }

    /// MiB of resident memory at the peak since [`PeakMemory::start`], above the start.
    pub fn peak_mib(&self) -> f64 {
        match (self.reset, self.before_mib, proc_status_mib("VmHWM:")) {
            (true, Some(b), Some(p)) => (p - b).max(0.0),
            _ => f64::NAN,
        }
    }
}

/// A line of `/proc/self/status` in MiB (`VmRSS`, `VmHWM`), if the platform has one.
fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
