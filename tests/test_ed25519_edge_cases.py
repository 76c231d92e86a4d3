"""Every Ed25519 verifier of farmtrace gives the same verdict on published edge cases.

The verifiers: the gateway's bulk check (``rust_core``, ed25519-dalek), the plain-Python
reference (``cryptography``, OpenSSL), the page verifier (``verifyEd25519`` of
farmtrace/api/web/static/page/entries.js, WebCrypto, run by node), and an implementation nobody
here wrote, Go's crypto/ed25519 (tests/interop/ed25519check, built offline). RFC 8032's own
reference code (tests/support/rfc8032.py) is checked too: it decodes public keys strictly and so
differs on exactly one case, named below (docs/ed25519.md).

The cases (tests/vectors/ed25519/, see tests/vectors/README.md): the twelve of "Taming the many
EdDSAs" (novifinancial/ed25519-speccheck: small-order and mixed-order keys and R, S >= L,
non-canonical R and A) with the verdicts that paper's results table gives OpenSSL, PyCA, Go and
Dalek, and Wycheproof's ed25519_test.json (151 tests with its own valid/invalid verdicts). The
verdict every verifier must give is the reference's: cofactorless ``[S]B = R + [k]A``, ``S < L``,
R compared as encoded, a key accepted when it decodes to a curve point even if not canonically
encoded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from array import array
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support import rfc8032

from farmtrace import rust_core

TESTS = Path(__file__).resolve().parent
VECTORS = TESTS / "vectors" / "ed25519"

# ed25519-speccheck's results.md, rows OpenSSL-3.0, PyCA, Go and Dalek (cases 0..11): accepted
# are the four small/mixed-order cases the cofactorless equation holds for, and case 11, a
# non-canonical encoding of a small-order key (x = 0 with the sign bit set) that is not reduced
# before hashing.
SPECCHECK_ACCEPTED = {0, 1, 2, 3, 11}

# The one case where RFC 8032's reference code (strict decoding of A) and the verifiers differ.
RFC8032_DIFFERS = {"speccheck-11"}


@dataclass(frozen=True)
class Case:
    id: str
    key: bytes
    msg: bytes
    sig: bytes
    valid: bool
    what: str

    def as_hex(self) -> dict[str, str]:
        return {"key": self.key.hex(), "msg": self.msg.hex(), "sig": self.sig.hex()}


def load_cases() -> list[Case]:
    speccheck = json.loads((VECTORS / "speccheck_cases.json").read_text())
    assert len(speccheck) == 12, "ed25519-speccheck has 12 cases"
    cases = [
        Case(
            f"speccheck-{i}",
            bytes.fromhex(c["pub_key"]),
            bytes.fromhex(c["message"]),
            bytes.fromhex(c["signature"]),
            i in SPECCHECK_ACCEPTED,
            f"ed25519-speccheck case {i}",
        )
        for i, c in enumerate(speccheck)
    ]
    wycheproof = json.loads((VECTORS / "wycheproof_ed25519_test.json").read_text())
    for group in wycheproof["testGroups"]:
        key = bytes.fromhex(group["publicKey"]["pk"])
        for test in group["tests"]:
            assert test["result"] in ("valid", "invalid"), test
            cases.append(
                Case(
                    f"wycheproof-{test['tcId']}",
                    key,
                    bytes.fromhex(test["msg"]),
                    bytes.fromhex(test["sig"]),
                    test["result"] == "valid",
                    f"Wycheproof tcId {test['tcId']} {test['flags']} {test['comment']}",
                )
            )
    assert len(cases) == 12 + wycheproof["numberOfTests"]
    return cases


CASES = load_cases()
EXPECTED = [c.valid for c in CASES]


def disagreements(name: str, verdicts: list[bool], expected: list[bool] = EXPECTED) -> list[str]:
    return [
        f"{name} {'accepts' if got else 'rejects'} {case.id} ({case.what})"
        for case, got, want in zip(CASES, verdicts, expected, strict=True)
        if got != want
    ]


def reference_verdict(case: Case) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(case.key).verify(case.sig, case.msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def gateway_verdicts(claims: list[Case], threads: int | None) -> list[bool]:
    """The gateway's call: one packed ``verify_ed25519_batch`` over every claim."""
    keys = b"".join(c.key if len(c.key) == 32 else bytes(32) for c in claims)
    sigs = b"".join(c.sig if len(c.sig) == 64 else bytes(64) for c in claims)
    offsets = array("Q", [0])
    for case in claims:
        offsets.append(offsets[-1] + len(case.msg))
    data = b"".join(c.msg for c in claims)
    failed = set(rust_core.verify_ed25519_batch(keys, sigs, data, offsets, threads=threads))
    return [i not in failed and len(c.sig) == 64 for i, c in enumerate(claims)]


