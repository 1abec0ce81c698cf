//! Image-caption readers on small files in each real format: COCO captions JSON with its
//! image folder, a Karpathy split JSON, the emoji-datasource package layout; the [`PairSet`]
//! API and display; corrupted variants (missing image, unreadable PNG, bad references).

use std::path::{Path, PathBuf};

use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-data-pairs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

fn solid_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .unwrap();
}

fn coco_json() -> serde_json::Value {
    serde_json::json!({
        "info": {"description": "tiny COCO"},
        "licenses": [],
        "images": [
            {"id": 42, "file_name": "COCO_val2014_000000000042.png", "width": 8, "height": 6},
            {"id": 7, "file_name": "COCO_val2014_000000000007.png", "width": 6, "height": 6},
            {"id": 99, "file_name": "uncaptioned.png", "width": 6, "height": 6}
        ],
        "annotations": [
            {"image_id": 7, "id": 1, "caption": "A red square on its own."},
            {"image_id": 42, "id": 2, "caption": "A blue rectangle.\n"},
            {"image_id": 7, "id": 3, "caption": "Something red."}
        ]
    })
}

#[test]
fn coco_captions_read_back_in_file_order() {
    let dir = temp_dir("coco");
    let imgs = dir.join("val2014");
    solid_png(
        &imgs.join("COCO_val2014_000000000042.png"),
        8,
        6,
        [0, 0, 255],
    );
    solid_png(
        &imgs.join("COCO_val2014_000000000007.png"),
        6,
        6,
        [255, 0, 0],
    );
    let json = dir.join("captions_val2014.json");
    std::fs::write(&json, coco_json().to_string()).unwrap();

    let set = CocoCaptions::new(&json, &imgs)
        .with_image_size(4)
        .load()
        .unwrap();
    assert_eq!(set.len(), 2, "the uncaptioned image is left out");
    assert_eq!(set.name(), "COCO val2014");
    assert_eq!(
        set.ids(),
        &[
            "COCO_val2014_000000000042.png".to_string(),
            "COCO_val2014_000000000007.png".into()
        ]
    );
    assert_eq!(set.captions(0), &["A blue rectangle.".to_string()]);
    assert_eq!(
        set.captions(1),
        &[
            "A red square on its own.".to_string(),
            "Something red.".into()
        ]
    );
    assert_eq!(set.image_shape(), [3, 4, 4]);
    let blue = set.pixels(0);
    assert!(
        blue[..16].iter().all(|&v| v.abs() < 1e-5)
            && blue[32..].iter().all(|&v| (v - 1.0).abs() < 1e-5)
    );
    assert_eq!(
        set.caption_pairs(),
        vec![
            (0, "A blue rectangle."),
            (1, "A red square on its own."),
            (1, "Something red.")
        ]
    );
    let one = CocoCaptions::new(&json, &imgs)
        .with_image_size(4)
        .with_limit(1)
        .load()
        .unwrap();
    assert_eq!(one.len(), 1);
    assert!(
        set.summary()
            .contains("2 images 3x4x4, 3 captions (1-2 per image)"),
        "{}",
        set.summary()
    );
}

#[test]
fn coco_errors_name_the_missing_image_and_bad_records() {
    let dir = temp_dir("coco-bad");
    let imgs = dir.join("val2014");
    solid_png(
        &imgs.join("COCO_val2014_000000000042.png"),
        8,
        6,
        [0, 0, 255],
    );
    let json = dir.join("captions_val2014.json");
    std::fs::write(&json, coco_json().to_string()).unwrap();
    // Image 7 is captioned but its file is missing.
    let e = err_text(CocoCaptions::new(&json, &imgs).load());
    assert!(
        e.contains("COCO_val2014_000000000007.png")
            && e.contains("missing image")
            && e.contains("annotations[0]"),
        "{e}"
    );
    // An unreadable PNG.
    std::fs::write(
        imgs.join("COCO_val2014_000000000007.png"),
        b"\x89PNG\r\n\x1a\ngarbage",
    )
    .unwrap();
    let e = err_text(CocoCaptions::new(&json, &imgs).load());
    assert!(
        e.contains("COCO_val2014_000000000007.png") && e.contains("unreadable image"),
        "{e}"
    );
    // A caption of an unknown image.
    let mut v = coco_json();
    v["annotations"][2]["image_id"] = serde_json::json!(1234);
    std::fs::write(&json, v.to_string()).unwrap();
    let e = err_text(CocoCaptions::new(&json, &imgs).load());
    assert!(
        e.contains("captions_val2014.json") && e.contains("annotations[2]") && e.contains("1234"),
        "{e}"
    );
    // A duplicate image id.
    let mut v = coco_json();
    v["images"][1]["id"] = serde_json::json!(42);
    std::fs::write(&json, v.to_string()).unwrap();
    let e = err_text(CocoCaptions::new(&json, &imgs).load());
    assert!(e.contains("images[1]") && e.contains("already used"), "{e}");
    // Not COCO at all.
    std::fs::write(&json, "{\"images\": 3}").unwrap();
    let e = err_text(CocoCaptions::new(&json, &imgs).load());
    assert!(e.contains("not a COCO captions file"), "{e}");
}

