//! The SHA-256 ceiling of this machine, measured like `openssl speed -evp sha256 -bytes 8192`:
//! whole digests of one buffer, repeated for a fixed time, with the same `sha2` implementation
//! the tree uses. The tree benchmark divides its leaves/s by this figure to get an efficiency.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::Error;

const BLOCK: f64 = 64.0;
/// Digests between two clock reads; small enough to stop on time for any buffer size allowed.
const DIGESTS_PER_CHECK: u64 = 8;
const MAX_BUFFER: usize = 1 << 26;
const MAX_SECONDS: f64 = 60.0;

/// Compression blocks per second: `digests * buffer_size / 64 / elapsed`, i.e. the bytes/s that
/// `openssl speed` prints, divided by the 64-byte block size (padding blocks are not counted, as
/// openssl does not count them).
pub fn sha256_blocks_per_second(buffer_size: usize, seconds: f64) -> Result<f64, Error> {
    if buffer_size == 0 || buffer_size > MAX_BUFFER {
        return Err(Error::InvalidArgument {
            detail: format!("buffer_size must be between 1 and {MAX_BUFFER}, got {buffer_size}"),
        });
    }
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(Error::InvalidArgument {
            detail: format!("seconds must be in (0, {MAX_SECONDS}], got {seconds}"),
        });
    }
    let buffer: Vec<u8> = (0..buffer_size)
        .map(|i| (i as u8).wrapping_mul(31))
        .collect();
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut digests = 0u64;
    loop {
        for _ in 0..DIGESTS_PER_CHECK {
            black_box(Sha256::digest(black_box(&buffer)));
        }
        digests += DIGESTS_PER_CHECK;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            let bytes = digests as f64 * buffer_size as f64;
            return Ok(bytes / BLOCK / elapsed.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_rate_and_rejects_bad_arguments() {
        assert!(sha256_blocks_per_second(8192, 0.01).unwrap() > 0.0);
        assert!(sha256_blocks_per_second(0, 0.01).is_err());
        assert!(sha256_blocks_per_second(64, 0.0).is_err());
        assert!(sha256_blocks_per_second(64, f64::NAN).is_err());
    }
}
