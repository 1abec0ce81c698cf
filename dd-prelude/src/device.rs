//! Picking the compute device once.

use std::sync::OnceLock;

use burn::tensor::Device;

static CHOSEN: OnceLock<Device> = OnceLock::new();

/// The device every high-level call runs on: CUDA when compiled in (feature `cuda`) and a GPU
/// answers, else Burn's `flex` CPU backend. The choice is made and printed once per process.
///
/// The returned device has no autodiff; training wraps it with `.autodiff()` itself.
///
/// # Example
/// ```
/// let dev = dd_prelude::device();
/// assert!(!dev.is_autodiff());
/// ```
pub fn device() -> Device {
    CHOSEN
        .get_or_init(|| {
            let (dev, why) = pick();
            println!("dd-prelude: computing on {why}");
            dev
        })
        .clone()
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
