//! Text-classification readers on small files in each real format: the aclImdb folder and
//! the IMDB CSV, SST-5 in its common forms, TREC's label files, the Rotten Tomatoes corpus
//! (bzip2 CSV); then the [`SentenceSet`] API and corrupted variants.

use std::io::Write;
use std::path::PathBuf;

use dd_prelude::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-data-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

// ---------- IMDB ----------

#[test]
fn imdb_folder_reads_back_in_id_order() {
    let root = temp_dir("imdb").join("aclImdb");
    let files = [
        (
            "train/pos/10_9.txt",
            "Loved it.<br /><br />Would watch again.",
        ),
        ("train/pos/2_8.txt", "Great cast, \"sharp\" script."),
        ("train/neg/1_1.txt", "Dull, dull, dull."),
        ("test/neg/0_2.txt", "Not good.\n"),
        ("test/pos/5_10.txt", "Ünïcode fine — a classic."),
    ];
    for (f, text) in files {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(root.join("train/unsup")).unwrap();
    std::fs::write(root.join("train/unsup/3_0.txt"), "ignored").unwrap();
    // The parent of aclImdb works too.
    let imdb = Imdb::load(root.parent().unwrap()).unwrap();
    assert_eq!(
        imdb.train.texts(),
        &[
            "Dull, dull, dull.".to_string(),
            "Great cast, \"sharp\" script.".into(),
            "Loved it.<br /><br />Would watch again.".into()
        ]
    );
    assert_eq!(imdb.train.labels(), &[0, 1, 1]);
    assert_eq!(imdb.test.texts()[0], "Not good.");
    assert_eq!(imdb.test.text(1), "Ünïcode fine — a classic.");
    assert_eq!(
        imdb.train.classes(),
        &["negative".to_string(), "positive".into()]
    );
    assert!(imdb.val.is_empty());

    std::fs::write(root.join("test/pos/6_10.txt"), b"bad \xff\xfe bytes").unwrap();
    let e = err_text(Imdb::load(&root));
    assert!(e.contains("6_10.txt") && e.contains("not UTF-8"), "{e}");
    std::fs::remove_file(root.join("test/pos/6_10.txt")).unwrap();
    std::fs::write(root.join("test/pos/review.txt"), "x").unwrap();
    let e = err_text(Imdb::load(&root));
    assert!(
        e.contains("review.txt") && e.contains("<id>_<rating>.txt"),
        "{e}"
    );
}

#[test]
fn imdb_csv_reads_quotes_and_newlines_and_splits_in_halves() {
    let dir = temp_dir("imdb-csv");
    let p = dir.join("IMDB Dataset.csv");
    let mut csv = String::from("review,sentiment\n");
    for i in 0..10 {
        let label = if i % 2 == 0 { "positive" } else { "negative" };
        csv.push_str(&format!(
            "\"Review {i}, with a comma and \"\"quotes\"\"\nand a newline\",{label}\n"
        ));
    }
    std::fs::write(&p, &csv).unwrap();
    let set = Imdb::read_csv(&p).unwrap();
    assert_eq!(set.len(), 10);
    assert_eq!(
        set.text(3),
        "Review 3, with a comma and \"quotes\"\nand a newline"
    );
    assert_eq!(set.counts_per_class(), vec![5, 5]);
    let splits = Imdb::load(&p).unwrap();
    assert_eq!(splits.train.len() + splits.test.len(), 10);
    assert_eq!(splits.test.counts_per_class(), vec![3, 3]); // round(2.5) per class

    std::fs::write(&p, "review,sentiment\n\"ok\",positive\n\"hmm\",meh\n").unwrap();
    let e = err_text(Imdb::read_csv(&p));
    assert!(
        e.contains("IMDB Dataset.csv") && e.contains("line 3") && e.contains("meh"),
        "{e}"
    );
    std::fs::write(&p, "text_a,y\nx,1\n").unwrap();
    let e = err_text(Imdb::read_csv(&p));
    assert!(e.contains("`review` and `sentiment`"), "{e}");
    std::fs::write(&p, "review,sentiment\n\"a\",positive,extra\n").unwrap();
    let e = err_text(Imdb::read_csv(&p));
    assert!(e.contains("line 2") && e.contains("3 fields"), "{e}");
}

// ---------- SST-5 ----------

#[test]
fn sst5_reads_every_common_form() {
    let dir = temp_dir("sst");
    // Headed TSV (train), Kim's stsa.fine lines (dev), fastText (test).
    std::fs::write(
        dir.join("train.tsv"),
        "sentence\tlabel\nA \"gripping\" film .\t4\nDreadful .\t0\nIt is a movie .\t2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("dev.txt"),
        "3 quite good , actually .\n1 not for me .\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sst_test.txt"),
        "__label__5 a masterpiece .\n__label__1 awful .\n",
    )
    .unwrap();
    let sst = Sst5::load(&dir).unwrap();
    assert_eq!(sst.train.texts()[0], "A \"gripping\" film .");
    assert_eq!(sst.train.labels(), &[4, 0, 2]);
    assert_eq!(sst.val.labels(), &[3, 1]);
    assert_eq!(sst.val.text(0), "quite good , actually .");
    assert_eq!(sst.test.labels(), &[4, 0]);
    assert_eq!(sst.test.classes()[4], "very positive");
    assert_eq!(sst.train.name(), "SST-5 train");

    // CSV with a header in another order, headerless `sentence\tlabel`, JSON lines.
    let p = dir.join("x.csv");
    std::fs::write(&p, "label,text\n1,\"bad, really\"\n").unwrap();
    let s = Sst5::read(&p).unwrap();
    assert_eq!((s.text(0), s.labels()[0]), ("bad, really", 1));
    let p = dir.join("y.tsv");
    std::fs::write(&p, "fine .\t3\nmeh .\t2\n").unwrap();
    assert_eq!(Sst5::read(&p).unwrap().labels(), &[3, 2]);
    let p = dir.join("z.jsonl");
    std::fs::write(
        &p,
        "{\"text\": \"great\", \"label\": 4, \"label_text\": \"very positive\"}\n",
    )
    .unwrap();
    assert_eq!(Sst5::read(&p).unwrap().labels(), &[4]);
}

