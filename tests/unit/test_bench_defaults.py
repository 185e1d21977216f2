"""The defaults the bench chooses are the defaults Settings has."""

from __future__ import annotations

import json

from lepton_stream.bench.run import RESULTS, mark_default
from lepton_stream.config import Settings


def _row(ci: int, p99: float) -> dict:
    return {"checkpoint_interval_ms": ci, "at_half_saturation": {"visible_alert_p99_ms": p99}}


def test_the_longest_interval_within_the_goal_is_chosen():
    rows = mark_default([_row(200, 300.0), _row(500, 480.0), _row(1000, 900.0)])
    assert [r["default"] for r in rows] == [False, True, False]


def test_the_shortest_interval_when_none_meets_the_goal():
    rows = mark_default([_row(200, 700.0), _row(500, float("nan")), _row(1000, 900.0)])
    assert [r["default"] for r in rows] == [True, False, False]


def test_the_checkpoint_interval_default_is_the_benchmarks_choice():
    rows = json.loads((RESULTS / "pipeline.json").read_text())["alert_latency"]
    chosen = [r["checkpoint_interval_ms"] for r in rows if r["default"]]
    assert chosen == [Settings().job.checkpoint_interval_ms]
