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


def test_the_buffer_timeout_default_is_the_benchmarks_choice():
    """Among the defaults and the variants that change only the network buffer timeout,
    the default has the lowest median visible-alert p99 at 5,000/s (alert_knobs)."""
    knobs = json.loads((RESULTS / "pipeline.json").read_text())["alert_knobs"]
    default = Settings().job.buffer_timeout_ms
    p99 = {default if not k["changes"] else k["changes"]["buffer_timeout_ms"]: k["median"]["visible_alert_p99_ms"]
           for k in knobs if set(k["changes"]) <= {"buffer_timeout_ms"}}
    assert len(p99) >= 2, "alert_knobs compares no other buffer timeout"
    assert min(p99, key=p99.__getitem__) == default
