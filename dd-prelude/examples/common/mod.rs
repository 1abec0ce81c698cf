//! What the benchmarks share.

/// The CPU's model name (`/proc/cpuinfo`) and its logical CPU count, recorded with every figure.
pub fn cpu_model() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{name} ({cpus} logical CPUs)")
}

/// GFLOP/s of a 2048x2048 f32 matrix product on `dev` (best of 5).
pub fn matmul_gflops(dev: &burn::tensor::Device) -> f64 {
    let n: usize = 2048;
    let a = burn::tensor::Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, dev);
    let b = burn::tensor::Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, dev);
    let _ = a.clone().matmul(b.clone()).into_data();
    (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            let _ = a.clone().matmul(b.clone()).into_data();
            2.0 * (n * n * n) as f64 / t.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}
