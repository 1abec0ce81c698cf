//! IDX files (raw and gzipped) through the public reader; the input goes through a file
//! because `read_idx` takes a path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("dd-fuzz-idx-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let raw = dir.join("input.idx");
    std::fs::write(&raw, data).unwrap();
    if let Ok(arr) = dd_prelude::read_idx(&raw) {
        assert_eq!(arr.data.len(), arr.dims.iter().product::<usize>());
    }
    // The same bytes as a valid gzip stream, then the raw bytes under a .gz name.
    let gz = dir.join("input.idx.gz");
    std::fs::write(&gz, stored_gzip(data)).unwrap();
    let _ = dd_prelude::read_idx(&gz);
    std::fs::write(&gz, data).unwrap();
    let _ = dd_prelude::read_idx(&gz);
});

/// A gzip member of stored (uncompressed) deflate blocks, written by hand so the fuzz crate
/// needs no compression dependency of its own.
fn stored_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(65_535).collect() };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*c);
    }
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
