//! MATLAB MAT-file level 5 (the format of SVHN's `train_32x32.mat`): numeric arrays,
//! compressed or not, either byte order.
//!
//! Written here rather than taken from the `matfile` crate (0.5.0): that crate panics on some
//! malformed input (an `unwrap` on the array class, an `i32` product of the dimensions that
//! overflows), prints to stdout/stderr from inside the parser, and its errors carry no reason,
//! while this project must name the record and what is wrong, and never panic.
//!
//! Layout (MathWorks, "MAT-File Format", level 5): a 128-byte header (116 bytes of text, 8 of
//! subsystem offset, version `0x0100`, endian indicator `IM` for little-endian), then data
//! elements, each an 8-byte tag (type, byte count) and its data padded to 8 bytes; a tag whose
//! upper 16 bits are non-zero is the 4-byte "small element" form. A variable is a `miMATRIX`
//! element (array flags, dimensions, name, real part, imaginary part), possibly wrapped in a
//! zlib-compressed `miCOMPRESSED` element. Values may be stored in a smaller type than the
//! array's class (MATLAB writes a `double` label vector as `uint8`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;

/// The MATLAB class of a numeric array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatClass {
    /// `double`
    Double,
    /// `single`
    Single,
    /// `int8`
    Int8,
    /// `uint8` (also MATLAB's `logical`)
    UInt8,
    /// `int16`
    Int16,
    /// `uint16`
    UInt16,
    /// `int32`
    Int32,
    /// `uint32`
    UInt32,
    /// `int64`
    Int64,
    /// `uint64`
    UInt64,
}

impl MatClass {
    fn from_code(code: u8) -> std::result::Result<Self, &'static str> {
        Ok(match code {
            6 => MatClass::Double,
            7 => MatClass::Single,
            8 => MatClass::Int8,
            9 => MatClass::UInt8,
            10 => MatClass::Int16,
            11 => MatClass::UInt16,
            12 => MatClass::Int32,
            13 => MatClass::UInt32,
            14 => MatClass::Int64,
            15 => MatClass::UInt64,
            1 => return Err("a cell array"),
            2 => return Err("a struct"),
            3 => return Err("an object"),
            4 => return Err("a char array"),
            5 => return Err("a sparse array"),
            _ => return Err("of an unknown class"),
        })
    }
}

/// The values of a numeric array, in MATLAB's column-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    /// A `uint8` array, kept as bytes (SVHN's images).
    UInt8(Vec<u8>),
    /// Any other numeric class, widened to `f64` (64-bit integers above 2^53 lose precision).
    Float(Vec<f64>),
}

impl MatData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            MatData::UInt8(v) => v.len(),
            MatData::Float(v) => v.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as `f64`.
    pub fn get(&self, i: usize) -> Option<f64> {
        match self {
            MatData::UInt8(v) => v.get(i).map(|&b| b as f64),
            MatData::Float(v) => v.get(i).copied(),
        }
    }
}

/// One numeric variable of a MAT-file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// The variable's name.
    pub name: String,
    /// Its dimensions, as MATLAB reports them (`[32, 32, 3, n]` for SVHN's `X`).
    pub dims: Vec<usize>,
    /// Its class.
    pub class: MatClass,
    /// Its values, column-major.
    pub data: MatData,
}

/// The numeric variables of a MAT-file (other variables are listed in `skipped`).
///
/// # Example
/// ```no_run
/// use dd_prelude::read_mat;
/// let mat = read_mat("train_32x32.mat")?;
/// println!("{:?}", mat.array("X")?.dims); // [32, 32, 3, 73257]
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MatFile {
    /// The file read (for error messages).
    pub path: PathBuf,
    /// The numeric variables, in file order.
    pub arrays: Vec<MatArray>,
    /// Variables that are not plain numeric arrays: `name (what it is)`.
    pub skipped: Vec<String>,
}

