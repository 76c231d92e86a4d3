//! Turning Python arguments into Rust data before the GIL is released.
//!
//! `bytes` are borrowed (they are immutable, so reading them without the GIL is safe); every
//! other buffer is copied, because another thread could change it while we read. Wrong types
//! raise `TypeError` naming the argument and the item.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};

use crate::entries::encode_offsets;
use crate::error::Error;
use crate::merkle::Hash;

pub(super) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// Every item of a sequence (list fast path, any iterable otherwise) as `bytes`, or `TypeError`
/// naming the first item that is not.
pub(super) fn bytes_items<'py>(
    seq: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let check = |(i, item): (usize, Bound<'py, PyAny>)| {
        item.cast_into::<PyBytes>().map_err(|e| {
            let found = type_name(e.into_inner().as_any());
            PyTypeError::new_err(format!("{what}[{i}] must be bytes, not {found}"))
        })
    };
    if let Ok(list) = seq.cast::<PyList>() {
        return list.iter().enumerate().map(check).collect();
    }
    if seq.is_instance_of::<PyBytes>() || seq.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of bytes, not {}",
            type_name(seq)
        )));
    }
    let iter = seq.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a sequence of bytes, not {}",
            type_name(seq)
        ))
    })?;
    iter.enumerate()
        .map(|(i, item)| check((i, item?)))
        .collect()
}

pub(super) fn slices<'a>(items: &'a [Bound<'_, PyBytes>]) -> Vec<&'a [u8]> {
    items.iter().map(|b| b.as_bytes()).collect()
}

pub(super) fn to_hash(
    bytes: &[u8],
    what: &'static str,
    index: Option<usize>,
) -> Result<Hash, Error> {
    Hash::try_from(bytes).map_err(|_| Error::InvalidHashLength {
        what,
        index,
        len: bytes.len(),
    })
}

/// Bytes of a buffer argument: `bytes` are borrowed (immutable, so safe to read with the GIL
/// released); any other buffer (bytearray, memoryview, array) is copied first, because another
/// thread could change it while we read it without the GIL.
pub(super) enum Bytes<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Copied(Vec<u8>),
}

impl Bytes<'_> {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b.as_bytes(),
            Bytes::Copied(v) => v,
        }
    }
}

pub(super) fn byte_buffer<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bytes<'py>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::Borrowed(b.clone()));
    }
    let py = obj.py();
    if let Ok(buffer) = PyBuffer::<u8>::get(obj) {
        return Ok(Bytes::Copied(buffer.to_vec(py)?));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or a byte buffer, not {}",
        type_name(obj)
    )))
}

/// Offsets as little-endian bytes: `bytes`/byte buffers as given, or a buffer of native `uint64`
/// (e.g. `array('Q')`) converted.
pub(super) fn offsets_buffer<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bytes<'py>> {
    if obj.cast::<PyBytes>().is_err() {
        if let Ok(buffer) = PyBuffer::<u64>::get(obj) {
            return Ok(Bytes::Copied(encode_offsets(&buffer.to_vec(obj.py())?)));
        }
    }
    byte_buffer(obj, "offsets")
}

/// A Python int used as an index or size: `None` when it does not fit in `u64`.
pub(super) fn as_u64(value: &Bound<'_, PyInt>) -> Option<u64> {
    value.extract::<u64>().ok()
}

/// `(public_key, message, signature)` tuples of bytes, or `TypeError` naming the first bad item.
pub(super) fn triples<'py>(items: &Bound<'py, PyAny>) -> PyResult<Vec<[Bound<'py, PyBytes>; 3]>> {
    let bad = |i: usize, found: String| {
        PyTypeError::new_err(format!(
            "items[{i}] must be a (public_key, message, signature) tuple of bytes, not {found}"
        ))
    };
    let mut out = Vec::new();
    for (i, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let tuple = item
            .cast::<PyTuple>()
            .map_err(|_| bad(i, type_name(&item)))?;
        if tuple.len() != 3 {
            return Err(bad(i, format!("a tuple of {} items", tuple.len())));
        }
        let field = |k: usize| -> PyResult<Bound<'py, PyBytes>> {
            let value = tuple.get_item(k)?;
            let found = type_name(&value);
            value
                .cast_into::<PyBytes>()
                .map_err(|_| bad(i, format!("a tuple holding {found}")))
        };
        out.push([field(0)?, field(1)?, field(2)?]);
    }
    Ok(out)
}
