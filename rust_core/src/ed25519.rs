//! Bulk Ed25519 signature checks: many (public key, message, signature) triples in one call,
//! answering which of them fail; and bulk signing: many messages under one key in one call.
//!
//! Each triple is checked on its own against the cofactorless RFC 8032 equation `[s]B = R + [k]A`
//! with `s < L` and `R` compared byte for byte, which is what `ed25519-dalek`'s `verify` checks
//! and also what OpenSSL (and so `cryptography`) checks. The triples are spread over the workers.
//!
//! `verify` computes `R' = [s]B - [k]A` and compresses it to compare its encoding with `R`; the
//! compression divides by the point's `Z`, a field inversion that is about a fifth of the check.
//! [`failed_signatures`] does the same steps with `ed25519-dalek`'s and `curve25519-dalek`'s own
//! parts but compresses the `R'` of [`COMPRESS_CHUNK`] claims together, with one inversion shared
//! by Montgomery's trick (`EdwardsPoint::compress_batch_alloc`). Each `R'` and its encoding are
//! exactly what `verify` computes for that claim alone, so the verdicts are `verify`'s, whatever
//! else is in the chunk: unlike batch verification (below), nothing is combined but the
//! division. A property test holds the two to the same verdicts on valid, altered, torsioned and
//! malformed claims.
//!
//! Why not `verify_batch`: it is about twice as fast per core here, but its random linear
//! combination can cancel small-order (torsion) components, so a signature crafted with a
//! torsion component in `R` or in the key is rejected on its own yet accepted inside some batches
//! (see the ed25519-dalek README, "weak keys"). The gateway must accept exactly what an offline
//! verifier with `cryptography` accepts, so the verdicts here never depend on the batch.
//!
//! Where the CPU lacks AVX-512 IFMA, a key checked more than once is checked on another route
//! ([`Route::KeyTables`]): the same `R'` computed with eight times fewer doublings from tables
//! precomputed once per key (`crate::curve`, which says why the point is the same). The
//! agreement test runs every case on both routes.
//!
//! Decompressed keys are kept in a process-wide cache ([`KEY_CACHE_LIMIT`] keys, emptied when
//! full): a sensor signs many readings with one key, and decompressing it (a square root in the
//! field) costs about a quarter of a check. A cached key is exactly what
//! `VerifyingKey::from_bytes` returned for those 32 bytes (including "not a curve point"), so
//! the cache never changes a verdict.
//!
//! Signing ([`sign_messages`]) expands the 32-byte RFC 8032 seed once (a SHA-512) and signs each
//! message with it. Ed25519 signatures are deterministic (RFC 8032 section 5.1.6: the nonce is a
//! hash of the key's prefix and the message), so these are byte for byte the signatures
//! `cryptography`'s `Ed25519PrivateKey.sign` makes with the same seed.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;
use sha2::{Digest, Sha512};

use crate::curve::{recomputed_encodings, KeyTables};
use crate::entries::PackedEntries;
use crate::error::Error;
use crate::parallel::{Workers, PARALLEL_MIN_SIGNATURES};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an Ed25519 private key as RFC 8032 defines it (the seed the key is expanded from).
pub const SEED_LEN: usize = 32;

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

/// The field arithmetic curve25519-dalek does the checks with on this CPU: `"avx512ifma"`,
/// `"avx2"` or `"portable"` (64-bit integer code). A check costs about half as much with IFMA
/// as with AVX2 (docs/ed25519.md), so a per-core figure means little without this beside it.
///
/// This mirrors curve25519-dalek's own choice, which it does not expose: the vector backends
/// are compiled in on x86-64 unless `--cfg curve25519_dalek_backend` names `serial` or `fiat`;
/// the IFMA one when that cfg is `avx512` (as `.cargo/config.toml` sets) or when the build's
/// target features include IFMA; and among those compiled in, dalek takes IFMA when the CPU
/// has it (with AVX-512VL), else AVX2 when the CPU has it, else the portable code.
pub fn arithmetic() -> &'static str {
    #[cfg(all(
        target_arch = "x86_64",
        not(any(curve25519_dalek_backend = "serial", curve25519_dalek_backend = "fiat"))
    ))]
    {
        let ifma_built = cfg!(curve25519_dalek_backend = "avx512")
            || (cfg!(not(curve25519_dalek_backend = "simd"))
                && cfg!(target_feature = "avx512ifma")
                && cfg!(target_feature = "avx512vl"));
        if ifma_built
            && std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "avx512ifma";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "portable"
}

