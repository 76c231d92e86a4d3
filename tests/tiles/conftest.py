"""The 300-block chain the tiles tests share, built once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.tiles_chain import BuiltChain, build_chain


@pytest.fixture(scope="module")
def chain300(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltChain]:
    tmp = tmp_path_factory.mktemp("chain300")
    yield build_chain(f"sqlite:///{tmp / 'chain.db'}", tmp / "gw", 300)