fn karpathy_json() -> serde_json::Value {
    let img = |name: &str, split: &str, caps: &[&str]| {
        serde_json::json!({
            "filename": name, "split": split, "imgid": 0,
            "sentences": caps.iter().map(|c| serde_json::json!({"raw": c, "tokens": c.split(' ').collect::<Vec<_>>()})).collect::<Vec<_>>()
        })
    };
    serde_json::json!({
        "dataset": "flickr30k",
        "images": [
            img("1.jpg", "train", &["a dog runs .", "a brown dog", "dog", "running dog", "a dog outside"]),
            img("2.png", "val", &["two people"]),
            img("3.png", "test", &["a red car", "car"]),
            img("4.png", "restval", &["a cat"]),
            img("5.png", "train", &["a tree"])
        ]
    })
}

#[test]
fn karpathy_splits_read_back() {
    let dir = temp_dir("karpathy");
    let imgs = dir.join("flickr30k-images");
    std::fs::create_dir_all(&imgs).unwrap();
    image::RgbImage::from_pixel(5, 5, image::Rgb([10, 200, 30]))
        .save(imgs.join("1.jpg"))
        .unwrap();
    for (i, c) in [
        (2, [0, 0, 0]),
        (3, [255, 0, 0]),
        (4, [0, 255, 0]),
        (5, [9, 9, 9]),
    ] {
        solid_png(&imgs.join(format!("{i}.png")), 5, 5, c);
    }
    let json = dir.join("dataset_flickr30k.json");
    std::fs::write(&json, karpathy_json().to_string()).unwrap();
    let s = Karpathy::new(&json, &imgs)
        .with_image_size(4)
        .load()
        .unwrap();
    assert_eq!(
        s.train.ids(),
        &["1.jpg".to_string(), "4.png".into(), "5.png".into()],
        "restval joins train"
    );
    assert_eq!(s.train.captions(0).len(), 5);
    assert_eq!(s.train.captions(0)[0], "a dog runs .");
    assert_eq!(s.val.ids(), &["2.png".to_string()]);
    assert_eq!(s.test.captions(0), &["a red car".to_string(), "car".into()]);
    assert_eq!(s.train.name(), "Flickr30K train");
    assert_eq!(s.test.mean(), s.train.mean());
    let red = s.test.pixels(0);
    assert!((red[0] - 1.0).abs() < 1e-5 && red[16].abs() < 1e-5);
    let limited = Karpathy::new(&json, &imgs)
        .with_image_size(4)
        .with_limit(1)
        .load()
        .unwrap();
    assert_eq!(limited.train.len(), 1);
    assert_eq!(s.to_string().lines().count(), 3);

    // COCO's layout: filepath joins the image root.
    let mut v = karpathy_json();
    v["images"][2]["filepath"] = serde_json::json!("val2014");
    std::fs::write(&json, v.to_string()).unwrap();
    let e = err_text(Karpathy::new(&json, &imgs).load());
    assert!(
        e.contains("val2014/3.png") && e.contains("images[2]") && e.contains("missing image"),
        "{e}"
    );
    let mut v = karpathy_json();
    v["images"][1]["split"] = serde_json::json!("holdout");
    std::fs::write(&json, v.to_string()).unwrap();
    let e = err_text(Karpathy::new(&json, &imgs).load());
    assert!(e.contains("images[1]") && e.contains("holdout"), "{e}");
    let mut v = karpathy_json();
    v["images"][4]["sentences"] = serde_json::json!([]);
    std::fs::write(&json, v.to_string()).unwrap();
    let e = err_text(Karpathy::new(&json, &imgs).load());
    assert!(e.contains("images[4]") && e.contains("no sentence"), "{e}");
}