/// The most decompressed keys the process-wide cache holds (about 200 bytes each); when it is
/// full it is emptied, so hostile traffic naming ever new keys costs memory only up to here.
pub const KEY_CACHE_LIMIT: usize = 65_536;

/// The most keys the cache keeps [`KeyTables`] for (about 7.7 KB each, so at most about 32 MB).
/// A key gets them when it is checked a second time, in the same call or a later one; past this
/// many, further keys are checked on curve25519-dalek's path, which is as exact but slower.
pub const KEY_TABLES_LIMIT: usize = 4_096;

/// How the checks compute `[s]B − [k]A`; both give the same point, so the same verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// curve25519-dalek's `vartime_double_scalar_mul_basepoint`, for every claim.
    Dalek,
    /// [`KeyTables`] for keys checked more than once ([`KEY_TABLES_LIMIT`]), dalek for others.
    KeyTables,
}

impl Route {
    /// The route for this CPU: the key tables where it lacks AVX-512 IFMA (about 1.4 times
    /// dalek's AVX2 rate, measured side by side; docs/ed25519.md); dalek's where it has IFMA,
    /// whose vector code did a check in about 14 µs on such a machine: the key tables' 64-bit
    /// code has not been measured beside it there, so the measured route stays.
    pub fn for_this_cpu() -> Route {
        if arithmetic() == "avx512ifma" {
            Route::Dalek
        } else {
            Route::KeyTables
        }
    }
}

/// A key as the cache keeps it.
#[derive(Clone)]
struct CachedKey {
    /// `None`: these 32 bytes are not a curve point, and the key fails every signature.
    key: Option<VerifyingKey>,
    /// The key's tables, once it has been checked twice (and the limit allowed them).
    tables: Option<Arc<KeyTables>>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<[u8; PUBLIC_KEY_LEN], CachedKey>,
    /// How many of `keys` hold tables.
    with_tables: usize,
}

impl KeyCache {
    /// Keep what a call learnt of `key`, without losing what another call stored meanwhile:
    /// an entry already there keeps its tables and only gains `entry`'s; a new one is added
    /// while fewer than `key_limit` keys are held, with its tables while fewer than
    /// `tables_limit` entries have them.
    fn store(
        &mut self,
        key: [u8; PUBLIC_KEY_LEN],
        entry: &CachedKey,
        key_limit: usize,
        tables_limit: usize,
    ) {
        let room_for_tables = self.with_tables < tables_limit;
        let room_for_keys = self.keys.len() < key_limit;
        match self.keys.get_mut(&key) {
            Some(held) if held.tables.is_none() && entry.tables.is_some() && room_for_tables => {
                held.tables = entry.tables.clone();
                self.with_tables += 1;
            }
            Some(_) => {}
            None if room_for_keys => {
                let mut entry = entry.clone();
                if entry.tables.is_some() && !room_for_tables {
                    entry.tables = None;
                }
                self.with_tables += usize::from(entry.tables.is_some());
                self.keys.insert(key, entry);
            }
            None => {}
        }
    }
}

fn key_cache() -> &'static RwLock<KeyCache> {
    static CACHE: OnceLock<RwLock<KeyCache>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(KeyCache::default()))
}

/// Number of keys in the process-wide cache (for tests and diagnostics).
pub fn cached_keys() -> usize {
    key_cache()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .keys
        .len()
}

/// Number of keys in the process-wide cache with [`KeyTables`] (for tests and diagnostics).
pub fn cached_key_tables() -> usize {
    key_cache()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .with_tables
}

/// Whether the process-wide cache holds [`KeyTables`] for `key` (for tests and diagnostics).
pub fn has_key_tables(key: &[u8; PUBLIC_KEY_LEN]) -> bool {
    key_cache()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .keys
        .get(key)
        .is_some_and(|cached| cached.tables.is_some())
}

/// The decompressed keys of a call: `keys[slot[i]]` is claim `i`'s key, with no key when its
/// 32 bytes are not a curve point or the claim's key or signature has the wrong length
/// (`slot[i]` is then `NO_KEY`).
struct ResolvedKeys {
    keys: Vec<CachedKey>,
    slot: Vec<usize>,
}

