//! `.npy` files: `f32` arrays (latents), `i64` arrays (labels) and numpy unicode string arrays
//! (`<U..`, the 3DIEBench split files), read and written so that numpy's `np.load` /
//! `np.save` agree with us.
//!
//! The encoding and decoding are [`npyz`]'s. Two things are ours:
//!
//! - **Header vetting** ([`NpyHeader::parse`]). Before npyz sees a file we parse its
//!   preamble and header dict ourselves (with `py_literal`, the parser npyz itself uses) and
//!   reject headers whose shape overflows `u64`/`usize` or that promise more bytes than the
//!   file holds. npyz multiplies the dimensions unchecked, which panics (overflow check) on a
//!   crafted header, and it would also try to read a data section that is not there; a
//!   loader must answer bad input with an `Err` naming the file and offset instead.
//! - **Type widening and Fortran order.** [`read_f32`] also accepts `float64` files (cast to
//!   `f32`: numpy saves Python floats as `float64`), [`read_i64`] any integer width, and
//!   [`read_strings`] `|S` byte strings as well as `<U`. Arrays saved in Fortran order are
//!   returned in C order.
//!
//! Writes go to a temporary file renamed into place, so a crash never leaves half a file
//! under the final name.
//!
//! ```
//! use noether_data::npy;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("latents.npy");
//! npy::write_f32(&path, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
//! let a = npy::read_f32(&path)?;
//! assert_eq!(a.shape, vec![2, 3]);
//! assert_eq!(a.row(1, 3), Some(&[3.0, 4.0, 5.0][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use npyz::{DType, TypeChar, WriterBuilder};

use crate::error::{DataError, Result};
use crate::fsio;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8] = b"\x93NUMPY";

/// An n-dimensional array: its shape and its elements in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    /// The dimensions, outermost first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// The elements in C order; `data.len()` is the product of `shape`.
    pub data: Vec<T>,
}

impl<T> NpyArray<T> {
    /// An array from a shape and C-order data; errors when the lengths disagree.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let n = checked_len(&shape).ok_or_else(|| {
            DataError::invalid("npy array", format!("shape {shape:?} overflows usize"))
        })?;
        if n != data.len() {
            return Err(DataError::invalid(
                "npy array",
                format!("shape {shape:?} needs {n} elements, got {}", data.len()),
            ));
        }
        Ok(Self { shape, data })
    }

    /// A 1-D array.
    pub fn from_vec(data: Vec<T>) -> Self {
        Self {
            shape: vec![data.len()],
            data,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row `i` of a 2-D array of `width` columns (`None` when the array is not `? x width` or
    /// `i` is out of range).
    pub fn row(&self, i: usize, width: usize) -> Option<&[T]> {
        if self.shape.len() != 2 || self.shape[1] != width {
            return None;
        }
        self.data.get(i * width..(i + 1) * width)
    }
}

/// The parts of a `.npy` header that decide how to read it, vetted against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version `(major, minor)`: `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub version: (u8, u8),
    /// The numpy type string, e.g. `<f4`, `<i8`, `<U12`.
    pub descr: String,
    /// True when the data is stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// Byte offset of the data section.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Parses and vets the header of the `.npy` bytes `bytes` (named `path` in errors): magic
    /// number, version, header length, a dict with `descr` (a plain type string; structured
    /// dtypes are refused), `fortran_order` and `shape`, a shape whose element count fits in
    /// `usize`. Does not look at the data section.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad =
            |offset: usize, reason: String| DataError::format(path, Some(offset as u64), reason);
        if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
            return Err(bad(0, "not a .npy file (no \\x93NUMPY magic)".into()));
        }
        let version = (bytes[6], bytes[7]);
        let (len, start): (usize, usize) = match version {
            (1, 0) => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            (2, 0) | (3, 0) => {
                let Some(b) = bytes.get(8..12) else {
                    return Err(bad(8, "truncated header length".into()));
                };
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (usize::try_from(n).unwrap_or(usize::MAX), 12)
            }
            (a, b) => return Err(bad(6, format!("unsupported .npy version {a}.{b}"))),
        };
        let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else {
            return Err(bad(
                start,
                format!(
                    "header of {len} bytes runs past the end of the file ({} bytes)",
                    bytes.len()
                ),
            ));
        };
        let text = std::str::from_utf8(&bytes[start..end])
            .map_err(|e| bad(start + e.valid_up_to(), "header is not UTF-8".into()))?;
        let value: py_literal::Value = text
            .trim_end_matches(['\n', ' ', '\0'])
            .parse()
            .map_err(|e| bad(start, format!("header is not a Python literal: {e}")))?;
        let py_literal::Value::Dict(entries) = value else {
            return Err(bad(start, "header is not a dict".into()));
        };
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| matches!(k, py_literal::Value::String(s) if s == key))
                .map(|(_, v)| v)
                .ok_or_else(|| bad(start, format!("header has no '{key}'")))
        };
        let descr = match get("descr")? {
            py_literal::Value::String(s) => s.clone(),
            other => {
                return Err(bad(
                    start,
                    format!("structured dtype {other} is not supported (plain arrays only)"),
                ));
            }
        };
        let fortran_order = match get("fortran_order")? {
            py_literal::Value::Boolean(b) => *b,
            _ => return Err(bad(start, "'fortran_order' is not a bool".into())),
        };
        let dims = match get("shape")? {
            py_literal::Value::Tuple(d) | py_literal::Value::List(d) => d,
            _ => return Err(bad(start, "'shape' is not a tuple".into())),
        };
        let mut shape = Vec::with_capacity(dims.len());
        for d in dims {
            let n = match d {
                // via text: BigInt's own conversions would need the num crates by name
                py_literal::Value::Integer(i) => i.to_string().parse::<usize>().ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| bad(start, format!("bad dimension {d} in 'shape'")))?;
            shape.push(n);
        }
        // npyz multiplies dimensions (and their suffixes, for strides) unchecked: every
        // partial product must fit, so check the product of the non-zero dimensions.
        let fits = shape
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .is_some_and(|n| usize::try_from(n).is_ok());
        if !fits {
            return Err(bad(start, format!("shape {shape:?} is too large")));
        }
        Ok(Self {
            version,
            descr,
            fortran_order,
            shape,
            data_offset: end,
        })
    }

    /// Number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        checked_len(&self.shape).unwrap_or(usize::MAX)
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn checked_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// What a reader accepts, for dispatching on the file's type string.
enum Want {
    Float,
    Int,
    Text,
}

