//! Stride-1 convolution on the CPU backend, forward and backward, one image at a time in cache.
//!
//! Burn's CPU convolution (burn-flex 0.22) runs its forward pass as one product per image and
//! per tile after a layout change to channels-last, its input gradient as a transposed
//! convolution, and its weight gradient as a convolution of the input, batch and channel axes
//! swapped, with the output gradient as the kernel: products 9 rows tall for a 3x3 kernel,
//! which reach a small share of the CPU's peak (perf: 25-29 % of a width-128 training step in
//! gemm's one-row microkernel). Here each image's patch matrix (`c_in * kh * kw` rows, one
//! column per output pixel; 0.9 MB for a 128-channel 14x14 layer) is built in a per-thread
//! buffer that stays in the L2 cache and feeds one well-shaped product:
//!
//! - forward: `y_i = W cols_i (+ b)`;
//! - input gradient: `dx_i = fold(W^T dy_i)` (col2im);
//! - weight gradient: `dW = sum_i dy_i cols_i^T`, accumulated per thread and summed.
//!
//! Images are split between the cores; a batch smaller than the core count runs its products
//! on every core instead. Nothing of the size of the unfolded batch is ever allocated.
//!
//! The three maps are a closed set under differentiation (`dx` is linear in `dy` and `W`, `dW`
//! in `x` and `dy`), so each is registered with Burn's autodiff with a backward written in the
//! other two: the meta-gradient engine differentiates its explicit backward pass through them.
//! They are a Burn backend extension ([`UnitConvBackend`]) for the `flex` backend and autodiff
//! over it, in `f32` and `f64`; [`conv2d_unit_stride`](super::conv2d_unit_stride) and its two
//! gradient companions route other backends (CUDA) and other dtypes to Burn's own convolution.
//!
//! # Example
//! ```
//! use dd_prelude::models::{conv2d_unit_stride, conv2d_unit_stride_dw, conv2d_unit_stride_dx};
//! use burn::tensor::{Distribution, Tensor};
//! let dev = dd_prelude::device();
//! let x = Tensor::<4>::random([2, 4, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
//! let w = Tensor::<4>::random([3, 4, 3, 3], Distribution::Normal(0.0, 0.1), &dev);
//! let y = conv2d_unit_stride(x.clone(), w.clone(), None, [1, 1]);
//! let dy = Tensor::<4>::ones_like(&y);
//! assert_eq!(conv2d_unit_stride_dx(dy.clone(), w, [5, 5], [1, 1]).dims(), [2, 4, 5, 5]);
//! assert_eq!(conv2d_unit_stride_dw(x, dy, [3, 3], [1, 1]).dims(), [3, 4, 3, 3]);
//! ```

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex, backend_extension};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{DType, Element, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A stride-1, dilation-1, zero-padded 2-D convolution and its two gradients, as a Burn
/// backend extension: implemented for the `flex` CPU backend (the kernels of this module) and
/// for autodiff over it (each map's backward written in the other two).
///
/// Shapes: `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]`, `bias` `[c_out]`,
/// `dy` `[n, c_out, ho, wo]` with `ho = h + 2 ph - kh + 1`, `wo = w + 2 pw - kw + 1`.
///
/// # Example
/// ```
/// use dd_prelude::models::UnitConvBackend;
/// use burn::backend::Dispatch;
/// use burn::tensor::Tensor;
/// let dev = burn::tensor::Device::flex();
/// let x = Tensor::<4>::ones([1, 1, 3, 3], &dev);
/// let w = Tensor::<4>::ones([1, 1, 3, 3], &dev);
/// let y = Tensor::<4>::from_dispatch(<Dispatch as UnitConvBackend>::unit_conv(
///     x.into_dispatch(), w.into_dispatch(), Tensor::<1>::zeros([1], &dev).into_dispatch(), [1, 1]));
/// assert_eq!(y.to_data().to_vec::<f32>().unwrap()[4], 9.0);
/// ```
#[backend_extension(Flex, Autodiff)]
pub trait UnitConvBackend: burn::backend::Backend {
    /// `y = conv(x, weight) + bias` (`bias` `[c_out]`).
    fn unit_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
    /// The input gradient `dx` `[n, c_in, h, w]` (`input_hw = [h, w]`) of the convolution for
    /// the output gradient `dy` (a transposed convolution).
    fn unit_conv_dx(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        input_hw: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
    /// The weight gradient `dW` `[c_out, c_in, kh, kw]` (`kernel = [kh, kw]`) of the
    /// convolution of `x` for the output gradient `dy`.
    fn unit_conv_dw(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
    /// The bias gradient `db` `[c_out]`: `dy` summed over the batch and the pixels.
    fn unit_conv_db(dy: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Floating-point operations the CPU convolution kernels have run in this process (forward,
/// input and weight gradients, `2 n c_out c_in kh kw ho wo` each, in `f32` or `f64`): what a
/// benchmark divides by its time for the convolutions' share of the CPU's peak. Other dtypes
/// and backends go to Burn's convolution and are not counted.
///
/// # Example
/// ```
/// use dd_prelude::models::{conv2d_unit_stride, conv_flops};
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let before = conv_flops();
/// let _ = conv2d_unit_stride(Tensor::<4>::ones([1, 1, 3, 3], &dev), Tensor::ones([2, 1, 3, 3], &dev), None, [1, 1]);
/// assert!(conv_flops() - before >= 2 * 2 * 9 * 9); // 2 outputs x 9 pixels x 9 taps
/// ```
pub fn conv_flops() -> u64 {
    CONV_FLOPS.load(std::sync::atomic::Ordering::Relaxed)
}

static CONV_FLOPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Adds one convolution map's `2 n c_out k p` operations to [`conv_flops`].
fn count_flops(g: &Geom) {
    let flops = 2 * g.n * g.c_out * g.k() * g.p();
    CONV_FLOPS.fetch_add(flops as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the CPU kernels of this module and of [`super::block_kernel`] run on `x`: the
/// `flex` backend (with or without autodiff) in `f32` or `f64`.
pub(crate) fn cpu_kernels(x: &burn::tensor::Tensor<4>) -> bool {
    matches!(x.dtype(), DType::F32 | DType::F64)
        && x.device().inner() == burn::tensor::Device::flex()
}

/// The CPU convolution with an optional bias; other dtypes than `f32` and `f64` go to Burn's.
fn flex_conv(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    padding: [usize; 2],
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => forward::<f32>(&x, &weight, bias.as_ref(), padding),
        DType::F64 => forward::<f64>(&x, &weight, bias.as_ref(), padding),
        _ => <Flex as ModuleOps<Flex>>::conv2d(
            x,
            weight,
            bias,
            ConvOptions::new([1, 1], padding, [1, 1], 1),
        ),
    }
}

impl UnitConvBackend for Flex {
    fn unit_conv(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        padding: [usize; 2],
    ) -> FlexTensor {
        flex_conv(x, weight, Some(bias), padding)
    }

    fn unit_conv_dx(
        dy: FlexTensor,
        weight: FlexTensor,
        input_hw: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        match dy.dtype() {
            DType::F32 => input_grad::<f32>(&dy, &weight, input_hw, padding),
            DType::F64 => input_grad::<f64>(&dy, &weight, input_hw, padding),
            _ => {
                let [_, _, kh, kw] = dims4(&weight);
                let [_, _, ho, wo] = dims4(&dy);
                // The transposed convolution's output is ho + kh - 1 - 2 ph; pad the rest.
                let extra = [
                    input_hw[0] + 2 * padding[0] + 1 - kh - ho,
                    input_hw[1] + 2 * padding[1] + 1 - kw - wo,
                ];
                <Flex as ModuleOps<Flex>>::conv_transpose2d(
                    dy,
                    weight,
                    None,
                    ConvTransposeOptions::new([1, 1], padding, extra, [1, 1], 1),
                )
            }
        }
    }

    fn unit_conv_dw(
        x: FlexTensor,
        dy: FlexTensor,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        match x.dtype() {
            DType::F32 => weight_grad::<f32>(&x, &dy, kernel, padding),
            DType::F64 => weight_grad::<f64>(&x, &dy, kernel, padding),
            other => panic!("unit_conv_dw: no CPU kernel for {other:?}; use f32 or f64"),
        }
    }

    fn unit_conv_db(dy: FlexTensor) -> FlexTensor {
        bias_grad(&dy)
    }
}

impl<C: CheckpointStrategy> UnitConvBackend for Autodiff<Flex, C> {
    fn unit_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.into_primitive(), weight.into_primitive());
                let y = flex_conv(xp.clone(), wp.clone(), Some(bias.into_primitive()), padding);
                prep.finish((xp, wp, padding), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_conv(
                x.into_primitive(),
                weight.into_primitive(),
                Some(bias.into_primitive()),
                padding,
            )),
        }
    }

    fn unit_conv_dx(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        input_hw: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        bilinear_tracked::<C>(dy, weight, GradMap::Input { input_hw, padding })
    }

    fn unit_conv_dw(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        bilinear_tracked::<C>(x, dy, GradMap::Weight { kernel, padding })
    }

    fn unit_conv_db(dy: FloatTensor<Self>) -> FloatTensor<Self> {
        // linear in dy: Burn's sums, which autodiff differentiates
        let c = dy.shape()[1];
        let summed = [0, 2, 3].into_iter().fold(dy, Self::float_sum_dim);
        Self::float_reshape(summed, [c].into())
    }
}

/// One of the convolution's two gradient maps, each bilinear in its two arguments `(a, b)`:
/// the input gradient `Dx(dy, W)` and the weight gradient `DW(x, dy)`.
#[derive(Debug, Clone, Copy)]
enum GradMap {
    /// `Dx(a = dy, b = W)`, for an input of `input_hw`.
    Input {
        input_hw: [usize; 2],
        padding: [usize; 2],
    },
    /// `DW(a = x, b = dy)`, for a kernel of `kernel`.
    Weight {
        kernel: [usize; 2],
        padding: [usize; 2],
    },
}

impl GradMap {
    fn apply(self, a: FlexTensor, b: FlexTensor) -> FlexTensor {
        match self {
            GradMap::Input { input_hw, padding } => Flex::unit_conv_dx(a, b, input_hw, padding),
            GradMap::Weight { kernel, padding } => Flex::unit_conv_dw(a, b, kernel, padding),
        }
    }

    /// The gradients for `a` and `b` of `<map(a, b), g>`:
    /// `<Dx(dy, W), G> = <dy, conv(G, W)>` gives `conv(G, W)` for `dy` and `DW(G, dy)` for `W`;
    /// `<DW(x, dy), G> = <conv(x, G), dy>` gives `Dx(dy, G)` for `x` and `conv(x, G)` for `dy`.
    fn grads(
        self,
        a: FlexTensor,
        b: FlexTensor,
        g: FlexTensor,
        need: [bool; 2],
    ) -> [Option<FlexTensor>; 2] {
        match self {
            GradMap::Input { padding, .. } => {
                let [_, _, kh, kw] = dims4(&b);
                [
                    need[0].then(|| flex_conv(g.clone(), b.clone(), None, padding)),
                    need[1].then(|| Flex::unit_conv_dw(g.clone(), a.clone(), [kh, kw], padding)),
                ]
            }
            GradMap::Weight { padding, .. } => {
                let [_, _, h, w] = dims4(&a);
                [
                    need[0].then(|| Flex::unit_conv_dx(b.clone(), g.clone(), [h, w], padding)),
                    need[1].then(|| flex_conv(a.clone(), g.clone(), None, padding)),
                ]
            }
        }
    }
}

/// The backward of a [`GradMap`]: both its arguments' gradients from the other maps.
#[derive(Debug)]
struct GradMapBackward;

impl Backward<Flex, 2> for GradMapBackward {
    type State = (FlexTensor, FlexTensor, GradMap);
    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_a, node_b] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        let (a, b, map) = ops.state;
        let [ga, gb] = map.grads(a, b, g, [node_a.is_some(), node_b.is_some()]);
        for (node, grad) in [(node_a, ga), (node_b, gb)] {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// The autodiff form of a [`GradMap`] applied to `(a, b)`.
fn bilinear_tracked<C: CheckpointStrategy>(
    a: FloatTensor<Autodiff<Flex, C>>,
    b: FloatTensor<Autodiff<Flex, C>>,
    map: GradMap,
) -> FloatTensor<Autodiff<Flex, C>> {
    match GradMapBackward
        .prepare::<C>([a.node(), b.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (ap, bp) = (a.into_primitive(), b.into_primitive());
            let y = map.apply(ap.clone(), bp.clone());
            prep.finish((ap, bp, map), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(map.apply(a.into_primitive(), b.into_primitive())),
    }
}

/// The scalar types the CPU kernels run in.
pub(crate) trait Real:
    Element
    + bytemuck::Pod
    + Copy
    + Send
    + Sync
    + 'static
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + PartialOrd
    + From<f32>
    + Into<f64>
{
    /// `v` rounded to this type.
    fn of(v: f64) -> Self;
    /// `g` where `self > 0`, else 0 (a ReLU's backward; branch-free, so loops vectorize).
    fn pass_if_positive(self, g: Self) -> Self;
}
impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn pass_if_positive(self, g: Self) -> Self {
        if self > 0.0 { g } else { 0.0 }
    }
}
impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn pass_if_positive(self, g: Self) -> Self {
        if self > 0.0 { g } else { 0.0 }
    }
}

pub(crate) fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    assert_eq!(s.num_dims(), 4, "a convolution tensor has 4 dimensions");
    [s[0], s[1], s[2], s[3]]
}

/// `t` as a contiguous slice (copied only when `t` is a strided view).
pub(crate) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

pub(crate) fn values<T: Real>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>()
        .expect("a contiguous tensor of the kernel's dtype")
}

pub(crate) fn tensor<T: Real, const D: usize>(data: Vec<T>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// A kernel's output of `len` values built in chunks of `chunk`: `f(state, i, chunk_i)` fills
/// the `i`-th chunk (zeroed) and returns a value kept per chunk; `state` is per worker
/// (`init`), as in rayon's `map_init`. With `parallel`, chunks are spread over the cores, at
/// least `min_chunks` to a task; else they run in order on this thread.
///
/// Each chunk is zeroed by the thread that fills it, just before, while it is in that core's
/// cache. Zeroing the whole output up front (`vec![0; len]`) ran on the calling thread while
/// the other core waited: perf put it at 6 % of a DC outer iteration's CPU time.
pub(crate) fn par_fill<T: Real, S, R: Send>(
    len: usize,
    chunk: usize,
    parallel: bool,
    min_chunks: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [T]) -> R + Sync + Send,
) -> (Vec<T>, Vec<R>) {
    let mut out: Vec<T> = Vec::with_capacity(len);
    if len == 0 {
        return (out, Vec::new());
    }
    let zero = T::from(0.0);
    let run = |state: &mut S, (i, c): (usize, &mut [MaybeUninit<T>])| {
        for v in c.iter_mut() {
            v.write(zero);
        }
        // SAFETY: every value of `c` was just written; `MaybeUninit<T>` has `T`'s layout.
        let c = unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) };
        f(state, i, c)
    };
    let spare = &mut out.spare_capacity_mut()[..len];
    let kept = if parallel {
        spare
            .par_chunks_mut(chunk)
            .enumerate()
            .with_min_len(min_chunks.max(1))
            .map_init(init, run)
            .collect()
    } else {
        let mut state = init();
        spare
            .chunks_mut(chunk)
            .enumerate()
            .map(|c| run(&mut state, c))
            .collect()
    };
    // SAFETY: the chunks cover all `len` values and every one was written in `run`.
    unsafe { out.set_len(len) };
    (out, kept)
}

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    fn new(x: [usize; 4], weight: [usize; 4], padding: [usize; 2]) -> Self {
        let [n, c_in, h, w] = x;
        let [c_out, c_in_w, kh, kw] = weight;
        assert_eq!(
            c_in, c_in_w,
            "the weight's input channels differ from the input's"
        );
        let [ph, pw] = padding;
        assert!(
            h + 2 * ph >= kh && w + 2 * pw >= kw,
            "a {kh}x{kw} kernel does not fit a {h}x{w} input padded by {padding:?}"
        );
        Geom {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            ph,
            pw,
            ho: h + 2 * ph - kh + 1,
            wo: w + 2 * pw - kw + 1,
        }
    }
    /// Patch length: rows of one image's patch matrix.
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Output pixels: columns of one image's patch matrix.
    fn p(&self) -> usize {
        self.ho * self.wo
    }
    fn image_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    /// The range of output columns `ox` whose input column `ox + b - pw` lies in the image.
    fn valid_cols(&self, b: usize) -> (usize, usize) {
        let lo = self.pw.saturating_sub(b).min(self.wo);
        let hi = (self.w + self.pw).saturating_sub(b).min(self.wo).max(lo);
        (lo, hi)
    }
    /// Whether the patch matrix of an image is the image itself (1x1 kernel, no padding).
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.ph == 0 && self.pw == 0
    }
    /// One image's patch matrix: the image itself when [`Geom::pointwise`], else built by
    /// [`im2col`] in `buf`.
    fn patches<'a, T: Real>(&self, image: &'a [T], buf: &'a mut [T]) -> &'a [T] {
        if self.pointwise() {
            image
        } else {
            im2col(self, image, buf, self.p());
            buf
        }
    }
}

