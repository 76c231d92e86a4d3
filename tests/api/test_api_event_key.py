"""The API's event-signing key is private like the gateway's (mode 0600, directory 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from farmtrace.store.errors import KeyFileError
from farmtrace.store.event_key import EVENT_KEY_FILE, create_event_key, load_event_key


def test_event_key_is_created_private_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "api" / "state"
    first = create_event_key(state)
    path = state / EVENT_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    again = create_event_key(state)  # an existing key is kept
    assert again.private_bytes_raw() == first.private_bytes_raw()
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="must be a regular file of mode 0600"):
        load_event_key(state)
