//! Bulk Ed25519 signature checks: many (public key, message, signature) triples in one call,
//! answering which of them fail.
//!
//! Each triple is checked on its own with `ed25519-dalek`'s `verify`, the cofactorless RFC 8032
//! equation `[s]B = R + [k]A` with `s < L` and `R` compared byte for byte, which is also what
//! OpenSSL (and so `cryptography`) checks. The triples are spread over the workers.
//!
//! Why not `verify_batch`: it is about twice as fast per core here, but its random linear
//! combination can cancel small-order (torsion) components, so a signature crafted with a
//! torsion component in `R` or in the key is rejected on its own yet accepted inside some batches
//! (see the ed25519-dalek README, "weak keys"). The gateway must accept exactly what an offline
//! verifier with `cryptography` accepts, so the verdicts here never depend on the batch.
//!
//! Decompressed keys are kept in a process-wide cache ([`KEY_CACHE_LIMIT`] keys, emptied when
//! full): a sensor signs many readings with one key, and decompressing it (a square root in the
//! field) costs about a quarter of a check. A cached key is exactly what
//! `VerifyingKey::from_bytes` returned for those 32 bytes (including "not a curve point"), so
//! the cache never changes a verdict.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rayon::prelude::*;

use crate::entries::PackedEntries;
use crate::error::Error;
use crate::parallel::{Workers, PARALLEL_MIN_SIGNATURES};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// One claim to check: `signature` is a signature of `message` by `public_key`. The slices may
/// have any length; a key or signature of the wrong length simply fails.
#[derive(Clone, Copy, Debug)]
pub struct SignedMessage<'a> {
    /// The signer's public key (32 bytes when well formed).
    pub public_key: &'a [u8],
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature (64 bytes when well formed).
    pub signature: &'a [u8],
}

/// Claims packed in three buffers: `n` 32-byte keys back to back, `n` 64-byte signatures back to
/// back, and `n` messages packed with offsets.
#[derive(Clone, Copy, Debug)]
pub struct PackedClaims<'a> {
    keys: &'a [u8],
    signatures: &'a [u8],
    messages: PackedEntries<'a>,
}

impl<'a> PackedClaims<'a> {
    /// Checks that the three buffers describe the same number of claims; the error names the
    /// buffer that does not match.
    pub fn new(
        keys: &'a [u8],
        signatures: &'a [u8],
        messages: PackedEntries<'a>,
    ) -> Result<Self, Error> {
        let bad = |detail: String| Err(Error::InvalidBuffer { detail });
        if !keys.len().is_multiple_of(PUBLIC_KEY_LEN) {
            return bad(format!(
                "public_keys must hold whole 32-byte keys, got {} bytes",
                keys.len()
            ));
        }
        let count = keys.len() / PUBLIC_KEY_LEN;
        if signatures.len() != count * SIGNATURE_LEN {
            return bad(format!(
                "signatures must hold 64 bytes for each of the {count} public keys ({} bytes), got {}",
                count * SIGNATURE_LEN,
                signatures.len()
            ));
        }
        if messages.len() != count {
            return bad(format!(
                "offsets describe {} messages but there are {count} public keys",
                messages.len()
            ));
        }
        Ok(PackedClaims {
            keys,
            signatures,
            messages,
        })
    }

    /// Number of claims.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when there are no claims.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Claim `i` (`i < len()`).
    pub fn get(&self, i: usize) -> SignedMessage<'a> {
        SignedMessage {
            public_key: &self.keys[i * PUBLIC_KEY_LEN..(i + 1) * PUBLIC_KEY_LEN],
            message: self.messages.get(i),
            signature: &self.signatures[i * SIGNATURE_LEN..(i + 1) * SIGNATURE_LEN],
        }
    }
}

/// The most decompressed keys the process-wide cache holds (about 200 bytes each); when it is
/// full it is emptied, so hostile traffic naming ever new keys costs memory only up to here.
pub const KEY_CACHE_LIMIT: usize = 65_536;

