//! `failed_signatures` (which compresses the recomputed `R` of many claims with one shared field
//! inversion) gives exactly the verdicts of `ed25519-dalek`'s `verify` on each claim alone, the
//! plain reference, on both of its routes (curve25519-dalek's double-scalar multiplication, and
//! the per-key tables of `rust_core::curve`, which a key gets once it is checked a second time), for random mixes of valid claims and the cases where Ed25519 verifiers
//! differ: altered signatures and messages, `s` not reduced, small-order and mixed-order keys
//! and `R`, non-canonical encodings, keys that are not curve points, wrong lengths.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use proptest::prelude::*;
use rust_core::ed25519::{
    cached_key_tables, failed_signatures, failed_signatures_by, Route, SignedMessage,
    COMPRESS_CHUNK,
};
use rust_core::parallel::Workers;
use sha2::{Digest, Sha512};

/// 32 bytes that are not a curve point (`y = 0x0202…02` has no `x`; `[0xff; 32]` would be one).
const NOT_A_POINT: [u8; 32] = [2; 32];

/// The reference: `ed25519-dalek`'s `verify` on the claim alone.
fn verify_alone(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(signature))
    else {
        return false;
    };
    VerifyingKey::from_bytes(&key).is_ok_and(|key| {
        key.verify(message, &Signature::from_bytes(&signature))
            .is_ok()
    })
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut wide = [0u8; 64];
    wide.copy_from_slice(
        &Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(message)
            .finalize(),
    );
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `s + L` as 32 little-endian bytes: the same residue, not reduced (it fits: s < L < 2^253).
fn unreduced(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// A claim built from a recipe: `kind` picks the case, `n` the key, torsion point and bit,
/// `message` the signed bytes.
fn build(kind: u8, n: u8, message: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let seed = [n % 7 + 1; 32];
    let signer = SigningKey::from_bytes(&seed);
    let public = signer.verifying_key().to_bytes();
    let valid = signer.sign(message).to_bytes();
    let torsion = EIGHT_TORSION[usize::from(n % 8)];
    let bit = usize::from(n) % 512;
    match kind % 12 {
        0..=3 => (public.to_vec(), message.to_vec(), valid.to_vec()),
        4 => {
            let mut signature = valid;
            signature[bit / 8] ^= 1 << (bit % 8);
            (public.to_vec(), message.to_vec(), signature.to_vec())
        }
        5 => {
            let mut altered = message.to_vec();
            altered.push(n);
            (public.to_vec(), altered, valid.to_vec())
        }
        6 => {
            let mut signature = valid;
            signature[32..].copy_from_slice(&unreduced(&valid[32..]));
            (public.to_vec(), message.to_vec(), signature.to_vec())
        }
        7 => {
            // A small-order key with a small-order R and s = 0: [0]B - [k]A is small-order too,
            // and equals R for some k (cofactorless verifiers accept those).
            let a = torsion.compress().to_bytes();
            let r = EIGHT_TORSION[usize::from(n / 8 % 8)].compress().to_bytes();
            let signature = [r, [0u8; 32]].concat();
            (a.to_vec(), message.to_vec(), signature)
        }
        8 => {
            // A mixed-order key A + T signed honestly for A's scalar: [s]B - [k](A + T) = R - [k]T,
            // which is R exactly when [k]T is the identity.
            let a_scalar = Scalar::from_bytes_mod_order([n.wrapping_mul(31) | 1; 32]);
            let mixed = (ED25519_BASEPOINT_POINT * a_scalar + torsion)
                .compress()
                .to_bytes();
            let nonce = Scalar::from_bytes_mod_order([n ^ 0x5a; 32]);
            let r = (ED25519_BASEPOINT_POINT * nonce).compress().to_bytes();
            let s = nonce + challenge(&r, &mixed, message) * a_scalar;
            (mixed.to_vec(), message.to_vec(), [r, s.to_bytes()].concat())
        }
        9 => {
            // A torsioned R: R + T with s for R.
            let mut signature = valid;
            let r = CompressedEdwardsY(valid[..32].try_into().unwrap())
                .decompress()
                .unwrap();
            signature[..32].copy_from_slice(&(r + torsion).compress().to_bytes());
            (public.to_vec(), message.to_vec(), signature.to_vec())
        }
        10 => {
            // Non-canonical encodings: y + p for the small y (key), or of R (the identity's
            // y = 1 written as 2^255 - 18, and with the sign bit set).
            let noncanonical: [[u8; 32]; 3] = [
                {
                    let mut y = [0xffu8; 32];
                    y[0] = 0xee;
                    y[31] = 0x7f;
                    y
                },
                {
                    let mut y = [0u8; 32];
                    y[0] = 1;
                    y[31] = 0x80;
                    y
                },
                {
                    let mut y = [0xffu8; 32];
                    y[0] = 0xec;
                    y[31] = 0xff;
                    y
                },
            ];
            let pick = noncanonical[usize::from(n % 3)];
            if n.is_multiple_of(2) {
                (pick.to_vec(), message.to_vec(), [pick, [0u8; 32]].concat())
            } else {
                let mut signature = valid;
                signature[..32].copy_from_slice(&pick);
                (public.to_vec(), message.to_vec(), signature.to_vec())
            }
        }
        _ => {
            // Not a point, or the wrong length.
            match n % 3 {
                0 => (NOT_A_POINT.to_vec(), message.to_vec(), valid.to_vec()),
                1 => (public[..31].to_vec(), message.to_vec(), valid.to_vec()),
                _ => (public.to_vec(), message.to_vec(), valid[..63].to_vec()),
            }
        }
    }
}

fn verdicts(route: Route, claims: &[(Vec<u8>, Vec<u8>, Vec<u8>)], workers: &Workers) -> Vec<usize> {
    failed_signatures_by(
        route,
        claims.len(),
        |i| SignedMessage {
            public_key: &claims[i].0,
            message: &claims[i].1,
            signature: &claims[i].2,
        },
        workers,
    )
}

fn reference(claims: &[(Vec<u8>, Vec<u8>, Vec<u8>)]) -> Vec<usize> {
    (0..claims.len())
        .filter(|&i| !verify_alone(&claims[i].0, &claims[i].1, &claims[i].2))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn shared_compression_gives_verifys_verdicts(
        recipes in prop::collection::vec(
            (any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)),
            0..3 * COMPRESS_CHUNK,
        )
    ) {
        let claims: Vec<_> = recipes.iter().map(|(kind, n, m)| build(*kind, *n, m)).collect();
        let expected = reference(&claims);
        // Each route twice: the second key-tables call finds every valid key checked before.
        for route in [Route::Dalek, Route::KeyTables] {
            prop_assert_eq!(&verdicts(route, &claims, &Workers::sequential()), &expected);
            prop_assert_eq!(&verdicts(route, &claims, &Workers::new(Some(2)).unwrap()), &expected);
        }
    }
}

