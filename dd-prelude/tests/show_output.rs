//! The notebook display format: evcxr content blocks, PNG encoding, HTML tables.

use dd_prelude::*;

#[test]
fn png_block_is_base64_png_between_evcxr_markers() {
    let png = image_grid(&[vec![0.0; 4], vec![1.0; 4]], [1, 2, 2], 2, 3).unwrap();
    assert_eq!(&png.bytes()[..8], b"\x89PNG\r\n\x1a\n");
    let block = png.evcxr_content();
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines[0], "EVCXR_BEGIN_CONTENT image/png");
    assert_eq!(lines[2], "EVCXR_END_CONTENT");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(lines[1])
        .unwrap();
    assert_eq!(decoded, png.bytes());
    let img = image::load_from_memory(&decoded).unwrap();
    assert_eq!((img.width(), img.height()), png.size());
}

#[test]
fn grid_places_pixels_where_the_images_go() {
    // one black and one white 1x1 image, scale 4, gap 2: white block starts at x = 2 + 6 + 0
    let png = image_grid(&[vec![0.0], vec![1.0]], [1, 1, 1], 2, 4).unwrap();
    let img = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
    assert_eq!(img.get_pixel(3, 3).0, [0, 0, 0]);
    assert_eq!(img.get_pixel(9, 3).0, [255, 255, 255]);
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]); // margin
}

#[test]
fn class_grid_has_one_row_per_class() {
    let set = ImageSet::from_pixels(
        "t",
        [1, 28, 28],
        vec![0.5; 4 * 784],
        vec![0, 0, 1, 1],
        vec!["zero".into(), "one".into()],
    )
    .unwrap();
    let png = set.show_grid(2).unwrap();
    let (_, h) = png.size();
    assert_eq!(h as usize, 2 * (56 + 2) + 2);
}

#[test]
fn line_plot_renders_a_png_with_drawn_series() {
    let png = LinePlot::new("loss", "epoch", "loss")
        .series("a", vec![(0.0, 1.0), (1.0, 0.5)])
        .series("b", vec![(0.0, 0.2), (1.0, 0.9)])
        .render()
        .unwrap();
    let img = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
    let coloured = img
        .pixels()
        .filter(|p| p.0[0] != p.0[1] || p.0[1] != p.0[2])
        .count();
    assert!(
        coloured > 200,
        "series should be drawn in colour, found {coloured} coloured pixels"
    );
}

#[test]
fn table_shows_html_with_a_text_fallback() {
    let df = polars::df!("method" => ["DM <b>"], "acc" => [0.81234]).unwrap();
    let block = Table::new("Results", df).to_html_output().evcxr_content();
    assert!(block.starts_with("EVCXR_BEGIN_CONTENT text/html\n<table"));
    assert!(
        block.contains("<caption style=\"font-weight:bold;text-align:left\">Results</caption>")
    );
    assert!(
        block.contains("<td>DM &lt;b&gt;</td><td>0.8123</td>"),
        "{block}"
    );
    assert!(block.contains("EVCXR_BEGIN_CONTENT text/plain\nResults\n"));
}