const NO_KEY: usize = usize::MAX;

/// Look every distinct key up once: in the process-wide cache, else decompress it (and add it).
/// On [`Route::KeyTables`], a valid key checked for the second time (twice in this call, or
/// once before) gets its tables, while fewer than [`KEY_TABLES_LIMIT`] keys have them. A
/// poisoned lock is still usable: the map is only ever read, extended or emptied whole.
fn resolve_keys<'a, F>(count: usize, claim: &F, route: Route, workers: &Workers) -> ResolvedKeys
where
    F: Fn(usize) -> SignedMessage<'a>,
{
    let mut index: HashMap<[u8; PUBLIC_KEY_LEN], usize> = HashMap::new();
    let mut keys: Vec<CachedKey> = Vec::new();
    let mut uses: Vec<u32> = Vec::new();
    let mut cached_before: Vec<bool> = Vec::new();
    let mut slot = Vec::with_capacity(count);
    let mut distinct: Vec<[u8; PUBLIC_KEY_LEN]> = Vec::new();
    let room_for_tables = {
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
                let found = cache.keys.get(&key);
                cached_before.push(found.is_some());
                keys.push(found.cloned().unwrap_or(CachedKey {
                    key: None,
                    tables: None,
                }));
                uses.push(0);
                distinct.push(key);
            }
            uses[at] += 1;
            slot.push(at);
        }
        KEY_TABLES_LIMIT.saturating_sub(cache.with_tables)
    };
    let missing: Vec<usize> = (0..keys.len()).filter(|&at| !cached_before[at]).collect();
    for &at in &missing {
        keys[at].key = VerifyingKey::from_bytes(&distinct[at]).ok();
    }
    let upgrade: Vec<usize> = if route == Route::KeyTables {
        (0..keys.len())
            .filter(|&at| {
                keys[at].key.is_some()
                    && keys[at].tables.is_none()
                    && (cached_before[at] || uses[at] >= 2)
            })
            .take(room_for_tables)
            .collect()
    } else {
        Vec::new()
    };
    let build = |at: &usize| {
        let key = keys[*at]
            .key
            .as_ref()
            .expect("only valid keys are upgraded");
        KeyTables::new(&distinct[*at], &key.to_edwards()).map(Arc::new)
    };
    let built: Vec<Option<Arc<KeyTables>>> =
        if workers.parallel_for(upgrade.len(), PARALLEL_MIN_SIGNATURES) {
            workers.install(|| upgrade.par_iter().map(build).collect())
        } else {
            upgrade.iter().map(build).collect()
        };
    for (&at, tables) in upgrade.iter().zip(built) {
        keys[at].tables = tables;
    }
    if !missing.is_empty() || !upgrade.is_empty() {
        let mut cache = key_cache()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.keys.len() + missing.len() > KEY_CACHE_LIMIT {
            cache.keys.clear();
            cache.with_tables = 0;
        }
        for &at in missing.iter().chain(&upgrade) {
            cache.store(distinct[at], &keys[at], KEY_CACHE_LIMIT, KEY_TABLES_LIMIT);
        }
    }
    ResolvedKeys { keys, slot }
}

/// Claims whose `R'` are compressed together (one field inversion for all of them), at most:
/// large enough that the shared inversion costs little per claim, small enough to spread a few
/// hundred claims over the workers.
pub const COMPRESS_CHUNK: usize = 32;

/// `verify`'s steps for one claim before the curve arithmetic: `(R, s, k)` with `s < L` and
/// `k = SHA-512(R || A || M) mod L` over `A`'s 32 bytes as sent; `None` when the claim fails
/// before any curve arithmetic (a signature of the wrong length, `s` not below `L`).
fn challenge(claim: &SignedMessage<'_>, key: &VerifyingKey) -> Option<([u8; 32], Scalar, Scalar)> {
    let signature = <&[u8; SIGNATURE_LEN]>::try_from(claim.signature).ok()?;
    let (r, s) = signature.split_at(32);
    let r: [u8; 32] = r.try_into().ok()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s.try_into().ok()?))?;
    let mut hash = Sha512::new();
    hash.update(r);
    hash.update(key.as_bytes());
    hash.update(claim.message);
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&hash.finalize());
    Some((r, s, Scalar::from_bytes_mod_order_wide(&wide)))
}

