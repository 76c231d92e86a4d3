//! Every RFC 9162 vector of transparency-dev/merkle's `testdata/`: happy paths verify, every
//! `wantErr` case is rejected. The folder is `<repo>/tests/vectors/rfc9162`, vendored unchanged
//! (source, commit and license in `tests/vectors/README.md`); a missing folder fails the test
//! rather than skipping it.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rust_core::merkle::{verify_consistency, verify_inclusion};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/rfc9162");
    assert!(
        dir.is_dir(),
        "RFC 9162 vectors not found at {} (expected tests/vectors/rfc9162 in the repo)",
        dir.display()
    );
    dir
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn b64(value: &Value, field: &str) -> Vec<u8> {
    let text = value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string"));
    STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{field} is not base64: {e}"))
}

fn proof(value: &Value) -> Vec<Vec<u8>> {
    match &value["proof"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h.as_str().expect("proof item is a string"))
                    .expect("base64")
            })
            .collect(),
        other => panic!("proof is neither null nor a list: {other}"),
    }
}

fn int(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not an unsigned integer"))
}

/// Runs every vector of one kind; returns (happy paths, rejections) checked.
fn run(kind: &str, check: impl Fn(&Value) -> bool) -> (usize, usize) {
    let mut files = Vec::new();
    json_files(&vectors_dir().join(kind), &mut files);
    files.sort();
    let (mut happy, mut rejected) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable vector");
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        let want_err = value["wantErr"].as_bool().expect("wantErr is a bool");
        let verified = check(&value);
        if verified == want_err {
            failures.push(format!(
                "{} (wantErr {want_err}, verified {verified})",
                file.display()
            ));
        }
        if want_err {
            rejected += 1;
        } else {
            happy += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "vectors with the wrong verdict:\n{}",
        failures.join("\n")
    );
    (happy, rejected)
}

#[test]
fn every_inclusion_vector() {
    let (happy, rejected) = run("inclusion", |v| {
        let p = proof(v);
        let (leaf, root) = (b64(v, "leafHash"), b64(v, "root"));
        verify_inclusion(&leaf, int(v, "leafIdx"), int(v, "treeSize"), &p, &root).is_ok()
    });
    assert!(
        happy >= 6 && rejected >= 90,
        "only {happy} happy paths and {rejected} rejections"
    );
}

#[test]
fn every_consistency_vector() {
    let (happy, rejected) = run("consistency", |v| {
        let p = proof(v);
        let (root1, root2) = (b64(v, "root1"), b64(v, "root2"));
        verify_consistency(int(v, "size1"), int(v, "size2"), &p, &root1, &root2).is_ok()
    });
    assert!(
        happy >= 6 && rejected >= 90,
        "only {happy} happy paths and {rejected} rejections"
    );
}
