//! Many variable-length items packed in one buffer: `data` holds the items back to back and
//! `offsets` holds `n + 1` little-endian `u64` positions, so item `i` is
//! `data[offsets[i]..offsets[i + 1]]`. This is how a batch crosses the Python boundary without
//! one Python object per item.

use crate::error::Error;

const OFFSET_LEN: usize = 8;

/// A validated view of packed items. Validation happens once, in [`PackedEntries::new`]; reading
/// an item afterwards cannot fail.
#[derive(Clone, Copy, Debug)]
pub struct PackedEntries<'a> {
    data: &'a [u8],
    offsets: &'a [u8],
}

impl<'a> PackedEntries<'a> {
    /// Checks the layout: `offsets` is a whole number (at least one) of 8-byte little-endian
    /// values, `offsets[0] == 0`, the values never decrease, and the last equals `data.len()`.
    /// The error names the first offending offset.
    pub fn new(data: &'a [u8], offsets: &'a [u8]) -> Result<Self, Error> {
        let bad = |detail: String| Err(Error::InvalidBuffer { detail });
        if !offsets.len().is_multiple_of(OFFSET_LEN) || offsets.is_empty() {
            return bad(format!(
                "offsets must hold n + 1 little-endian uint64 values (a non-zero multiple of 8 \
                 bytes), got {} bytes",
                offsets.len()
            ));
        }
        let packed = PackedEntries { data, offsets };
        let first = packed.offset(0);
        if first != 0 {
            return bad(format!("offsets[0] must be 0, got {first}"));
        }
        let mut previous = 0;
        for i in 1..=packed.len() {
            let current = packed.offset(i);
            if current < previous {
                return bad(format!(
                    "offsets[{i}] = {current} is less than offsets[{}] = {previous}",
                    i - 1
                ));
            }
            if current > data.len() as u64 {
                return bad(format!(
                    "offsets[{i}] = {current} is beyond the end of data ({} bytes)",
                    data.len()
                ));
            }
            previous = current;
        }
        if previous != data.len() as u64 {
            return bad(format!(
                "offsets[{}] = {previous} must equal the length of data ({} bytes)",
                packed.len(),
                data.len()
            ));
        }
        Ok(packed)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.offsets.len() / OFFSET_LEN - 1
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn offset(&self, i: usize) -> u64 {
        let mut raw = [0u8; OFFSET_LEN];
        raw.copy_from_slice(&self.offsets[i * OFFSET_LEN..(i + 1) * OFFSET_LEN]);
        u64::from_le_bytes(raw)
    }

    /// Item `i`. Panics if `i >= len()` (a bug in the caller, not bad input: lengths were checked).
    pub fn get(&self, i: usize) -> &'a [u8] {
        // Validated in `new`: offsets are within data and non-decreasing, so these casts and the
        // slice are in range.
        let start = self.offset(i) as usize;
        let end = self.offset(i + 1) as usize;
        &self.data[start..end]
    }
}

/// Encodes offsets as the little-endian bytes [`PackedEntries::new`] expects.
pub fn encode_offsets(offsets: &[u64]) -> Vec<u8> {
    offsets.iter().flat_map(|o| o.to_le_bytes()).collect()
}

/// Packs items into `(data, offsets)` for [`PackedEntries::new`] (tests and benchmarks).
pub fn pack<I: AsRef<[u8]>>(items: &[I]) -> (Vec<u8>, Vec<u8>) {
    let mut data = Vec::new();
    let mut offsets = vec![0u64];
    for item in items {
        data.extend_from_slice(item.as_ref());
        offsets.push(data.len() as u64);
    }
    (data, encode_offsets(&offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(data: &[u8], offsets: &[u64]) -> String {
        PackedEntries::new(data, &encode_offsets(offsets))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_back_packed_items() {
        let items: [&[u8]; 4] = [b"ab", b"", b"cde", b"f"];
        let (data, offsets) = pack(&items);
        let packed = PackedEntries::new(&data, &offsets).unwrap();
        assert_eq!(packed.len(), 4);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(packed.get(i), *item);
        }
        assert!(PackedEntries::new(b"", &encode_offsets(&[0]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_layouts_name_the_offending_offset() {
        assert!(PackedEntries::new(b"", b"")
            .unwrap_err()
            .to_string()
            .contains("got 0 bytes"));
        assert!(PackedEntries::new(b"", &[0; 9])
            .unwrap_err()
            .to_string()
            .contains("9 bytes"));
        assert_eq!(err(b"abc", &[1, 3]), "offsets[0] must be 0, got 1");
        assert_eq!(
            err(b"abc", &[0, 2, 1, 3]),
            "offsets[2] = 1 is less than offsets[1] = 2"
        );
        assert_eq!(
            err(b"abc", &[0, 4, 3]),
            "offsets[1] = 4 is beyond the end of data (3 bytes)"
        );
        assert_eq!(
            err(b"abc", &[0, 2]),
            "offsets[1] = 2 must equal the length of data (3 bytes)"
        );
    }
}
