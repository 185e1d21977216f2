"""Hits per live rule in the alert monitor: its rules table and the rule spike page.
Pure functions over the monitor's tables, no I/O.

Each scoring task lists, in every `pipeline-metrics` record, the hits of every
live rule it evaluated in that record's window, alert and suppress rules alike
(lepton_stream/pipeline/metrics.py). The monitor adds them up per minute and
rule, "<minute>|<rule id>|<source partition>" like its alert tables, and keeps
what it last heard of each rule per partition ("<rule id>|<partition>" ->
`RuleSeen`); `merge_seen` makes one rule of those.

A rule pages (`rule_hits_spike`) when its hits over the last
`rule_spike_window_min` minutes are at least `rule_spike_min_hits` and over
`rule_spike_factor` times its own rate over the `rule_baseline_min` minutes
before them, once it has been seen for `rule_grace_min` minutes: a new rule has
no baseline yet, and a rule going from 0 to 2 hits is not news.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from lepton_stream.config import Oncall
from lepton_stream.oncall.detection import Page, hhmm, per_minute
from lepton_stream.oncall.records import RuleCount, cap

KIND = "rule_hits_spike"


@dataclass(frozen=True)
class RuleSeen:
    """What the monitor last heard of a rule: its live version, and when it was seen first and last."""

    id: str
    version: int
    action: str
    severity: str | None
    first: int  # epoch minute of the first record that listed the rule
    last: int  # ... and of the latest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seen(previous: Mapping[str, Any] | None, count: RuleCount, minute: int) -> RuleSeen:
    """A partition's entry for a rule after one more record listed it at `minute`."""
    before = _seen(previous)
    if before is None:
        return RuleSeen(count.id, count.version, count.action, count.severity, minute, minute)
    if minute < before.last:  # a late record: it neither changes the rule nor moves `last` back
        return RuleSeen(**{**before.to_dict(), "first": min(before.first, minute)})
    return RuleSeen(count.id, count.version, count.action, count.severity, min(before.first, minute), minute)


def _seen(entry: Mapping[str, Any] | None) -> RuleSeen | None:
    """A table entry as a RuleSeen; None for anything else (the tables are read, never trusted)."""
    if not isinstance(entry, Mapping):
        return None
    try:
        rule = RuleSeen(**entry)
    except TypeError:
        return None
    numbers = (rule.version, rule.first, rule.last)
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in numbers) or not isinstance(rule.id, str):
        return None
    return rule


def merge_seen(entries: Iterable[Mapping[str, Any] | None]) -> RuleSeen | None:
    """One rule from its partitions' entries: as the latest record described it, first seen
    when any partition first saw it."""
    rules = [r for r in map(_seen, entries) if r is not None]
    if not rules:
        return None
    latest = max(rules, key=lambda r: (r.last, r.version))
    return RuleSeen(**{**latest.to_dict(), "first": min(r.first for r in rules)})


def windows(minute: int, rule: RuleSeen, o: Oncall) -> tuple[list[int], list[int]]:
    """The short window (ending with `minute`) and the baseline before it, from when the
    rule was first seen: minutes before it went live are not a quiet baseline."""
    recent = list(range(minute - o.rule_spike_window_min + 1, minute + 1))
    baseline = list(range(max(recent[0] - o.rule_baseline_min, rule.first), recent[0]))
    return recent, baseline


def first_minute(minute: int, o: Oncall) -> int:
    """The oldest minute detection reads at `minute`."""
    return minute - o.rule_spike_window_min - o.rule_baseline_min + 1


def in_grace(minute: int, rule: RuleSeen, o: Oncall) -> bool:
    return minute - rule.first < o.rule_grace_min


def rule_spike(minute: int, rule: RuleSeen, hits: Mapping[int, int], o: Oncall) -> Page | None:
    """Page when the rule's hits over the short window are far above its own baseline.
    `hits`: the rule's hits per minute (every partition)."""
    if in_grace(minute, rule, o):
        return None
    recent_m, base_m = windows(minute, rule, o)
    recent = per_minute(hits, recent_m)
    base_hits = sum(per_minute(hits, base_m))
    base_rate = base_hits / len(base_m) if base_m else 0.0
    rate = sum(recent) / len(recent_m)
    bar = o.rule_spike_factor * base_rate
    if sum(recent) < o.rule_spike_min_hits or rate <= bar:
        return None
    times = f"{rate / base_rate:.1f}x its baseline" if base_rate else "with no hit in its baseline"
    what = f"{rule.action}, {rule.severity}" if rule.severity else rule.action
    return Page(KIND, minute,
                f"rule {rule.id} v{rule.version} ({what}) matched {sum(recent)} transactions in the "
                f"{len(recent_m)} minutes to {hhmm(minute)}, {times} ({base_rate:.2f}/min over the previous "
                f"{len(base_m)} minutes); if the rule is wrong: lepton-stream rules disable {rule.id}",
                {"rule": rule.id, "version": rule.version, "action": rule.action, "severity": rule.severity,
                 "hits": sum(recent), "per_minute": recent, "window_min": len(recent_m),
                 "baseline_hits": base_hits, "baseline_minutes": len(base_m),
                 "baseline_per_min": round(base_rate, 4), "rate_per_min": round(rate, 4),
                 "factor": o.rule_spike_factor, "threshold_per_min": round(bar, 4),
                 "min_hits": o.rule_spike_min_hits, "first_seen_minute": rule.first},
                subject=rule.id)


def paged_lately(rule_id: str, minute: int, o: Oncall) -> list[str]:
    """Keys of this rule's pages over the short window before `minute`: one spike is one
    page, not one a minute for as long as the window still holds it."""
    return [Page(KIND, m, "", subject=rule_id).key for m in range(minute - o.rule_spike_window_min + 1, minute)]


def rule_rows(now: int, rules: Mapping[str, RuleSeen], hits: Mapping[str, Mapping[int, int]],
              o: Oncall) -> list[dict[str, Any]]:
    """The rules table of /tables and /ui: per rule its version, action and severity, its hits
    in the last complete minute, the last hour and the short window, its baseline rate and
    whether it spikes now ("spike"), is new ("grace"), or no task listed it lately ("not seen")."""
    rows = []
    for rule_id, rule in rules.items():
        h = hits.get(rule_id, {})
        recent_m, base_m = windows(now, rule, o)
        base = sum(per_minute(h, base_m)) / len(base_m) if base_m else 0.0
        if rule.last < now - o.rule_spike_window_min:
            state = "not seen"
        elif in_grace(now, rule, o):
            state = "grace"
        else:
            state = "spike" if rule_spike(now, rule, h, o) is not None else "ok"
        rows.append({"id": cap(rule_id), "version": rule.version, "action": cap(str(rule.action)),
                     "severity": cap(str(rule.severity)) if rule.severity else None,
                     "hits_last_minute": h.get(now - 1, 0),
                     "hits_last_hour": sum(per_minute(h, range(now - 59, now + 1))),
                     "hits_window": sum(per_minute(h, recent_m)), "baseline_per_min": round(base, 2),
                     "first_seen": rule.first, "last_seen": rule.last, "state": state})
    order = {"spike": 0, "ok": 1, "grace": 1, "not seen": 2}
    return sorted(rows, key=lambda r: (order[r["state"]], -r["hits_window"], r["id"]))