#[test]
fn sst5_bad_labels_name_file_and_line() {
    let dir = temp_dir("sst-bad");
    let p = dir.join("train.tsv");
    std::fs::write(&p, "sentence\tlabel\nok .\t2\nbad label .\t7\n").unwrap();
    let e = err_text(Sst5::read(&p));
    assert!(
        e.contains("train.tsv")
            && e.contains("line 3")
            && e.contains("label 7 is out of range 0..=4"),
        "{e}"
    );
    std::fs::write(&p, "__label__0 zero is not a fastText SST label .\n").unwrap();
    let e = err_text(Sst5::read(&p));
    assert!(e.contains("line 1") && e.contains("__label__0"), "{e}");
    std::fs::write(&p, "justonetoken\n").unwrap();
    let e = err_text(Sst5::read(&p));
    assert!(e.contains("line 1") && e.contains("expected"), "{e}");
    std::fs::write(&p, "x good\n").unwrap();
    let e = err_text(Sst5::read(&p));
    assert!(e.contains("label `x` is not a number"), "{e}");
    let e = err_text(Sst5::load(dir.join("missing")));
    assert!(e.contains("no SST-5 training file"), "{e}");
}

// ---------- TREC ----------

#[test]
fn trec_reads_coarse_and_fine_labels_and_latin1() {
    let dir = temp_dir("trec");
    let mut train = b"DESC:manner How did serfdom develop in and then leave Russia ?\n".to_vec();
    train.extend(b"ENTY:cremat What films featured the character Popeye Doyle ?\n");
    train.extend(b"HUM:ind Who was Gottfried Wilhelm von Leibniz \xe0 ?\n"); // Latin-1 byte
    train.extend(b"NUM:date When was Ozzy Osbourne born ?\n");
    std::fs::write(dir.join("train_5500.label"), &train).unwrap();
    std::fs::write(
        dir.join("TREC_10.label"),
        "LOC:city What is the capital of Peru ?\nABBR:exp What does NASA stand for ?\n",
    )
    .unwrap();
    let t6 = Trec::load(&dir, TrecLabels::Coarse).unwrap();
    let names: Vec<&str> = t6
        .train
        .labels()
        .iter()
        .map(|&l| t6.train.classes()[l].as_str())
        .collect();
    assert_eq!(names, ["DESC", "ENTY", "HUM", "NUM"]);
    assert_eq!(t6.train.num_classes(), 6);
    assert_eq!(
        t6.train.text(2),
        "Who was Gottfried Wilhelm von Leibniz à ?"
    );
    let t50 = Trec::load(&dir, TrecLabels::Fine).unwrap();
    assert_eq!(t50.train.num_classes(), 50);
    let names: Vec<&str> = t50
        .test
        .labels()
        .iter()
        .map(|&l| t50.test.classes()[l].as_str())
        .collect();
    assert_eq!(names, ["LOC:city", "ABBR:exp"]);
    assert_eq!(t50.test.name(), "TREC-50 test");

    std::fs::write(
        dir.join("TREC_10.label"),
        "LOC:city ok ?\nLOC:planet What is the third planet ?\n",
    )
    .unwrap();
    let e = err_text(Trec::load(&dir, TrecLabels::Fine));
    assert!(
        e.contains("TREC_10.label") && e.contains("line 2") && e.contains("LOC:planet"),
        "{e}"
    );
    std::fs::write(dir.join("TREC_10.label"), "QUESTION What ?\n").unwrap();
    let e = err_text(Trec::load(&dir, TrecLabels::Coarse));
    assert!(e.contains("line 1") && e.contains("COARSE:fine"), "{e}");
}

