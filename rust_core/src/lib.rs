#![forbid(unsafe_code)]
#[cfg(feature = "python")]
mod python;
