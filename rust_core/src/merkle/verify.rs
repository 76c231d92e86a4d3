//! Proof verification, RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2 (consistency).
//!
//! These functions judge untrusted input: every way a proof can fail to check (wrong length, an
//! element that is not 32 bytes, an index beyond the size, sizes out of order) is a
//! [`Rejection`], never a panic. Work is bounded by 64 hashes whatever the proof length, because
//! the walk stops once the tree size is shifted down to zero.

use std::fmt;

use super::hashing::{node_hash, Hash};

/// Why a proof did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Inclusion: the leaf index is not below the tree size.
    IndexBeyondSize,
    /// Consistency: the first size is larger than the second.
    SizesOutOfOrder,
    /// Consistency: the first size is 0. The shared RFC 9162 vectors (transparency-dev/merkle)
    /// reject a consistency proof from the empty tree, even 0 -> 0: there is nothing to be
    /// consistent with, so we never vouch for it.
    FromEmptyTree,
    /// Consistency with equal sizes: the proof must be empty.
    ProofNotEmpty,
    /// The proof has more elements than the path it claims to cover.
    ProofTooLong,
    /// The proof has fewer elements than the path it claims to cover.
    ProofTooShort,
    /// A hash is not 32 bytes long: the leaf hash, a root, or the proof element at this position.
    MalformedHash(HashRole),
    /// The recomputed root differs from the expected one (for consistency: the first root).
    RootMismatch,
    /// Consistency: the recomputed second root differs from the expected one.
    SecondRootMismatch,
}

/// Which hash of a proof check was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashRole {
    /// The leaf hash of an inclusion proof.
    Leaf,
    /// A root (the expected root, or root1/root2 of a consistency check).
    Root,
    /// The proof element at this position.
    ProofElement(usize),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Rejection {}

fn as_hash(bytes: &[u8], role: HashRole) -> Result<&Hash, Rejection> {
    <&Hash>::try_from(bytes).map_err(|_| Rejection::MalformedHash(role))
}

fn element<P: AsRef<[u8]>>(proof: &[P], position: usize) -> Result<&Hash, Rejection> {
    as_hash(proof[position].as_ref(), HashRole::ProofElement(position))
}

/// Shifts `index` and `last` right together until the lowest bit of `index` is set or `index`
/// is zero (RFC 9162 section 2.1.3.2, step 4.b).
fn climb_left_border(index: &mut u64, last: &mut u64) {
    while *index & 1 == 0 && *index != 0 {
        *index >>= 1;
        *last >>= 1;
    }
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves with root `root`,
/// given the audit path `proof` (leaf sibling first).
pub fn verify_inclusion<P: AsRef<[u8]>>(
    leaf_hash: &[u8],
    index: u64,
    size: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), Rejection> {
    if index >= size {
        return Err(Rejection::IndexBeyondSize);
    }
    let mut r = *as_hash(leaf_hash, HashRole::Leaf)?;
    let (mut fn_, mut sn) = (index, size - 1);
    for position in 0..proof.len() {
        let p = element(proof, position)?;
        if sn == 0 {
            return Err(Rejection::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            climb_left_border(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Rejection::ProofTooShort);
    }
    if r.as_slice() != root {
        return Err(Rejection::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1`
/// leaves with root `root1`, given the consistency proof `proof`.
///
/// Rules before the RFC 9162 section 2.1.4.2 algorithm, as in the shared vectors:
/// `size1 > size2` is rejected; `size1 == 0` is rejected (even `0 -> 0`: see
/// [`Rejection::FromEmptyTree`]); `size1 == size2` verifies exactly when the proof is empty and
/// `root1 == root2` byte for byte.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), Rejection> {
    if size1 > size2 {
        return Err(Rejection::SizesOutOfOrder);
    }
    if size1 == 0 {
        return Err(Rejection::FromEmptyTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(Rejection::ProofNotEmpty);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(Rejection::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(Rejection::ProofTooShort);
    }
    let root1 = as_hash(root1, HashRole::Root)?;
    let root2 = as_hash(root2, HashRole::Root)?;
    // Step 2: when size1 is a power of two, the old root is the first node of the path.
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, 0)
    } else {
        (element(proof, 0)?, 1)
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for position in rest..proof.len() {
        let c = element(proof, position)?;
        if sn == 0 {
            return Err(Rejection::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            climb_left_border(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Rejection::ProofTooShort);
    }
    if &fr != root1 {
        return Err(Rejection::RootMismatch);
    }
    if &sr != root2 {
        return Err(Rejection::SecondRootMismatch);
    }
    Ok(())
}
