//! The sentence readers on arbitrary bytes: IMDB CSV, SST-5 (TSV and JSON lines), Rotten
//! Tomatoes (CSV, and bzip2), TREC (coarse and fine labels). A named error, or a set whose
//! labels are in range.
#![no_main]

#[path = "common.rs"]
mod common;

use dd_prelude::*;
use libfuzzer_sys::fuzz_target;

fn in_range(set: &SentenceSet) {
    assert_eq!(set.texts().len(), set.labels().len());
    assert!(set.labels().iter().all(|&l| l < set.num_classes()));
}

fuzz_target!(|data: &[u8]| {
    let results = [
        Imdb::read_csv(common::file("imdb.csv", data)),
        Sst5::read(common::file("train.tsv", data)),
        Sst5::read(common::file("train.jsonl", data)),
        RottenTomatoes::read(common::file("rt.csv", data)),
        RottenTomatoes::read(common::file("rt.csv.bz2", data)),
        Trec::read(common::file("train_5500.label", data), TrecLabels::Coarse),
        Trec::read(common::file("TREC_10.label", data), TrecLabels::Fine),
    ];
    for set in results.iter().flatten() {
        in_range(set);
    }
});