def test_cases_hold_both_verdicts_and_every_kind_of_edge() -> None:
    """The set means something: many accepted and many rejected, every speccheck case."""
    assert sum(EXPECTED) >= 80 and EXPECTED.count(False) >= 60
    wrong_sizes = [c.id for c in CASES if len(c.sig) != 64 or len(c.key) != 32]
    assert wrong_sizes, "Wycheproof's truncated and padded signatures are among the cases"


def test_reference_gives_the_published_verdicts() -> None:
    assert disagreements("cryptography", [reference_verdict(c) for c in CASES]) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_gateway_bulk_check_agrees_with_the_reference(threads: int) -> None:
    assert disagreements("rust_core", gateway_verdicts(CASES, threads)) == []
    # Triples too (wrong lengths go in as they are), and again with every key now cached: on a
    # CPU without AVX-512 IFMA, every valid key then has its precomputed tables, so this last
    # call checks on rust_core's key-tables route (rust_core/src/curve.rs).
    failed = set(rust_core.verify_ed25519([(c.key, c.msg, c.sig) for c in CASES], threads))
    verdicts = [i not in failed for i in range(len(CASES))]
    assert disagreements("rust_core.verify_ed25519", verdicts) == []
    assert disagreements("rust_core (cached keys)", gateway_verdicts(CASES, threads)) == []


def test_gateway_verdict_does_not_depend_on_the_batch() -> None:
    """Each edge case alone, and hidden among valid signatures of the same keys, in reverse:
    the verdict is the same (no batch equation can let a torsion component cancel)."""
    alone = [gateway_verdicts([c], 1)[0] for c in CASES]
    assert disagreements("rust_core alone", alone) == []
    valid = [c for c in CASES if c.valid and len(c.sig) == 64]
    mixed: list[Case] = []
    for i, case in enumerate(reversed(CASES)):
        mixed += [case, valid[i % len(valid)]]
    verdicts = gateway_verdicts(mixed, 2)
    assert all(verdicts[1::2])
    assert disagreements("rust_core mixed", list(reversed(verdicts[0::2]))) == []


@pytest.mark.slow
def test_rfc8032_reference_code_differs_only_on_a_non_canonical_key() -> None:
    verdicts = [rfc8032.verify(c.key, c.msg, c.sig) for c in CASES]
    expected = [c.valid and c.id not in RFC8032_DIFFERS for c in CASES]
    assert disagreements("RFC 8032 reference", verdicts, expected) == []
    differs = [c for c in CASES if c.id in RFC8032_DIFFERS]
    assert [c.key[:1].hex() + ".." + c.key[-1:].hex() for c in differs] == ["ec..ff"]


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is needed: {hint}")
        pytest.skip(f"{name} is needed: {hint}")
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_page_verifier_agrees_with_the_reference(tmp_path: Path) -> None:
    node = _tool("node", "node 20 or later runs the page verifier (WebCrypto Ed25519)")
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps([c.as_hex() for c in CASES]))
    run = subprocess.run(
        [node, str(TESTS / "js" / "ed25519_verdicts.mjs"), str(claims)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert disagreements("page verifier (WebCrypto)", json.loads(run.stdout)) == []


@pytest.mark.integration
@pytest.mark.slow
def test_go_crypto_ed25519_agrees_with_the_reference(tmp_path: Path) -> None:
    go = _tool("go", "apt-get install golang-go (built offline, standard library only)")
    binary = tmp_path / "ed25519check"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(tmp_path / "gopath"),
        "GOCACHE": str(tmp_path / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=TESTS / "interop" / "ed25519check",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    run = subprocess.run(
        [str(binary)],
        input=json.dumps([c.as_hex() for c in CASES]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert disagreements("Go crypto/ed25519", json.loads(run.stdout)) == []
