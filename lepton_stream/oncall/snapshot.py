"""The alert monitor's tables as one JSON-able snapshot, and the small HTML page
that shows it: pure functions of the table contents, so they are unit-tested
without Kafka and the CLI could reuse them."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lepton_stream.oncall.detection import SCORE_BINS, baseline_minutes, pooled_histogram

SEVERITIES = ("high", "medium", "low")


def parse_alert(value: bytes | str) -> dict[str, Any] | None:
    """An Alert v1 value as a dict, or None when it is not one (the monitor never crashes on input)."""
    try:
        alert = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(alert, dict) or "severity" not in alert or "alert_ts" not in alert:
        return None
    return alert


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
                   pipeline: Mapping[str, dict], pages: Iterable[dict], *, window: int = 15) -> dict[str, Any]:
    sev, term, merch = by_minute(severity), by_minute(terminal), by_minute(merchant)
    minutes = list(range(now_minute - window + 1, now_minute + 1))
    rows = []
    for m in minutes:
        row = {s: sev.get(m, {}).get(s, 0) for s in SEVERITIES}
        rows.append({"minute": m, "ts": m * 60_000, **row, "total": sum(row.values())})
    return {
        "minute": now_minute,
        "alerts_per_minute": rows,
        "top_terminals": [{"terminal_id": k, "alerts": v} for k, v in top(term, minutes)],
        "top_merchants": [{"merchant_id": k, "alerts": v} for k, v in top(merch, minutes)],
        "score_histogram": {"bins": [round(i / SCORE_BINS, 1) for i in range(SCORE_BINS)],
                            "current": list(hists.get(now_minute, [0] * SCORE_BINS)),
                            "baseline": pooled_histogram(hists, baseline_minutes(now_minute, window))},
        "pipeline": sorted(pipeline.values(), key=lambda r: str(r.get("task_id"))),
        "pages": sorted(pages, key=lambda p: (p.get("minute", 0), p.get("kind", "")), reverse=True)[:20],
    }


def _bar(n: int, most: int, colour: str) -> str:
    width = 0 if most <= 0 else max(1, round(200 * n / most)) if n else 0
    return f'<span class="bar" style="width:{width}px;background:{colour}"></span> {n}'


def render_html(snap: dict[str, Any]) -> str:
    """One self-contained page (no scripts, refreshes itself) an on-call person can open."""
    e = html.escape
    rows = snap["alerts_per_minute"]
    most = max([r["total"] for r in rows] + [1])
    colours = {"high": "#d62728", "medium": "#ff7f0e", "low": "#bcbd22"}
    per_minute = "".join(
        f"<tr><td>{e(_hhmm(r['minute']))}</td>"
        + "".join(f"<td>{_bar(r[s], most, colours[s])}</td>" for s in SEVERITIES)
        + f"<td>{r['total']}</td></tr>" for r in rows)
    hist = snap["score_histogram"]
    hmost = max(hist["current"] + [1])
    bmost = max(hist["baseline"] + [1])
    hist_rows = "".join(
        f"<tr><td>{b:.1f}</td><td>{_bar(c, hmost, '#1f77b4')}</td><td>{_bar(base, bmost, '#aaaaaa')}</td></tr>"
        for b, c, base in zip(hist["bins"], hist["current"], hist["baseline"], strict=True))
    terms = "".join(f"<tr><td>{e(t['terminal_id'])}</td><td>{t['alerts']}</td></tr>" for t in snap["top_terminals"])
    merch = "".join(f"<tr><td>{e(t['merchant_id'])}</td><td>{t['alerts']}</td></tr>" for t in snap["top_merchants"])
    tasks = "".join(
        f"<tr><td>{e(str(p.get('task_id')))}</td><td>{p.get('events_in', 0)}</td><td>{p.get('scored', 0)}</td>"
        f"<td>{p.get('alerts', 0)}</td><td>{p.get('dlq', 0)}</td><td>{_num(p.get('p99_ms'))}</td>"
        f"<td>{p.get('lag_total', 0)}</td></tr>" for p in snap["pipeline"])
    pages = "".join(
        f"<tr class='page'><td>{e(_hhmm(p['minute']))}</td><td>{e(p['kind'])}</td><td>{e(p['summary'])}</td></tr>"
        for p in snap["pages"]) or "<tr><td colspan=3>no pages</td></tr>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Lepton Stream on call</title><style>
body{{font:14px system-ui,sans-serif;margin:1.5em;color:#222}} h1{{font-size:20px}}
h2{{font-size:15px;margin:1em 0 .3em}} table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}}
.bar{{display:inline-block;height:10px;vertical-align:middle}} .grid{{display:flex;gap:3em;flex-wrap:wrap}}
tr.page td{{background:#fde8e8}}
</style></head><body><h1>Lepton Stream &mdash; on call (minute {e(_hhmm(snap['minute']))} UTC)</h1>
<h2>Pages (oncall-pages)</h2><table><tr><th>minute</th><th>kind</th><th>evidence</th></tr>{pages}</table>
<div class="grid"><div><h2>Risk alerts per minute</h2><table><tr><th>minute</th><th>high</th><th>medium</th>
<th>low</th><th>total</th></tr>{per_minute}</table></div>
<div><h2>Fraud score of alerts: this minute vs baseline</h2><table><tr><th>score</th><th>now</th>
<th>baseline</th></tr>{hist_rows}</table>
<h2>Top terminals (15 min)</h2><table><tr><th>terminal</th><th>alerts</th></tr>{terms}</table>
<h2>Top merchants (15 min)</h2><table><tr><th>merchant</th><th>alerts</th></tr>{merch}</table></div></div>
<h2>Scoring tasks (last pipeline-metrics record)</h2><table><tr><th>task</th><th>events in</th><th>scored</th>
<th>alerts</th><th>DLQ</th><th>p99 ms</th><th>lag</th></tr>{tasks}</table>
<p>JSON: <a href="/tables">/tables</a> &middot; <a href="/metrics">/metrics</a> &middot;
<a href="/health">/health</a></p></body></html>"""


def _hhmm(minute: int) -> str:
    import time

    return time.strftime("%H:%M", time.gmtime(minute * 60))


def _num(x: object) -> str:
    return "-" if x is None else f"{float(x):.0f}"  # type: ignore[arg-type]