/// Indices (ascending) of the claims `range` whose signature does not verify.
fn failed_in_chunk<'a, F>(
    range: std::ops::Range<usize>,
    claim: &F,
    resolved: &ResolvedKeys,
) -> Vec<usize>
where
    F: Fn(usize) -> SignedMessage<'a>,
{
    let mut failed = Vec::new();
    // Claims on dalek's path: R' and the expected R; on the key tables' path: the inputs.
    let mut points = Vec::with_capacity(range.len());
    let mut expected = Vec::with_capacity(range.len());
    let mut tabled = Vec::new();
    let mut tabled_expected = Vec::new();
    for i in range {
        let cached = match resolved.slot[i] {
            NO_KEY => None,
            at => Some(&resolved.keys[at]),
        };
        let Some((key, cached)) = cached.and_then(|c| c.key.as_ref().map(|k| (k, c))) else {
            failed.push(i);
            continue;
        };
        let Some((r, s, k)) = challenge(&claim(i), key) else {
            failed.push(i);
            continue;
        };
        match &cached.tables {
            Some(tables) => {
                tabled.push((tables.as_ref(), s.to_bytes(), k.to_bytes()));
                tabled_expected.push((i, r));
            }
            None => {
                let minus_a = -key.to_edwards();
                points.push(EdwardsPoint::vartime_double_scalar_mul_basepoint(
                    &k, &minus_a, &s,
                ));
                expected.push((i, r));
            }
        }
    }
    let compressed = EdwardsPoint::compress_batch_alloc(&points);
    failed.extend(
        expected
            .iter()
            .zip(&compressed)
            .filter(|((_, r), found)| found.as_bytes() != r)
            .map(|((i, _), _)| *i),
    );
    let recomputed = recomputed_encodings(&tabled);
    failed.extend(
        tabled_expected
            .iter()
            .zip(&recomputed)
            .filter(|((_, r), found)| *found != r)
            .map(|((i, _), _)| *i),
    );
    failed.sort_unstable();
    failed
}

/// Indices (ascending) of the claims whose signature does not verify, among `count` claims
/// produced by `claim(i)`: the claims `ed25519-dalek`'s `verify` rejects (module docstring),
/// by the route that is faster on this CPU ([`Route::for_this_cpu`]).
pub fn failed_signatures<'a, F>(count: usize, claim: F, workers: &Workers) -> Vec<usize>
where
    F: Fn(usize) -> SignedMessage<'a> + Sync,
{
    static ROUTE: OnceLock<Route> = OnceLock::new();
    failed_signatures_by(
        *ROUTE.get_or_init(Route::for_this_cpu),
        count,
        claim,
        workers,
    )
}

/// [`failed_signatures`] by a given route (for tests and benchmarks: the verdicts are the
/// same on both).
pub fn failed_signatures_by<'a, F>(
    route: Route,
    count: usize,
    claim: F,
    workers: &Workers,
) -> Vec<usize>
where
    F: Fn(usize) -> SignedMessage<'a> + Sync,
{
    let resolved = resolve_keys(count, &claim, route, workers);
    let parallel = workers.parallel_for(count, PARALLEL_MIN_SIGNATURES);
    // Spread over the workers, a call smaller than a chunk per thread is cut into one chunk per
    // thread, so that handing it to the pool never leaves it on one thread.
    let size = if parallel {
        COMPRESS_CHUNK.min(count.div_ceil(workers.threads()))
    } else {
        COMPRESS_CHUNK
    };
    let chunk = |c: usize| {
        let start = c * size;
        failed_in_chunk(start..count.min(start + size), &claim, &resolved)
    };
    let chunks = count.div_ceil(size);
    let per_chunk: Vec<Vec<usize>> = if parallel {
        workers.install(|| (0..chunks).into_par_iter().map(chunk).collect())
    } else {
        (0..chunks).map(chunk).collect()
    };
    per_chunk.concat()
}