/// One image's patch matrix `cols` `[c_in kh kw, ho wo]` (row `(c, a, b)`, column
/// `oy * wo + ox` holding `x[c, oy + a - ph, ox + b - pw]`, zero outside the image), its rows
/// `ld` values apart (`ld >= ho wo`: the columns of several images side by side).
fn im2col<T: Real>(g: &Geom, x: &[T], cols: &mut [T], ld: usize) {
    let zero = T::from(0.0);
    let p = g.p();
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for a in 0..g.kh {
            for b in 0..g.kw {
                let row = &mut cols[((c * g.kh + a) * g.kw + b) * ld..][..p];
                let (lo, hi) = g.valid_cols(b);
                if let Some(s) = g.shift(a, b) {
                    row[..s.entries.start].fill(zero);
                    row[s.entries.end..].fill(zero);
                    row[s.entries.clone()].copy_from_slice(&plane[s.source.clone()]);
                    g.zero_edge_cols(row, s.rows.clone(), (lo, hi));
                    continue;
                }
                for oy in 0..g.ho {
                    let dst = &mut row[oy * g.wo..(oy + 1) * g.wo];
                    let iy = oy + a;
                    if iy < g.ph || iy - g.ph >= g.h {
                        dst.fill(zero);
                        continue;
                    }
                    let src = &plane[(iy - g.ph) * g.w..][..g.w];
                    dst[..lo].fill(zero);
                    dst[hi..].fill(zero);
                    dst[lo..hi].copy_from_slice(&src[lo + b - g.pw..hi + b - g.pw]);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`] (rows `ld` apart): adds each patch entry into its pixel of `x`.
/// The entries that fall outside the image are overwritten with zeros in `cols`.
fn col2im<T: Real>(g: &Geom, cols: &mut [T], ld: usize, x: &mut [T]) {
    let p = g.p();
    for c in 0..g.c_in {
        let plane = &mut x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for a in 0..g.kh {
            for b in 0..g.kw {
                let row = &mut cols[((c * g.kh + a) * g.kw + b) * ld..][..p];
                let (lo, hi) = g.valid_cols(b);
                if let Some(s) = g.shift(a, b) {
                    g.zero_edge_cols(row, s.rows.clone(), (lo, hi));
                    for (d, v) in plane[s.source.clone()]
                        .iter_mut()
                        .zip(&row[s.entries.clone()])
                    {
                        *d += *v;
                    }
                    continue;
                }
                for oy in 0..g.ho {
                    let iy = oy + a;
                    if iy < g.ph || iy - g.ph >= g.h {
                        continue;
                    }
                    let dst = &mut plane[(iy - g.ph) * g.w..][..g.w];
                    let src = &row[oy * g.wo..(oy + 1) * g.wo];
                    for (d, s) in dst[lo + b - g.pw..hi + b - g.pw]
                        .iter_mut()
                        .zip(&src[lo..hi])
                    {
                        *d += *s;
                    }
                }
            }
        }
    }
}

/// For a convolution whose output has the input's size, the patch row of kernel tap `(a, b)`
/// read as one shifted copy of the input plane: patch entries `entries` are plane entries
/// `source` (the same length, a constant offset apart); the output rows `rows` see the image,
/// and on them only the columns outside [`Geom::valid_cols`] read wrapped-around pixels.
struct Shift {
    entries: std::ops::Range<usize>,
    source: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
}

impl Geom {
    /// The [`Shift`] of tap `(a, b)`, when the output has the input's size; else `None`
    /// (patch rows are then built row by row).
    fn shift(&self, a: usize, b: usize) -> Option<Shift> {
        if self.ho != self.h || self.wo != self.w {
            return None;
        }
        let hw = (self.h * self.w) as isize;
        let d = (a as isize - self.ph as isize) * self.w as isize + b as isize - self.pw as isize;
        let r0 = self.ph.saturating_sub(a).min(self.ho);
        let r1 = (self.h + self.ph).saturating_sub(a).min(self.ho).max(r0);
        let start = ((r0 * self.wo) as isize).max(-d);
        let end = ((r1 * self.wo) as isize).min(hw - d).max(start);
        Some(Shift {
            entries: start as usize..end as usize,
            source: (start + d) as usize..(end + d) as usize,
            rows: r0..r1,
        })
    }

    /// Zeroes the entries of patch row `row` on output rows `rows` outside the columns
    /// `lo..hi` that see the image (a column or two: written column by column, as a slice
    /// fill per row cost a `memset` call each).
    fn zero_edge_cols<T: Real>(
        &self,
        row: &mut [T],
        rows: std::ops::Range<usize>,
        (lo, hi): (usize, usize),
    ) {
        let zero = T::from(0.0);
        for col in (0..lo).chain(hi..self.wo) {
            for oy in rows.clone() {
                row[oy * self.wo + col] = zero;
            }
        }
    }
}

/// A matrix operand of [`product`]: data and (row, column) strides.
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

/// `dst [m, n] (+)= lhs [m, k] rhs [k, n]`, `dst` row-major; accumulates when `accumulate`.
///
/// # Safety
/// The pointers must address matrices of the given shapes and strides.
#[allow(clippy::too_many_arguments)]
unsafe fn product<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
    threads: gemm::Parallelism,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::from(1.0),
            T::from(1.0),
            false,
            false,
            false,
            threads,
        );
    }
}

/// Whether to split images between threads (each product on one core), or to run the images
/// one after another with every core on each product (a batch smaller than the core count).
fn split_images(n: usize) -> bool {
    n >= 2 * rayon::current_num_threads()
}

fn inner_parallelism(split: bool) -> gemm::Parallelism {
    if split {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    }
}

/// An output of `len` values in per-group chunks of `chunk`, `f(i, out_i, scratch)` filling
/// group `i`'s (zeroed) on all cores (groups split) or one group at a time; `scratch` holds
/// `scratch_len` values of the thread's [`with_scratch`] buffer.
fn per_group<T: Real>(
    len: usize,
    chunk: usize,
    scratch_len: usize,
    split: bool,
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync + Send,
) -> Vec<T> {
    par_fill(
        len,
        chunk,
        split,
        1,
        || (),
        |_, i, o| with_scratch(scratch_len, |scratch| f(i, o, scratch)),
    )
    .0
}

thread_local! {
    /// Each thread's scratch for the convolution kernels, kept from call to call.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` values of this thread's scratch buffer, grown when short and kept for
/// the next call. Patch matrices run to 4.7 MB; allocating them per task (zero-filled, as
/// `vec!` does) cost a `memset` of that size each time. The values are whatever an earlier
/// call left: `f` writes before it reads.
fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    // Taken out of the cell while in use: a nested call (a rayon task stolen while waiting)
    // gets a buffer of its own.
    let mut buf = SCRATCH.with(|cell| cell.take());
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    if buf.len() < words {
        buf.resize(words, 0);
    }
    let r = f(&mut bytemuck::cast_slice_mut::<u64, T>(&mut buf)[..len]);
    SCRATCH.with(|cell| cell.replace(buf));
    r
}

/// Images per product in the forward pass and the input gradient. The gemm microkernel runs
/// its 16-lane vectors along the product's pixel columns, 64 rows to a tile: one 14x14 image
/// (196 pixels) leaves a 4-pixel tail that a whole 16-lane kernel computes (perf: 6 % of a
/// DC iteration's CPU time), one 7x7 image fills 49 of 64 lanes. Four 14x14 or sixteen 7x7
/// images side by side make 784 columns, a multiple of 16. Groups stay at most 1,024 columns
/// wide (the patch matrix of 128 channels then 4.7 MB) and at least four per core.
fn group_size(g: &Geom, split: bool) -> usize {
    if g.pointwise() || !split {
        return 1;
    }
    let cores = rayon::current_num_threads();
    [2, 4, 8, 16]
        .into_iter()
        .take_while(|&s| s * g.p() <= 1024 && g.n >= 4 * s * cores)
        .last()
        .unwrap_or(1)
}

fn forward<T: Real>(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    padding: [usize; 2],
) -> FlexTensor {
    let g = Geom::new(dims4(x), dims4(weight), padding);
    count_flops(&g);
    let (x, weight) = (contiguous(x), contiguous(weight));
    let bias = bias.map(contiguous);
    let (xs, ws) = (values::<T>(&x), values::<T>(&weight));
    let bs = bias.as_ref().map(values::<T>);
    let (k, p) = (g.k(), g.p());
    let split = split_images(g.n);
    let group = group_size(&g, split);
    let cols_len = if g.pointwise() { 0 } else { k * group * p };
    let tmp_len = if group > 1 { g.c_out * group * p } else { 0 };
    let y = per_group(
        g.n * g.c_out * p,
        group * g.c_out * p,
        cols_len + tmp_len,
        split,
        |i, yg, scratch| {
            let gn = yg.len() / (g.c_out * p);
            let ld = gn * p;
            let image = |j: usize| &xs[(i * group + j) * g.image_len()..][..g.image_len()];
            let (cols, tmp) = scratch.split_at_mut(cols_len);
            let cols: &[T] = if gn == 1 {
                g.patches(image(0), cols)
            } else {
                for j in 0..gn {
                    im2col(&g, image(j), &mut cols[j * p..], ld);
                }
                cols
            };
            // the product's output: the images' [c_out, p] blocks side by side, the bias
            // added as they are scattered back (one image: filled in first)
            let out: &mut [T] = if gn == 1 {
                yg
            } else {
                &mut tmp[..g.c_out * ld]
            };
            let accumulate = gn == 1 && bs.is_some();
            if let (true, Some(b)) = (accumulate, bs) {
                for (row, &bo) in out.chunks_mut(ld).zip(b) {
                    row.fill(bo);
                }
            }
            // SAFETY: out is [c_out, ld], ws [c_out, k] row-major, cols [k, ld] row-major.
            unsafe {
                product(
                    g.c_out,
                    ld,
                    k,
                    out.as_mut_ptr(),
                    accumulate,
                    Mat {
                        ptr: ws.as_ptr(),
                        rs: k as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: cols.as_ptr(),
                        rs: ld as isize,
                        cs: 1,
                    },
                    inner_parallelism(split),
                )
            }
            if gn > 1 {
                for (j, yj) in yg.chunks_mut(g.c_out * p).enumerate() {
                    for (o, row) in yj.chunks_mut(p).enumerate() {
                        let src = &tmp[o * ld + j * p..][..p];
                        match bs {
                            Some(b) => {
                                for (d, &v) in row.iter_mut().zip(src) {
                                    *d = v + b[o];
                                }
                            }
                            None => row.copy_from_slice(src),
                        }
                    }
                }
            }
        },
    );
    tensor(y, [g.n, g.c_out, g.ho, g.wo])
}

fn input_grad<T: Real>(
    dy: &FlexTensor,
    weight: &FlexTensor,
    input_hw: [usize; 2],
    padding: [usize; 2],
) -> FlexTensor {
    let [n, c_out, ho, wo] = dims4(dy);
    let [_, c_in, _, _] = dims4(weight);
    let g = Geom::new([n, c_in, input_hw[0], input_hw[1]], dims4(weight), padding);
    count_flops(&g);
    assert_eq!(
        [c_out, ho, wo],
        [g.c_out, g.ho, g.wo],
        "the output gradient's shape does not match the convolution"
    );
    let (dy, weight) = (contiguous(dy), contiguous(weight));
    let (dys, ws) = (values::<T>(&dy), values::<T>(&weight));
    let (k, p) = (g.k(), g.p());
    let split = split_images(g.n);
    let group = group_size(&g, split);
    let dcols_len = k * group * p;
    let tmp_len = if group > 1 { g.c_out * group * p } else { 0 };
    let dx = per_group(
        g.n * g.image_len(),
        group * g.image_len(),
        dcols_len + tmp_len,
        split,
        |i, dxg, scratch| {
            let gn = dxg.len() / g.image_len();
            let ld = gn * p;
            let (dcols, tmp) = scratch.split_at_mut(dcols_len);
            let first = &dys[i * group * g.c_out * p..];
            // the images' output gradients [c_out, p] side by side
            let dyg: &[T] = if gn == 1 {
                &first[..g.c_out * p]
            } else {
                for (j, dyj) in first.chunks(g.c_out * p).take(gn).enumerate() {
                    for (o, row) in dyj.chunks(p).enumerate() {
                        tmp[o * ld + j * p..][..p].copy_from_slice(row);
                    }
                }
                &tmp[..g.c_out * ld]
            };
            // dcols [k, ld] = W^T [k, c_out] dy [c_out, ld].
            let target = if g.pointwise() {
                dxg.as_mut_ptr()
            } else {
                dcols.as_mut_ptr()
            };
            // SAFETY: W^T is W [c_out, k] read with swapped strides; dyg is [c_out, ld].
            unsafe {
                product(
                    k,
                    ld,
                    g.c_out,
                    target,
                    false,
                    Mat {
                        ptr: ws.as_ptr(),
                        rs: 1,
                        cs: k as isize,
                    },
                    Mat {
                        ptr: dyg.as_ptr(),
                        rs: ld as isize,
                        cs: 1,
                    },
                    inner_parallelism(split),
                )
            }
            if !g.pointwise() {
                for (j, dxj) in dxg.chunks_mut(g.image_len()).enumerate() {
                    col2im(&g, &mut dcols[j * p..], ld, dxj);
                }
            }
        },
    );
    tensor(dx, [g.n, g.c_in, g.h, g.w])
}

fn weight_grad<T: Real>(
    x: &FlexTensor,
    dy: &FlexTensor,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> FlexTensor {
    let [n, c_in, _, _] = dims4(x);
    let [n_dy, c_out, _, _] = dims4(dy);
    assert_eq!(
        n, n_dy,
        "the input and the output gradient hold different batch sizes"
    );
    let g = Geom::new(dims4(x), [c_out, c_in, kernel[0], kernel[1]], padding);
    count_flops(&g);
    assert_eq!(
        dims4(dy)[2..],
        [g.ho, g.wo],
        "the output gradient's shape does not match the convolution"
    );
    let (x, dy) = (contiguous(x), contiguous(dy));
    let (xs, dys) = (values::<T>(&x), values::<T>(&dy));
    let (k, p) = (g.k(), g.p());
    let zero = T::from(0.0);
    // dW [c_out, k] += dy_i [c_out, p] cols_i^T [p, k], per image.
    let scratch = if g.pointwise() { 0 } else { k * p };
    // the patch matrix in this thread's scratch buffer, as in the forward pass
    let accumulate = |i: usize, dw: &mut [T], threads: gemm::Parallelism| {
        let xi = &xs[i * g.image_len()..(i + 1) * g.image_len()];
        let dyi = &dys[i * c_out * p..(i + 1) * c_out * p];
        with_scratch(scratch, |buf: &mut [T]| {
            let cols = g.patches(xi, buf);
            // SAFETY: cols^T is cols [k, p] read with swapped strides.
            unsafe {
                product(
                    c_out,
                    k,
                    p,
                    dw.as_mut_ptr(),
                    true,
                    Mat {
                        ptr: dyi.as_ptr(),
                        rs: p as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: cols.as_ptr(),
                        rs: 1,
                        cs: p as isize,
                    },
                    threads,
                )
            }
        })
    };
    let dw = if split_images(g.n) {
        let per_thread = g.n.div_ceil(rayon::current_num_threads());
        (0..g.n)
            .into_par_iter()
            .with_min_len(per_thread)
            .fold(
                || vec![zero; c_out * k],
                |mut dw, i| {
                    accumulate(i, &mut dw, gemm::Parallelism::None);
                    dw
                },
            )
            .reduce(
                || vec![zero; c_out * k],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            )
    } else {
        let mut dw = vec![zero; c_out * k];
        for i in 0..g.n {
            accumulate(i, &mut dw, gemm::Parallelism::Rayon(0));
        }
        dw
    };
    tensor(dw, [c_out, c_in, kernel[0], kernel[1]])
}

/// `db = sum over batch and pixels of dy`: the planes summed on all cores (a first layer's
/// output gradient at batch 256 and width 128 is 103 MB), then per channel.
fn bias_grad(dy: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(dy);
    let dy = contiguous(dy);
    fn sum<T: Real>(dy: &[T], n: usize, c: usize, p: usize) -> Vec<T> {
        let planes: Vec<f64> = dy[..n * c * p]
            .par_chunks(p.max(1))
            .with_min_len(8)
            .map(|plane| lane_sum(plane, |v| v))
            .collect();
        let mut db = vec![0.0f64; c];
        for (i, s) in planes.into_iter().enumerate() {
            db[i % c] += s;
        }
        db.into_iter().map(T::of).collect()
    }
    match dy.dtype() {
        DType::F32 => {
            FlexTensor::from_data(TensorData::new(sum(values::<f32>(&dy), n, c, h * w), [c]))
        }
        DType::F64 => {
            FlexTensor::from_data(TensorData::new(sum(values::<f64>(&dy), n, c, h * w), [c]))
        }
        other => panic!("unit_conv: no CPU bias gradient for {other:?}; use f32 or f64"),
    }
}

/// Gradients of `conv(x, W) + b`: `dx = Dx(dy, W)`, `dW = DW(x, dy)`, `db = sum dy`.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = (FlexTensor, FlexTensor, [usize; 2]);
    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, padding) = ops.state;
        let [_, _, h, wd] = dims4(&x);
        let [_, _, kh, kw] = dims4(&w);
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, bias_grad(&dy));
        }
        if let Some(node) = node_x {
            let dx = Flex::unit_conv_dx(dy.clone(), w, [h, wd], padding);
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, Flex::unit_conv_dw(x, dy, [kh, kw], padding));
        }
    }
}

/// Lanes of the sums below: independent accumulators the compiler keeps in one SIMD register.
const LANES: usize = 16;

/// `sum f(v)` over `xs`, accumulated in `LANES` lanes of `T`, the lanes added in f64.
pub(crate) fn lane_sum<T: Real>(xs: &[T], f: impl Fn(T) -> T) -> f64 {
    let mut acc = [T::from(0.0); LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    let mut total: f64 = acc.iter().map(|&a| a.into()).sum();
    for &v in tail {
        total += f(v).into();
    }
    total
}

/// `sum f(a, b)` over the pairs of `xs` and `ys`, as [`lane_sum`].
pub(crate) fn lane_dot<T: Real>(xs: &[T], ys: &[T], f: impl Fn(T, T) -> T) -> f64 {
    let mut acc = [T::from(0.0); LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xt, yt) = (xc.remainder(), yc.remainder());
    for (cx, cy) in xc.zip(yc) {
        for ((a, &x), &y) in acc.iter_mut().zip(cx).zip(cy) {
            *a += f(x, y);
        }
    }
    let mut total: f64 = acc.iter().map(|&a| a.into()).sum();
    for (&x, &y) in xt.iter().zip(yt) {
        total += f(x, y).into();
    }
    total
}
