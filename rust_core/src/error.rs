//! The one error type of `rust_core`: what a caller can get wrong when asking for a tree, a proof or
//! a bulk signature check.
//!
//! Verification of untrusted proofs does not use this type: a proof that does not check is a
//! verdict ([`crate::merkle::Rejection`]), not a caller error. The Python binding maps each variant
//! once to one exception class (see `python.rs`).

use std::fmt;

/// A bad argument from the (trusted) caller. Each variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A hash (leaf hash, node hash, root) is not exactly 32 bytes long.
    InvalidHashLength {
        /// What the hash was, e.g. `"leaf hash"` or `"left"`.
        what: &'static str,
        /// Position in the input sequence, when the hash came from one.
        index: Option<usize>,
        /// The length received.
        len: usize,
    },
    /// A leaf index is not below the tree size.
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size argument is not allowed here (for example a consistency proof from size 0 or
    /// from a size beyond the tree).
    InvalidTreeSize {
        /// The size asked for.
        requested: u64,
        /// The size of the tree.
        tree_size: u64,
        /// Why it is not allowed.
        reason: &'static str,
    },
    /// A packed buffer (entries + offsets, keys, signatures) does not have the promised layout.
    InvalidBuffer {
        /// What is wrong, naming the offending item.
        detail: String,
    },
    /// A parameter outside the accepted range (e.g. `threads=0`).
    InvalidArgument {
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidHashLength {
                what,
                index: Some(i),
                len,
            } => {
                write!(f, "{what}[{i}] must be 32 bytes, got {len}")
            }
            Error::InvalidHashLength {
                what,
                index: None,
                len,
            } => {
                write!(f, "{what} must be 32 bytes, got {len}")
            }
            Error::IndexOutOfRange { index, size } => {
                write!(
                    f,
                    "leaf index {index} is out of range for a tree of size {size}"
                )
            }
            Error::InvalidTreeSize {
                requested,
                tree_size,
                reason,
            } => {
                write!(
                    f,
                    "tree size {requested} is invalid for a tree of size {tree_size}: {reason}"
                )
            }
            Error::InvalidBuffer { detail } | Error::InvalidArgument { detail } => {
                f.write_str(detail)
            }
        }
    }
}

impl std::error::Error for Error {}

/// The class of an [`Error`], one per Python exception class (`python.rs` maps each kind to
/// exactly one class; nothing else creates these exceptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Python `InvalidHashLength`.
    InvalidHashLength,
    /// Python `IndexOutOfRange`.
    IndexOutOfRange,
    /// Python `InvalidTreeSize`.
    InvalidTreeSize,
    /// Python `InvalidBuffer`.
    InvalidBuffer,
    /// Python `MerkleError` itself (the base class).
    InvalidArgument,
}

impl Error {
    /// Which exception class this error becomes in Python.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidHashLength { .. } => ErrorKind::InvalidHashLength,
            Error::IndexOutOfRange { .. } => ErrorKind::IndexOutOfRange,
            Error::InvalidTreeSize { .. } => ErrorKind::InvalidTreeSize,
            Error::InvalidBuffer { .. } => ErrorKind::InvalidBuffer,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, ErrorKind};

    #[test]
    fn messages_name_the_offending_item() {
        let e = Error::InvalidHashLength {
            what: "leaf hash",
            index: Some(7),
            len: 31,
        };
        assert_eq!(e.to_string(), "leaf hash[7] must be 32 bytes, got 31");
        let e = Error::IndexOutOfRange { index: 5, size: 5 };
        assert_eq!(
            e.to_string(),
            "leaf index 5 is out of range for a tree of size 5"
        );
        let e = Error::InvalidTreeSize {
            requested: 0,
            tree_size: 3,
            reason: "must be at least 1",
        };
        assert!(e.to_string().contains("tree size 0"));
    }

    #[test]
    fn each_variant_has_its_own_kind() {
        let cases = [
            (
                Error::InvalidHashLength {
                    what: "root",
                    index: None,
                    len: 0,
                },
                ErrorKind::InvalidHashLength,
            ),
            (
                Error::IndexOutOfRange { index: 1, size: 1 },
                ErrorKind::IndexOutOfRange,
            ),
            (
                Error::InvalidTreeSize {
                    requested: 0,
                    tree_size: 1,
                    reason: "x",
                },
                ErrorKind::InvalidTreeSize,
            ),
            (
                Error::InvalidBuffer { detail: "x".into() },
                ErrorKind::InvalidBuffer,
            ),
            (
                Error::InvalidArgument { detail: "x".into() },
                ErrorKind::InvalidArgument,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
