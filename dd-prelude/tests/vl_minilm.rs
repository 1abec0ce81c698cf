//! The MiniLM port against reference embeddings of the package's own tokenizer and weights
//! (`tests/fixtures/minilm_reference.json`, written by `scripts/minilm_reference.py`).

use dd_prelude::vl::MiniLm;
use dd_prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    sentence: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

fn encoder() -> Option<MiniLm> {
    if !MiniLm::default_dir().join("model.safetensors").is_file() {
        eprintln!(
            "skipped: no MiniLM at {:?} (run scripts/setup.sh)",
            MiniLm::default_dir()
        );
        return None;
    }
    Some(MiniLm::load_default(&device()).expect("MiniLM loads"))
}

#[test]
fn tokenizer_matches_the_reference_ids() {
    let Some(enc) = encoder() else { return };
    for row in fixture().rows {
        assert_eq!(enc.encode(&row.sentence), row.ids, "{:?}", row.sentence);
    }
}

#[test]
fn embeddings_match_the_reference() {
    let Some(enc) = encoder() else { return };
    let rows = fixture().rows;
    let sentences: Vec<&str> = rows.iter().map(|r| r.sentence.as_str()).collect();
    // Embedded together, so the shorter sentences are padded and masked.
    let e = enc.embed(&sentences).expect("embeds");
    let d = enc.dim();
    assert_eq!(d, 384);
    for (i, row) in rows.iter().enumerate() {
        let got = &e[i * d..(i + 1) * d];
        let dot: f32 = got.iter().zip(&row.embedding).map(|(a, b)| a * b).sum();
        let na: f32 = got.iter().map(|a| a * a).sum::<f32>().sqrt();
        let nb: f32 = row.embedding.iter().map(|b| b * b).sum::<f32>().sqrt();
        let cos = dot / (na * nb);
        assert!(cos > 0.99, "{:?}: cosine {cos}", row.sentence);
        assert!((na - 1.0).abs() < 1e-4, "unit length, got {na}");
    }
    // Alone (no padding) gives the same vector as in the padded batch.
    let alone = enc.embed(&sentences[..1]).expect("embeds");
    let diff = alone
        .iter()
        .zip(&e[..d])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "padding changed the embedding by {diff}");
}
