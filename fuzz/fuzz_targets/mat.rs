//! MATLAB level 5 parsing and the SVHN conversion from arbitrary bytes. Inputs are given a
//! valid 128-byte header half of the time so the fuzzer reaches the data elements quickly.
#![no_main]

use dd_prelude::{Svhn, data::parse_mat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_mat("fuzz.mat", data);
    let _ = Svhn::parse_split("fuzz.mat", data);
    let mut with_header = vec![b' '; 116];
    with_header.extend([0u8; 8]);
    with_header.extend([0x00, 0x01]);
    with_header.extend(if data.first().is_some_and(|b| b & 1 == 1) { b"MI" } else { b"IM" });
    with_header.extend(data);
    if let Ok(mat) = parse_mat("fuzz.mat", &with_header) {
        for a in &mat.arrays {
            let n: usize = a.dims.iter().product();
            assert_eq!(a.data.len(), n);
        }
    }
    let _ = Svhn::parse_split("fuzz.mat", &with_header);
});