/// `None` caches "these 32 bytes are not a curve point": such a key fails every signature.
type Decompressed = Option<VerifyingKey>;

fn key_cache() -> &'static RwLock<HashMap<[u8; PUBLIC_KEY_LEN], Decompressed>> {
    static CACHE: OnceLock<RwLock<HashMap<[u8; PUBLIC_KEY_LEN], Decompressed>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Number of keys in the process-wide cache (for tests and diagnostics).
pub fn cached_keys() -> usize {
    key_cache()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .len()
}

/// The decompressed keys of a call: `keys[slot[i]]` is claim `i`'s key, `None` when its 32
/// bytes are not a curve point or the claim's key or signature has the wrong length (`slot[i]`
/// is then `NO_KEY`).
struct ResolvedKeys {
    keys: Vec<Decompressed>,
    slot: Vec<usize>,
}

const NO_KEY: usize = usize::MAX;

/// Look every distinct key up once: in the process-wide cache, else decompress it (and add it).
/// A poisoned lock is still usable: the map is only ever read, extended or emptied whole.
fn resolve_keys<'a, F>(count: usize, claim: &F) -> ResolvedKeys
where
    F: Fn(usize) -> SignedMessage<'a>,
{
    let mut index: HashMap<[u8; PUBLIC_KEY_LEN], usize> = HashMap::new();
    let mut keys: Vec<Decompressed> = Vec::new();
    let mut slot = Vec::with_capacity(count);
    let mut missing: Vec<usize> = Vec::new();
    let mut distinct: Vec<[u8; PUBLIC_KEY_LEN]> = Vec::new();
    {
        let cache = key_cache()
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for i in 0..count {
            let claim = claim(i);
            let (Ok(key), true) = (
                <[u8; PUBLIC_KEY_LEN]>::try_from(claim.public_key),
                claim.signature.len() == SIGNATURE_LEN,
            ) else {
                slot.push(NO_KEY);
                continue;
            };
            let next = keys.len();
            let at = *index.entry(key).or_insert(next);
            if at == next {
                match cache.get(&key) {
                    Some(found) => keys.push(*found),
                    None => {
                        keys.push(None);
                        missing.push(at);
                    }
                }
                distinct.push(key);
            }
            slot.push(at);
        }
    }
    if !missing.is_empty() {
        for &at in &missing {
            keys[at] = VerifyingKey::from_bytes(&distinct[at]).ok();
        }
        let mut cache = key_cache()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() + missing.len() > KEY_CACHE_LIMIT {
            cache.clear();
        }
        for &at in missing.iter().take(KEY_CACHE_LIMIT) {
            cache.insert(distinct[at], keys[at]);
        }
    }
    ResolvedKeys { keys, slot }
}

fn verifies(claim: &SignedMessage<'_>, key: Option<&VerifyingKey>) -> bool {
    let (Some(key), Ok(signature)) = (key, <[u8; SIGNATURE_LEN]>::try_from(claim.signature)) else {
        return false;
    };
    key.verify(claim.message, &Signature::from_bytes(&signature))
        .is_ok()
}

