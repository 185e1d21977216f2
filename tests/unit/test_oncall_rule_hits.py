"""Hits per live rule in the alert monitor: the rule spike page and the rules table (pure functions)."""

import pytest

from lepton_stream.config import Oncall, SettingsError
from lepton_stream.oncall.detection import Page
from lepton_stream.oncall.records import RuleCount
from lepton_stream.oncall.rule_hits import (
    KIND,
    RuleSeen,
    first_minute,
    merge_seen,
    paged_lately,
    rule_rows,
    rule_spike,
    seen,
    windows,
)

ONCALL = Oncall()  # 5-minute window, 60-minute baseline, 5x, at least 50 hits, 60 minutes of grace
NOW = 29_000_000  # an epoch minute


def _rule(first: int = NOW - 120, last: int = NOW, action: str = "alert", severity: str | None = "high") -> RuleSeen:
    return RuleSeen("big-ecom", 3, action, severity, first, last)


def _hits(base_per_min: int, recent: list[int], minute: int = NOW) -> dict[int, int]:
    """`base_per_min` hits in each of the 60 minutes before the short window, then `recent`."""
    out = {m: base_per_min for m in range(minute - 65 + 1, minute - 4)}
    out.update({minute - len(recent) + 1 + i: n for i, n in enumerate(recent)})
    return out


def test_a_rule_far_above_its_own_baseline_pages_with_its_evidence():
    page = rule_spike(NOW, _rule(), _hits(2, [30, 30, 40, 40, 60]), ONCALL)
    assert isinstance(page, Page) and page.kind == KIND and page.subject == "big-ecom"
    assert page.key == f"{KIND}|{NOW}|big-ecom"  # two rules in one minute are two pages
    ev = page.evidence
    assert (ev["rule"], ev["version"], ev["action"], ev["severity"]) == ("big-ecom", 3, "alert", "high")
    assert ev["hits"] == 200 and ev["per_minute"] == [30, 30, 40, 40, 60] and ev["window_min"] == 5
    assert ev["baseline_per_min"] == 2.0 and ev["baseline_minutes"] == 60 and ev["threshold_per_min"] == 10.0
    assert "rule big-ecom v3 (alert, high) matched 200 transactions" in page.summary
    assert "20.0x its baseline" in page.summary and "lepton-stream rules disable big-ecom" in page.summary


@pytest.mark.parametrize("base,recent", [
    (20, [90, 90, 90, 90, 90]),  # 450 hits: 4.5x its baseline, not over 5x
    (0, [0, 0, 0, 1, 1]),  # from 0 to 2 hits: over any multiple of 0, far under 50
    (0, [10, 10, 10, 10, 9]),  # 49 hits: one short
])
def test_no_page(base, recent):
    assert rule_spike(NOW, _rule(), _hits(base, recent), ONCALL) is None


def test_a_quiet_rule_that_wakes_up_pages():
    page = rule_spike(NOW, _rule(), _hits(0, [0, 0, 0, 20, 40]), ONCALL)
    assert page is not None and page.evidence["baseline_per_min"] == 0
    assert "with no hit in its baseline" in page.summary


def test_a_new_rule_has_a_grace_period_then_a_baseline_from_when_it_was_first_seen():
    hits = _hits(0, [100] * 5)
    assert rule_spike(NOW, _rule(first=NOW - 59), hits, ONCALL) is None  # first seen 59 minutes ago
    assert rule_spike(NOW, _rule(first=NOW - 60), hits, ONCALL) is not None
    # Its baseline starts when it was first seen: minutes before it went live are not quiet ones.
    recent, base = windows(NOW, _rule(first=NOW - 60), ONCALL)
    assert recent == list(range(NOW - 4, NOW + 1)) and base == list(range(NOW - 60, NOW - 4))
    assert windows(NOW, _rule(first=NOW - 500), ONCALL)[1] == list(range(NOW - 64, NOW - 4))
    assert first_minute(NOW, ONCALL) == NOW - 64
    assert rule_spike(NOW, _rule(first=NOW), hits, Oncall(rule_grace_min=0)) is not None


def test_the_thresholds_are_settings():
    hits = _hits(20, [90] * 5)
    assert rule_spike(NOW, _rule(), hits, Oncall(rule_spike_factor=4.0)) is not None
    assert rule_spike(NOW, _rule(), _hits(0, [1] * 5), Oncall(rule_spike_min_hits=5)) is not None
    with pytest.raises(SettingsError, match="LEPTON_RULE_SPIKE_MIN_HITS"):
        Oncall(rule_spike_min_hits=0)
    with pytest.raises(SettingsError, match="LEPTON_RULE_SPIKE_FACTOR"):
        Oncall(rule_spike_factor=float("nan"))


def test_one_spike_pages_once_per_short_window():
    assert paged_lately("big-ecom", NOW, ONCALL) == [f"{KIND}|{m}|big-ecom" for m in range(NOW - 4, NOW)]


def test_what_the_monitor_remembers_of_a_rule():
    count = RuleCount("big-ecom", 3, "alert", "high", 12)
    first = seen(None, count, NOW - 10)
    assert first == RuleSeen("big-ecom", 3, "alert", "high", NOW - 10, NOW - 10)
    later = seen(first.to_dict(), RuleCount("big-ecom", 4, "alert", "low", 0), NOW)
    assert (later.version, later.severity, later.first, later.last) == (4, "low", NOW - 10, NOW)
    # A late record (an earlier window) moves `first` back but never the version or `last`.
    late = seen(later.to_dict(), RuleCount("big-ecom", 3, "alert", "high", 1), NOW - 20)
    assert (late.version, late.first, late.last) == (4, NOW - 20, NOW)


def test_partitions_merge_into_one_rule():
    a = RuleSeen("r", 2, "alert", "high", NOW - 30, NOW - 1).to_dict()
    b = RuleSeen("r", 3, "suppress", None, NOW - 5, NOW).to_dict()
    merged = merge_seen([a, b, None, {"junk": 1}, {**a, "version": "2"}])
    assert merged == RuleSeen("r", 3, "suppress", None, NOW - 30, NOW)  # the latest record's rule, seen since -30
    assert merge_seen([None, "x", {"id": "r"}]) is None


def test_the_rules_table():
    rules = {"spiky": RuleSeen("spiky", 1, "alert", "high", NOW - 100, NOW),
             "steady": RuleSeen("steady", 2, "suppress", None, NOW - 100, NOW),
             "new": RuleSeen("new", 1, "alert", "low", NOW - 3, NOW),
             "gone": RuleSeen("gone", 5, "alert", "medium", NOW - 100, NOW - 30)}
    hits = {"spiky": _hits(1, [50] * 5), "steady": _hits(7, [7] * 5), "new": {NOW - 1: 80, NOW: 80}}
    rows = rule_rows(NOW, rules, hits, ONCALL)
    assert [(r["id"], r["state"]) for r in rows] == [("spiky", "spike"), ("new", "grace"), ("steady", "ok"),
                                                     ("gone", "not seen")]
    spiky = rows[0]
    assert (spiky["version"], spiky["action"], spiky["severity"]) == (1, "alert", "high")
    assert (spiky["hits_last_minute"], spiky["hits_window"], spiky["baseline_per_min"]) == (50, 250, 1.0)
    assert spiky["hits_last_hour"] == 5 * 50 + 55 * 1
    steady = rows[2]
    assert steady["severity"] is None and steady["hits_last_hour"] == 60 * 7 and steady["baseline_per_min"] == 7.0
    assert rows[3]["hits_window"] == 0 and rows[3]["last_seen"] == NOW - 30
