//! The word-vector readers on arbitrary bytes: GloVe text and wink's JSON. A named error, or
//! vectors that are all finite and of the stated width.
#![no_main]

#[path = "common.rs"]
mod common;

use dd_prelude::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let results = [
        WordVectors::read_glove(common::file("glove.txt", data)),
        WordVectors::read_wink(common::file("wink.json", data)),
    ];
    for wv in results.iter().flatten() {
        assert!(wv.dims() >= 1);
        for w in wv.words().iter().take(50) {
            let v = wv.vector(w).expect("a listed word has a vector");
            assert_eq!(v.len(), wv.dims());
            assert!(v.iter().all(|x| x.is_finite()));
        }
    }
});
