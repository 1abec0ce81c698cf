//! Helpers shared by the distillation tests: random tensors, closeness, and the
//! finite-difference check of a meta-gradient.
#![allow(dead_code)]

pub mod cases;

use burn::tensor::{DType, Device, Distribution, Tensor, TensorData};

/// A standard normal tensor.
pub fn randn<const D: usize>(shape: [usize; D], dev: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), dev)
}

/// The values as f64, whatever the tensor's float type.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.clone()
        .inner()
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap()
}

/// `max |a - b| <= tol * max(1, max |b|)`.
pub fn assert_close<const D: usize>(what: &str, a: &Tensor<D>, b: &Tensor<D>, tol: f64) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let (a, b) = (values(a), values(b));
    let scale = b.iter().fold(1f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f64, f64::max);
    assert!(
        worst <= tol * scale,
        "{what}: max difference {worst} > {tol} x {scale}"
    );
}

/// How a finite-difference check is run.
#[derive(Debug, Clone, Copy)]
pub struct Fd {
    /// Step of the central difference.
    pub h: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Fd {
    /// For f32: `h` = 1e-2 of the inputs' scale (normalised pixels, order 1). The central
    /// difference's truncation error is `O(h^2) f'''`, about 1e-4 relative; the loss's last
    /// bits are noise (a few ulps), which puts about `4 eps |L| / 2h` on the quotient: that is
    /// added to the tolerance explicitly; 3% relative error is left for the rest. A wrong meta-gradient (a missing second-order
    /// term, a sign, a transposed weight) is off by 10% to 100%.
    pub const F32: Fd = Fd {
        h: 1e-2,
        rtol: 3e-2,
    };
    /// For f64: `h` = 1e-4 gives truncation error ~1e-8 and round-off ~1e-11, so the
    /// autodiff gradient must agree to 1e-5 relative.
    pub const F64: Fd = Fd {
        h: 1e-4,
        rtol: 1e-5,
    };
}

fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON,
        _ => f32::EPSILON as f64,
    }
}

/// Checks the autodiff gradient of `f` at `point` against central finite differences
/// `(f(x + h v) - f(x - h v)) / 2h`, on the 4 largest and 8 random coordinates and as
/// directional derivatives (along the gradient, where it equals `|g|`, and along random unit
/// directions).
///
/// Meta-gradient losses of ReLU networks are only piecewise smooth: the gradient inside them
/// contains ReLU masks, so the loss jumps where a pre-activation crosses zero. A probe is
/// accepted only where the function is smooth at the scale of `h`: the differences at `h`
/// and `h/2` must agree, and the gap between forward and backward differences must shrink
/// like `h`; probes at a kink are skipped, at most a third of the coordinates and two of the
/// four directions may be (deterministic: seeded coordinates and directions).
pub fn check_meta_gradient(
    what: &str,
    point: &Tensor<4>,
    f: impl Fn(Tensor<4>) -> Tensor<1>,
    fd: Fd,
) {
    let dev = point.device();
    let dims = point.dims();
    let leaf = point.clone().autodiff().require_grad();
    let loss = f(leaf.clone());
    let l0 = values(&loss.clone())[0].abs();
    let grad = values(
        &leaf
            .grad(&loss.backward())
            .expect("the loss depends on the point"),
    );
    let x = values(point);
    let n = x.len();
    let eps = unit_roundoff(point.dtype());
    let noise = |h: f64| 4.0 * eps * l0.max(1e-3) / (2.0 * h);
    let eval = |dir: &[f64], s: f64| -> f64 {
        let v: Vec<f64> = x.iter().zip(dir).map(|(p, d)| p + s * d).collect();
        let t = Tensor::<4>::from_data(TensorData::new(v, dims), &dev).cast(point.dtype());
        values(&f(t))[0]
    };
    let f0 = eval(&vec![0.0; n], 0.0);
    // Returns None where the function is not smooth at the scale of h: the central differences
    // at h and h/2 must agree, and the gap between the forward and the backward difference
    // (h f'' for a smooth function) must halve with h; a kink keeps it, a jump doubles it.
    let smooth_fd_at = |dir: &[f64], h: f64| -> Option<f64> {
        let k = h / 2.0;
        let (fp, fm, fpk, fmk) = (eval(dir, h), eval(dir, -h), eval(dir, k), eval(dir, -k));
        let (ch, ck) = ((fp - fm) / (2.0 * h), (fpk - fmk) / (2.0 * k));
        let gap_h = (fp - f0) / h - (f0 - fm) / h;
        let gap_k = (fpk - f0) / k - (f0 - fmk) / k;
        let tol = fd.rtol * ck.abs() + 4.0 * noise(k);
        ((ch - ck).abs() <= tol && (gap_k - gap_h / 2.0).abs() <= 2.0 * tol).then_some(ch)
    };
    let smooth_fd = |dir: &[f64]| smooth_fd_at(dir, fd.h);
    assert!(
        grad.iter().all(|v| v.is_finite()),
        "{what}: the gradient has NaN or infinite entries"
    );
    let gmax = grad.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(gmax > 0.0, "{what}: zero gradient, nothing to check");
    let unit = |i: usize| -> Vec<f64> {
        let mut d = vec![0f64; n];
        d[i] = 1.0;
        d
    };
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    let mut coords: Vec<usize> = order.iter().take(4).copied().collect();
    coords.extend((0..8).map(|_| next() % n));
    let (mut checked, mut skipped) = (0, 0);
    for i in coords {
        let Some(num) = smooth_fd(&unit(i)) else {
            skipped += 1;
            continue;
        };
        let an = grad[i];
        let tol = fd.rtol * an.abs().max(0.1 * gmax) + noise(fd.h);
        assert!(
            (an - num).abs() <= tol,
            "{what}: coordinate {i}: autodiff {an:e}, finite difference {num:e} (tolerance {tol:e})"
        );
        checked += 1;
    }
    assert!(
        skipped * 3 <= checked + skipped,
        "{what}: {skipped} of 12 coordinates straddle a kink"
    );
    // Directional derivatives: along the gradient, then random unit directions.
    let norm = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut dirs: Vec<Vec<f64>> = vec![grad.iter().map(|v| v / norm).collect()];
    for _ in 0..3 {
        let d: Vec<f64> = (0..n)
            .map(|_| (next() % 2001) as f64 / 1000.0 - 1.0)
            .collect();
        let dn = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        dirs.push(d.into_iter().map(|v| v / dn).collect());
    }
    let mut checked = 0;
    for (k, dir) in dirs.iter().enumerate() {
        // A direction moves every unit, so it meets kinks more often than a coordinate: try
        // smaller steps (the directional derivative is large enough to bear the noise).
        let Some((num, h)) = [1.0, 0.25, 0.0625]
            .iter()
            .find_map(|s| smooth_fd_at(dir, fd.h * s).map(|v| (v, fd.h * s)))
        else {
            continue;
        };
        let an: f64 = grad.iter().zip(dir).map(|(g, d)| g * d).sum();
        let tol = fd.rtol * norm + noise(h);
        assert!(
            (num - an).abs() <= tol,
            "{what}: direction {k}: autodiff {an:e}, finite difference {num:e}, |g| = {norm:e}"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "{what}: only {checked} of 4 directions are smooth at h = {} to {}",
        fd.h,
        fd.h / 16.0
    );
}