// ---------- Rotten Tomatoes ----------

#[test]
fn rotten_tomatoes_reads_bz2_csv_and_skips_plots() {
    let dir = temp_dir("rotten");
    let csv = "category,text,movie_name,has_plot_and_reviews\n\
               plot,\"A long plot, with commas.\nAnd lines.\",film_a,False\n\
               fresh,A three-hour cinema master class.,film_a,False\n\
               rotten,\"Flat, \"\"lifeless\"\".\",film_b,True\n\
               fresh,Sparkling.,film_c,False\n\
               rotten,Tedious.,film_c,False\n";
    let p = dir.join("rotten_tomatoes_corpus_full.csv.bz2");
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(csv.as_bytes()).unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    let set = RottenTomatoes::read(&p).unwrap();
    assert_eq!(
        set.texts(),
        &[
            "A three-hour cinema master class.".to_string(),
            "Flat, \"lifeless\".".into(),
            "Sparkling.".into(),
            "Tedious.".into()
        ]
    );
    assert_eq!(set.labels(), &[1, 0, 1, 0]);
    assert_eq!(set.classes(), &["rotten".to_string(), "fresh".into()]);
    let splits = RottenTomatoes::load(&p, 0.5, 3).unwrap();
    assert_eq!(splits.test.counts_per_class(), vec![1, 1]);
    assert_eq!(splits.train.name(), "Rotten Tomatoes train");

    std::fs::write(&p, b"BZh9 not really bzip2").unwrap();
    let e = err_text(RottenTomatoes::read(&p));
    assert!(
        e.contains("rotten_tomatoes_corpus_full.csv.bz2") && e.contains("bzip2"),
        "{e}"
    );
    let plain = dir.join("rt.csv");
    std::fs::write(&plain, "category,text\nfresh,ok\nlukewarm,meh\n").unwrap();
    let e = err_text(RottenTomatoes::read(&plain));
    assert!(
        e.contains("rt.csv") && e.contains("line 3") && e.contains("lukewarm"),
        "{e}"
    );
}

// ---------- SentenceSet ----------

#[test]
fn sentence_set_sampling_splits_and_display() {
    let texts: Vec<String> = (0..30).map(|i| format!("sentence number {i}")).collect();
    let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
    let set = SentenceSet::new(
        "toy",
        texts,
        labels,
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    assert_eq!(set.counts_per_class(), vec![10, 10, 10]);
    let idx = set.sample_per_class(2, 7);
    assert_eq!(set.subset(&idx).counts_per_class(), vec![2, 2, 2]);
    assert_eq!(idx, set.sample_per_class(2, 7), "same seed, same sample");
    let strat = set.stratified(9, 1);
    assert_eq!(set.subset(&strat).counts_per_class(), vec![3, 3, 3]);
    let splits = set.split(0.2, 0).unwrap();
    assert_eq!(splits.test.counts_per_class(), vec![2, 2, 2]);
    let mut all: Vec<&String> = splits
        .train
        .texts()
        .iter()
        .chain(splits.test.texts())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30, "train and test partition the set");
    assert_eq!(
        set.summary(),
        "toy: 30 sentences, 3 classes (a 10, b 10, c 10), 3.0 words on average"
    );
    let table = set.table(2).unwrap();
    assert!(table.to_html().contains("<td>sentence number 1</td>"));
    assert_eq!(format!("{set}"), set.summary());
    assert!(splits.to_string().lines().count() == 2);

    let e = SentenceSet::new("bad", vec!["x".into()], vec![3], vec!["a".into()]).unwrap_err();
    assert!(e.to_string().contains("label of sentence 0"), "{e}");
    let e = SentenceSet::new("bad", vec!["x".into()], vec![], vec!["a".into()]).unwrap_err();
    assert!(e.to_string().contains("texts vs labels"), "{e}");
}
