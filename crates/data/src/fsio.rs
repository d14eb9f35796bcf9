//! File-system helpers shared by the loaders: whole-file reads whose errors name the file,
//! atomic writes (a temporary file renamed into place), and transparent gzip.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Reads a whole file; the error names it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| DataError::io(path, &e))
}

/// The temporary name `path` is written under before it is renamed into place: same folder
/// (so the rename stays on one file system), a leading dot and `.tmp` before the extension, so
/// no reader ever takes it for the finished file, and the extension kept (so format-guessing
/// writers such as the `image` crate still know the format).
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    // process id and a counter: concurrent writers of one name never share a temporary file
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".{stem}.{}-{n}.tmp{ext}", std::process::id()))
}

/// Moves a finished temporary file to its final name (an atomic rename on POSIX).
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path).map_err(|e| {
        let _ = fs::remove_file(tmp);
        DataError::io(path, &e)
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a process that dies
/// midway leaves either the old file, no file, or the whole new file under `path`, never half
/// of one. There is no `fsync` (a data set is many small files; a power cut is left to the
/// file system's ordering of renames).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(DataError::io(path, &e));
    }
    commit(&tmp, path)
}

/// Creates a directory and its parents; the error names it.
pub(crate) fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| DataError::io(path, &e))
}

/// True when `bytes` start with the gzip magic number `1f 8b`.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses a whole gzip stream (all members). `path` names the file in errors.
pub(crate) fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| DataError::format(path, None, format!("bad gzip stream: {e}")))?;
    Ok(out)
}

/// Reads a file, decompressing it when it is gzip (detected by its magic number, not its
/// name).
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    if is_gzip(&bytes) {
        gunzip(&bytes, path)
    } else {
        Ok(bytes)
    }
}

/// The entries of a directory, sorted by file name (byte order); the error names it.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut entries = fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, &e))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| DataError::io(dir, &e))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}
