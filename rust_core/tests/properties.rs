//! Property tests: for random tree sizes (0, 1, powers of two and their neighbours, random), the
//! root matches an independent RFC 9162 MTH, every inclusion and consistency proof verifies, any
//! single-bit change or wrong index/size is rejected, and no input makes a verifier panic.
//! Garbage fuzzing: random proofs against real trees are rejected, out-of-range queries on a
//! tree are errors, and packed buffers and signature claims of any shape are refused or handled
//! without a panic.

use proptest::prelude::*;
use rust_core::ed25519::{failed_signatures, PackedClaims};
use rust_core::entries::{encode_offsets, pack, PackedEntries};
use rust_core::merkle::{verify_consistency, verify_inclusion, Hash, MerkleTree, EMPTY_ROOT};
use rust_core::parallel::Workers;
use sha2::{Digest, Sha256};

/// MTH straight from RFC 9162 section 2.1.1, with `sha2`'s own `Digest` (not our hashing code).
fn reference_root(entries: &[Vec<u8>]) -> Hash {
    match entries.len() {
        0 => Sha256::digest(b"").into(),
        1 => Sha256::new()
            .chain_update([0u8])
            .chain_update(&entries[0])
            .finalize()
            .into(),
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = (reference_root(&entries[..k]), reference_root(&entries[k..]));
            Sha256::new()
                .chain_update([1u8])
                .chain_update(l)
                .chain_update(r)
                .finalize()
                .into()
        }
    }
}

fn entries(size: usize, salt: u64) -> Vec<Vec<u8>> {
    (0..size as u64)
        .map(|i| [salt.to_le_bytes(), i.to_le_bytes()].concat())
        .collect()
}

fn tree_size() -> impl Strategy<Value = usize> {
    let edges = (0u32..=10).prop_flat_map(|p| {
        let power = 1usize << p;
        prop_oneof![Just(power - 1), Just(power), Just(power + 1)]
    });
    prop_oneof![Just(0usize), Just(1usize), edges, 0usize..1200]
}

/// At most `limit` positions out of `0..n`, always including both ends.
fn sample(n: u64, limit: u64, seed: u64) -> Vec<u64> {
    if n <= limit {
        return (0..n).collect();
    }
    let step = n / limit;
    let mut picks: Vec<u64> = (0..limit)
        .map(|k| (k * step + seed % step.max(1)) % n)
        .collect();
    picks.extend([0, n - 1]);
    picks
}