#[test]
fn twemoji_reads_the_package_layout_with_captions_and_credit() {
    let dir = temp_dir("twemoji");
    let img = dir.join("img").join("64");
    for (f, c) in [
        ("1f600.png", [255, 200, 0]),
        ("1f44d.png", [250, 190, 0]),
        ("1f44d-1f3fd.png", [150, 100, 50]),
        ("1f1ea-1f1f8.png", [200, 0, 0]),
        ("2764-fe0f.png", [220, 0, 20]),
    ] {
        solid_png(&img.join(f), 64, 64, c);
    }
    let json = serde_json::json!([
        {"name": "GRINNING FACE", "image": "1f600.png", "short_names": ["grinning"], "has_img_twitter": true, "category": "Smileys & Emotion"},
        {"name": "THUMBS UP SIGN", "image": "1f44d.png", "short_names": ["+1", "thumbsup"], "has_img_twitter": true,
         "skin_variations": {"1F3FD": {"image": "1f44d-1f3fd.png", "has_img_twitter": true}}},
        {"name": "Spain Flag", "image": "1f1ea-1f1f8.png", "short_names": ["es", "flag-es"], "has_img_twitter": true},
        {"name": "HEAVY BLACK HEART", "image": "2764-fe0f.png", "short_names": ["heart"], "has_img_twitter": true},
        {"name": "NO TWITTER IMAGE", "image": "none.png", "short_names": ["none"], "has_img_twitter": false}
    ]);
    std::fs::write(dir.join("emoji.json"), json.to_string()).unwrap();

    let s = Twemoji::new(&dir)
        .with_image_size(16)
        .with_test_fraction(0.25)
        .load()
        .unwrap();
    assert_eq!(s.train.len() + s.test.len(), 4);
    assert_eq!(s.test.len(), 1);
    let all: Vec<(String, Vec<String>)> = [&s.train, &s.test]
        .iter()
        .flat_map(|p| (0..p.len()).map(move |i| (p.id(i).to_string(), p.captions(i).to_vec())))
        .collect();
    let thumbs = all.iter().find(|(id, _)| id == "1f44d.png").unwrap();
    assert_eq!(
        thumbs.1,
        vec!["thumbs up sign".to_string(), "+1".into(), "thumbsup".into()]
    );
    let flag = all.iter().find(|(id, _)| id == "1f1ea-1f1f8.png").unwrap();
    assert_eq!(
        flag.1,
        vec!["spain flag".to_string(), "es".into(), "flag es".into()]
    );
    assert_eq!(s.train.credit(), Some(dd_prelude::data::TWEMOJI_CREDIT));
    assert!(s.train.show(1).unwrap().html().contains("CC-BY 4.0"));

    let tones = Twemoji::new(&dir)
        .with_image_size(16)
        .with_skin_tones(true)
        .with_test_fraction(0.0)
        .load()
        .unwrap();
    assert_eq!(tones.train.len(), 5);
    let i = tones
        .train
        .ids()
        .iter()
        .position(|id| id == "1f44d-1f3fd.png")
        .unwrap();
    assert_eq!(
        tones.train.captions(i),
        &["thumbs up sign: medium skin tone".to_string()]
    );
    assert_eq!(
        tones.train.ids()[i - 1],
        "1f44d.png",
        "a variant follows its base emoji"
    );

    std::fs::remove_file(img.join("2764-fe0f.png")).unwrap();
    let e = err_text(Twemoji::new(&dir).load());
    assert!(
        e.contains("2764-fe0f.png") && e.contains("heavy black heart"),
        "{e}"
    );
    let e = err_text(Twemoji::new(&dir).with_test_fraction(1.5).load());
    assert!(e.contains("test_fraction"), "{e}");
}

