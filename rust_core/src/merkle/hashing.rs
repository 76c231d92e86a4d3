//! RFC 9162 section 2.1.1 hashing: `leaf = SHA-256(0x00 || entry)`, `node = SHA-256(0x01 || l || r)`.
//!
//! The hashes are computed by feeding pre-padded blocks straight to the `sha2` crate's compression
//! function ([`sha2::block_api::compress256`], which uses the SHA-NI instructions on x86-64 when the
//! CPU has them). Building the padding ourselves saves the `Digest` buffering on messages of two or
//! three blocks, which is most of the per-hash overhead of a tree build.

use sha2::block_api::compress256;

/// Length of every hash in the tree.
pub const HASH_LEN: usize = 32;

/// A SHA-256 digest: a leaf hash, a node hash or a root.
pub type Hash = [u8; HASH_LEN];

/// Root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;
const BLOCK: usize = 64;
/// Messages whose padded form fits in this many blocks are hashed with one compression call.
const SHORT_BLOCKS: usize = 4;
/// Messages laid out before the first of them is compressed (see [`leaf_hashes_into`]).
const BATCH: usize = 8;

/// SHA-256 initial hash value (FIPS 180-4 section 5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

fn digest_of(state: [u32; 8]) -> Hash {
    let mut out = [0u8; HASH_LEN];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Writes the SHA-256 padding for a message of `msg_len` bytes whose last `tail` bytes are already
/// at the start of `blocks`; returns how many blocks of `blocks` make up the padded tail.
fn pad(blocks: &mut [u8], tail: usize, msg_len: usize) -> usize {
    blocks[tail] = 0x80;
    let used = (tail + 1 + 8).div_ceil(BLOCK);
    let bits = (msg_len as u64).wrapping_mul(8);
    blocks[used * BLOCK - 8..used * BLOCK].copy_from_slice(&bits.to_be_bytes());
    used
}

/// Lays out `prefix || data` and its padding in `blocks` when it fits in [`SHORT_BLOCKS`]
/// blocks; returns how many blocks to compress, or `None` for a longer message.
fn fill_short(blocks: &mut [[u8; BLOCK]; SHORT_BLOCKS], prefix: u8, data: &[u8]) -> Option<usize> {
    let msg_len = data.len() + 1;
    if msg_len + 9 > SHORT_BLOCKS * BLOCK {
        return None;
    }
    let flat = blocks.as_flattened_mut();
    flat[0] = prefix;
    flat[1..msg_len].copy_from_slice(data);
    let used = (msg_len + 9).div_ceil(BLOCK);
    // The buffer is reused between messages: clear what lies between this message and its length.
    flat[msg_len..used * BLOCK - 8].fill(0);
    Some(pad(flat, msg_len, msg_len))
}

/// SHA-256 of `prefix || data` without going through the `Digest` buffer.
fn prefixed_sha256(prefix: u8, data: &[u8]) -> Hash {
    let mut state = H0;
    let mut blocks = [[0u8; BLOCK]; SHORT_BLOCKS];
    if let Some(used) = fill_short(&mut blocks, prefix, data) {
        compress256(&mut state, &blocks[..used]);
        return digest_of(state);
    }
    let msg_len = data.len() + 1;
    // Long message: the first block carries the prefix, so later blocks are `data` shifted by one.
    let mut first = [0u8; BLOCK];
    first[0] = prefix;
    first[1..].copy_from_slice(&data[..BLOCK - 1]);
    compress256(&mut state, &[first]);
    let mut chunks = data[BLOCK - 1..].chunks_exact(BLOCK);
    let mut filled = 0;
    for chunk in &mut chunks {
        blocks[filled].copy_from_slice(chunk);
        filled += 1;
        if filled == SHORT_BLOCKS {
            compress256(&mut state, &blocks);
            filled = 0;
        }
    }
    compress256(&mut state, &blocks[..filled]);
    let tail = chunks.remainder();
    let mut last = [[0u8; BLOCK]; 2];
    let flat = last.as_flattened_mut();
    flat[..tail.len()].copy_from_slice(tail);
    let used = pad(flat, tail.len(), msg_len);
    compress256(&mut state, &last[..used]);
    digest_of(state)
}

/// Leaf hashes of entries `first, first + 1, ...` into `out`.
///
/// Why batches: the blocks of [`BATCH`] messages are all written before the first of them is
/// compressed. Writing a block just before compressing it makes the compression's loads wait
/// for those stores (they cannot be forwarded from the narrower, misaligned copies), which puts
/// the copying on the critical path of every hash; batching takes it off (about 10% faster).
pub(crate) fn leaf_hashes_into<'e>(
    entry: impl Fn(usize) -> &'e [u8],
    first: usize,
    out: &mut [Hash],
) {
    let mut blocks = [[[0u8; BLOCK]; SHORT_BLOCKS]; BATCH];
    let mut used = [None; BATCH];
    for (g, outs) in out.chunks_mut(BATCH).enumerate() {
        let base = first + g * BATCH;
        for (j, slot) in outs.iter_mut().enumerate() {
            let data = entry(base + j);
            used[j] = fill_short(&mut blocks[j], LEAF_PREFIX, data);
            if used[j].is_none() {
                *slot = prefixed_sha256(LEAF_PREFIX, data);
            }
        }
        for (j, slot) in outs.iter_mut().enumerate() {
            if let Some(n) = used[j] {
                let mut state = H0;
                compress256(&mut state, &blocks[j][..n]);
                *slot = digest_of(state);
            }
        }
    }
}