/// Vets the header, lets npyz parse it, checks the type and that the data section is whole.
fn open<'a>(
    bytes: &'a [u8],
    path: &Path,
    want: Want,
) -> Result<(NpyHeader, npyz::NpyFile<&'a [u8]>, TypeChar, usize)> {
    let header = NpyHeader::parse(bytes, path)?;
    let file = npyz::NpyFile::new(bytes)
        .map_err(|e| DataError::format(path, Some(0), format!("bad .npy header: {e}")))?;
    let DType::Plain(ts) = file.dtype() else {
        return Err(DataError::format(
            path,
            Some(0),
            format!("dtype {} is not a plain type", header.descr),
        ));
    };
    let (tc, size) = (ts.type_char(), ts.size_field());
    let ok = match want {
        Want::Float => tc == TypeChar::Float && (size == 4 || size == 8),
        Want::Int => matches!(tc, TypeChar::Int | TypeChar::Uint) && matches!(size, 1 | 2 | 4 | 8),
        Want::Text => matches!(tc, TypeChar::UnicodeStr | TypeChar::ByteStr),
    };
    if !ok {
        let expected = match want {
            Want::Float => "float32 or float64",
            Want::Int => "an integer type",
            Want::Text => "a string type (<U or |S)",
        };
        return Err(DataError::format(
            path,
            Some(0),
            format!("dtype '{}' where {expected} was expected", header.descr),
        ));
    }
    let item = ts.num_bytes().ok_or_else(|| {
        DataError::format(
            path,
            Some(0),
            format!("dtype '{}' is too large", header.descr),
        )
    })?;
    if item == 0 && !header.is_empty() {
        // npyz would make `len` empty items out of no bytes: unbounded work for a crafted shape
        return Err(DataError::format(
            path,
            Some(0),
            format!("dtype '{}' has zero-size items", header.descr),
        ));
    }
    let have = bytes.len() - header.data_offset;
    let need = header.len().checked_mul(item);
    if need.is_none_or(|n| n > have) {
        let whole = have.checked_div(item).unwrap_or(0);
        return Err(DataError::format(
            path,
            Some((header.data_offset + whole * item) as u64),
            format!(
                "truncated: the header promises {} elements of {item} bytes, the file holds {whole}",
                header.len()
            ),
        ));
    }
    Ok((header, file, tc, size as usize))
}

