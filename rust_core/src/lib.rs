//! `rust_core`: RFC 9162 Merkle trees and bulk Ed25519 checks for farmtrace.
//!
//! Everything here is plain Rust with no Python types, so `cargo test`, the criterion benches and
//! fuzzing run without an interpreter. The Python binding lives in `python.rs` behind the
//! `python` feature.
#![forbid(unsafe_code)]

pub mod curve;
pub mod ed25519;
pub mod entries;
pub mod error;
pub mod merkle;
pub mod parallel;
pub mod throughput;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, ErrorKind};
