//! `.npy` I/O: numpy's bytes read correctly (committed fixture written by numpy), round trips,
//! numpy reads our files (when python3 with numpy is available), bad files are `Err`s.

use std::path::{Path, PathBuf};
use std::process::Command;

use noether_data::{DataError, npy};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/npy")
        .join(name)
}

fn expected_latents() -> Vec<f32> {
    (0..21).map(|k| (k as f32 - 10.0) / 4.0).collect()
}

#[test]
fn reads_numpy_float32_2d() {
    let a = npy::read_f32(fixture("f32_2d.npy")).unwrap();
    assert_eq!(a.shape, vec![3, 7]);
    assert_eq!(a.data, expected_latents());
    assert_eq!(a.row(2, 7).unwrap()[6], 2.5);
}

#[test]
fn reads_numpy_fortran_order_and_float64() {
    for name in ["f32_2d_fortran.npy", "f64_2d.npy"] {
        let a = npy::read_f32(fixture(name)).unwrap();
        assert_eq!(a.shape, vec![3, 7], "{name}");
        assert_eq!(a.data, expected_latents(), "{name}");
    }
}

#[test]
fn reads_numpy_int64() {
    let a = npy::read_i64(fixture("i64_1d.npy")).unwrap();
    assert_eq!(a.shape, vec![5]);
    assert_eq!(a.data, vec![0, 54, -3, 1 << 40, 7]);
}

#[test]
fn reads_numpy_unicode_strings() {
    let a = npy::read_strings(fixture("strings_u.npy")).unwrap();
    assert_eq!(
        a.data,
        vec![
            "/02691156/1a04e3eab45ca15dd86060f189eb133/".to_string(),
            "/03001627/ab/".into(),
            "/x/é€𝄞/".into()
        ]
    );
}

#[test]
fn our_bytes_for_numpy_arrays_match_numpys() {
    // np.save of a C-order float32 array and ours: the same header (up to npyz's trailing
    // comma in the shape tuple, `(3, 7, )`), the same data offset, the same data bytes.
    let ours = npy::encode_f32(&[3, 7], &expected_latents()).unwrap();
    let theirs = std::fs::read(fixture("f32_2d.npy")).unwrap();
    let h_ours = npy::NpyHeader::parse(&ours, Path::new("ours")).unwrap();
    let h_theirs = npy::NpyHeader::parse(&theirs, Path::new("theirs")).unwrap();
    assert_eq!(h_ours, h_theirs);
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours[h_ours.data_offset..], theirs[h_theirs.data_offset..]);
}

fn write_all(dir: &Path) {
    let f: Vec<f32> = (0..14).map(|k| (k as f32 - 3.5) * 0.25).collect();
    npy::write_f32(dir.join("f32.npy"), &[2, 7], &f).expect("test fixture");
    npy::write_i64(dir.join("i64.npy"), &[4], &[0, -1, 54, 1 << 40]).expect("test fixture");
    npy::write_strings(
        dir.join("strings.npy"),
        &["/02691156/abc/", "/03001627/é𝄞/", "x"],
    )
    .expect("test fixture");
    npy::write_strings::<&str>(dir.join("empty.npy"), &[]).expect("test fixture");
}

#[test]
fn round_trips() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path());
    let f = npy::read_f32(dir.path().join("f32.npy")).unwrap();
    assert_eq!(f.shape, vec![2, 7]);
    assert_eq!(f.data[13], (13.0 - 3.5) * 0.25);
    let i = npy::read_i64(dir.path().join("i64.npy")).unwrap();
    assert_eq!(i.data, vec![0, -1, 54, 1 << 40]);
    let s = npy::read_strings(dir.path().join("strings.npy")).unwrap();
    assert_eq!(s.data, vec!["/02691156/abc/", "/03001627/é𝄞/", "x"]);
    assert!(
        npy::read_strings(dir.path().join("empty.npy"))
            .unwrap()
            .is_empty()
    );
    // no temporary file left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn numpy_reads_our_files() {
    let has_numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!("python3 with numpy not found: numpy check skipped (the fixtures still run)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path());
    let out = Command::new("python3")
        .arg(fixture("check_rust_npy.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "numpy rejected our files:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wrong_type_missing_file_and_truncation_are_errors() {
    // a string file read as floats
    let e = npy::read_f32(fixture("strings_u.npy")).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    assert!(e.to_string().contains("strings_u.npy"), "{e}");
    // a missing file
    let e = npy::read_i64(fixture("nope.npy")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    // a truncated data section names the offset
    let bytes = std::fs::read(fixture("f32_2d.npy")).unwrap();
    let cut = &bytes[..bytes.len() - 5];
    let e = npy::parse_f32(cut, Path::new("cut.npy")).unwrap_err();
    match e {
        DataError::Format { offset, .. } => assert_eq!(offset, Some(128 + 19 * 4)),
        other => panic!("{other}"),
    }
    // bad shapes on write
    assert!(npy::encode_f32(&[2, 3], &[0.0; 5]).is_err());
}