/// Collects the data with npyz's reader for `T`, mapping errors to the file.
fn collect<T: npyz::Deserialize>(
    file: npyz::NpyFile<&[u8]>,
    header: &NpyHeader,
    path: &Path,
) -> Result<Vec<T>> {
    let data = file
        .into_vec::<T>()
        .map_err(|e| DataError::format(path, Some(header.data_offset as u64), e.to_string()))?;
    Ok(data)
}

/// Reorders Fortran-order data into C order.
fn to_c_order<T: Clone>(data: Vec<T>, shape: &[usize], fortran: bool) -> Vec<T> {
    if !fortran || shape.len() < 2 || data.is_empty() {
        return data;
    }
    // Fortran strides: dimension 0 varies fastest.
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..data.len() {
        let off: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(data[off].clone());
        // odometer over C order: last dimension fastest
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Decodes a `float32` or `float64` `.npy` file held in memory (`float64` is cast to `f32`);
/// `path` names it in errors.
pub fn parse_f32(bytes: &[u8], path: &Path) -> Result<NpyArray<f32>> {
    let (header, file, _, size) = open(bytes, path, Want::Float)?;
    let data = if size == 4 {
        collect::<f32>(file, &header, path)?
    } else {
        collect::<f64>(file, &header, path)?
            .into_iter()
            .map(|v| v as f32)
            .collect()
    };
    let data = to_c_order(data, &header.shape, header.fortran_order);
    NpyArray::new(header.shape, data)
}

/// Decodes an integer `.npy` file held in memory (any width, signed or not) as `i64`;
/// `uint64` values above `i64::MAX` are an error.
pub fn parse_i64(bytes: &[u8], path: &Path) -> Result<NpyArray<i64>> {
    let (header, file, tc, size) = open(bytes, path, Want::Int)?;
    let data: Vec<i64> = match (tc, size) {
        (TypeChar::Int, 1) => widen(collect::<i8>(file, &header, path)?),
        (TypeChar::Int, 2) => widen(collect::<i16>(file, &header, path)?),
        (TypeChar::Int, 4) => widen(collect::<i32>(file, &header, path)?),
        (TypeChar::Int, _) => collect::<i64>(file, &header, path)?,
        (_, 1) => widen(collect::<u8>(file, &header, path)?),
        (_, 2) => widen(collect::<u16>(file, &header, path)?),
        (_, 4) => widen(collect::<u32>(file, &header, path)?),
        _ => collect::<u64>(file, &header, path)?
            .into_iter()
            .map(|v| {
                i64::try_from(v).map_err(|_| {
                    DataError::format(path, None, format!("uint64 value {v} does not fit i64"))
                })
            })
            .collect::<Result<_>>()?,
    };
    let data = to_c_order(data, &header.shape, header.fortran_order);
    NpyArray::new(header.shape, data)
}

fn widen<T: Into<i64>>(v: Vec<T>) -> Vec<i64> {
    v.into_iter().map(Into::into).collect()
}

/// Decodes a string `.npy` file held in memory: numpy unicode (`<U..`, UTF-32) or byte
/// strings (`|S..`, which must be UTF-8). Trailing NULs are padding, as in numpy.
pub fn parse_strings(bytes: &[u8], path: &Path) -> Result<NpyArray<String>> {
    let (header, file, tc, _) = open(bytes, path, Want::Text)?;
    let data = if tc == TypeChar::UnicodeStr {
        collect::<String>(file, &header, path)?
    } else {
        collect::<Vec<u8>>(file, &header, path)?
            .into_iter()
            .map(|b| {
                String::from_utf8(b)
                    .map_err(|e| DataError::format(path, None, format!("byte string: {e}")))
            })
            .collect::<Result<_>>()?
    };
    let data = to_c_order(data, &header.shape, header.fortran_order);
    NpyArray::new(header.shape, data)
}

/// Reads a `float32` (or `float64`, cast) `.npy` file.
pub fn read_f32(path: impl AsRef<Path>) -> Result<NpyArray<f32>> {
    let path = path.as_ref();
    parse_f32(&fsio::read(path)?, path)
}

/// Reads an integer `.npy` file as `i64`.
pub fn read_i64(path: impl AsRef<Path>) -> Result<NpyArray<i64>> {
    let path = path.as_ref();
    parse_i64(&fsio::read(path)?, path)
}

/// Reads a string `.npy` file (`<U..` or `|S..`).
pub fn read_strings(path: impl AsRef<Path>) -> Result<NpyArray<String>> {
    let path = path.as_ref();
    parse_strings(&fsio::read(path)?, path)
}

fn check_shape(shape: &[usize], len: usize, what: &str) -> Result<Vec<u64>> {
    match checked_len(shape) {
        Some(n) if n == len => Ok(shape.iter().map(|&d| d as u64).collect()),
        _ => Err(DataError::invalid(
            what,
            format!("shape {shape:?} does not hold {len} elements"),
        )),
    }
}

fn encode<T: npyz::Serialize + ?Sized>(
    dtype: DType,
    shape: &[u64],
    items: impl IntoIterator<Item = impl std::borrow::Borrow<T>>,
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: std::io::Error| DataError::invalid(what, format!("npy encoding failed: {e}"));
    let mut w = npyz::WriteOptions::<T>::new()
        .dtype(dtype)
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .map_err(err)?;
    for item in items {
        w.push(item.borrow()).map_err(err)?;
    }
    w.finish().map_err(err)?;
    Ok(out)
}

fn plain(descr: &str) -> Result<DType> {
    descr
        .parse()
        .map(DType::new_scalar)
        .map_err(|e| DataError::invalid("npy dtype", format!("{descr}: {e}")))
}

/// Encodes a little-endian `float32` array of `shape` (C order) as `.npy` bytes.
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let s = check_shape(shape, data.len(), "write_f32")?;
    encode::<f32>(plain("<f4")?, &s, data, "write_f32")
}

/// Encodes a little-endian `int64` array of `shape` (C order) as `.npy` bytes.
pub fn encode_i64(shape: &[usize], data: &[i64]) -> Result<Vec<u8>> {
    let s = check_shape(shape, data.len(), "write_i64")?;
    encode::<i64>(plain("<i8")?, &s, data, "write_i64")
}

/// Encodes a 1-D numpy unicode array `<U{n}` (`n` = the longest string in code points, at
/// least 1) as `.npy` bytes. Strings may not end in NUL (numpy strips trailing NULs).
pub fn encode_strings<S: AsRef<str>>(strings: &[S]) -> Result<Vec<u8>> {
    if let Some(s) = strings.iter().find(|s| s.as_ref().ends_with('\0')) {
        return Err(DataError::invalid(
            "write_strings",
            format!("{:?} ends in NUL, which numpy would drop", s.as_ref()),
        ));
    }
    let width = strings
        .iter()
        .map(|s| s.as_ref().chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    encode::<str>(
        plain(&format!("<U{width}"))?,
        &[strings.len() as u64],
        strings.iter().map(AsRef::as_ref),
        "write_strings",
    )
}

/// Writes a `float32` array (C order) to `path` atomically.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    fsio::write_atomic(path.as_ref(), &encode_f32(shape, data)?)
}

/// Writes an `int64` array (C order) to `path` atomically.
pub fn write_i64(path: impl AsRef<Path>, shape: &[usize], data: &[i64]) -> Result<()> {
    fsio::write_atomic(path.as_ref(), &encode_i64(shape, data)?)
}

/// Writes a 1-D numpy unicode string array (`<U..`) to `path` atomically.
pub fn write_strings<S: AsRef<str>>(path: impl AsRef<Path>, strings: &[S]) -> Result<()> {
    fsio::write_atomic(path.as_ref(), &encode_strings(strings)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_order_is_transposed() {
        // a 2 x 3 array [[0, 1, 2], [3, 4, 5]] stored column-major
        let f = vec![0, 3, 1, 4, 2, 5];
        assert_eq!(to_c_order(f, &[2, 3], true), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn overflowing_shape_is_an_error() {
        let text =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend([1, 0]);
        bytes.extend((text.len() as u16).to_le_bytes());
        bytes.extend(text.as_bytes());
        let err = parse_f32(&bytes, Path::new("x.npy")).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }
}
