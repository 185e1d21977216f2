"""`lepton-stream status`: each part's health, lag per partition, throughput, p99 and alert
rate (from the job's own `pipeline-metrics` records), as Rich tables."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from lepton_stream.config import Settings
from lepton_stream.views.topic_tail import as_json, console, last_records


@dataclass
class PipelineSummary:
    """The latest pipeline-metrics record of each task, added up."""

    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return sum(_per_s(t, "events_in") for t in self.tasks)

    @property
    def alerts_per_min(self) -> float:
        return 60 * sum(_per_s(t, "alerts") for t in self.tasks)

    @property
    def p99_ms(self) -> float | None:
        p99s = [t["latency_ms"]["p99"] for t in self.tasks if t.get("latency_ms")]
        return max(p99s) if p99s else None

    @property
    def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks:
            out.update(t.get("lag") or {})
        return out


def _per_s(rec: dict[str, Any], key: str) -> float:
    seconds = max(0.001, (rec.get("window_end", 0) - rec.get("window_start", 0)) / 1000)
    return float(rec.get(key) or 0) / seconds


def summarise(records: list[dict[str, Any]]) -> PipelineSummary:
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        task = str(rec.get("task_id"))
        if task not in latest or rec.get("window_end", 0) >= latest[task].get("window_end", 0):
            latest[task] = rec
    return PipelineSummary(sorted(latest.values(), key=lambda r: str(r.get("task_id"))))


def committed_lag(s: Settings) -> list[tuple[str, int, int, int | None]]:
    """(topic, partition, end offset, committed offset of the job's group) per input partition."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": s.job.consumer_group, "log_level": 0,
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        tps = []
        for topic in (s.topics.transactions, s.topics.fraud_labels):
            md = c.list_topics(topic, timeout=5).topics.get(topic)
            tps += [TopicPartition(topic, p) for p in (md.partitions if md and md.error is None else [])]
        committed = {(tp.topic, tp.partition): tp.offset for tp in c.committed(tps, timeout=5)} if tps else {}
        out = []
        for tp in tps:
            _, high = c.get_watermark_offsets(tp, timeout=5)
            off = committed.get((tp.topic, tp.partition))
            out.append((tp.topic, tp.partition, high, off if off is not None and off >= 0 else None))
        return out
    finally:
        c.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:
        return False


def render(s: Settings) -> int:
    from lepton_stream.stack import manager

    out = console()
    parts = manager.status(s)
    table = Table(title="parts", title_justify="left")
    for col in ("part", "state", "pid", "detail"):
        table.add_column(col, overflow="fold")
    for p in parts:
        state = "healthy" if p.healthy else ("running, unhealthy" if p.running else "stopped")
        table.add_row(p.name, Text(state, style="green" if p.healthy else "red"), str(p.pid or "-"), p.detail)
    # Optional parts: not failures when absent.
    for name, url in (("monitor", f"http://{s.endpoints.host}:{s.oncall.monitor_port}/health"),
                      ("prometheus", f"http://{s.endpoints.host}:{s.oncall.prometheus_port}/-/ready")):
        if any(p.name == name for p in parts):
            continue
        ok = _http_ok(url)
        table.add_row(name, Text("healthy" if ok else "not running", style="green" if ok else "dim"), "-", url)
    out.print(table)

    kafka_up = any(p.name == "kafka" and p.healthy for p in parts)
    if kafka_up:
        records = [r for m in last_records(s.kafka_bootstrap, s.topics.pipeline_metrics, 20)
                   if (r := as_json(m.value())) is not None]
        summary = summarise(records)
        lag_table = Table(title=f"lag per partition (group {s.job.consumer_group})", title_justify="left")
        for col in ("topic", "partition", "end offset", "committed", "lag", "lag reported by the job"):
            lag_table.add_column(col, justify="right" if col != "topic" else "left")
        for topic, part, high, off in committed_lag(s):
            reported = summary.lag.get(f"{topic}/{part}")
            lag_table.add_row(topic, str(part), f"{high:,}", "-" if off is None else f"{off:,}",
                              "-" if off is None else f"{high - off:,}", "-" if reported is None else f"{reported:,}")
        out.print(lag_table)
        jobs = Table(title="scoring tasks (last pipeline-metrics record)", title_justify="left")
        for col in ("task", "window end", "events/s", "scored", "alerts/min", "DLQ", "p50 ms", "p99 ms",
                    "batches"):
            jobs.add_column(col, justify="left" if col == "task" else "right")
        for t in summary.tasks:
            lat = t.get("latency_ms") or {}
            jobs.add_row(str(t.get("task_id")), _ts(t.get("window_end")), f"{_per_s(t, 'events_in'):,.0f}",
                         f"{t.get('scored', 0):,}", f"{60 * _per_s(t, 'alerts'):,.1f}", f"{t.get('dlq', 0):,}",
                         _num(lat.get("p50")), _num(lat.get("p99")), str(t.get("batches", "-")))
        out.print(jobs)
        p99 = summary.p99_ms
        out.print(f"throughput {summary.events_per_s:,.0f} events/s   p99 {_num(p99)} ms   "
                  f"alert rate {summary.alerts_per_min:,.1f}/min   tasks reporting {len(summary.tasks)}"
                  if summary.tasks else "no pipeline-metrics records yet (is the scoring job running?)")
    return 0 if all(p.healthy for p in parts) else 1


def _ts(ms: object) -> str:
    import time

    try:
        return time.strftime("%H:%M:%S", time.gmtime(int(ms) / 1000))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "-"


def _num(x: object) -> str:
    return "-" if x is None else f"{float(x):,.0f}"  # type: ignore[arg-type]
