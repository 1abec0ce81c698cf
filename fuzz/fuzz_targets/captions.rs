//! The JSON caption readers (COCO captions, Karpathy splits) on arbitrary bytes, beside an image
//! folder holding one valid PNG: a named error, or pairs whose every image lies in the folder.
#![no_main]

#[path = "common.rs"]
mod common;

use dd_prelude::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json = common::file("captions.json", data);
    let images = json.parent().expect("scratch folder").join("images");
    let png = images.join("a.png");
    if !png.is_file() {
        std::fs::create_dir_all(&images).expect("image folder");
        let img = image::RgbImage::from_pixel(2, 2, image::Rgb([1, 2, 3]));
        img.save(&png).expect("png");
    }
    if let Ok(set) = CocoCaptions::new(&json, &images).with_image_size(2).load() {
        assert!(!set.is_empty());
    }
    let _ = Karpathy::new(&json, &images).with_image_size(2).load();
});