impl MatFile {
    /// The variable called `name`, or an error listing the variables the file has.
    pub fn array(&self, name: &str) -> Result<&MatArray> {
        self.arrays.iter().find(|a| a.name == name).ok_or_else(|| {
            let have: Vec<String> = self
                .arrays
                .iter()
                .map(|a| a.name.clone())
                .chain(self.skipped.iter().cloned())
                .collect();
            Error::data(
                &self.path,
                format!(
                    "no numeric variable `{name}` in this MAT-file (it has: {})",
                    if have.is_empty() {
                        "nothing".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            )
        })
    }
}

/// Reads a MAT-file (level 5).
///
/// Errors name the file, the variable or element and what is wrong (a v7.3 HDF5 file, a
/// truncated element, a count that does not match the dimensions...).
pub fn read_mat(path: impl AsRef<Path>) -> Result<MatFile> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read MAT-file: {e}")))?;
    parse_mat(path, &bytes)
}

/// Parses the bytes of a MAT-file; `path` only names the source in errors.
///
/// # Example
/// ```
/// let err = dd_prelude::data::parse_mat("x.mat", b"not a mat file").unwrap_err();
/// assert!(err.to_string().contains("x.mat"));
/// ```
pub fn parse_mat(path: impl AsRef<Path>, bytes: &[u8]) -> Result<MatFile> {
    let path = path.as_ref();
    let fail = |reason: String| Error::data(path, reason);
    if bytes.len() < 128 {
        return Err(fail(format!(
            "truncated MAT-file header: {} bytes, a level 5 MAT-file starts with 128",
            bytes.len()
        )));
    }
    if bytes.starts_with(b"\x89HDF") || bytes[..116].windows(4).any(|w| w == b"7.3 ") {
        return Err(fail(
            "this is a MATLAB v7.3 (HDF5) file; re-save it with `save -v7` or read it with h5py"
                .into(),
        ));
    }
    let little = match &bytes[126..128] {
        b"IM" => true,
        b"MI" => false,
        other => {
            return Err(fail(format!(
                "not a level 5 MAT-file: endian indicator is {other:?}, expected \"IM\" or \"MI\" \
                 (a level 4 MAT-file, or not a MAT-file at all)"
            )));
        }
    };
    let mut out = MatFile {
        path: path.to_path_buf(),
        arrays: Vec::new(),
        skipped: Vec::new(),
    };
    let mut cursor = Cursor {
        bytes,
        pos: 128,
        little,
    };
    let mut index = 0;
    while cursor.remaining() > 0 {
        let start = cursor.pos;
        let element = read_top_element(&mut cursor, index)
            .map_err(|reason| fail(format!("variable #{index} (byte offset {start}): {reason}")))?;
        match element {
            Element::Array(a) => out.arrays.push(a),
            Element::Skipped(s) => out.skipped.push(s),
            Element::Padding => {}
        }
        index += 1;
    }
    Ok(out)
}

enum Element {
    Array(MatArray),
    Skipped(String),
    Padding,
}

/// A read position over little- or big-endian bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    little: bool,
}

