"""The load generator never sends an id the job refuses: a load test measures scoring,
not the DLQ."""

import json

import pytest

from lepton_stream.schemas.transaction import InvalidEvent, check_id
from producers import load
from producers.load import LoadOptions, run_load


class _Collect:
    """A producer that keeps what it is given."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.values.append(value)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


@pytest.mark.parametrize("run_id", ["r3800-3078", "4020-0883", "r5000-1234-5678"])
def test_no_tx_id_of_a_fixed_rate_run_looks_like_a_card_number(monkeypatch, run_id):
    # Digit groups such as the bench's `r3800-3078` once joined the counter's digits
    # into a Luhn-valid 13-digit run in one tx_id of ten.
    sent = _Collect()
    monkeypatch.setattr(load, "_make_producer", lambda *a, **k: sent)
    run_load("unused:9092", "transactions", LoadOptions(rate=100_000, duration_s=0.6, cards=200, run_id=run_id))
    ids = [json.loads(v)["tx_id"] for v in sent.values]
    assert len(ids) == 60_000 and len(set(ids)) == len(ids)
    refused = [i for i in ids if isinstance(check_id("tx_id", i), InvalidEvent)]
    assert not refused, f"{len(refused)} tx_ids the job refuses, e.g. {refused[:3]}"
    assert all(i.startswith(f"{run_id}_") for i in ids)


@pytest.mark.parametrize(("field", "value"), [("run_id", "4020-0883-2820-8957"), ("run_id", "40200883282089"),
                                              ("run_id", "run{1}"), ("id_prefix", "4020088328208957-"),
                                              ("id_prefix", "x{")])
def test_options_whose_ids_the_job_refuses_are_refused_before_sending(field, value):
    with pytest.raises(ValueError, match=field):
        LoadOptions(**{field: value})


def test_produce_refuses_an_id_prefix_the_job_would_refuse_before_connecting(capsys):
    from lepton_stream import cli

    with pytest.raises(SystemExit, match=r"^--id-prefix 'x\{' makes ids the job refuses"):
        cli.main(["produce", "--id-prefix", "x{", "--duration", "1"])
