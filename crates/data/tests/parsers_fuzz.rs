//! Random bytes fed to every binary parser (npy, CIFAR, IDX, gzip): an `Ok` or an `Err`, never
//! a panic. Besides pure noise, inputs start with a valid magic number so the parsers get past
//! their first check.

use std::path::Path;

use noether_data::cifar::{self, Cifar};
use noether_data::{mnist, npy};
use proptest::prelude::*;

fn all_npy(bytes: &[u8]) {
    let p = Path::new("fuzz.npy");
    let _ = npy::NpyHeader::parse(bytes, p);
    let _ = npy::parse_f32(bytes, p);
    let _ = npy::parse_i64(bytes, p);
    let _ = npy::parse_strings(bytes, p);
}

fn all_binary(bytes: &[u8]) {
    let p = Path::new("fuzz.bin");
    all_npy(bytes);
    let _ = cifar::parse_batch(bytes, p, Cifar::Ten);
    let _ = cifar::parse_batch(bytes, p, Cifar::Hundred);
    let _ = mnist::parse_idx_images(bytes, p);
    let _ = mnist::parse_idx_labels(bytes, p);
    let _ = mnist::gunzip(bytes, p);
}

/// A `.npy` preamble (version 1 or 2) around a header text, then data bytes.
fn npy_file(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend([version, 0]);
    if version == 1 {
        b.extend((header.len() as u16).to_le_bytes());
    } else {
        b.extend((header.len() as u32).to_le_bytes());
    }
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

fn descr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<f4".to_string()),
        Just("<f8".to_string()),
        Just(">f4".to_string()),
        Just("<i8".to_string()),
        Just("|u1".to_string()),
        Just(">u8".to_string()),
        Just("|O".to_string()),
        Just("|S0".to_string()),
        (0u64..1u64 << 40).prop_map(|n| format!("<U{n}")),
        "[a-zA-Z<>|0-9]{0,6}",
    ]
}

fn dims() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![0u64..5, Just(u64::MAX), Just(1u64 << 33), any::<u64>()],
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn noise_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..4000)) {
        all_binary(&bytes);
    }

    #[test]
    fn npy_with_random_header_text_never_panics(
        version in 1u8..4,
        text in "\\PC{0,120}",
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        all_npy(&npy_file(version, &text, &data));
    }

    #[test]
    fn npy_with_plausible_header_never_panics(
        version in 1u8..3,
        d in descr(),
        fortran in any::<bool>(),
        shape in dims(),
        data in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let shape: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        let header = format!(
            "{{'descr': '{d}', 'fortran_order': {}, 'shape': ({}{}), }}",
            if fortran { "True" } else { "False" },
            shape.join(", "),
            if shape.len() == 1 { "," } else { "" },
        );
        all_npy(&npy_file(version, &header, &data));
    }

    #[test]
    fn idx_with_magic_never_panics(
        images in any::<bool>(),
        dims in prop::collection::vec(prop_oneof![0u32..6, any::<u32>()], 0..4),
        data in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let magic: u32 = if images { 2051 } else { 2049 };
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(data);
        all_binary(&b);
        // and gzipped, through the gzip reader
        let _ = mnist::gunzip(&b, Path::new("fuzz.gz"));
    }

    #[test]
    fn gzip_with_magic_never_panics(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut b = vec![0x1f, 0x8b, 8, 0];
        b.extend(tail);
        let _ = mnist::gunzip(&b, Path::new("fuzz.gz"));
    }
}
