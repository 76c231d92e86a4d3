//! Bulk Ed25519 checks and bulk signing.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::args::{byte_buffer, bytes_items, offsets_buffer, slices, triples};
use crate::ed25519::{failed_signatures, sign_messages, PackedClaims, SignedMessage};
use crate::entries::PackedEntries;
use crate::error::Error;
use crate::parallel::Workers;

#[pyfunction]
#[pyo3(signature = (public_keys, signatures, messages, offsets, threads=None))]
pub(super) fn verify_ed25519_batch(
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
pub(super) fn verify_ed25519(
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

#[pyfunction]
#[pyo3(signature = (seed, messages, threads=None))]
pub(super) fn sign_ed25519<'py>(
    py: Python<'py>,
    seed: &Bound<'py, PyAny>,
    messages: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let workers = Workers::new(threads)?;
    let seed = byte_buffer(seed, "seed")?;
    let items = bytes_items(messages, "messages")?;
    let messages = slices(&items);
    let seed = seed.as_slice();
    let signatures =
        py.detach(|| sign_messages(seed, messages.len(), |i| messages[i], &workers))?;
    Ok(signatures
        .iter()
        .map(|signature| PyBytes::new(py, signature))
        .collect())
}
