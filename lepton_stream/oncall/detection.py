"""Spike and drift detection over per-minute alert counts: pure functions, no I/O.

The alert monitor keeps one count per (minute, severity), (minute, terminal),
(minute, merchant) and (minute, score bin); these functions decide, from those
counts, whether the current minute is far from the recent baseline. A page
carries its evidence so that whoever reads it needs no other tool to see why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

MINUTE_MS = 60_000
SCORE_BINS = 10  # fraud score histogram: [0, 0.1), ..., [0.9, 1.0]


def minute_of(ts_ms: int) -> int:
    """Epoch minute of an epoch-millisecond time: the tumbling window an event falls in."""
    return int(ts_ms) // MINUTE_MS


def score_bin(score: float) -> int:
    return min(SCORE_BINS - 1, max(0, int(float(score) * SCORE_BINS)))


def hhmm(minute: int) -> str:
    """An epoch minute as people read it in a page."""
    return time.strftime("%H:%M UTC", time.gmtime(minute * 60))


def baseline_minutes(current: int, n: int) -> list[int]:
    """The `n` minutes before `current` (oldest first): the recent baseline."""
    return list(range(current - n, current))


@dataclass(frozen=True)
class Page:
    """One `oncall-pages` message: what fired, when, and the numbers behind it."""

    kind: str  # alert_rate_spike | score_drift | latency_slo | feature_store_lost | rule_hits_spike
    minute: int  # epoch minute the evidence is about
    summary: str
    evidence: dict = field(default_factory=dict)
    severity: str = "page"
    schema_version: int = 1
    subject: str = ""  # what a kind that can page several times a minute is about (rule_hits_spike: the rule)

    @property
    def key(self) -> str:
        """One page per kind, minute (and subject): a restarted monitor does not page twice."""
        return f"{self.kind}|{self.minute}" + (f"|{self.subject}" if self.subject else "")

    def to_dict(self) -> dict:
        return asdict(self)


def rate_spike(minute: int, current: int, baseline: Sequence[int], factor: float, min_alerts: int) -> Page | None:
    """Page when this minute's alerts are at least `min_alerts` and `factor` times the
    baseline median (a median, so one earlier spike does not raise the bar)."""
    median = statistics.median(baseline) if baseline else 0.0
    bar = factor * max(float(median), 1.0)
    if current < min_alerts or current < bar:
        return None
    return Page("alert_rate_spike", minute,
                f"{current} risk alerts in minute {hhmm(minute)}, {current / max(median, 1.0):.1f}x the median of "
                f"the previous {len(baseline)} minutes ({median:g})",
                {"alerts": current, "baseline_median": median, "baseline": list(baseline), "factor": factor,
                 "threshold": bar, "min_alerts": min_alerts})


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Half the L1 distance between two histograms, each normalised: 0 same shape, 1 disjoint."""
    sp, sq = float(sum(p)), float(sum(q))
    if sp <= 0 or sq <= 0:
        return 0.0
    return 0.5 * sum(abs(a / sp - b / sq) for a, b in zip(p, q, strict=True))


def score_drift(minute: int, current: Sequence[int], baseline: Sequence[int], threshold: float,
                min_count: int) -> Page | None:
    """Page when the score histogram of this minute's alerts is far (total variation) from
    the baseline minutes' pooled histogram; both need `min_count` alerts to mean anything."""
    if sum(current) < min_count or sum(baseline) < min_count:
        return None
    tv = total_variation(current, baseline)
    if tv < threshold:
        return None
    return Page("score_drift", minute,
                f"fraud score distribution of minute {hhmm(minute)} moved {tv:.2f} (total variation) from the "
                f"baseline (threshold {threshold:g})",
                {"total_variation": round(tv, 4), "threshold": threshold, "current": list(current),
                 "baseline": list(baseline), "bins": [round(i / SCORE_BINS, 1) for i in range(SCORE_BINS)]})


def latency_breach(minute: int, p99_ms: float | None, slo_ms: float, task_id: str) -> Page | None:
    """Page when a task's reported p99 event->score latency is over the SLO."""
    if p99_ms is None or p99_ms <= slo_ms:
        return None
    return Page("latency_slo", minute, f"p99 latency {p99_ms:.0f} ms over the {slo_ms:.0f} ms SLO ({task_id})",
                {"p99_ms": p99_ms, "slo_ms": slo_ms, "task_id": task_id})


def store_lost(minute: int, state: str, reason: str, task_id: str) -> Page | None:
    """Page when a task reports its feature store lost (it has paused scoring)."""
    if state != "lost":
        return None
    return Page("feature_store_lost", minute, f"feature store lost, scoring paused ({task_id}): {reason}; "
                "run `lepton-stream features rebuild`", {"task_id": task_id, "reason": reason})


def is_fresh(minute: int, now_ms: int, max_age_min: int = 2) -> bool:
    """Pages are about now: a monitor catching up on old records (a fresh group reads
    from the earliest offset, a replay carries old times) updates its tables but
    does not page about minutes long gone."""
    return minute >= minute_of(now_ms) - max_age_min


def per_minute(counts: Mapping[int, int], minutes: Sequence[int]) -> list[int]:
    """Counts for these minutes, 0 where a minute saw nothing (quiet minutes are data too)."""
    return [int(counts.get(m, 0)) for m in minutes]


def pooled_histogram(hists: Mapping[int, Sequence[int]], minutes: Sequence[int]) -> list[int]:
    out = [0] * SCORE_BINS
    for m in minutes:
        for i, n in enumerate(hists.get(m, ())):
            out[i] += int(n)
    return out


def detect(minute: int, rate: Mapping[int, int], hists: Mapping[int, Sequence[int]], *, baseline_n: int,
           factor: float, min_alerts: int, drift_threshold: float) -> list[Page]:
    """Every page the counts call for in `minute` (spike, drift)."""
    base = baseline_minutes(minute, baseline_n)
    pages = [rate_spike(minute, int(rate.get(minute, 0)), per_minute(rate, base), factor, min_alerts),
             score_drift(minute, list(hists.get(minute, [0] * SCORE_BINS)), pooled_histogram(hists, base),
                         drift_threshold, min_alerts)]
    return [p for p in pages if p is not None]