/// Indices (ascending) of the claims whose signature does not verify, among `count` claims
/// produced by `claim(i)`.
pub fn failed_signatures<'a, F>(count: usize, claim: F, workers: &Workers) -> Vec<usize>
where
    F: Fn(usize) -> SignedMessage<'a> + Sync,
{
    let resolved = resolve_keys(count, &claim);
    let check = |i: usize| {
        let key = match resolved.slot[i] {
            NO_KEY => None,
            at => resolved.keys[at].as_ref(),
        };
        (!verifies(&claim(i), key)).then_some(i)
    };
    if workers.parallel_for(count, PARALLEL_MIN_SIGNATURES) {
        workers.install(|| {
            (0..count)
                .into_par_iter()
                .with_min_len(PARALLEL_MIN_SIGNATURES / 2)
                .filter_map(check)
                .collect()
        })
    } else {
        (0..count).filter_map(check).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn claims(n: usize) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        (0..n)
            .map(|i| {
                let key = SigningKey::from_bytes(&[(i % 5) as u8 + 1; 32]);
                let message = format!("reading {i}").into_bytes();
                let signature = key.sign(&message).to_bytes();
                (key.verifying_key().to_bytes(), message, signature)
            })
            .collect()
    }

    fn failures(items: &[([u8; 32], Vec<u8>, [u8; 64])], workers: &Workers) -> Vec<usize> {
        let claim = |i: usize| SignedMessage {
            public_key: &items[i].0,
            message: &items[i].1,
            signature: &items[i].2,
        };
        failed_signatures(items.len(), claim, workers)
    }

    #[test]
    fn names_exactly_the_bad_claims_in_order() {
        let mut items = claims(300);
        items[3].2[10] ^= 1; // corrupted signature
        items[70].1.push(b'!'); // altered message
        items[71].0 = [0xff; 32]; // not a curve point
        items[299].0 = items[0].0; // another signer's key
        let expected = vec![3, 70, 71, 299];
        assert_eq!(failures(&items, &Workers::sequential()), expected);
        assert_eq!(failures(&items, &Workers::new(Some(2)).unwrap()), expected);
        assert!(failures(&claims(0), &Workers::sequential()).is_empty());
    }

    #[test]
    fn cached_keys_give_the_same_verdicts_on_later_calls() {
        let mut items = claims(40);
        items[5].0 = [0xff; 32]; // not a curve point: cached as such
        items[6].2[0] ^= 1;
        let expected = vec![5, 6];
        assert_eq!(failures(&items, &Workers::sequential()), expected);
        assert!(cached_keys() >= 2);
        // Second call: every key now comes from the cache, the verdicts do not move.
        assert_eq!(failures(&items, &Workers::sequential()), expected);
        assert_eq!(failures(&items, &Workers::new(Some(2)).unwrap()), expected);
        // A good signature under the bad key's bytes still fails; a valid key still works.
        items[5] = claims(6)[5].clone();
        items[6] = claims(7)[6].clone();
        assert!(failures(&items, &Workers::sequential()).is_empty());
    }

    #[test]
    fn packed_claims_must_agree_on_the_count() {
        let (data, offsets) = crate::entries::pack(&[b"a", b"b"]);
        let messages = PackedEntries::new(&data, &offsets).unwrap();
        let err = |keys: &[u8], sigs: &[u8]| {
            PackedClaims::new(keys, sigs, messages)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[0; 63], &[0; 128]).contains("whole 32-byte keys, got 63 bytes"));
        assert!(err(&[0; 64], &[0; 127]).contains("2 public keys (128 bytes), got 127"));
        assert!(err(&[0; 96], &[0; 192]).contains("offsets describe 2 messages but there are 3"));
        let claims = PackedClaims::new(&[7; 64], &[9; 128], messages).unwrap();
        assert_eq!(
            (
                claims.len(),
                claims.get(1).message,
                claims.get(1).signature.len()
            ),
            (2, &b"b"[..], 64)
        );
    }

    #[test]
    fn wrong_lengths_fail_instead_of_panicking() {
        let items = claims(2);
        let short = SignedMessage {
            public_key: &items[0].0[..31],
            message: &items[0].1,
            signature: &items[0].2,
        };
        let long_sig = [items[1].2.as_slice(), b"x"].concat();
        let long = SignedMessage {
            public_key: &items[1].0,
            message: &items[1].1,
            signature: &long_sig,
        };
        let all = [short, long];
        assert_eq!(
            failed_signatures(2, |i| all[i], &Workers::sequential()),
            vec![0, 1]
        );
    }
}