/// The signatures of `count` messages produced by `message(i)`, in order, all by the key whose
/// RFC 8032 seed is `seed` (expanded once). Fails only when `seed` is not 32 bytes.
pub fn sign_messages<'a, F>(
    seed: &[u8],
    count: usize,
    message: F,
    workers: &Workers,
) -> Result<Vec<[u8; SIGNATURE_LEN]>, Error>
where
    F: Fn(usize) -> &'a [u8] + Sync,
{
    let seed = <[u8; SEED_LEN]>::try_from(seed).map_err(|_| Error::InvalidArgument {
        detail: format!("seed must be 32 bytes, got {}", seed.len()),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let sign = |i: usize| key.sign(message(i)).to_bytes();
    Ok(if workers.parallel_for(count, PARALLEL_MIN_SIGNATURES) {
        workers.install(|| {
            (0..count)
                .into_par_iter()
                .with_min_len(PARALLEL_MIN_SIGNATURES / 2)
                .map(sign)
                .collect()
        })
    } else {
        (0..count).map(sign).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// 32 bytes that are not a curve point: `y = 0x0202…02` has no `x`. (`[0xff; 32]`, which
    /// these tests used to take for one, is the point with `y = 18`.)
    const NOT_A_POINT: [u8; 32] = [2; 32];

    #[test]
    fn not_a_point_is_not_a_point() {
        assert!(VerifyingKey::from_bytes(&NOT_A_POINT).is_err());
        assert!(VerifyingKey::from_bytes(&[0xff; 32]).is_ok());
    }

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
        items[71].0 = NOT_A_POINT;
        items[299].0 = items[0].0; // another signer's key
        let expected = vec![3, 70, 71, 299];
        assert_eq!(failures(&items, &Workers::sequential()), expected);
        assert_eq!(failures(&items, &Workers::new(Some(2)).unwrap()), expected);
        assert!(failures(&claims(0), &Workers::sequential()).is_empty());
    }

    #[test]
    fn cached_keys_give_the_same_verdicts_on_later_calls() {
        let mut items = claims(40);
        items[5].0 = NOT_A_POINT; // cached as such
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
    fn names_the_arithmetic_this_cpu_gets() {
        let name = arithmetic();
        assert!(["avx512ifma", "avx2", "portable"].contains(&name), "{name}");
        #[cfg(target_arch = "x86_64")]
        {
            let ifma = std::arch::is_x86_feature_detected!("avx512ifma")
                && std::arch::is_x86_feature_detected!("avx512vl");
            let avx2 = std::arch::is_x86_feature_detected!("avx2");
            // The build's cfg (`.cargo/config.toml`) compiles the IFMA backend in: a CPU with
            // IFMA gets it, one with only AVX2 gets AVX2.
            if cfg!(curve25519_dalek_backend = "avx512") {
                let expected = match (ifma, avx2) {
                    (true, _) => "avx512ifma",
                    (false, true) => "avx2",
                    (false, false) => "portable",
                };
                assert_eq!(name, expected);
            }
            if !avx2 {
                assert_ne!(name, "avx2");
            }
        }
    }

    #[test]
    fn a_key_gets_tables_when_checked_a_second_time() {
        let signer = |seed: u8| SigningKey::from_bytes(&[seed; 32]);
        let claim = |key: &SigningKey, text: &str| {
            let message = text.as_bytes().to_vec();
            let signature = key.sign(&message).to_bytes();
            (key.verifying_key().to_bytes(), message, signature)
        };
        let run = |route: Route, items: &[([u8; 32], Vec<u8>, [u8; 64])]| {
            let claim = |i: usize| SignedMessage {
                public_key: &items[i].0,
                message: &items[i].1,
                signature: &items[i].2,
            };
            failed_signatures_by(route, items.len(), claim, &Workers::sequential())
        };
        // Seeds no other test uses: the cache is the process's.
        let (once, twice, later, dalek) = (signer(201), signer(202), signer(203), signer(204));
        let mut items = vec![
            claim(&once, "a"),
            claim(&twice, "b"),
            claim(&twice, "c"),
            claim(&later, "d"),
            claim(&dalek, "e"),
            claim(&dalek, "f"),
        ];
        items[2].2[5] ^= 1;
        let dalek_items = items.split_off(4);
        assert_eq!(run(Route::KeyTables, &items), vec![2]);
        assert_eq!(run(Route::Dalek, &dalek_items), Vec::<usize>::new());
        let has = |key: &SigningKey| has_key_tables(&key.verifying_key().to_bytes());
        // Twice in one call: tables. Once: not yet. The dalek route never builds them.
        assert!(has(&twice) && !has(&once) && !has(&later) && !has(&dalek));
        // A later call finds `later` in the cache: it is checked a second time, so it gets them.
        assert_eq!(run(Route::KeyTables, &items[3..]), Vec::<usize>::new());
        assert!(has(&later));
        // With tables, the verdicts are the same: the altered claim still fails, on its own too.
        assert_eq!(run(Route::KeyTables, &items), vec![2]);
        assert_eq!(run(Route::KeyTables, &items[2..3]), vec![0]);
        // A key that is not a curve point never gets tables, and fails.
        let mut bad = items[0].clone();
        bad.0 = NOT_A_POINT;
        assert_eq!(
            run(Route::KeyTables, &[bad.clone(), bad.clone()]),
            vec![0, 1]
        );
        assert!(!has_key_tables(&bad.0));
    }

    #[test]
    fn the_cache_counts_tables_and_never_loses_them() {
        let key = SigningKey::from_bytes(&[205; 32]).verifying_key();
        let point = key.to_edwards();
        let tables = KeyTables::new(key.as_bytes(), &point).map(Arc::new);
        assert!(tables.is_some());
        let with = CachedKey {
            key: Some(key),
            tables,
        };
        let without = CachedKey {
            key: Some(key),
            tables: None,
        };
        let mut cache = KeyCache::default();
        cache.store([1; 32], &with, 10, 2);
        // Another call stores the same key without tables: it keeps them, the count holds.
        cache.store([1; 32], &without, 10, 2);
        assert!(cache.keys[&[1; 32]].tables.is_some());
        assert_eq!(cache.with_tables, 1);
        // A key stored without tables gains them later; one past the tables limit does not.
        cache.store([2; 32], &without, 10, 2);
        cache.store([2; 32], &with, 10, 2);
        cache.store([3; 32], &with, 10, 2);
        cache.store([2; 32], &with, 10, 2);
        assert_eq!(cache.with_tables, 2);
        assert!(cache.keys[&[3; 32]].tables.is_none() && cache.keys[&[3; 32]].key.is_some());
        // Past the key limit nothing new is added.
        cache.store([4; 32], &without, 3, 2);
        assert_eq!(cache.keys.len(), 3);
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

    /// RFC 8032 section 7.1, TEST 1-3: (secret key, public key, message, signature), hex.
    const RFC8032_7_1: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn signs_the_rfc_8032_test_vectors() {
        for (secret, public, message, signature) in RFC8032_7_1 {
            let (seed, message) = (unhex(secret), unhex(message));
            for workers in [Workers::sequential(), Workers::new(Some(2)).unwrap()] {
                let signed = sign_messages(&seed, 1, |_| &message, &workers).unwrap();
                assert_eq!(
                    signed,
                    vec![<[u8; 64]>::try_from(unhex(signature)).unwrap()]
                );
            }
            let key = <[u8; 32]>::try_from(unhex(public)).unwrap();
            assert_eq!(
                SigningKey::from_bytes(&seed.try_into().unwrap())
                    .verifying_key()
                    .to_bytes(),
                key
            );
        }
    }

    #[test]
    fn signs_many_messages_in_order_and_each_verifies() {
        let seed = [7u8; 32];
        let messages: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("watermark {i}").into_bytes())
            .collect();
        let one_by_one: Vec<[u8; 64]> = messages
            .iter()
            .map(|m| SigningKey::from_bytes(&seed).sign(m).to_bytes())
            .collect();
        for workers in [Workers::sequential(), Workers::new(Some(2)).unwrap()] {
            let signed = sign_messages(&seed, messages.len(), |i| &messages[i], &workers).unwrap();
            assert_eq!(signed, one_by_one);
        }
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let failures = failed_signatures(
            messages.len(),
            |i| SignedMessage {
                public_key: &public,
                message: &messages[i],
                signature: &one_by_one[i],
            },
            &Workers::sequential(),
        );
        assert!(failures.is_empty());
        assert!(
            sign_messages(&seed, 0, |i| &messages[i], &Workers::sequential())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_seed_of_the_wrong_length_is_refused() {
        for len in [0, 31, 33, 64] {
            let err =
                sign_messages(&vec![1; len], 0, |_| &b""[..], &Workers::sequential()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert_eq!(err.to_string(), format!("seed must be 32 bytes, got {len}"));
        }
    }
}
