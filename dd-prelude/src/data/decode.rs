//! Decoding PNG/JPEG files to fixed-size `C x H x W` pixel arrays in `[0, 1]`.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// How a picture becomes a `size x size` array: transparent pixels are composited on white,
/// the shorter side is resized to `size` (bilinear, area-aware when shrinking) and the centre
/// is cropped; one channel means luminance (ITU-R 601 weights).
pub(crate) fn decode_file(path: &Path, size: usize, channels: usize) -> Result<Vec<f32>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read image: {e}")))?;
    decode_bytes(path, &bytes, size, channels)
}

/// The side images are decoded to: 1 to 4,096 pixels.
pub(crate) fn check_image_size(size: usize) -> Result<()> {
    if size == 0 || size > 4096 {
        return Err(Error::config(
            "image reader",
            "image_size",
            format!("is {size}; expected 1..=4096 pixels"),
        ));
    }
    Ok(())
}

/// Checks `size` and that `n` decoded images of `channels` fit in memory, before reserving
/// room for them.
pub(crate) fn check_decoded(n: usize, size: usize, channels: usize) -> Result<()> {
    check_image_size(size)?;
    crate::error::ensure_fits("image reader", "image_size", &[n, channels, size, size])
}

/// As [`decode_file`], from bytes already read; `path` names the source in errors.
pub(crate) fn decode_bytes(
    path: &Path,
    bytes: &[u8],
    size: usize,
    channels: usize,
) -> Result<Vec<f32>> {
    check_image_size(size)?;
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::data(path, format!("cannot read image: {e}")))?;
    let image = reader
        .decode()
        .map_err(|e| Error::data(path, format!("unreadable image: {e}")))?;
    let rgb = on_white(&image);
    let rgb = fit_square(rgb, size as u32);
    Ok(to_planes(&rgb, channels))
}

/// The picture as RGB, transparent pixels composited on white.
fn on_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(rgb.pixels_mut()) {
        let a = src[3] as f32 / 255.0;
        for k in 0..3 {
            dst[k] = (src[k] as f32 * a + 255.0 * (1.0 - a)).round() as u8;
        }
    }
    rgb
}

/// Resizes the shorter side to `size` and crops the centre square.
fn fit_square(rgb: RgbImage, size: u32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    if w == size && h == size {
        return rgb;
    }
    let short = w.min(h).max(1) as f64;
    let nw = ((w as f64 * size as f64 / short).round() as u32).max(size);
    let nh = ((h as f64 * size as f64 / short).round() as u32).max(size);
    let resized = image::imageops::resize(&rgb, nw, nh, FilterType::Triangle);
    let (x0, y0) = ((nw - size) / 2, (nh - size) / 2);
    image::imageops::crop_imm(&resized, x0, y0, size, size).to_image()
}

/// RGB8 pixels to `C x H x W` values in `[0, 1]` (1 channel: luminance).
fn to_planes(rgb: &RgbImage, channels: usize) -> Vec<f32> {
    let (w, h) = rgb.dimensions();
    let plane = (w * h) as usize;
    if channels == 1 {
        return rgb
            .pixels()
            .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
            .collect();
    }
    let mut out = vec![0f32; 3 * plane];
    for (i, p) in rgb.pixels().enumerate() {
        for k in 0..3 {
            out[k * plane + i] = p[k] as f32 / 255.0;
        }
    }
    out
}

/// Whether a file name has an extension the decoder reads (PNG, JPEG).
pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Decodes `paths` in order into one `N x C x size x size` buffer, with progress lines for
/// long reads.
pub(crate) fn decode_many(
    paths: &[PathBuf],
    size: usize,
    channels: usize,
    label: &str,
) -> Result<Vec<f32>> {
    check_decoded(paths.len(), size, channels)?;
    let mut progress =
        Progress::new(label, paths.len()).with_print(paths.len() >= super::files::LOUD_ABOVE);
    let mut out = Vec::with_capacity(paths.len() * channels * size * size);
    for (k, p) in paths.iter().enumerate() {
        out.extend(decode_file(p, size, channels)?);
        progress.tick(1, || format!("{} images", k + 1));
    }
    Ok(out)
}