type Reason = String;

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], Reason> {
        if n > self.remaining() {
            return Err(format!(
                "truncated {what}: needs {n} bytes, {} left in the file",
                self.remaining()
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, Reason> {
        let b = self.take(4, what)?;
        Ok(read_u32(b, self.little))
    }

    /// A tag: `(type, byte count, small)`; for the small form the data is the next 4 bytes.
    fn tag(&mut self, what: &str) -> std::result::Result<(u32, usize, bool), Reason> {
        let first = self.u32(what)?;
        if first >> 16 != 0 {
            Ok((first & 0xffff, (first >> 16) as usize, true))
        } else {
            let n = self.u32(what)?;
            Ok((first, n as usize, false))
        }
    }

    /// Reads one sub-element's data (`n` bytes) and skips its padding.
    fn element_data(
        &mut self,
        n: usize,
        small: bool,
        what: &str,
    ) -> std::result::Result<&'a [u8], Reason> {
        if small {
            if n > 4 {
                return Err(format!(
                    "{what}: small data element declares {n} bytes, at most 4 fit"
                ));
            }
            let data = self.take(4, what)?;
            Ok(&data[..n])
        } else {
            let data = self.take(n, what)?;
            let pad = (8 - n % 8) % 8;
            // Tolerate a missing final pad at the very end of the file.
            self.pos += pad.min(self.remaining());
            Ok(data)
        }
    }
}

fn read_u32(b: &[u8], little: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if little {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// One top-level element: a matrix, a compressed matrix, or something to skip.
fn read_top_element(c: &mut Cursor, index: usize) -> std::result::Result<Element, Reason> {
    if c.remaining() < 8 && c.bytes[c.pos..].iter().all(|&b| b == 0) {
        c.pos = c.bytes.len();
        return Ok(Element::Padding);
    }
    let (kind, n, small) = c.tag("element tag")?;
    match kind {
        MI_MATRIX if !small => {
            let body = c.take(n, "matrix element")?;
            // Top-level uncompressed elements are padded to 8 bytes.
            let pad = (8 - n % 8) % 8;
            c.pos += pad.min(c.remaining());
            parse_matrix(body, c.little, index)
        }
        MI_COMPRESSED if !small => {
            let body = c.take(n, "compressed element")?;
            let inner = inflate_element(body, c.little)?;
            let mut ic = Cursor {
                bytes: &inner,
                pos: 0,
                little: c.little,
            };
            let (ikind, in_n, ismall) = ic.tag("compressed element's inner tag")?;
            if ikind != MI_MATRIX || ismall {
                return Ok(Element::Skipped(format!(
                    "#{index} (compressed element of type {ikind})"
                )));
            }
            let body = ic.take(in_n, "compressed matrix element")?;
            parse_matrix(body, c.little, index)
        }
        other => {
            // Skip elements that are not variables, with their padding.
            if small {
                c.take(4, "small element")?;
            } else {
                c.take(n, "element")?;
                let pad = (8 - n % 8) % 8;
                c.pos += pad.min(c.remaining());
            }
            Ok(Element::Skipped(format!(
                "#{index} (top-level element of type {other})"
            )))
        }
    }
}

/// Inflates a `miCOMPRESSED` body: the 8-byte inner tag first, then exactly the bytes it
/// announces, so a corrupt size cannot make us allocate more than the stream really holds.
fn inflate_element(body: &[u8], little: bool) -> std::result::Result<Vec<u8>, Reason> {
    let mut decoder = flate2::read::ZlibDecoder::new(body);
    let mut out = Vec::new();
    (&mut decoder)
        .take(8)
        .read_to_end(&mut out)
        .map_err(|e| format!("compressed element is not a valid zlib stream: {e}"))?;
    if out.len() < 8 {
        return Err(format!(
            "compressed element inflates to {} bytes, less than one 8-byte tag",
            out.len()
        ));
    }
    let first = read_u32(&out[..4], little);
    if first >> 16 != 0 {
        // Small element form: the 8 bytes already hold tag and data.
        return Ok(out);
    }
    let announced = read_u32(&out[4..8], little) as u64;
    // Deflate yields at most 1,032 bytes per compressed byte: an inner tag that announces more
    // is a lie, refused before inflating (so the file's variables together never inflate past
    // 1,032 times its size).
    if announced > (body.len() as u64).saturating_mul(1032) {
        return Err(format!(
            "compressed element's inner tag announces {announced} bytes, more than its {} compressed bytes can hold",
            body.len()
        ));
    }
    (&mut decoder)
        .take(announced)
        .read_to_end(&mut out)
        .map_err(|e| format!("compressed element is corrupt: {e}"))?;
    let got = out.len() as u64 - 8;
    if got < announced {
        return Err(format!(
            "compressed element is truncated: its inner tag announces {announced} bytes, \
             the stream inflates to {got}"
        ));
    }
    Ok(out)
}

/// Parses the sub-elements of one `miMATRIX`: flags, dimensions, name, real part.
fn parse_matrix(body: &[u8], little: bool, index: usize) -> std::result::Result<Element, Reason> {
    let mut c = Cursor {
        bytes: body,
        pos: 0,
        little,
    };
    if body.is_empty() {
        return Ok(Element::Skipped(format!("#{index} (empty matrix element)")));
    }
    // Array flags: miUINT32, 8 bytes.
    let (kind, n, small) = c.tag("array flags")?;
    if kind != MI_UINT32 || n != 8 {
        return Err(format!(
            "array flags sub-element has type {kind} and {n} bytes, expected type 6 (miUINT32) \
             and 8 bytes"
        ));
    }
    let flags = c.element_data(n, small, "array flags")?;
    let flag_word = read_u32(&flags[..4], little);
    let class_code = (flag_word & 0xff) as u8;
    let complex = flag_word & 0x0800 != 0;

    // Dimensions: miINT32.
    let (kind, n, small) = c.tag("dimensions")?;
    if kind != MI_INT32 || !n.is_multiple_of(4) || n < 8 {
        return Err(format!(
            "dimensions sub-element has type {kind} and {n} bytes, expected type 5 (miINT32) \
             and a multiple of 4 bytes, at least 8"
        ));
    }
    let raw = c.element_data(n, small, "dimensions")?;
    let mut dims = Vec::with_capacity(n / 4);
    for k in 0..n / 4 {
        let d = read_u32(&raw[4 * k..4 * k + 4], little) as i32;
        if d < 0 {
            return Err(format!("dimension {k} is negative ({d})"));
        }
        dims.push(d as usize);
    }

    // Name: miINT8 (or miUTF8), possibly small.
    let (kind, n, small) = c.tag("array name")?;
    if kind != MI_INT8 && kind != MI_UTF8 && kind != MI_UINT8 {
        return Err(format!(
            "array name sub-element has type {kind}, expected type 1 (miINT8)"
        ));
    }
    let name_bytes = c.element_data(n, small, "array name")?;
    let name = String::from_utf8_lossy(name_bytes).into_owned();

    let class = match MatClass::from_code(class_code) {
        Ok(class) => class,
        Err(what) => return Ok(Element::Skipped(format!("{name} ({what})"))),
    };
    if complex {
        return Ok(Element::Skipped(format!("{name} (complex)")));
    }
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("`{name}`: dimensions {dims:?} overflow"))?;

    // Real part.
    let (kind, n, small) = c.tag("real part")?;
    let data = c.element_data(n, small, "real part")?;
    let data = decode_values(kind, data, little, class, count)
        .map_err(|reason| format!("`{name}` {dims:?}: {reason}"))?;
    Ok(Element::Array(MatArray {
        name,
        dims,
        class,
        data,
    }))
}

/// Bytes per value of a storage type, with its name.
fn storage(kind: u32) -> Option<(usize, &'static str)> {
    Some(match kind {
        MI_INT8 => (1, "miINT8"),
        MI_UINT8 => (1, "miUINT8"),
        MI_INT16 => (2, "miINT16"),
        MI_UINT16 => (2, "miUINT16"),
        MI_INT32 => (4, "miINT32"),
        MI_UINT32 => (4, "miUINT32"),
        MI_SINGLE => (4, "miSINGLE"),
        MI_DOUBLE => (8, "miDOUBLE"),
        MI_INT64 => (8, "miINT64"),
        MI_UINT64 => (8, "miUINT64"),
        _ => return None,
    })
}

fn decode_values(
    kind: u32,
    data: &[u8],
    little: bool,
    class: MatClass,
    count: usize,
) -> std::result::Result<MatData, Reason> {
    let (size, type_name) =
        storage(kind).ok_or_else(|| format!("real part has non-numeric storage type {kind}"))?;
    if !data.len().is_multiple_of(size) {
        return Err(format!(
            "real part holds {} bytes, not a whole number of {size}-byte {type_name} values",
            data.len()
        ));
    }
    let stored = data.len() / size;
    if stored != count {
        return Err(format!(
            "real part holds {stored} {type_name} values, the dimensions need {count}"
        ));
    }
    if class == MatClass::UInt8 && kind == MI_UINT8 {
        return Ok(MatData::UInt8(data.to_vec()));
    }
    let word = |b: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        if little {
            a[..b.len()].copy_from_slice(b);
        } else {
            for (k, &x) in b.iter().rev().enumerate() {
                a[k] = x;
            }
        }
        a
    };
    let values: Vec<f64> = data
        .chunks_exact(size)
        .map(|b| {
            let a = word(b);
            match kind {
                MI_INT8 => a[0] as i8 as f64,
                MI_UINT8 => a[0] as f64,
                MI_INT16 => i16::from_le_bytes([a[0], a[1]]) as f64,
                MI_UINT16 => u16::from_le_bytes([a[0], a[1]]) as f64,
                MI_INT32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
                MI_UINT32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
                MI_SINGLE => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
                MI_DOUBLE => f64::from_le_bytes(a),
                MI_INT64 => i64::from_le_bytes(a) as f64,
                _ => u64::from_le_bytes(a) as f64,
            }
        })
        .collect();
    if class == MatClass::UInt8 {
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(0.0..=255.0).contains(*v) || v.fract() != 0.0)
        {
            return Err(format!("value {i} is {v}, which a uint8 array cannot hold"));
        }
        return Ok(MatData::UInt8(values.iter().map(|&v| v as u8).collect()));
    }
    Ok(MatData::Float(values))
}
