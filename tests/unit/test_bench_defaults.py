"""The defaults the bench chooses are the defaults Settings has."""

from __future__ import annotations

import json

from lepton_stream.bench.run import RESULTS, mark_default, rounds_won
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
    """Against each variant that changes only the network buffer timeout, the defaults had
    the lower visible-alert p99 at 5,000/s in most rounds of alert_knobs."""
    knobs = json.loads((RESULTS / "pipeline.json").read_text())["alert_knobs"]
    others = [k["variant"] for k in knobs if k["changes"] and set(k["changes"]) == {"buffer_timeout_ms"}]
    assert others, "alert_knobs compares no other buffer timeout"
    for variant in others:
        won, rounds = rounds_won(knobs, variant)
        assert rounds >= 2 and won * 2 > rounds, (variant, won, rounds)


def test_rounds_are_paired_within_a_round():
    def run(rnd: int, p99: float) -> dict:
        return {"round": rnd, "visible_alert_p99_ms": p99}

    knobs = [{"variant": "defaults", "runs": [run(0, 100.0), run(1, 900.0), run(2, 300.0)]},
             {"variant": "other", "runs": [run(0, 200.0), run(2, 400.0)]}]
    # Round 1 has no pair; medians would favour neither, the pairs favour the defaults.
    assert rounds_won(knobs, "other") == (2, 2)
