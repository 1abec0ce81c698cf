//! Milliseconds and GFLOP/s of the CPU convolution kernels (forward, input gradient, weight
//! gradient) at the shapes of the width-128 ConvNet on Fashion-MNIST: 1 -> 128 channels at
//! 28x28, 128 -> 128 at 14x14 and at 7x7, at each batch of `NS` (best of 5 calls).
//!
//! ```text
//! cargo run --release -p dd-prelude --example conv_layers
//! NS=16,256 cargo run --release -p dd-prelude --example conv_layers
//! ```
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use dd_prelude::models::{conv2d_unit_stride, conv2d_unit_stride_dw, conv2d_unit_stride_dx};

/// Best time of `reps` calls of `f` (after one warm-up call), printed with its GFLOP/s.
fn time(label: &str, flops: f64, reps: usize, mut f: impl FnMut() -> f32) {
    let _ = f();
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let _ = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label:4} {:8.2} ms  {:6.1} GFLOP/s",
        best * 1e3,
        flops / best / 1e9
    );
}

fn main() {
    let dev = dd_prelude::device();
    let batches: Vec<usize> = std::env::var("NS")
        .unwrap_or_else(|_| "256,100".into())
        .split(',')
        .map(|s| s.trim().parse().expect("NS: comma-separated batch sizes"))
        .collect();
    let c = 128;
    for &n in &batches {
        for (c_in, hw) in [(1usize, 28usize), (128, 14), (128, 7)] {
            let x = Tensor::<4>::random([n, c_in, hw, hw], Distribution::Normal(0.0, 1.0), &dev);
            let w = Tensor::<4>::random([c, c_in, 3, 3], Distribution::Normal(0.0, 0.1), &dev);
            let dy = Tensor::<4>::random([n, c, hw, hw], Distribution::Normal(0.0, 1.0), &dev);
            let flops = 2.0 * (n * c * c_in * 9 * hw * hw) as f64;
            println!(
                "--- batch {n}, {c_in} -> {c} channels at {hw}x{hw}: {:.3} GFLOP per map",
                flops / 1e9
            );
            // one value read back, so the work is done before the clock stops
            let first = |t: Tensor<4>| t.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>();
            time("fwd", flops, 5, || {
                first(conv2d_unit_stride(x.clone(), w.clone(), None, [1, 1]))
            });
            time("dx", flops, 5, || {
                first(conv2d_unit_stride_dx(
                    dy.clone(),
                    w.clone(),
                    [hw, hw],
                    [1, 1],
                ))
            });
            time("dw", flops, 5, || {
                first(conv2d_unit_stride_dw(x.clone(), dy.clone(), [3, 3], [1, 1]))
            });
        }
    }
}
