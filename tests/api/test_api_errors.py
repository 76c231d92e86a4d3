"""The one mapping from store errors to answers: each store error class gets its status, and a
missing reading, lot, block, checkpoint or chain is 404, never 503."""

from __future__ import annotations

import pytest
from support.api import GTIN, Served
from support.tamper import alter_reading_value

from farmtrace.api.errors import from_commerce_error, from_store_error
from farmtrace.commerce.errors import CommerceError, ErrorKind
from farmtrace.store import errors

# Each store error class, the status and code it is answered with, and whether the client sees
# the store's message (4xx) or only a fixed detail (5xx: messages may name files or URLs).
EXPECTED: dict[type[errors.StoreError], tuple[int, str, bool]] = {
    errors.NotFoundError: (404, "not-found", True),
    errors.InvalidEntryError: (400, "bad-request", True),
    errors.DeviceRegistryError: (409, "conflict", True),
    errors.StateConflictError: (409, "conflict", True),
    errors.DatabaseError: (503, "storage", False),
    errors.ChainMismatchError: (500, "inconsistent-store", False),
    errors.InconsistentCheckpointError: (500, "inconsistent-store", False),
    errors.KeyFileError: (500, "internal", False),
    errors.StoreError: (500, "internal", False),
}


def _all_subclasses(cls: type[errors.StoreError]) -> set[type[errors.StoreError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _all_subclasses(sub)
    return found


def test_every_store_error_class_has_a_decided_answer() -> None:
    # A new store error class must be added here, with the answer it should get.
    store_classes = {
        c for c in _all_subclasses(errors.StoreError) if c.__module__ == errors.__name__
    }
    assert store_classes == set(EXPECTED)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_store_error_maps_to_its_status(cls: type[errors.StoreError]) -> None:
    status, code, shows_message = EXPECTED[cls]
    answer = from_store_error(cls("sqlite:////srv/secret.db: what went wrong"))
    assert (answer.status, answer.code) == (status, code)
    assert ("secret.db" in answer.detail) == shows_message


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("invalid", 422, "invalid"), ("not-found", 404, "not-found"), ("conflict", 409, "conflict")],
)
def test_commerce_refusals_map_by_kind(kind: ErrorKind, status: int, code: str) -> None:
    answer = from_commerce_error(CommerceError("coupon 1: state abc is spent", kind))
    assert (answer.status, answer.code, answer.detail) == (
        status,
        code,
        "coupon 1: state abc is spent",
    )


def test_a_subclass_gets_its_parents_answer() -> None:
    class MissingBlock(errors.NotFoundError):
        pass

    assert from_store_error(MissingBlock("no block 9")).status == 404


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_app_answers_each_store_error_in_the_error_format(
    served: Served, cls: type[errors.StoreError]
) -> None:
    status, code, shows_message = EXPECTED[cls]

    def probe() -> None:
        raise cls("sqlite:////srv/secret.db: what went wrong")

    served.client.app.add_api_route(f"/probe/{cls.__name__}", probe)  # type: ignore[attr-defined]
    answer = served.client.get(f"/probe/{cls.__name__}")
    assert answer.status_code == status
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["error"] == code
    assert ("secret.db" in body["detail"]) == shows_message


def test_missing_things_are_404_not_503(served: Served) -> None:
    client = served.client
    for path in (
        "/v1/readings/60",  # the chain holds readings 0..59
        "/v1/readings/60/proof",
        "/v1/chains/farmtrace.example/api-test/readings/9999",
        "/v1/checkpoints/4",
        "/v1/consistency?from=1&to=4",
        f"/v1/lots/{GTIN}/NO-SUCH-LOT",
        "/v1/chains/no.such/origin/readings/0",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"] == "not-found"
    # A missing block, straight from the store's reader through the app's mapping.
    reader = client.app.state.farmtrace.chain(None)  # type: ignore[attr-defined]

    def block() -> None:
        reader.block(3)

    client.app.add_api_route("/probe/block", block)  # type: ignore[attr-defined]
    missing = client.get("/probe/block")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not-found",
        "detail": "no block 3 in chain farmtrace.example/api-test",
    }


def test_altered_batch_is_a_store_error_not_a_wrong_proof(served: Served) -> None:
    alter_reading_value(served.db_url, 25)
    for index in (25, 24):  # the altered entry and another of its block
        answer = served.client.get(f"/v1/readings/{index}/proof")
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "inconsistent-store",
            "detail": "the stored chain does not match what was signed",
        }
    assert served.client.get("/v1/readings/0/proof").status_code == 200  # another block
