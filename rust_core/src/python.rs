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
//!  └── MerkleError          base of every rust_core argument error (also: threads=0, ...)
//!       ├── InvalidHashLength   a hash argument or item is not exactly 32 bytes
//!       ├── IndexOutOfRange     a leaf index is not in 0 .. size-1
//!       ├── InvalidTreeSize     a tree size is not allowed (m == 0 or m > size)
//!       └── InvalidBuffer       packed data/offsets/keys/signatures have the wrong layout
//! ```
//!
//! A wrong Python type (a `str` where `bytes` is expected, ...) raises `TypeError` naming the
//! argument and item. Verification functions judge untrusted proofs and return `False` for any
//! proof that does not check; they raise only `TypeError`.

use pyo3::buffer::PyBuffer;
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyTuple};

use crate::ed25519::{failed_signatures, PackedClaims, SignedMessage};
use crate::entries::{encode_offsets, PackedEntries};
use crate::error::{Error, ErrorKind};
use crate::merkle::{self, Hash, MerkleTree, HASH_LEN};
use crate::parallel::{available_threads as core_available_threads, Workers};
use crate::throughput::sha256_blocks_per_second;

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

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// Every item of a sequence (list fast path, any iterable otherwise) as `bytes`, or `TypeError`
/// naming the first item that is not.
fn bytes_items<'py>(seq: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let check = |(i, item): (usize, Bound<'py, PyAny>)| {
        item.cast_into::<PyBytes>().map_err(|e| {
            let found = type_name(e.into_inner().as_any());
            PyTypeError::new_err(format!("{what}[{i}] must be bytes, not {found}"))
        })
    };
    if let Ok(list) = seq.cast::<PyList>() {
        return list.iter().enumerate().map(check).collect();
    }
    if seq.is_instance_of::<PyBytes>() || seq.is_instance_of::<pyo3::types::PyString>() {
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

fn slices<'a>(items: &'a [Bound<'_, PyBytes>]) -> Vec<&'a [u8]> {
    items.iter().map(|b| b.as_bytes()).collect()
}

fn to_hash(bytes: &[u8], what: &'static str, index: Option<usize>) -> Result<Hash, Error> {
    Hash::try_from(bytes).map_err(|_| Error::InvalidHashLength {
        what,
        index,
        len: bytes.len(),
    })
}

/// Bytes of a buffer argument: `bytes` are borrowed (immutable, so safe to read with the GIL
/// released); any other buffer (bytearray, memoryview, array) is copied first, because another
/// thread could change it while we read it without the GIL.
enum Bytes<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Copied(Vec<u8>),
}

impl Bytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b.as_bytes(),
            Bytes::Copied(v) => v,
        }
    }
}

fn byte_buffer<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bytes<'py>> {
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
fn offsets_buffer<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bytes<'py>> {
    if obj.cast::<PyBytes>().is_err() {
        if let Ok(buffer) = PyBuffer::<u64>::get(obj) {
            return Ok(Bytes::Copied(encode_offsets(&buffer.to_vec(obj.py())?)));
        }
    }
    byte_buffer(obj, "offsets")
}

/// A Python int used as an index or size: `None` when it does not fit in `u64`.
fn as_u64(value: &Bound<'_, PyInt>) -> Option<u64> {
    value.extract::<u64>().ok()
}

/// An immutable RFC 9162 Merkle tree (see `rust_core.pyi` for the contract of each method).
#[pyclass(name = "MerkleTree", module = "rust_core", frozen)]
struct PyMerkleTree {
    tree: MerkleTree,
}

#[pymethods]
impl PyMerkleTree {
    #[staticmethod]
    #[pyo3(signature = (entries, threads=None))]
    fn from_entries(
        py: Python<'_>,
        entries: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let workers = Workers::new(threads)?;
        let items = bytes_items(entries, "entries")?;
        let entries = slices(&items);
        let tree = py.detach(|| MerkleTree::from_entries(&entries, &workers));
        Ok(PyMerkleTree { tree })
    }

    #[staticmethod]
    #[pyo3(signature = (hashes, threads=None))]
    fn from_leaf_hashes(
        py: Python<'_>,
        hashes: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let workers = Workers::new(threads)?;
        let items = bytes_items(hashes, "hashes")?;
        let leaves = items
            .iter()
            .enumerate()
            .map(|(i, b)| to_hash(b.as_bytes(), "hashes", Some(i)))
            .collect::<Result<Vec<Hash>, Error>>()?;
        let tree = py.detach(|| MerkleTree::from_leaf_hashes(leaves, &workers));
        Ok(PyMerkleTree { tree })
    }

    #[staticmethod]
    #[pyo3(signature = (data, threads=None))]
    fn from_leaf_hash_buffer(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let workers = Workers::new(threads)?;
        let data = byte_buffer(data, "data")?;
        let data = data.as_slice();
        if data.len() % HASH_LEN != 0 {
            return Err(Error::InvalidBuffer {
                detail: format!(
                    "data must hold whole 32-byte leaf hashes, got {} bytes ({} left over)",
                    data.len(),
                    data.len() % HASH_LEN
                ),
            }
            .into());
        }
        let tree = py.detach(|| {
            let leaves = data
                .chunks_exact(HASH_LEN)
                .map(|c| to_hash(c, "leaf hash", None));
            let leaves = leaves.collect::<Result<Vec<Hash>, Error>>()?;
            Ok::<_, Error>(MerkleTree::from_leaf_hashes(leaves, &workers))
        })?;
        Ok(PyMerkleTree { tree })
    }

