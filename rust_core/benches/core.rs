//! Criterion benches of the pure-Rust core: `cargo bench -p rust_core` (or `--bench core -- NAME`).
//!
//! - `tree_build/1M`: 1,000,000 entries of 120 bytes from one packed buffer, 1 thread and all.
//! - `tree_build_small`: the pool hand-off cost and the sizes around `PARALLEL_MIN_LEAVES`,
//!   sequential versus all threads, which is how that threshold was chosen.
//! - `proofs`: inclusion and consistency proofs of a 1M-leaf tree, and their verification.
//! - `ed25519`: 1,024 signature checks, 1 thread and all.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use rust_core::ed25519::{failed_signatures, SignedMessage};
use rust_core::entries::{pack, PackedEntries};
use rust_core::merkle::{verify_consistency, verify_inclusion, MerkleTree};
use rust_core::parallel::{available_threads, Workers};

const ENTRY_LEN: usize = 120;

fn entries(n: usize) -> (Vec<u8>, Vec<u8>) {
    let items: Vec<Vec<u8>> = (0..n)
        .map(|i| (0..ENTRY_LEN).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect();
    pack(&items)
}

fn tree_build(c: &mut Criterion) {
    let n = 1_000_000;
    let (data, offsets) = entries(n);
    let packed = PackedEntries::new(&data, &offsets).expect("valid layout");
    let mut group = c.benchmark_group("tree_build");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(n as u64));
    for threads in [1, available_threads()] {
        let workers = Workers::new(Some(threads)).expect("pool");
        group.bench_with_input(BenchmarkId::new("1M", threads), &workers, |b, w| {
            b.iter(|| MerkleTree::from_packed(black_box(&packed), w))
        });
    }
    group.finish();
}

fn tree_build_small(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree_build_small");
    group.measurement_time(Duration::from_secs(2));
    let pool = Workers::new(None).expect("pool");
    // The fixed cost of handing work to the pool and getting it back: what a small build would
    // pay on top of its hashing if it went parallel.
    group.bench_function("handoff", |b| {
        b.iter(|| pool.install(|| rayon::join(|| black_box(1), || black_box(2))))
    });
    // The same after the pool's threads have gone to sleep, as between a gateway's batches.
    group.bench_function("handoff_cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                std::thread::sleep(Duration::from_millis(5));
                let start = std::time::Instant::now();
                pool.install(|| rayon::join(|| black_box(1), || black_box(2)));
                total += start.elapsed();
            }
            total
        })
    });
    for n in [1024, 2048, 4096, 8192, 16384] {
        let (data, offsets) = entries(n);
        let packed = PackedEntries::new(&data, &offsets).expect("valid layout");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("sequential", n), &packed, |b, p| {
            b.iter(|| MerkleTree::from_packed(p, &Workers::sequential()))
        });
        // Parallel only from PARALLEL_MIN_LEAVES on; below it this equals `sequential`.
        group.bench_with_input(BenchmarkId::new("all_threads", n), &packed, |b, p| {
            b.iter(|| MerkleTree::from_packed(p, &pool))
        });
    }
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let n = 1_000_000u64;
    let (data, offsets) = entries(n as usize);
    let packed = PackedEntries::new(&data, &offsets).expect("valid layout");
    let tree = MerkleTree::from_packed(&packed, &Workers::new(None).expect("pool"));
    let (index, old) = (n / 3, n / 2 + 1);
    let inclusion = tree.inclusion_proof(index).expect("in range");
    let consistency = tree.consistency_proof(old).expect("in range");
    let (leaf, root, old_root) = (
        tree.leaf_hash(index).unwrap(),
        tree.root(),
        tree.root_at(old).unwrap(),
    );
    let mut group = c.benchmark_group("proofs");
    group.bench_function("inclusion_proof/1M", |b| {
        b.iter(|| tree.inclusion_proof(black_box(index)))
    });
    group.bench_function("consistency_proof/1M", |b| {
        b.iter(|| tree.consistency_proof(black_box(old)))
    });
    group.bench_function("verify_inclusion/1M", |b| {
        b.iter(|| verify_inclusion(&leaf, black_box(index), n, &inclusion, &root))
    });
    group.bench_function("verify_consistency/1M", |b| {
        b.iter(|| verify_consistency(black_box(old), n, &consistency, &old_root, &root))
    });
    group.finish();
}

fn ed25519(c: &mut Criterion) {
    let n = 1024;
    let keys: Vec<SigningKey> = (0..16u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let claims: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..n)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let message =
                format!("{{\"sensor\":{},\"seq\":{i},\"celsius\":21.5}}", i % 16).into_bytes();
            (
                key.verifying_key().to_bytes(),
                message.clone(),
                key.sign(&message).to_bytes(),
            )
        })
        .collect();
    let claim = |i: usize| SignedMessage {
        public_key: &claims[i].0,
        message: &claims[i].1,
        signature: &claims[i].2,
    };
    let mut group = c.benchmark_group("ed25519");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(n as u64));
    for threads in [1, available_threads()] {
        let workers = Workers::new(Some(threads)).expect("pool");
        group.bench_with_input(BenchmarkId::new("1024", threads), &workers, |b, w| {
            b.iter(|| failed_signatures(n, claim, w))
        });
    }
    group.finish();
}

criterion_group!(benches, tree_build, tree_build_small, proofs, ed25519);
criterion_main!(benches);
