"""A gateway's stable identity, kept in its state directory: gateway ID, chain origin, MQTT
client ID.

The MQTT client ID must not change between runs: the broker keeps the persistent session (our
subscription and every unacknowledged reading) under it. The origin names the chain and its
checkpoint key. Both are chosen on the first run (``gw-`` and 8 random hex digits unless given)
and recorded in ``<state>/gateway.json``; later runs reuse them and refuse a contradicting
``--gateway-id`` or ``--origin``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from farmtrace.gateway.ingest.errors import IngestError

__all__ = ["IDENTITY_FILE", "GatewayIdentity", "resolve_identity"]

IDENTITY_FILE = "gateway.json"
_GATEWAY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True)
class GatewayIdentity:
    gateway_id: str
    origin: str

    @property
    def client_id(self) -> str:
        """The MQTT client ID of this gateway's persistent session."""
        return f"farmtrace-{self.gateway_id}"

    def save(self, state_dir: Path) -> None:
        """Record the identity (atomically) unless it is already recorded."""
        path = state_dir / IDENTITY_FILE
        if path.exists():
            return
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(
                json.dumps({"gateway_id": self.gateway_id, "origin": self.origin}, indent=1) + "\n",
                encoding="utf-8",
            )
            os.replace(temporary, path)
        except OSError as exc:
            raise IngestError(f"cannot record the gateway identity in {path}: {exc}") from None


def resolve_identity(
    state_dir: Path, gateway_id: str | None, origin: str | None
) -> GatewayIdentity:
    """The recorded identity, or a new one from the arguments; raise on a contradiction."""
    path = state_dir / IDENTITY_FILE
    recorded: dict[str, str] | None = None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from None
    if recorded is not None:
        if not isinstance(recorded, dict) or not all(
            isinstance(recorded.get(k), str) for k in ("gateway_id", "origin")
        ):
            raise IngestError(f"{path} is not a gateway identity (gateway_id, origin)")
        identity = GatewayIdentity(recorded["gateway_id"], recorded["origin"])
        for given, kept, flag in (
            (gateway_id, identity.gateway_id, "--gateway-id"),
            (origin, identity.origin, "--origin"),
        ):
            if given is not None and given != kept:
                raise IngestError(
                    f"{flag} {given!r} contradicts {kept!r} recorded in {path}; a gateway keeps "
                    "its identity (use another state directory for another gateway)"
                )
        return identity
    gateway_id = gateway_id or f"gw-{secrets.token_hex(4)}"
    if not _GATEWAY_ID.fullmatch(gateway_id):
        raise IngestError(
            f"--gateway-id {gateway_id!r}: 1-63 ASCII letters, digits, '.', '_' or '-'"
        )
    return GatewayIdentity(gateway_id, origin or f"farmtrace.example/{gateway_id}")
