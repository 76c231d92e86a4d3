//! RFC 9162 Merkle trees: hashing, an in-memory tree, proof generation and proof verification.

mod hashing;
mod proof;
mod tree;
mod verify;

pub use hashing::{leaf_hash, node_hash, Hash, EMPTY_ROOT, HASH_LEN};
pub use tree::MerkleTree;
pub use verify::{verify_consistency, verify_inclusion, HashRole, Rejection};
