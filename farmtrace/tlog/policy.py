"""C2SP transparency-log trust policies (c2sp.org/tlog-policy), in plain Python.

A policy file names the logs a verifier accepts, the witnesses it knows and the quorum of
witness cosignatures a checkpoint needs::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <k|any|all> <member>...
    quorum <name|none>

Lines are split on runs of spaces and tabs; blank lines and lines starting with ``#`` are
ignored. A group or the quorum may only name witnesses and groups defined on earlier lines; a
name is defined once, listed at most once per group, and ``none`` is reserved; ``1 <= k <= n``;
exactly one quorum line; no two logs or two witnesses wrap the same public key. Log keys are
Ed25519 note keys (type 0x01), witness keys ``cosignature/v1`` keys (type 0x04). Only tab,
newline, 0x20-0x7E and bytes >= 0x80 may appear. :class:`MalformedPolicy` names the line.

:func:`check_checkpoint` applies a policy to a signed checkpoint note: a listed log (the key
named after the checkpoint's origin) must have signed it, and the valid cosignatures of the
listed witnesses must satisfy the quorum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint
from farmtrace.tlog.cosignature import Cosignature, CosignatureVerifier, cosignatures_of
from farmtrace.tlog.errors import MalformedCheckpoint, NoteError, TlogError
from farmtrace.tlog.note import Verifier

__all__ = [
    "MAX_ITEMS",
    "MalformedPolicy",
    "Policy",
    "PolicyResult",
    "PolicyWitness",
    "QuorumNotMet",
    "check_checkpoint",
]

MAX_ITEMS = 256
"""Most logs, witnesses and groups (each) a policy may define; the spec asks for at least 32."""

_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_DECIMAL = re.compile("[1-9][0-9]*")


class MalformedPolicy(TlogError):
    """A tlog-policy file that breaks the format (the message names the line)."""


class QuorumNotMet(TlogError):
    """A checkpoint whose witness cosignatures do not satisfy the policy's quorum."""


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    """A witness of a policy: its policy-local name, key and optional submission URL."""

    name: str
    key: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed tlog-policy. ``quorum`` is ``None`` for ``quorum none``."""

    logs: tuple[Verifier, ...]
    log_urls: tuple[str | None, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: dict[str, _Group] = field(repr=False)
    quorum: str | None

    @classmethod
    def parse(cls, data: str | bytes) -> Policy:
        """Parse a policy file; raise :class:`MalformedPolicy` naming the first bad line."""
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
        bad = _FORBIDDEN.search(raw)
        if bad is not None:
            line = raw[: bad.start()].count(b"\n") + 1
            raise MalformedPolicy(f"policy line {line}: control character {bad.group()!r}")
        text = raw.decode("utf-8", "surrogateescape")
        logs: list[Verifier] = []
        log_urls: list[str | None] = []
        witnesses: dict[str, PolicyWitness] = {}
        groups: dict[str, _Group] = {}
        quorum: str | None = None
        quorum_seen = False
        keys_seen: set[tuple[str, bytes]] = set()
        for number, text_line in enumerate(text.split("\n"), start=1):
            words = [w for w in text_line.replace("\t", " ").split(" ") if w]
            if not words or words[0].startswith("#"):
                continue

            def fail(why: str, number: int = number) -> MalformedPolicy:
                return MalformedPolicy(f"policy line {number}: {why}")

            keyword, args = words[0], words[1:]
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise fail("want 'log <vkey> [<url>]'")
                try:
                    log = Verifier.from_vkey(args[0])
                except NoteError as exc:
                    raise fail(f"log key: {exc}") from None
                if ("log", log.public_key) in keys_seen:
                    raise fail("the same log key is listed twice")
                keys_seen.add(("log", log.public_key))
                logs.append(log)
                log_urls.append(args[1] if len(args) == 2 else None)
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise fail("want 'witness <name> <vkey> [<url>]'")
                name = args[0]
                if name == "none" or name in witnesses or name in groups:
                    raise fail(f"the name {name!r} is reserved or already defined")
                try:
                    key = CosignatureVerifier.from_vkey(args[1])
                except NoteError as exc:
                    raise fail(f"witness {name}: {exc}") from None
                if ("witness", key.public_key) in keys_seen:
                    raise fail(f"witness {name}: the same witness key is listed twice")
                keys_seen.add(("witness", key.public_key))
                witnesses[name] = PolicyWitness(name, key, args[2] if len(args) == 3 else None)
            elif keyword == "group":
                if len(args) < 3:
                    raise fail("want 'group <name> <k|any|all> <member>...'")
                name, rule, members = args[0], args[1], tuple(args[2:])
                if name == "none" or name in witnesses or name in groups:
                    raise fail(f"the name {name!r} is reserved or already defined")
                for member in members:
                    if member not in witnesses and member not in groups:
                        raise fail(f"group {name}: {member!r} is not defined on an earlier line")
                if len(set(members)) != len(members):
                    raise fail(f"group {name}: a member is listed twice")
                if rule == "any":
                    k = 1
                elif rule == "all":
                    k = len(members)
                elif _DECIMAL.fullmatch(rule) and int(rule) <= len(members):
                    k = int(rule)
                else:
                    raise fail(f"group {name}: threshold {rule!r} is not any, all or 1..n")
                groups[name] = _Group(name, k, members)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise fail("want 'quorum <name|none>'")
                if quorum_seen:
                    raise fail("a second quorum line")
                quorum_seen = True
                if args[0] != "none" and args[0] not in witnesses and args[0] not in groups:
                    raise fail(f"quorum {args[0]!r} is not defined on an earlier line")
                quorum = None if args[0] == "none" else args[0]
            else:
                raise fail(f"unknown keyword {keyword[:40]!r}")
            if max(len(logs), len(witnesses), len(groups)) > MAX_ITEMS:
                raise fail(f"more than {MAX_ITEMS} logs, witnesses or groups")
        if not quorum_seen:
            raise MalformedPolicy("policy has no quorum line")
        return cls(tuple(logs), tuple(log_urls), tuple(witnesses.values()), groups, quorum)

    def witness_keys(self) -> list[CosignatureVerifier]:
        return [w.key for w in self.witnesses]

    def satisfied(self, cosigned: set[str]) -> bool:
        """Whether witnesses named ``cosigned`` (policy names) meet the quorum."""
        if self.quorum is None:
            return True
        by_name = {w.name for w in self.witnesses}

        def met(name: str) -> bool:
            if name in by_name:
                return name in cosigned
            group = self.groups[name]
            return sum(met(m) for m in group.members) >= group.threshold

        return met(self.quorum)


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """A checkpoint that passed a policy: its body, the log key that signed it, and which
    witnesses (policy name → cosignature) cosigned it."""

    checkpoint: Checkpoint
    log: Verifier
    cosigned: dict[str, Cosignature]
    quorum: str | None


def check_checkpoint(
    note: str | bytes,
    policy: Policy,
    *,
    extra_logs: tuple[Verifier, ...] = (),
    origin: str | None = None,
) -> PolicyResult:
    """Apply ``policy`` to a signed checkpoint note.

    The note must verify with a policy log key (or one of ``extra_logs``: keys the caller
    trusts through other means, such as hand-overs) named after its origin; its cosignatures
    from the policy's witnesses must all verify and meet the quorum. Raises the note and
    checkpoint errors for a bad note and :class:`QuorumNotMet` naming the witnesses that
    did cosign.
    """
    logs = [*policy.logs, *extra_logs]
    signed = open_checkpoint(note, logs, origin)
    checkpoint = signed.checkpoint
    first = signed.note.verified[0]
    log = next(v for v in logs if (v.name, v.key_id) == (first.name, first.key_id))
    if log.name != checkpoint.origin:
        raise MalformedCheckpoint(
            f"checkpoint origin {checkpoint.origin!r} is not the name of the log key "
            f"{log.name!r} that signed it"
        )
    by_key = {(w.key.name, w.key.key_id): w.name for w in policy.witnesses}
    cosigned = {by_key[(c.name, c.key_id)]: c for c in cosignatures_of(note, policy.witness_keys())}
    if not policy.satisfied(set(cosigned)):
        named = ", ".join(sorted(cosigned)) or "none"
        raise QuorumNotMet(
            f"checkpoint of {checkpoint.origin} at size {checkpoint.size}: the witness quorum "
            f"{policy.quorum!r} is not met (cosigned by: {named})"
        )
    return PolicyResult(checkpoint, log, cosigned, policy.quorum)
