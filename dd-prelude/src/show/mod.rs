//! Rich notebook output through evcxr's display protocol.
//!
//! A value whose type has `evcxr_display()` renders in Jupyter: [`Png`] as an image, [`Html`]
//! as HTML with a plain-text fallback. Image grids and line plots render to PNG (plotters,
//! with an embedded DejaVu Sans font so text needs no system fonts); DataFrames render as
//! HTML tables through [`FrameDisplay`].

mod grid;
mod plot;
mod table;

pub use grid::{ShowImages, image_grid};
pub(crate) use grid::{labelled_grid, scale_for};
pub use plot::LinePlot;
pub use table::{FrameDisplay, Table};

use std::path::Path;

use base64::Engine;

use crate::error::{Error, Result};

/// One evcxr content block of `mime` type: what a cell prints to show rich output.
///
/// # Example
/// ```
/// let block = dd_prelude::show::content_block("text/html", "<b>hi</b>");
/// assert_eq!(block, "EVCXR_BEGIN_CONTENT text/html\n<b>hi</b>\nEVCXR_END_CONTENT\n");
/// ```
pub fn content_block(mime: &str, content: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT\n")
}

/// Prints one evcxr content block.
pub(crate) fn emit(block: String) {
    print!("{block}");
}

/// A PNG image; shows inline in a notebook.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let png = image_grid(&[vec![0.5; 4]], [1, 2, 2], 1, 8).unwrap();
/// assert_eq!(&png.bytes()[1..4], b"PNG");
/// ```
#[derive(Clone)]
pub struct Png {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

impl Png {
    /// Encodes an RGB8 buffer of `width x height`.
    pub fn from_rgb(rgb: Vec<u8>, width: u32, height: u32) -> Result<Self> {
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image_rgb(&rgb, width, height)
            .map_err(|e| Error::Render {
                what: "PNG",
                reason: e.to_string(),
            })?;
        Ok(Png {
            bytes,
            width,
            height,
        })
    }

    /// The encoded PNG bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Writes the PNG file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, &self.bytes).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }

    /// The image as a base64 `data:` URI (for HTML).
    pub fn data_uri(&self) -> String {
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }

    /// What [`Png::evcxr_display`] prints: one `image/png` block, base64.
    pub fn evcxr_content(&self) -> String {
        content_block(
            "image/png",
            &base64::engine::general_purpose::STANDARD.encode(&self.bytes),
        )
    }

    /// Shows the image in a notebook cell.
    pub fn evcxr_display(&self) {
        emit(self.evcxr_content());
    }
}

impl std::fmt::Debug for Png {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Png({}x{}, {} bytes)",
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

trait WriteRgb {
    fn write_image_rgb(self, rgb: &[u8], w: u32, h: u32) -> image::ImageResult<()>;
}

impl<W: std::io::Write> WriteRgb for image::codecs::png::PngEncoder<W> {
    fn write_image_rgb(self, rgb: &[u8], w: u32, h: u32) -> image::ImageResult<()> {
        use image::ImageEncoder;
        self.write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
    }
}

/// HTML with a plain-text fallback; shows as HTML in a notebook.
///
/// # Example
/// ```
/// let h = dd_prelude::Html::new("<b>hi</b>", "hi");
/// assert_eq!(h.to_string(), "hi");
/// ```
#[derive(Debug, Clone)]
pub struct Html {
    html: String,
    text: String,
}

impl Html {
    /// HTML and the text shown where HTML is not rendered.
    pub fn new(html: impl Into<String>, text: impl Into<String>) -> Self {
        Html {
            html: html.into(),
            text: text.into(),
        }
    }

    /// The HTML source.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// What [`Html::evcxr_display`] prints: a `text/html` and a `text/plain` block.
    pub fn evcxr_content(&self) -> String {
        content_block("text/html", &self.html) + &content_block("text/plain", &self.text)
    }

    /// Shows the HTML in a notebook cell, with its text fallback.
    pub fn evcxr_display(&self) {
        emit(self.evcxr_content());
    }
}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Escapes `&`, `<`, `>` and `"` for HTML.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
