"""The alert monitor's spike and drift detection (pure functions)."""

import pytest

from lepton_stream.oncall.detection import (
    SCORE_BINS,
    Page,
    detect,
    latency_breach,
    minute_of,
    rate_spike,
    score_bin,
    score_drift,
    total_variation,
)


def test_minutes_and_bins():
    assert minute_of(0) == 0 and minute_of(59_999) == 0 and minute_of(60_000) == 1
    assert [score_bin(x) for x in (0.0, 0.05, 0.5, 0.99, 1.0, 1.7, -1)] == [0, 0, 5, 9, 9, 9, 0]


def test_a_spike_pages_with_its_evidence():
    page = rate_spike(100, 60, [2, 3, 1, 2, 40], factor=3.0, min_alerts=20)
    assert isinstance(page, Page) and page.kind == "alert_rate_spike" and page.key == "alert_rate_spike|100"
    # The median ignores the one earlier spike (40): the bar is 3 x 2.
    assert page.evidence["baseline_median"] == 2 and page.evidence["threshold"] == 6.0
    assert "60 risk alerts" in page.summary


@pytest.mark.parametrize("current,baseline", [
    (19, [0, 0, 0]),  # under min_alerts, however quiet the baseline
    (25, [10, 10, 10]),  # over min_alerts but under 3x the baseline
])
def test_no_spike(current, baseline):
    assert rate_spike(1, current, baseline, factor=3.0, min_alerts=20) is None


def test_an_empty_baseline_counts_as_one_alert_a_minute():
    assert rate_spike(1, 20, [], factor=3.0, min_alerts=20) is not None


def test_total_variation():
    assert total_variation([1, 0], [1, 0]) == 0
    assert total_variation([1, 0], [0, 5]) == 1
    assert total_variation([1, 1], [1, 0]) == pytest.approx(0.5)
    assert total_variation([0, 0], [1, 0]) == 0  # nothing to compare


def test_drift_needs_enough_alerts_and_a_real_shift():
    low = [0] * 5 + [30, 10, 0, 0, 0]
    high = [0] * 9 + [40]
    assert score_drift(7, high, low, 0.25, 20) is not None
    assert score_drift(7, low, low, 0.25, 20) is None
    assert score_drift(7, high[:-1] + [5], low, 0.25, 20) is None  # 5 alerts mean nothing


def test_latency_breach():
    assert latency_breach(1, 1500.0, 1000.0, "t").evidence["p99_ms"] == 1500.0
    assert latency_breach(1, 900.0, 1000.0, "t") is None and latency_breach(1, None, 1000.0, "t") is None


def test_detect_reads_quiet_minutes_as_zero():
    rate = {90: 2, 95: 1, 100: 50}
    hists = {90: [0] * 6 + [2, 0, 0, 0], 95: [0] * 6 + [1, 0, 0, 0], 100: [0] * 9 + [50]}
    kinds = {p.kind for p in detect(100, rate, hists, baseline_n=15, factor=3.0, min_alerts=20,
                                    drift_threshold=0.25)}
    assert kinds == {"alert_rate_spike"}  # the baseline's 3 alerts are too few to judge drift
    hists[95] = [0] * 6 + [30, 0, 0, 0]
    pages = detect(100, rate, hists, baseline_n=15, factor=3.0, min_alerts=20, drift_threshold=0.25)
    assert {p.kind for p in pages} == {"alert_rate_spike", "score_drift"}
    assert len(pages[1].evidence["current"]) == SCORE_BINS


def test_only_recent_minutes_page():
    from lepton_stream.oncall.detection import is_fresh

    now_ms = 100 * 60_000 + 5_000
    assert is_fresh(100, now_ms) and is_fresh(98, now_ms) and is_fresh(101, now_ms)
    assert not is_fresh(97, now_ms)
