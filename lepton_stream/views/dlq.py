"""`lepton-stream dlq show`: the latest rejected events with their reasons."""

from __future__ import annotations

import time
from collections import Counter

from rich.table import Table

from lepton_stream.config import Settings
from lepton_stream.views.topic_tail import as_json, console, last_records


def show(s: Settings, limit: int = 20, reason: str | None = None) -> int:
    """Print the last `limit` DLQ records (optionally of one reason) and counts by reason; returns rows shown."""
    out = console()
    records = [r for m in last_records(s.kafka_bootstrap, s.topics.dlq, max(limit, 200))
               if (r := as_json(m.value())) is not None]
    by_reason = Counter(str(r.get("error_code")) for r in records)
    rows = [r for r in records if reason is None or r.get("error_code") == reason][-limit:]
    table = Table(title=f"{s.topics.dlq}: last {len(rows)} rejected events" + (f" ({reason})" if reason else ""),
                  title_justify="left")
    for col in ("time", "reason", "field", "source", "error", "original (card numbers masked)"):
        table.add_column(col, overflow="fold", no_wrap=col in ("time", "reason", "source"))
    for r in rows:
        ts = r.get("dlq_ts")
        when = time.strftime("%H:%M:%S", time.gmtime(ts / 1000)) if isinstance(ts, int) else "-"
        original = (r.get("original") or f"<binary, base64 {str(r.get('original_b64'))[:40]}...>")[:120]
        table.add_row(when, str(r.get("error_code")), str(r.get("error_field") or "-"),
                      f"{r.get('source_topic')}/{r.get('source_partition')}@{r.get('source_offset')}",
                      str(r.get("error")), original)
    out.print(table)
    summary = Table(title=f"by reason (last {len(records)} records)", title_justify="left")
    summary.add_column("reason")
    summary.add_column("count", justify="right")
    for code, n in by_reason.most_common():
        summary.add_row(code, f"{n:,}")
    out.print(summary)
    return len(rows)
