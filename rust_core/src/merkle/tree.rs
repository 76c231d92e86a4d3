//! An RFC 9162 Merkle tree held in memory: the leaf hashes plus a cache of the upper levels.
//!
//! Memory: the tree keeps all `n` leaf hashes (32 bytes each) and the hashes of the complete
//! subtrees of `2^h` leaves for `h >= CACHED_FROM` (about `n / 8` hashes). Levels 1 to
//! `CACHED_FROM - 1` are not kept: any node there is recomputed from at most `2^(CACHED_FROM-1)`
//! leaves, a few hundred nanoseconds, so every proof still costs `O(log n)`. A 1 M-leaf tree
//! therefore holds about 36 MB.

use rayon::prelude::*;

use super::hashing::{
    leaf_hashes_into, node_hash, node_hashes_into, split_point, Hash, EMPTY_ROOT,
};
use crate::entries::PackedEntries;
use crate::error::Error;
use crate::parallel::{Workers, PARALLEL_MIN_LEAVES};

/// Lowest level whose complete subtrees are cached.
const CACHED_FROM: u32 = 4;
/// Leaves hashed per parallel task: large enough to amortise scheduling.
const LEAF_CHUNK: usize = 2048;
/// Nodes computed per parallel task.
const NODE_CHUNK: usize = 256;

/// An immutable RFC 9162 Merkle tree over `size()` leaves.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    leaves: Vec<Hash>,
    /// `upper[h - CACHED_FROM][j]` is the hash of leaves `j * 2^h .. (j + 1) * 2^h`, for every
    /// such complete subtree.
    upper: Vec<Vec<Hash>>,
    root: Hash,
}

impl MerkleTree {
    /// Builds a tree over leaf hashes that are already computed.
    pub fn from_leaf_hashes(leaves: Vec<Hash>, workers: &Workers) -> Self {
        let upper = build_upper_levels(&leaves, workers);
        let mut tree = MerkleTree {
            leaves,
            upper,
            root: EMPTY_ROOT,
        };
        tree.root = tree.root_of_prefix(tree.leaves.len() as u64);
        tree
    }

    /// Builds a tree over entries, applying the RFC 9162 leaf hash to each.
    pub fn from_entries<E: AsRef<[u8]> + Sync>(entries: &[E], workers: &Workers) -> Self {
        let leaves = hash_leaves(entries.len(), workers, |i| entries[i].as_ref());
        Self::from_leaf_hashes(leaves, workers)
    }

    /// Builds a tree over packed entries (one buffer plus offsets).
    pub fn from_packed(entries: &PackedEntries<'_>, workers: &Workers) -> Self {
        let leaves = hash_leaves(entries.len(), workers, |i| entries.get(i));
        Self::from_leaf_hashes(leaves, workers)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// The tree head: MTH of all leaves ([`EMPTY_ROOT`] for an empty tree).
    pub fn root(&self) -> Hash {
        self.root
    }

    /// All leaf hashes, in order.
    pub fn leaf_hashes(&self) -> &[Hash] {
        &self.leaves
    }

    /// The hash of leaf `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
        self.check_index(index)?;
        Ok(self.leaves[index as usize])
    }

    /// The root the tree had when it held only its first `size` leaves (`size <= self.size()`;
    /// `size == 0` gives [`EMPTY_ROOT`]).
    pub fn root_at(&self, size: u64) -> Result<Hash, Error> {
        if size > self.size() {
            return Err(Error::InvalidTreeSize {
                requested: size,
                tree_size: self.size(),
                reason: "it is larger than the tree",
            });
        }
        Ok(self.root_of_prefix(size))
    }

    pub(crate) fn check_index(&self, index: u64) -> Result<(), Error> {
        if index >= self.size() {
            return Err(Error::IndexOutOfRange {
                index,
                size: self.size(),
            });
        }
        Ok(())
    }

    fn root_of_prefix(&self, size: u64) -> Hash {
        if size == 0 {
            EMPTY_ROOT
        } else {
            self.range_hash(0, size)
        }
    }

    /// MTH(D[start..end]) for a non-empty range that appears in the RFC 9162 recursion over a
    /// prefix of the tree: its left parts are always complete subtrees aligned on their size.
    pub(crate) fn range_hash(&self, start: u64, end: u64) -> Hash {
        let len = end - start;
        debug_assert!(len > 0 && end <= self.size());
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let height = len.trailing_zeros();
            return self.complete_subtree(height, (start >> height) as usize);
        }
        let k = split_point(len);
        node_hash(
            &self.range_hash(start, start + k),
            &self.range_hash(start + k, end),
        )
    }

    /// Hash of the complete subtree of `2^height` leaves starting at leaf `index << height`.
    fn complete_subtree(&self, height: u32, index: usize) -> Hash {
        if height >= CACHED_FROM {
            return self.upper[(height - CACHED_FROM) as usize][index];
        }
        let width = 1usize << height;
        reduce_small(&self.leaves[index * width..(index + 1) * width])
    }
}