/// Node hashes of consecutive pairs: `out[j] = node_hash(children[2j], children[2j + 1])`,
/// batched like [`leaf_hashes_into`]. Requires `children.len() == 2 * out.len()`.
pub(crate) fn node_hashes_into(children: &[Hash], out: &mut [Hash]) {
    debug_assert_eq!(children.len(), 2 * out.len());
    let mut blocks = [[[0u8; BLOCK]; 2]; BATCH];
    for b in &mut blocks {
        pad(b.as_flattened_mut(), 65, 65);
    }
    for (pairs, outs) in children.chunks(2 * BATCH).zip(out.chunks_mut(BATCH)) {
        for (b, pair) in blocks.iter_mut().zip(pairs.chunks_exact(2)) {
            let flat = b.as_flattened_mut();
            flat[0] = NODE_PREFIX;
            flat[1..33].copy_from_slice(&pair[0]);
            flat[33..65].copy_from_slice(&pair[1]);
        }
        for (b, slot) in blocks.iter().zip(outs.iter_mut()) {
            let mut state = H0;
            compress256(&mut state, b);
            *slot = digest_of(state);
        }
    }
}

/// RFC 9162 leaf hash: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    prefixed_sha256(LEAF_PREFIX, entry)
}

/// RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`, exactly two compression blocks.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut blocks = [[0u8; BLOCK]; 2];
    let flat = blocks.as_flattened_mut();
    flat[0] = NODE_PREFIX;
    flat[1..33].copy_from_slice(left);
    flat[33..65].copy_from_slice(right);
    pad(flat, 65, 65);
    let mut state = H0;
    compress256(&mut state, &blocks);
    digest_of(state)
}

/// Largest power of two strictly less than `n` (the RFC 9162 split point `k`). Requires `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(prefix: u8, data: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([prefix]);
        h.update(data);
        h.finalize().into()
    }

    #[test]
    fn leaf_hash_matches_sha2_digest_for_every_padding_boundary() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                leaf_hash(&data[..len]),
                reference(0, &data[..len]),
                "length {len}"
            );
        }
    }

    #[test]
    fn batched_hashes_match_single_ones() {
        let entries: Vec<Vec<u8>> = (0..300usize).map(|i| vec![i as u8; i]).collect();
        let mut leaves = vec![[0u8; 32]; entries.len() - 3];
        leaf_hashes_into(|i| &entries[i], 3, &mut leaves);
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(*leaf, reference(0, &entries[i + 3]), "entry {}", i + 3);
        }
        let mut nodes = vec![[0u8; 32]; (leaves.len() - 1) / 2];
        node_hashes_into(&leaves[..2 * nodes.len()], &mut nodes);
        for (j, node) in nodes.iter().enumerate() {
            assert_eq!(*node, node_hash(&leaves[2 * j], &leaves[2 * j + 1]));
        }
    }

    #[test]
    fn node_hash_matches_sha2_digest() {
        let l = [0x11; 32];
        let r = [0xee; 32];
        let mut joined = l.to_vec();
        joined.extend_from_slice(&r);
        assert_eq!(node_hash(&l, &r), reference(1, &joined));
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
