"""The alert monitor's tables as one JSON-able snapshot, and the small HTML page
that shows it: pure functions of the table contents, so they are unit-tested
without Kafka and the CLI could reuse them.

The page is a Jinja2 template (templates/oncall.html) with autoescaping on: every
value from a record is text in it, never markup. The snapshot also cleans what
it reads from the tables (ids cut to MAX_ID_CHARS, numbers only where numbers
belong), because tables recovered from a changelog may hold entries written
before the monitor validated its input (lepton_stream/oncall/records.py)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined

from lepton_stream.oncall.detection import SCORE_BINS, baseline_minutes, pooled_histogram
from lepton_stream.oncall.records import SEVERITIES, cap

TASK_NUMBERS = ("window_end", "events_in", "scored", "alerts", "dlq", "p99_ms", "lag_total")
COLOURS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#bcbd22", "now": "#1f77b4", "baseline": "#aaaaaa"}


def split_key(key: str) -> tuple[int, str]:
    """Table keys are "<epoch minute>|<what>|<source partition>": explicit tumbling
    one-minute windows. The partition is part of the key because Faust writes a
    table change to the changelog partition of the event being processed: a key
    updated from two partitions would recover whichever partition replays last."""
    minute, _, rest = str(key).partition("|")
    what, sep, _part = rest.rpartition("|")
    return int(minute), what if sep else rest


def merge_partitions(items: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Sum "<minute>|<what>|<partition>" entries into "<minute>|<what>"."""
    out: Counter[str] = Counter()
    for key, n in items:
        minute, what = split_key(key)
        out[f"{minute}|{what}"] += int(n)
    return list(out.items())


def by_minute(items: Iterable[tuple[str, int]]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for key, n in merge_partitions(items):
        minute, what = split_key(key)
        out.setdefault(minute, {})[what] = n
    return out


def top(counts: Mapping[int, Mapping[str, int]], minutes: Iterable[int], n: int = 10) -> list[tuple[str, int]]:
    total: Counter[str] = Counter()
    for m in minutes:
        total.update(counts.get(m, {}))
    return total.most_common(n)


def build_snapshot(now_minute: int, severity: Iterable[tuple[str, int]], terminal: Iterable[tuple[str, int]],
                   merchant: Iterable[tuple[str, int]], hists: Mapping[int, list[int]],
                   pipeline: Mapping[str, dict], pages: Iterable[dict], *, window: int = 15,
                   rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`rules`: the rules table's rows (lepton_stream/oncall/rule_hits.py rule_rows)."""
    sev, term, merch = by_minute(severity), by_minute(terminal), by_minute(merchant)
    minutes = list(range(now_minute - window + 1, now_minute + 1))
    rows = []
    for m in minutes:
        row = {s: sev.get(m, {}).get(s, 0) for s in SEVERITIES}
        rows.append({"minute": m, "ts": m * 60_000, **row, "total": sum(row.values())})
    return {
        "minute": now_minute,
        "alerts_per_minute": rows,
        "top_terminals": [{"terminal_id": cap(k), "alerts": v} for k, v in top(term, minutes)],
        "top_merchants": [{"merchant_id": cap(k), "alerts": v} for k, v in top(merch, minutes)],
        "score_histogram": {"bins": [round(i / SCORE_BINS, 1) for i in range(SCORE_BINS)],
                            "current": list(hists.get(now_minute, [0] * SCORE_BINS)),
                            "baseline": pooled_histogram(hists, baseline_minutes(now_minute, window))},
        "pipeline": sorted((_task(r) for r in pipeline.values() if isinstance(r, dict)),
                           key=lambda r: r["task_id"]),
        "rules": list(rules or []),
        "pages": sorted(pages, key=lambda p: (p.get("minute", 0), p.get("kind", "")), reverse=True)[:20],
    }


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _task(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A tasks-table entry as the page and /tables show it: a capped id; a number, None
    (the record had none) or "?" (it had something else) for each count."""
    out: dict[str, Any] = {"task_id": cap(str(rec.get("task_id")))}
    for k in TASK_NUMBERS:
        v = rec.get(k)
        out[k] = v if v is None or _is_number(v) else "?"
    lag = rec.get("lag")
    out["lag"] = {cap(str(k), 256): v for k, v in lag.items() if _is_number(v)} if isinstance(lag, dict) else {}
    return out


def hhmm(minute: object) -> str:
    return time.strftime("%H:%M", time.gmtime(int(cast(float, minute)) * 60)) if _is_number(minute) else "?"


def num(x: object) -> str:
    """A number as the page shows it; "-" when the record had none, "?" when it was not a number."""
    if x is None:
        return "-"
    return f"{float(x):.0f}" if _is_number(x) else "?"  # type: ignore[arg-type]


def bar_width(n: object, most: object) -> int:
    """Pixels of a count's bar: the largest count of its column is 200 px, any other count at least 1."""
    if not (_is_number(n) and _is_number(most)) or n <= 0 or most <= 0:  # type: ignore[operator]
        return 0
    return max(1, round(200 * n / most))  # type: ignore[operator]


_ENV = Environment(loader=PackageLoader("lepton_stream.oncall", "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(hhmm=hhmm, num=num)
_ENV.globals.update(bar_width=bar_width, colours=COLOURS, severities=SEVERITIES)


def render_html(snap: dict[str, Any]) -> str:
    """One self-contained page (no scripts, refreshes itself) an on-call person can open."""
    rows = snap["alerts_per_minute"]
    hist = snap["score_histogram"]
    return _ENV.get_template("oncall.html").render(
        snap=snap, most=max([r["total"] for r in rows] + [1]),
        hist_rows=list(zip(hist["bins"], hist["current"], hist["baseline"], strict=True)),
        hmost=max(hist["current"] + [1]), bmost=max(hist["baseline"] + [1]))