/// Every case of the recipes, each on its own and all in one chunk; some of the torsion cases
/// are accepted and some rejected by the reference, so both sides of each are exercised.
#[test]
fn every_recipe_alone_and_together() {
    let claims: Vec<_> = (0..12u8)
        .flat_map(|kind| (0..=255u8).map(move |n| build(kind, n, &[kind, n, 7])))
        .collect();
    let expected = reference(&claims);
    for route in [Route::Dalek, Route::KeyTables] {
        assert_eq!(verdicts(route, &claims, &Workers::sequential()), expected);
        assert_eq!(
            verdicts(route, &claims, &Workers::new(Some(2)).unwrap()),
            expected
        );
        for (i, claim) in claims.iter().enumerate() {
            let alone = verdicts(route, std::slice::from_ref(claim), &Workers::sequential());
            assert_eq!(
                alone.is_empty(),
                !expected.contains(&i),
                "claim {i}, {route:?}"
            );
        }
    }
    // The key-tables route did use tables (every valid key was checked more than once).
    assert!(cached_key_tables() > 0);
    // The default route is one of the two, so its verdicts are these too.
    assert_eq!(
        failed_signatures(
            claims.len(),
            |i| SignedMessage {
                public_key: &claims[i].0,
                message: &claims[i].1,
                signature: &claims[i].2,
            },
            &Workers::sequential()
        ),
        expected
    );
    for kind in [7u8, 8] {
        let accepted = (0..=255u8)
            .filter(|&n| {
                let (key, message, signature) = build(kind, n, &[kind, n, 7]);
                verify_alone(&key, &message, &signature)
            })
            .count();
        assert!(
            0 < accepted && accepted < 256,
            "kind {kind}: {accepted} of 256 accepted"
        );
    }
}

/// The point arithmetic the recipes rely on: a small-order point times the group order is the
/// identity (so the torsion cases are torsion), and `EdwardsPoint` is the curve's.
#[test]
fn recipes_build_what_they_say() {
    for torsion in EIGHT_TORSION {
        assert!(torsion.is_small_order());
    }
    assert!(VerifyingKey::from_bytes(&NOT_A_POINT).is_err());
    let point: EdwardsPoint = ED25519_BASEPOINT_POINT * Scalar::from(3u8);
    assert!(!point.is_small_order() && point.is_torsion_free());
}