    #[staticmethod]
    #[pyo3(signature = (data, offsets, threads=None))]
    fn from_buffer(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        offsets: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let workers = Workers::new(threads)?;
        let data = byte_buffer(data, "data")?;
        let offsets = offsets_buffer(offsets)?;
        let (data, offsets) = (data.as_slice(), offsets.as_slice());
        let tree = py.detach(|| {
            let packed = PackedEntries::new(data, offsets)?;
            Ok::<_, Error>(MerkleTree::from_packed(&packed, &workers))
        })?;
        Ok(PyMerkleTree { tree })
    }

    #[getter]
    fn size(&self) -> u64 {
        self.tree.size()
    }

    fn __len__(&self) -> usize {
        self.tree.leaf_hashes().len()
    }

    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.tree.root())
    }

    fn leaf_hash<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyInt>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let hash = self.tree.leaf_hash(self.index(index)?)?;
        Ok(PyBytes::new(py, &hash))
    }

    fn leaf_hashes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.tree.leaf_hashes().as_flattened())
    }

    fn root_at<'py>(
        &self,
        py: Python<'py>,
        size: &Bound<'py, PyInt>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let root = self.tree.root_at(self.tree_size(size)?)?;
        Ok(PyBytes::new(py, &root))
    }

    fn inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyInt>,
    ) -> PyResult<Bound<'py, PyList>> {
        let proof = self.tree.inclusion_proof(self.index(index)?)?;
        hash_list(py, &proof)
    }

    fn consistency_proof<'py>(
        &self,
        py: Python<'py>,
        old_size: &Bound<'py, PyInt>,
    ) -> PyResult<Bound<'py, PyList>> {
        let proof = self.tree.consistency_proof(self.tree_size(old_size)?)?;
        hash_list(py, &proof)
    }

    fn __repr__(&self) -> String {
        let root: String = self
            .tree
            .root()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("MerkleTree(size={}, root={root})", self.tree.size())
    }
}

impl PyMerkleTree {
    fn index(&self, index: &Bound<'_, PyInt>) -> PyResult<u64> {
        as_u64(index).ok_or_else(|| {
            IndexOutOfRange::new_err(format!(
                "leaf index {index} is out of range for a tree of size {}",
                self.tree.size()
            ))
        })
    }

    fn tree_size(&self, size: &Bound<'_, PyInt>) -> PyResult<u64> {
        as_u64(size).ok_or_else(|| {
            InvalidTreeSize::new_err(format!(
                "tree size {size} is invalid for a tree of size {}: it is not in 0 .. 2**64-1",
                self.tree.size()
            ))
        })
    }
}

fn hash_list<'py>(py: Python<'py>, hashes: &[Hash]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, hashes.iter().map(|h| PyBytes::new(py, h)))
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
#[pyo3(signature = (public_keys, signatures, messages, offsets, threads=None))]
fn verify_ed25519_batch(
    py: Python<'_>,
    public_keys: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
    messages: &Bound<'_, PyAny>,
    offsets: &Bound<'_, PyAny>,
    threads: Option<usize>,
) -> PyResult<Vec<usize>> {
    let workers = Workers::new(threads)?;
    let keys = byte_buffer(public_keys, "public_keys")?;
    let signatures = byte_buffer(signatures, "signatures")?;
    let messages = byte_buffer(messages, "messages")?;
    let offsets = offsets_buffer(offsets)?;
    let (keys, signatures) = (keys.as_slice(), signatures.as_slice());
    let (messages, offsets) = (messages.as_slice(), offsets.as_slice());
    Ok(py.detach(|| {
        let claims = PackedClaims::new(keys, signatures, PackedEntries::new(messages, offsets)?)?;
        Ok::<_, Error>(failed_signatures(claims.len(), |i| claims.get(i), &workers))
    })?)
}

#[pyfunction]
#[pyo3(signature = (items, threads=None))]
fn verify_ed25519(
    py: Python<'_>,
    items: &Bound<'_, PyAny>,
    threads: Option<usize>,
) -> PyResult<Vec<usize>> {
    let workers = Workers::new(threads)?;
    let triples = triples(items)?;
    let claims: Vec<SignedMessage<'_>> = triples
        .iter()
        .map(|[key, message, signature]| SignedMessage {
            public_key: key.as_bytes(),
            message: message.as_bytes(),
            signature: signature.as_bytes(),
        })
        .collect();
    Ok(py.detach(|| failed_signatures(claims.len(), |i| claims[i], &workers)))
}

/// `(public_key, message, signature)` tuples of bytes, or `TypeError` naming the first bad item.
fn triples<'py>(items: &Bound<'py, PyAny>) -> PyResult<Vec<[Bound<'py, PyBytes>; 3]>> {
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

#[pyfunction]
#[pyo3(signature = (buffer_size=8192, seconds=1.0))]
fn sha256_throughput(py: Python<'_>, buffer_size: usize, seconds: f64) -> PyResult<f64> {
    Ok(py.detach(|| sha256_blocks_per_second(buffer_size, seconds))?)
}

#[pyfunction]
fn available_threads() -> usize {
    core_available_threads()
}

#[pymodule(gil_used = false)]
fn rust_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MerkleError", py.get_type::<MerkleError>())?;
    m.add("InvalidHashLength", py.get_type::<InvalidHashLength>())?;
    m.add("IndexOutOfRange", py.get_type::<IndexOutOfRange>())?;
    m.add("InvalidTreeSize", py.get_type::<InvalidTreeSize>())?;
    m.add("InvalidBuffer", py.get_type::<InvalidBuffer>())?;
    m.add_class::<PyMerkleTree>()?;
    m.add_function(wrap_pyfunction!(leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(verify_ed25519_batch, m)?)?;
    m.add_function(wrap_pyfunction!(verify_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_throughput, m)?)?;
    m.add_function(wrap_pyfunction!(available_threads, m)?)?;
    Ok(())
}
