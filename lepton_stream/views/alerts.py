"""`lepton-stream alerts tail`: risk alerts as they are committed, filtered, in a live Rich table."""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lepton_stream.config import Settings
from lepton_stream.jsonout import dumps
from lepton_stream.views.topic_tail import as_json, console, follow

SEVERITY_STYLE = {"high": "bold red", "medium": "dark_orange", "low": "yellow"}


@dataclass(frozen=True)
class AlertFilter:
    severities: frozenset[str] = frozenset()  # empty: every severity
    card: str | None = None
    terminal: str | None = None

    def matches(self, alert: dict) -> bool:
        return ((not self.severities or alert.get("severity") in self.severities)
                and (self.card is None or alert.get("card_id") == self.card)
                and (self.terminal is None or alert.get("terminal_id") == self.terminal))


def _fmt_ts(ms: object) -> str:
    try:
        t = int(ms)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(t / 1000)) + f".{t % 1000:03d}"


def alerts_table(alerts: Iterable[dict], title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for col in ("alert time", "severity", "fraud", "credit", "card", "terminal", "amount", "latency ms",
                "top reasons (feature=value, z)", "model"):
        table.add_column(col, no_wrap=col not in ("top reasons (feature=value, z)",))
    for a in alerts:
        reasons = ", ".join(f"{r.get('feature')}={r.get('value')} (z {r.get('z')})" for r in a.get("reasons") or [])
        lat = (a.get("alert_ts") or 0) - (a.get("event_ts") or 0)
        table.add_row(_fmt_ts(a.get("alert_ts")), Text(str(a.get("severity")),
                                                        style=SEVERITY_STYLE.get(str(a.get("severity")), "")),
                      f"{float(a.get('fraud_score', 0)):.3f}", f"{float(a.get('credit_score', 0)):.3f}",
                      str(a.get("card_id")), str(a.get("terminal_id")), f"{float(a.get('amount', 0)):,.2f}",
                      str(lat), reasons, str(a.get("model_version", "")))
    return table


class FirstSightings:
    """Which alerts a reader has not shown yet, by tx_id: with at-least-once outputs a
    restarted job writes the alerts since its last checkpoint again (docs/design.md).
    Remembers the latest `capacity` tx_ids, far more than one replay writes."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: dict[str, None] = {}
        self._capacity = capacity

    def first(self, alert: dict) -> bool:
        tx = str(alert.get("tx_id"))
        if tx in self._seen:
            return False
        self._seen[tx] = None
        if len(self._seen) > self._capacity:
            del self._seen[next(iter(self._seen))]  # the oldest: dicts keep insertion order
        return True


def tail(s: Settings, flt: AlertFilter, *, rows: int = 20, from_beginning: bool = False, limit: int | None = None,
         timeout_s: float | None = None, json_lines: bool = False) -> int:
    """Follow `risk-alerts` until Ctrl-C, `limit` matching alerts or `timeout_s`; returns how many matched.
    `json_lines`: each matching alert as one JSON line, written the moment it is read
    (for pipes and scripts: the benchmark times alerts as a person tailing sees them)."""
    if json_lines:
        return _tail_json(s, flt, from_beginning, limit, timeout_s)
    out = console()
    shown: deque[dict] = deque(maxlen=rows)
    seen: Counter[str] = Counter()
    firsts = FirstSightings()
    matched = 0
    t0 = time.monotonic()
    title = (f"risk alerts ({s.topics.risk_alerts}, read_committed)"
             + (f" severity in {sorted(flt.severities)}" if flt.severities else "")
             + (f" card {flt.card}" if flt.card else "") + (f" terminal {flt.terminal}" if flt.terminal else ""))

    def render() -> Group:
        counts = "  ".join(f"{k}: {seen[k]}" for k in ("high", "medium", "low"))
        return Group(alerts_table(list(shown)[::-1], title),
                     Text(f"matched {matched}  seen by severity  {counts}  (Ctrl-C to stop)", style="dim"))

    with Live(render(), console=out, refresh_per_second=4, transient=False, auto_refresh=out.is_terminal) as live:
        try:
            for msg in follow(s.kafka_bootstrap, s.topics.risk_alerts, from_beginning):
                if msg is not None and (alert := as_json(msg.value())) is not None and firsts.first(alert):
                    seen[str(alert.get("severity"))] += 1
                    if flt.matches(alert):
                        shown.append(alert)
                        matched += 1
                        live.update(render(), refresh=True)  # at once, not at the next refresh tick
                if limit is not None and matched >= limit or timeout_s is not None and \
                        time.monotonic() - t0 > timeout_s:
                    break
        except KeyboardInterrupt:
            pass
        live.update(render(), refresh=True)
    return matched


def _tail_json(s: Settings, flt: AlertFilter, from_beginning: bool, limit: int | None,
               timeout_s: float | None) -> int:
    matched, t0, firsts = 0, time.monotonic(), FirstSightings()
    try:
        for msg in follow(s.kafka_bootstrap, s.topics.risk_alerts, from_beginning):
            if msg is not None and (alert := as_json(msg.value())) is not None and flt.matches(alert) \
                    and firsts.first(alert):
                sys.stdout.write(dumps(alert, separators=(",", ":")) + "\n")
                sys.stdout.flush()
                matched += 1
            if limit is not None and matched >= limit or timeout_s is not None and time.monotonic() - t0 > timeout_s:
                break
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return matched
