//! Proof generation (RFC 9162 sections 2.1.3.1 and 2.1.4.1) over a [`MerkleTree`].

use super::hashing::{split_point, Hash};
use super::tree::MerkleTree;
use crate::error::Error;

impl MerkleTree {
    /// The inclusion proof (audit path) of leaf `index`, the leaf's sibling first and the child
    /// of the root last. Empty for a tree of one leaf.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, Error> {
        self.check_index(index)?;
        let (mut start, mut end) = (0, self.size());
        let mut path = Vec::new();
        // Walk down from the root; the RFC's recursion appends the top sibling last.
        while end - start > 1 {
            let k = split_point(end - start);
            if index < start + k {
                path.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                path.push(self.range_hash(start, start + k));
                start += k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The consistency proof from the tree's first `old_size` leaves to all of it.
    ///
    /// `old_size` must satisfy `1 <= old_size <= size()`. A proof from size 0 is refused, as
    /// [`super::verify_consistency`] refuses it (the shared RFC 9162 vectors treat it as an
    /// error). `old_size == size()` gives the empty proof.
    pub fn consistency_proof(&self, old_size: u64) -> Result<Vec<Hash>, Error> {
        let invalid = |reason| Error::InvalidTreeSize {
            requested: old_size,
            tree_size: self.size(),
            reason,
        };
        if old_size == 0 {
            return Err(invalid(
                "a consistency proof from the empty tree is meaningless",
            ));
        }
        if old_size > self.size() {
            return Err(invalid("it is larger than the tree"));
        }
        let (mut start, end) = (0, self.size());
        let mut end = end;
        let mut m = old_size;
        // `whole` is the RFC's boolean b: true while the old tree is a prefix whose root the
        // verifier already has.
        let mut whole = true;
        let mut proof = Vec::new();
        while m != end - start {
            let k = split_point(end - start);
            if m <= k {
                proof.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.range_hash(start, start + k));
                start += k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.range_hash(start, end));
        }
        proof.reverse();
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::super::hashing::leaf_hash;
    use super::*;
    use crate::parallel::Workers;

    fn tree(n: u64) -> MerkleTree {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
        MerkleTree::from_entries(&entries, &Workers::sequential())
    }

    #[test]
    fn inclusion_proof_for_rfc_example_tree() {
        // RFC 9162 section 2.1.5: the path for d0 in the 7-leaf tree is [b, h, l].
        let t = tree(7);
        let leaf = |i: u64| t.leaf_hash(i).unwrap();
        let proof = t.inclusion_proof(0).unwrap();
        assert_eq!(proof.len(), 3);
        assert_eq!(proof[0], leaf(1));
        assert_eq!(proof[2], t.range_hash(4, 7));
        assert_eq!(
            t.inclusion_proof(6).unwrap(),
            vec![t.range_hash(4, 6), t.range_hash(0, 4)]
        );
        assert!(tree(1).inclusion_proof(0).unwrap().is_empty());
        assert_eq!(leaf(0), leaf_hash(&0u64.to_be_bytes()));
    }

    #[test]
    fn consistency_proofs_for_rfc_example_tree() {
        // RFC 9162 section 2.1.5: 3 -> 7 is [c, d, g, l]; 4 -> 7 is [l]; 6 -> 7 is [i, j, k].
        let t = tree(7);
        let leaf = |i: u64| t.leaf_hash(i).unwrap();
        assert_eq!(
            t.consistency_proof(3).unwrap(),
            vec![leaf(2), leaf(3), t.range_hash(0, 2), t.range_hash(4, 7)]
        );
        assert_eq!(t.consistency_proof(4).unwrap(), vec![t.range_hash(4, 7)]);
        assert_eq!(
            t.consistency_proof(6).unwrap(),
            vec![t.range_hash(4, 6), leaf(6), t.range_hash(0, 4)]
        );
        assert!(t.consistency_proof(7).unwrap().is_empty());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let t = tree(5);
        assert!(matches!(
            t.inclusion_proof(5),
            Err(Error::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            t.consistency_proof(0),
            Err(Error::InvalidTreeSize { .. })
        ));
        assert!(matches!(
            t.consistency_proof(6),
            Err(Error::InvalidTreeSize { .. })
        ));
        assert!(matches!(
            tree(0).inclusion_proof(0),
            Err(Error::IndexOutOfRange { .. })
        ));
    }
}
