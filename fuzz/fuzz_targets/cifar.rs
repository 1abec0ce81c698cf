//! CIFAR-10 and CIFAR-100 batch parsing from arbitrary bytes.
#![no_main]

use dd_prelude::{CifarKind, data::parse_cifar_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [CifarKind::Cifar10, CifarKind::Cifar100] {
        if let Ok(batch) = parse_cifar_batch("fuzz.bin", data, kind) {
            assert_eq!(batch.pixels.len(), batch.len() * 3072);
            assert_eq!(batch.len() * kind.record_len(), data.len());
        }
    }
});