#[test]
fn pair_set_subsets_batches_and_shows_rows() {
    let px: Vec<f32> = (0..3 * 3 * 2 * 2).map(|i| (i % 5) as f32 / 4.0).collect();
    let set = PairSet::from_pixels(
        "toy",
        [3, 2, 2],
        px.clone(),
        vec![
            vec!["one <b>bold</b>".into()],
            vec!["two".into(), "deux".into()],
            vec!["three".into()],
        ],
        vec!["a.png".into(), "b.png".into(), "c.png".into()],
    )
    .unwrap()
    .with_credit("credit line");
    for i in 0..3 {
        let back = set.pixels(i);
        for (a, b) in back.iter().zip(&px[i * 12..(i + 1) * 12]) {
            assert!((a - b).abs() < 1e-5);
        }
    }
    let sub = set.subset(&[2, 0]);
    assert_eq!(sub.ids(), &["c.png".to_string(), "a.png".into()]);
    assert_eq!(sub.credit(), Some("credit line"));
    let t = set.batch_images(&[1, 2], &device());
    assert_eq!(t.dims(), [2, 3, 2, 2]);
    let html = set.show(2).unwrap();
    assert!(
        html.html().contains("one &lt;b&gt;bold&lt;/b&gt;"),
        "captions are escaped"
    );
    assert_eq!(html.html().matches("data:image/png;base64,").count(), 2);
    assert!(html.html().contains("credit line"));
    assert!(html.to_string().contains("b.png: two | deux") && !html.to_string().contains("c.png"));
    assert_eq!(set.sample(2, 5), set.sample(2, 5));
    assert_eq!(set.num_captions(), 4);

    let e = PairSet::from_pixels(
        "bad",
        [3, 2, 2],
        px[..12].to_vec(),
        vec![vec![]],
        vec!["x".into()],
    )
    .unwrap_err();
    assert!(e.to_string().contains("at least one caption"), "{e}");
    let e = PairSet::from_pixels(
        "bad",
        [3, 2, 2],
        px,
        vec![vec!["x".into()]],
        vec!["x".into()],
    )
    .unwrap_err();
    assert!(e.to_string().contains("images vs captions"), "{e}");
}

#[test]
fn twemoji_categories_label_every_image_by_its_category() {
    let dir = temp_dir("twemoji-categories");
    let img = dir.join("img").join("64");
    // one colour per category, so a pixel tells which label an image must carry
    let (red, green, blue) = ([255, 0, 0], [0, 255, 0], [0, 0, 255]);
    let files = [
        ("a1.png", "Flags", red),
        ("a2.png", "Flags", red),
        ("b1.png", "Food & Drink", green),
        ("b2.png", "Food & Drink", green),
        ("b2-1f3fd.png", "Food & Drink", green),
        ("c1.png", "Activities", blue),
        ("c2.png", "Activities", blue),
        ("tone.png", "Component", [9, 9, 9]),
    ];
    for (f, _, c) in files {
        solid_png(&img.join(f), 64, 64, c);
    }
    let json: Vec<serde_json::Value> = files
        .iter()
        .filter(|(f, _, _)| !f.contains("-1f3fd"))
        .map(|(f, cat, _)| {
            let mut e = serde_json::json!({"name": f, "image": f, "has_img_twitter": true, "category": cat});
            if *f == "b2.png" {
                e["skin_variations"] =
                    serde_json::json!({"1F3FD": {"image": "b2-1f3fd.png", "has_img_twitter": true}});
            }
            e
        })
        .collect();
    std::fs::write(
        dir.join("emoji.json"),
        serde_json::Value::from(json).to_string(),
    )
    .unwrap();

    let s = Twemoji::new(&dir)
        .with_image_size(8)
        .with_skin_tones(true)
        .with_test_fraction(0.5)
        .load_categories()
        .unwrap();
    let classes = ["Activities", "Flags", "Food & Drink"].map(String::from);
    assert_eq!(
        s.train.classes(),
        &classes,
        "Component left out, names sorted"
    );
    assert_eq!(s.test.classes(), &classes);
    // stratified by emoji: one of the two emoji of every category in each split, the
    // skin-tone variant with its base emoji
    assert_eq!(s.train.len() + s.test.len(), 7);
    for set in [&s.train, &s.test] {
        let mut per_class = [0usize; 3];
        for i in 0..set.len() {
            per_class[set.labels()[i]] += 1;
        }
        assert!(
            per_class.iter().all(|&k| (1..=2).contains(&k)),
            "{per_class:?}"
        );
        for i in 0..set.len() {
            let px = set.pixels(i);
            let plane = 64;
            let rgb = [px[0], px[plane], px[2 * plane]];
            let brightest = (0..3).max_by(|&a, &b| rgb[a].total_cmp(&rgb[b])).unwrap();
            // red = Flags (1), green = Food & Drink (2), blue = Activities (0)
            assert_eq!(
                set.labels()[i],
                [1, 2, 0][brightest],
                "image {i} of {}",
                set.name()
            );
        }
    }
    let e = err_text(Twemoji::new(&dir).with_test_fraction(1.5).load_categories());
    assert!(e.contains("test_fraction"), "{e}");
}
