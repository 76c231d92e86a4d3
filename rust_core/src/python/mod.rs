//! The Python binding: the only module that knows about PyO3.
//!
//! Every function extracts its inputs first (borrowing `bytes`, which are immutable, and copying
//! anything mutable), then releases the GIL with `py.detach` around the batch work, then builds
//! Python results. Errors come from one place: `impl From<Error> for PyErr` below maps each
//! [`ErrorKind`] to one exception class of this hierarchy (all raised with a message that names
//! the offending argument or item):
//!
//! ```text
//! ValueError
//!  └── MerkleError          base of every rust_core argument error (also: threads=0, a seed that is not 32 bytes)
//!       ├── InvalidHashLength   a hash argument or item is not exactly 32 bytes
//!       ├── IndexOutOfRange     a leaf index is not in 0 .. size-1
//!       ├── InvalidTreeSize     a tree size is not allowed (m == 0 or m > size)
//!       └── InvalidBuffer       packed data/offsets/keys/signatures have the wrong layout
//! ```
//!
//! A wrong Python type (a `str` where `bytes` is expected, ...) raises `TypeError` naming the
//! argument and item. Verification functions judge untrusted proofs and return `False` for any
//! proof that does not check; they raise only `TypeError`.

mod args;
mod signatures;
mod tree;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};

use crate::error::{Error, ErrorKind};
use crate::merkle;
use crate::parallel::available_threads as core_available_threads;
use crate::throughput::sha256_blocks_per_second;
use args::{as_u64, bytes_items, slices, to_hash};

create_exception!(
    rust_core,
    MerkleError,
    PyValueError,
    "Base class of every rust_core argument error (a subclass of ValueError)."
);
create_exception!(
    rust_core,
    InvalidHashLength,
    MerkleError,
    "A hash argument or item (leaf hash, node hash, root) is not exactly 32 bytes."
);
create_exception!(
    rust_core,
    IndexOutOfRange,
    MerkleError,
    "A leaf index is not in range(tree.size)."
);
create_exception!(
    rust_core,
    InvalidTreeSize,
    MerkleError,
    "A tree size argument is not allowed (a consistency proof from 0, or a size beyond the tree)."
);
create_exception!(
    rust_core,
    InvalidBuffer,
    MerkleError,
    "A packed buffer (data and offsets, public keys, signatures) does not have the promised layout."
);

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error.kind() {
            ErrorKind::InvalidHashLength => InvalidHashLength::new_err(message),
            ErrorKind::IndexOutOfRange => IndexOutOfRange::new_err(message),
            ErrorKind::InvalidTreeSize => InvalidTreeSize::new_err(message),
            ErrorKind::InvalidBuffer => InvalidBuffer::new_err(message),
            ErrorKind::InvalidArgument => MerkleError::new_err(message),
        }
    }
}

#[pyfunction]
fn leaf_hash<'py>(py: Python<'py>, entry: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &merkle::leaf_hash(entry))
}

#[pyfunction]
fn node_hash<'py>(py: Python<'py>, left: &[u8], right: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let left = to_hash(left, "left", None)?;
    let right = to_hash(right, "right", None)?;
    Ok(PyBytes::new(py, &merkle::node_hash(&left, &right)))
}

#[pyfunction]
fn verify_inclusion(
    leaf_hash: &[u8],
    index: &Bound<'_, PyInt>,
    size: &Bound<'_, PyInt>,
    proof: &Bound<'_, PyAny>,
    root: &[u8],
) -> PyResult<bool> {
    let items = bytes_items(proof, "proof")?;
    let (Some(index), Some(size)) = (as_u64(index), as_u64(size)) else {
        return Ok(false);
    };
    Ok(merkle::verify_inclusion(leaf_hash, index, size, &slices(&items), root).is_ok())
}

#[pyfunction]
fn verify_consistency(
    size1: &Bound<'_, PyInt>,
    size2: &Bound<'_, PyInt>,
    proof: &Bound<'_, PyAny>,
    root1: &[u8],
    root2: &[u8],
) -> PyResult<bool> {
    let items = bytes_items(proof, "proof")?;
    let (Some(size1), Some(size2)) = (as_u64(size1), as_u64(size2)) else {
        return Ok(false);
    };
    Ok(merkle::verify_consistency(size1, size2, &slices(&items), root1, root2).is_ok())
}

#[pyfunction]
#[pyo3(signature = (buffer_size=8192, seconds=1.0))]
fn sha256_throughput(py: Python<'_>, buffer_size: usize, seconds: f64) -> PyResult<f64> {
    Ok(py.detach(|| sha256_blocks_per_second(buffer_size, seconds))?)
}

#[pyfunction]
fn available_threads() -> usize {
    core_available_threads()
}

#[pyfunction]
fn ed25519_arithmetic() -> &'static str {
    crate::ed25519::arithmetic()
}

#[pymodule(gil_used = false)]
fn rust_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MerkleError", py.get_type::<MerkleError>())?;
    m.add("InvalidHashLength", py.get_type::<InvalidHashLength>())?;
    m.add("IndexOutOfRange", py.get_type::<IndexOutOfRange>())?;
    m.add("InvalidTreeSize", py.get_type::<InvalidTreeSize>())?;
    m.add("InvalidBuffer", py.get_type::<InvalidBuffer>())?;
    m.add_class::<tree::PyMerkleTree>()?;
    m.add_function(wrap_pyfunction!(leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(signatures::verify_ed25519_batch, m)?)?;
    m.add_function(wrap_pyfunction!(signatures::verify_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(signatures::sign_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_throughput, m)?)?;
    m.add_function(wrap_pyfunction!(available_threads, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_arithmetic, m)?)?;
    Ok(())
}
