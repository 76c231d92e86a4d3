"""``farmtrace community`` against a real ``farmtrace api`` process: the barbershop founded
from its shipped rule file, a deposit and a service with the worked figures, a dividend, a
member's transfer signed with their wallet key, the member's statement downloaded and checked by ``farmtrace verify`` once a gateway's ledger has
anchored it; refusals print the API's reason and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.community_api import ADDR, KEYS, place_operator_seed
from support.tiles_serving import api_process

from farmtrace.cli import main
from farmtrace.store.ledger import Ledger
from farmtrace.wallet.keyfile import save_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "farmtrace.example/community-cli"


def test_the_operator_and_a_member_at_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'chain.db'}"
    with Ledger.open(db_url, tmp_path / "gw", ORIGIN) as ledger:
        vkey = ledger.verifier_key
    assert main(["api-keys", "create", "--db", db_url, "--name", "barbers",
                 "--scope", "community:write"]) == 0  # fmt: skip
    token = capsys.readouterr().out.strip()
    place_operator_seed(tmp_path / "api")
    with api_process(db_url, tmp_path / "api") as base:
        monkeypatch.setenv("FARMTRACE_API", base)
        monkeypatch.delenv("FARMTRACE_API_KEY", raising=False)
        rules = str(ROOT / "docs" / "communities" / "barbershop.json")
        assert main(["community", "create", "--rules", rules]) == 1
        assert "HTTP 401" in capsys.readouterr().err
        monkeypatch.setenv("FARMTRACE_API_KEY", token)
        assert main(["community", "create", "--rules", rules]) == 0
        assert "community barbershop founded" in capsys.readouterr().out
        customer, barber = ADDR["customer"], ADDR["barber"]
        assert main(["community", "deposit", "--member", customer, "--amount", "100000",
                     "--reference", "till 1"]) == 0  # fmt: skip
        assert "25000 tokens minted, supply 10025000" in capsys.readouterr().out
        assert main(["community", "service", "--member", barber, "--revenue", "10000",
                     "--cost", "5000", "--reference", "ticket 7"]) == 0  # fmt: skip
        assert "250 tokens minted, supply 10025250" in capsys.readouterr().out
        assert main(["community", "deposit", "--member", customer, "--amount", "-5",
                     "--reference", "x"]) == 1  # fmt: skip
        assert "amount: -5 is negative" in capsys.readouterr().err
        wallet = tmp_path / "customer.key"
        save_key(wallet, KEYS["customer"])
        assert main(["community", "transfer", "--file", str(wallet), "--to", barber,
                     "--amount", "5000"]) == 0  # fmt: skip
        assert "(transfer) of community barbershop" in capsys.readouterr().out
        assert main(["community", "transfer", "--file", str(wallet), "--to", barber,
                     "--amount", "999999"]) == 1  # fmt: skip
        assert "spends 999999 tokens but the balance is 20000" in capsys.readouterr().err
        assert main(["community", "distribute", "--surplus", "1002525", "--from-ms", "0",
                     "--until-ms", "1"]) == 0  # fmt: skip
        capsys.readouterr()
        with Ledger.open(db_url, tmp_path / "gw", ORIGIN) as ledger:
            ledger.append_batch([])
        out = tmp_path / "statement.json"
        assert main(["community", "statement", "--key", customer, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "balance 20000" in printed and "entry 2 deposit: +25000 tokens" in printed
        assert "(5 entries, 0 pending anchoring)" in printed
        assert json.loads(out.read_text())["member"] == customer
    assert main(["verify", str(out), "--key", vkey]) == 0
    assert "balance 20000, 1 distribution part (dividend 2000 CNY minor units)" in (
        capsys.readouterr().out
    )
