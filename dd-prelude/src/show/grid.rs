use plotters::prelude::*;

use super::Png;
use super::plot::{ensure_font, render_err};
use crate::error::{Error, Result};

/// Tiles images (pixel values in `[0, 1]`, each `C x H x W` with C = 1 or 3) into a grid of
/// `ncol` columns, each image scaled up `scale` times, as a PNG.
///
/// # Example
/// ```
/// use dd_prelude::image_grid;
/// let png = image_grid(&[vec![0.0; 4], vec![1.0; 4]], [1, 2, 2], 2, 4).unwrap();
/// assert_eq!(png.size(), (2 * (8 + 2) + 2, 1 * (8 + 2) + 2));
/// ```
pub fn image_grid(
    images: &[Vec<f32>],
    shape: [usize; 3],
    ncol: usize,
    scale: usize,
) -> Result<Png> {
    let rows: Vec<(Option<String>, Vec<Vec<f32>>)> = images
        .chunks(ncol.max(1))
        .map(|c| (None, c.to_vec()))
        .collect();
    labelled_grid(&rows, shape, ncol.max(1), scale, 0)
}

/// Pixel layout shared by the plain and the labelled grid.
const GAP: usize = 2;

/// A grid with one row per entry, an optional label drawn left of each row.
pub(crate) fn labelled_grid(
    rows: &[(Option<String>, Vec<Vec<f32>>)],
    [c, h, w]: [usize; 3],
    ncol: usize,
    scale: usize,
    label_width: usize,
) -> Result<Png> {
    if c != 1 && c != 3 {
        return Err(Error::ShapeMismatch {
            context: "image grid".into(),
            expected: "1 or 3 channels".into(),
            got: c.to_string(),
        });
    }
    let scale = scale.max(1);
    let (cw, ch) = (w * scale + GAP, h * scale + GAP);
    let width = label_width + ncol * cw + GAP;
    let height = rows.len().max(1) * ch + GAP;
    let mut rgb = vec![255u8; width * height * 3];
    for (r, (_, imgs)) in rows.iter().enumerate() {
        for (k, img) in imgs.iter().enumerate() {
            let (x0, y0) = (label_width + GAP + k * cw, GAP + r * ch);
            for y in 0..h * scale {
                for x in 0..w * scale {
                    let (sy, sx) = (y / scale, x / scale);
                    let o = ((y0 + y) * width + x0 + x) * 3;
                    for k3 in 0..3 {
                        let ch_idx = if c == 1 { 0 } else { k3 };
                        let v = img[ch_idx * h * w + sy * w + sx];
                        rgb[o + k3] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                }
            }
        }
    }
    if label_width > 0 {
        ensure_font();
        let root =
            BitMapBackend::with_buffer(&mut rgb, (width as u32, height as u32)).into_drawing_area();
        let size = (ch as f64 * 0.35).clamp(10.0, 18.0);
        for (r, (label, _)) in rows.iter().enumerate() {
            if let Some(label) = label {
                let y = (GAP + r * ch + ch / 2) as i32;
                let style = ("sans-serif", size).into_font().color(&BLACK).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                root.draw_text(label, &style, (4, y))
                    .map_err(render_err("image grid"))?;
            }
        }
        root.present().map_err(render_err("image grid"))?;
    }
    Png::from_rgb(rgb, width as u32, height as u32)
}

/// Grids of a set of images (an [`ImageSet`](crate::data::ImageSet), a distilled set): the
/// first images, or a class-by-class grid with class names.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = ImageSet::from_pixels("t", [1, 2, 2], vec![0.0; 16], vec![0, 0, 1, 1],
///                                 vec!["a".into(), "b".into()]).unwrap();
/// let png = set.show_grid(2).unwrap();
/// assert!(png.size().0 > 0);
/// ```
pub trait ShowImages {
    /// `per_class` images of every class, one row per class, labelled with the class name.
    fn show_grid(&self, per_class: usize) -> Result<Png>;
    /// The first `n` images, `ncol` per row.
    fn show_first(&self, n: usize, ncol: usize) -> Result<Png>;
}

/// Scale factor that makes small images visible (28 px -> 56 px).
pub(crate) fn scale_for(h: usize) -> usize {
    (64 / h.max(1)).clamp(1, 4)
}
