//! The `MerkleTree` class.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList};

use super::args::{as_u64, byte_buffer, bytes_items, offsets_buffer, slices, to_hash};
use super::{IndexOutOfRange, InvalidTreeSize};
use crate::entries::PackedEntries;
use crate::error::Error;
use crate::merkle::{Hash, MerkleTree, HASH_LEN};
use crate::parallel::Workers;

/// An immutable RFC 9162 Merkle tree (see `rust_core.pyi` for the contract of each method).
#[pyclass(name = "MerkleTree", module = "rust_core", frozen)]
pub(super) struct PyMerkleTree {
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