fn flip(hash: &[u8], bit: usize) -> Vec<u8> {
    let mut out = hash.to_vec();
    let byte = bit / 8 % out.len();
    out[byte] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn roots_match_the_rfc_definition(size in tree_size(), salt in any::<u64>()) {
        let entries = entries(size, salt);
        let tree = MerkleTree::from_entries(&entries, &Workers::sequential());
        prop_assert_eq!(tree.size(), size as u64);
        prop_assert_eq!(tree.root(), reference_root(&entries));
        let m = salt % (size as u64 + 1);
        prop_assert_eq!(tree.root_at(m).unwrap(), reference_root(&entries[..m as usize]));
        if size == 0 {
            prop_assert_eq!(tree.root(), EMPTY_ROOT);
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_mutations_do_not(
        size in tree_size().prop_filter("non-empty", |n| *n > 0),
        salt in any::<u64>(),
        bit in 0usize..256,
    ) {
        let tree = MerkleTree::from_entries(&entries(size, salt), &Workers::sequential());
        let (n, root) = (tree.size(), tree.root());
        for i in sample(n, 24, salt) {
            let leaf = tree.leaf_hash(i).unwrap();
            let proof = tree.inclusion_proof(i).unwrap();
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &root).is_ok(), "leaf {} of {}", i, n);
            prop_assert!(verify_inclusion(&flip(&leaf, bit), i, n, &proof, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &flip(&root, bit)).is_err());
            for k in 0..proof.len() {
                let mut bad: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_inclusion(&leaf, i, n, &bad, &root).is_err());
            }
            let wrong = (i + 1 + salt % n) % n;
            if wrong != i {
                prop_assert!(verify_inclusion(&leaf, wrong, n, &proof, &root).is_err());
            }
            prop_assert!(verify_inclusion(&leaf, n + i, n, &proof, &root).is_err());
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(verify_inclusion(&leaf, i, n, &longer, &root).is_err());
            if !proof.is_empty() {
                prop_assert!(verify_inclusion(&leaf, i, n, &proof[1..], &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_mutations_do_not(
        size in tree_size().prop_filter("non-empty", |n| *n > 0),
        salt in any::<u64>(),
        bit in 0usize..256,
    ) {
        let tree = MerkleTree::from_entries(&entries(size, salt), &Workers::sequential());
        let (n, root) = (tree.size(), tree.root());
        for m in sample(n, 24, salt).into_iter().map(|m| m + 1) {
            let old = tree.root_at(m).unwrap();
            let proof = tree.consistency_proof(m).unwrap();
            prop_assert!(verify_consistency(m, n, &proof, &old, &root).is_ok(), "{} -> {}", m, n);
            prop_assert!(verify_consistency(m, n, &proof, &flip(&old, bit), &root).is_err());
            prop_assert!(verify_consistency(m, n, &proof, &old, &flip(&root, bit)).is_err());
            for k in 0..proof.len() {
                let mut bad: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_consistency(m, n, &bad, &old, &root).is_err());
            }
            for wrong in [m - 1, m + 1, m ^ 2] {
                if wrong != m && wrong <= n {
                    prop_assert!(verify_consistency(wrong, n, &proof, &old, &root).is_err());
                }
            }
            prop_assert!(verify_consistency(n, m.saturating_sub(1), &proof, &root, &old).is_err());
        }
        prop_assert!(verify_consistency(0, n, &[] as &[Hash], &EMPTY_ROOT, &root).is_err());
    }

    #[test]
    fn verifiers_never_panic(
        proof in prop::collection::vec(
            prop_oneof![prop::collection::vec(any::<u8>(), 32), prop::collection::vec(any::<u8>(), 0..40)],
            0..80,
        ),
        a in prop_oneof![any::<u64>(), Just(u64::MAX), Just(u64::MAX - 1), 0u64..70],
        b in prop_oneof![any::<u64>(), Just(u64::MAX), Just(u64::MAX - 1), 0u64..70],
        leaf in prop::collection::vec(any::<u8>(), 0..40),
        root in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let _ = verify_inclusion(&leaf, a, b, &proof, &root);
        let _ = verify_inclusion(&leaf, b, a, &proof, &root);
        let _ = verify_consistency(a, b, &proof, &leaf, &root);
        let _ = verify_consistency(b, a, &proof, &root, &leaf);
        let _ = verify_consistency(a.min(b), a.max(b), &proof, &leaf, &root);
    }

    #[test]
    fn random_proofs_against_real_trees_are_rejected(
        size in tree_size(),
        salt in any::<u64>(),
        proof in prop::collection::vec(prop::array::uniform32(any::<u8>()), 0..70),
        index in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64), 0u64..1300],
        old in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64), 0u64..1300],
    ) {
        let tree = MerkleTree::from_entries(&entries(size, salt), &Workers::sequential());
        let (n, root) = (tree.size(), tree.root());
        let leaf = tree.leaf_hash(index % n.max(1)).unwrap_or(EMPTY_ROOT);
        // A random proof is not the audit path (a 2^-256 chance aside), whatever the index;
        // except the empty proof of the one leaf of a tree of one.
        prop_assume!(!(n == 1 && proof.is_empty()));
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index % n.max(1), n, &proof, &root).is_err());
        let old_root = tree.root_at(old.min(n)).unwrap();
        if !(old.min(n) == n && proof.is_empty()) {
            prop_assert!(verify_consistency(old.min(n), n, &proof, &old_root, &root).is_err());
        }
        prop_assert!(verify_consistency(old, n, &proof, &old_root, &root).is_err() || old == n);
    }

    #[test]
    fn tree_queries_out_of_range_are_errors(
        size in tree_size(),
        beyond in prop_oneof![Just(0u64), Just(1u64), Just(u64::MAX - 1), any::<u64>()],
    ) {
        let tree = MerkleTree::from_entries(&entries(size, 7), &Workers::sequential());
        let n = tree.size();
        let index = n.saturating_add(beyond);
        prop_assert!(tree.leaf_hash(index).is_err());
        prop_assert!(tree.inclusion_proof(index).is_err());
        prop_assert!(tree.leaf_hash(u64::MAX).is_err());
        prop_assert!(tree.inclusion_proof(u64::MAX).is_err());
        prop_assert!(tree.consistency_proof(0).is_err());
        prop_assert!(tree.consistency_proof(u64::MAX).is_err() || n == u64::MAX);
        if index > n {
            prop_assert!(tree.root_at(index).is_err());
            prop_assert!(tree.consistency_proof(index).is_err());
        }
    }

    #[test]
    fn packed_entries_of_any_shape_are_refused_or_consistent(
        data in prop::collection::vec(any::<u8>(), 0..200),
        offsets in prop::collection::vec(
            prop_oneof![0u64..220, Just(u64::MAX), Just(u64::MAX - 7), any::<u64>()],
            0..12,
        ),
        ragged in prop::collection::vec(any::<u8>(), 0..24),
        sorted in any::<bool>(),
        anchored in any::<bool>(),
    ) {
        let mut offsets = offsets;
        if anchored {
            // Often a valid layout: from 0 to the end of data.
            offsets.retain(|&o| o <= data.len() as u64);
            offsets.extend([0, data.len() as u64]);
        }
        if sorted {
            offsets.sort_unstable();
        }
        let raw = encode_offsets(&offsets);
        for layout in [&raw[..], &ragged[..]] {
            if let Ok(packed) = PackedEntries::new(&data, layout) {
                let items: Vec<&[u8]> = (0..packed.len()).map(|i| packed.get(i)).collect();
                prop_assert_eq!(items.concat(), data.clone());
                let tree = MerkleTree::from_packed(&packed, &Workers::sequential());
                prop_assert_eq!(tree.root(), reference_root(
                    &items.iter().map(|i| i.to_vec()).collect::<Vec<_>>()));
            }
        }
    }

    #[test]
    fn signature_claims_of_any_shape_are_refused_or_fail(
        key_bytes in prop::collection::vec(any::<u8>(), 0..130),
        signature_bytes in prop::collection::vec(any::<u8>(), 0..260),
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        shaped in any::<bool>(),
    ) {
        // Half the time the buffers agree on the number of claims (then each is checked), half
        // the time their lengths are whatever came.
        let (mut keys, mut signatures) = (key_bytes, signature_bytes);
        if shaped {
            keys.resize(32 * messages.len(), 0xA5);
            signatures.resize(64 * messages.len(), 0x5A);
        }
        let (data, offsets) = pack(&messages);
        let packed = PackedEntries::new(&data, &offsets).unwrap();
        match PackedClaims::new(&keys, &signatures, packed) {
            Ok(claims) => {
                // Random bytes are no one's signature: every claim fails, none panics.
                let failed =
                    failed_signatures(claims.len(), |i| claims.get(i), &Workers::sequential());
                prop_assert_eq!(failed, (0..claims.len()).collect::<Vec<_>>());
            }
            Err(_) => prop_assert!(
                keys.len() % 32 != 0
                    || signatures.len() != keys.len() * 2
                    || messages.len() != keys.len() / 32
            ),
        }
    }
}