/// Leaf hashes for `count` entries, spread over the workers when there are enough of them.
fn hash_leaves<'e, F>(count: usize, workers: &Workers, entry: F) -> Vec<Hash>
where
    F: Fn(usize) -> &'e [u8] + Sync,
{
    let mut leaves = vec![[0u8; 32]; count];
    let fill =
        |(chunk, out): (usize, &mut [Hash])| leaf_hashes_into(&entry, chunk * LEAF_CHUNK, out);
    if workers.parallel_for(count, PARALLEL_MIN_LEAVES) {
        workers.install(|| leaves.par_chunks_mut(LEAF_CHUNK).enumerate().for_each(fill));
    } else {
        leaves.chunks_mut(LEAF_CHUNK).enumerate().for_each(fill);
    }
    leaves
}

/// Root of a complete subtree of at most `2^CACHED_FROM` leaf hashes (length a power of two).
fn reduce_small(hashes: &[Hash]) -> Hash {
    let mut level = [[0u8; 32]; 1 << (CACHED_FROM - 1)];
    let mut width = hashes.len();
    if width == 1 {
        return hashes[0];
    }
    for (j, pair) in hashes.chunks_exact(2).enumerate() {
        level[j] = node_hash(&pair[0], &pair[1]);
    }
    width /= 2;
    while width > 1 {
        for j in 0..width / 2 {
            level[j] = node_hash(&level[2 * j], &level[2 * j + 1]);
        }
        width /= 2;
    }
    level[0]
}

/// Hashes `levels` levels up from `below` (whose length is `out.len() << levels`) into `out`,
/// one whole level at a time so that node hashes are computed in batches.
fn reduce_levels(below: &[Hash], levels: u32, out: &mut [Hash]) {
    debug_assert!(levels >= 1 && below.len() == out.len() << levels);
    if levels == 1 {
        return node_hashes_into(below, out);
    }
    let mut current = vec![[0u8; 32]; below.len() / 2];
    node_hashes_into(below, &mut current);
    for _ in 2..levels {
        let mut next = vec![[0u8; 32]; current.len() / 2];
        node_hashes_into(&current, &mut next);
        current = next;
    }
    node_hashes_into(&current, out);
}

/// The next level up: hashes of the complete pairs of `below` (an odd last node is left out).
fn pair_level(below: &[Hash], workers: &Workers) -> Vec<Hash> {
    let mut next = vec![[0u8; 32]; below.len() / 2];
    let fill = |(chunk, out): (usize, &mut [Hash])| {
        let start = 2 * chunk * NODE_CHUNK;
        node_hashes_into(&below[start..start + 2 * out.len()], out);
    };
    if workers.parallel_for(below.len(), PARALLEL_MIN_LEAVES) {
        workers.install(|| next.par_chunks_mut(NODE_CHUNK).enumerate().for_each(fill));
    } else {
        next.chunks_mut(NODE_CHUNK).enumerate().for_each(fill);
    }
    next
}

/// Every complete subtree hash for the levels `CACHED_FROM..` of a tree over `leaves`.
fn build_upper_levels(leaves: &[Hash], workers: &Workers) -> Vec<Vec<Hash>> {
    let width = 1usize << CACHED_FROM;
    let mut first = vec![[0u8; 32]; leaves.len() / width];
    if first.is_empty() {
        return Vec::new();
    }
    let fill = |(chunk, out): (usize, &mut [Hash])| {
        let start = chunk * NODE_CHUNK * width;
        reduce_levels(&leaves[start..start + out.len() * width], CACHED_FROM, out);
    };
    if workers.parallel_for(leaves.len(), PARALLEL_MIN_LEAVES) {
        workers.install(|| first.par_chunks_mut(NODE_CHUNK).enumerate().for_each(fill));
    } else {
        first.chunks_mut(NODE_CHUNK).enumerate().for_each(fill);
    }
    let mut levels = vec![first];
    while let Some(below) = levels.last().filter(|level| level.len() >= 2) {
        let next = pair_level(below, workers);
        levels.push(next);
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    /// RFC 9162 MTH by its recursive definition, straight from the leaf hashes.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn root_matches_recursive_definition_for_small_sizes() {
        for n in 0..=70 {
            let tree = MerkleTree::from_leaf_hashes(leaves(n), &Workers::sequential());
            assert_eq!(tree.root(), mth(&leaves(n)), "size {n}");
            for m in 0..=n as u64 {
                assert_eq!(
                    tree.root_at(m).unwrap(),
                    mth(&leaves(m as usize)),
                    "size {n} at {m}"
                );
            }
        }
    }

    #[test]
    fn parallel_build_matches_sequential() {
        let n = 3 * PARALLEL_MIN_LEAVES + 5;
        let entries: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i % 200]).collect();
        let one = MerkleTree::from_entries(&entries, &Workers::sequential());
        let two = MerkleTree::from_entries(&entries, &Workers::new(Some(2)).unwrap());
        assert_eq!(one.root(), two.root());
        assert_eq!(one.leaf_hashes(), two.leaf_hashes());
    }

    #[test]
    fn bad_sizes_and_indices_are_errors() {
        let tree = MerkleTree::from_leaf_hashes(leaves(3), &Workers::sequential());
        assert_eq!(
            tree.leaf_hash(3),
            Err(Error::IndexOutOfRange { index: 3, size: 3 })
        );
        assert!(matches!(
            tree.root_at(4),
            Err(Error::InvalidTreeSize { requested: 4, .. })
        ));
    }
}
