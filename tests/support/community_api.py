"""The value-community API for tests (``tests/community``): the barbershop's fixed keys, its
rule file, the API with the operator's seed in its state directory and an operator key
(``community:write``), and members' signed transfer statements."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.api.auth import create_key
from farmtrace.api.state import AppState
from farmtrace.commerce.community.entries import sign_transfer
from support.api import Served, serve

__all__ = [
    "ADDR",
    "KEYS",
    "NOW_MS",
    "SEEDS",
    "Community",
    "barbershop",
    "community_at",
    "seed_community",
]

ROOT = Path(__file__).resolve().parents[2]
# The fixed test keys the shipped rule files name (docs/community.md section 6; the seeds of
# scripts/make_community_vectors.py): operator a0.., investor a1.., team a2.., customer a3..,
# barber a4...
SEEDS = {"operator": "a0", "investor": "a1", "team": "a2", "customer": "a3", "barber": "a4"}
KEYS = {n: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s * 32)) for n, s in SEEDS.items()}
ADDR = {n: k.public_key().public_bytes_raw().hex() for n, k in KEYS.items()}
NOW_MS = 1_800_000_000_000


def barbershop() -> dict[str, Any]:
    """``docs/communities/barbershop.json``, as shipped."""
    value: dict[str, Any] = json.loads(
        (ROOT / "docs" / "communities" / "barbershop.json").read_text("utf-8")
    )
    return value


def place_operator_seed(state_dir: Path) -> None:
    """The barbershop's operator seed where the API looks for it, before founding."""
    folder = state_dir / "community-keys"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "barbershop.key"
    path.write_text(SEEDS["operator"] * 32 + "\n")
    os.chmod(path, 0o600)


@dataclass
class Community:
    """The served API with an operator key (``community:write``)."""

    served: Served
    operator: dict[str, str]

    @property
    def client(self) -> Any:
        return self.served.client

    @property
    def state(self) -> AppState:
        state: AppState = self.served.client.app.state.farmtrace
        return state

    def found(self) -> None:
        created = self.client.post("/v1/communities", json=barbershop(), headers=self.operator)
        assert created.status_code == 201, created.text

    def statement(self, sender: str, to: str, amount: int, prev: str = "", move: int = 0) -> str:
        """A transfer statement of ``sender`` (base64), from its current spend state."""
        view = self.client.get(f"/v1/communities/barbershop/members/{ADDR[sender]}").json()
        signed = sign_transfer(
            move or view["moves"] + 1,
            int(time.time() * 1000),
            "barbershop",
            ADDR[to],
            amount,
            prev or view["spend_state"],
            KEYS[sender],
        )
        return base64.b64encode(signed.payload).decode("ascii")


def community_at(url: str, tmp_path: Path) -> Iterator[Community]:
    place_operator_seed(tmp_path / "api")
    with serve(url, tmp_path) as served:
        key = create_key(served.client.app.state.farmtrace.database, "barbers", ["community:write"])
        yield Community(served, {"Authorization": f"Bearer {key}"})


def seed_community(state: AppState, client: Any, operator: dict[str, str]) -> None:
    """Found the barbershop through the API (``operator``: headers of a ``community:write``
    key), its operator key given to the API first; the investor and the team are members."""
    state.communities.keys.provide("barbershop", KEYS["operator"])
    created = client.post("/v1/communities", json=barbershop(), headers=operator)
    assert created.status_code == 201, created.text
