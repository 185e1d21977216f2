"""`lepton-stream status`: each part's health (the scoring job's too, from its REST API),
lag per partition, throughput, p99 and alert rate (from the job's own `pipeline-metrics`
records), as Rich tables or, with `--json`, one JSON object for scripts."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from lepton_stream.config import Settings
from lepton_stream.jsonout import dumps
from lepton_stream.views.topic_tail import as_json, console, last_records

# A task writes a window every `metrics_interval_s` while it counts anything (a tick
# closes the last one), so a newer record is due by then; this slack covers the
# checkpoint that makes it readable and a loaded machine.
STALE_SLACK_S = 5.0


@dataclass
class PipelineSummary:
    """The latest pipeline-metrics record of each task, added up over the tasks whose
    record is current (all of them when `now_ms` is None): a task that has counted
    nothing for a while writes no record, and its last one says nothing about now."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    now_ms: int | None = None
    stale_after_ms: int = 0

    def age_s(self, rec: dict[str, Any]) -> float | None:
        end = rec.get("window_end")
        if self.now_ms is None or not isinstance(end, int | float):
            return None
        return max(0.0, (self.now_ms - end) / 1000)

    def is_current(self, rec: dict[str, Any]) -> bool:
        age = self.age_s(rec)
        return age is None or age * 1000 <= self.stale_after_ms

    @property
    def current(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if self.is_current(t)]

    @property
    def events_per_s(self) -> float:
        return sum(_per_s(t, "events_in") for t in self.current)

    @property
    def alerts_per_min(self) -> float:
        return 60 * sum(_per_s(t, "alerts") for t in self.current)

    @property
    def p99_ms(self) -> float | None:
        p99s = [t["latency_ms"]["p99"] for t in self.current if isinstance(t.get("latency_ms"), dict)
                and isinstance(t["latency_ms"].get("p99"), int | float)]
        return max(p99s) if p99s else None

    @property
    def last_window_end(self) -> int | None:
        ends = [t["window_end"] for t in self.tasks if isinstance(t.get("window_end"), int | float)]
        return int(max(ends)) if ends else None

    @property
    def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks:
            if isinstance(t.get("lag"), dict):
                out.update(t["lag"])
        return out


def _per_s(rec: dict[str, Any], key: str) -> float:
    try:
        seconds = max(0.001, (rec.get("window_end", 0) - rec.get("window_start", 0)) / 1000)
        return float(rec.get(key) or 0) / seconds
    except (TypeError, ValueError):  # a record some other writer got wrong: counts nothing
        return 0.0


def summarise(records: list[dict[str, Any]], now_ms: int | None = None,
              stale_after_s: float = 0.0) -> PipelineSummary:
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        task = str(rec.get("task_id"))
        end = rec.get("window_end")
        if not isinstance(end, int | float):
            continue
        if task not in latest or end >= latest[task]["window_end"]:
            latest[task] = rec
    return PipelineSummary(sorted(latest.values(), key=lambda r: str(r.get("task_id"))), now_ms,
                           int(stale_after_s * 1000))


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


@dataclass
class Part:
    name: str
    state: str  # healthy | running, unhealthy | stopped | not running
    pid: int | None
    detail: str
    healthy: bool
    required: bool  # the stack's own parts; an optional one that is not running fails nothing


def stall_after_s(interval_ms: float) -> float:
    """When a job's checkpoints count as stalled: five intervals, at least 10 s (a few
    missed ones are a slow store or broker, not yet a stall)."""
    return max(10.0, 5 * interval_ms / 1000)


def job_part(s: Settings, now_ms: int) -> tuple[Part, dict[str, Any] | None]:
    """The scoring job, from its REST API (`LEPTON_JOB_REST_ADDRESS`, else the local job's
    `LEPTON_FLINK_REST_PORT`): state, uptime,
    restarts, checkpoints. A job whose checkpoints stopped completing is unhealthy even
    while RUNNING: read_committed readers see none of its outputs until one completes."""
    from lepton_stream.stack.flink_rest import job_address, job_health

    rest = job_address(s)
    try:
        job = job_health(rest, now_ms)
    except Exception as exc:  # nothing answers, or something that is not Flink
        return Part("scoring job", "not running", None, f"no job answers at http://{rest} "
                    f"({getattr(exc, 'reason', exc)})", False, False), None
    if job is None:
        return Part("scoring job", "not running", None, f"no running job at http://{rest}", False, False), None
    stall_s = stall_after_s(job["checkpoints"]["interval_ms"] or s.job.checkpoint_interval_ms)
    age = job["checkpoints"]["last_completed_age_s"]
    stalled = job["state"] == "RUNNING" and job["uptime_s"] > stall_s and (age is None or age > stall_s)
    healthy = job["state"] == "RUNNING" and not stalled
    ck = job["checkpoints"]
    detail = (f"{job['name']} {job['state']} for {_duration(job['uptime_s'])}, {job['tasks_running']}/"
              f"{job['tasks_total']} tasks running, {job['restarts']} restart(s); last checkpoint "
              + ("never" if age is None else f"{age:,.1f} s ago")
              + f" ({ck['completed']:,} completed, {ck['failed']:,} failed)")
    if stalled:
        detail += f": no checkpoint for over {stall_s:.0f} s, so no output is readable (docs/oncall.md)"
    from lepton_stream.stack.processes import pid_listening_on

    # The local job's JVM, which serves the REST API (a cluster's is on another host).
    pid = None if s.oncall.job_rest_address else pid_listening_on(s.endpoints.host, s.job.flink_rest_port)
    return Part("scoring job", "healthy" if healthy else "running, unhealthy", pid, detail, healthy, False), job


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def collect(s: Settings) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the `--json` object)."""
    from lepton_stream.stack import manager

    now_ms = time.time_ns() // 1_000_000
    parts = [Part(p.name, "healthy" if p.healthy else ("running, unhealthy" if p.running else "stopped"), p.pid,
                  p.detail, p.healthy, True) for p in manager.status(s)]
    # Optional parts: not failures when absent.
    for name, url in (("monitor", f"http://{s.endpoints.host}:{s.oncall.monitor_port}/health"),
                      ("prometheus", f"http://{s.endpoints.host}:{s.oncall.prometheus_port}/-/ready")):
        if any(p.name == name for p in parts):
            continue
        ok = _http_ok(url)
        parts.append(Part(name, "healthy" if ok else "not running", None, url, ok, False))
    job, job_detail = job_part(s, now_ms)
    parts.append(job)
    out: dict[str, Any] = {"time_ms": now_ms, "parts": [asdict(p) for p in parts], "job": job_detail,
                           "lag": [], "tasks": [], "summary": None}
    # Healthy: every part of the stack, and the job when one runs.
    out["healthy"] = all(p.healthy for p in parts if p.required or p.state == "running, unhealthy")
    if not any(p.name == "kafka" and p.healthy for p in parts):
        return out
    records = [r for m in last_records(s.kafka_bootstrap, s.topics.pipeline_metrics, 20)
               if (r := as_json(m.value())) is not None]
    summary = summarise(records, now_ms, 2 * s.job.metrics_interval_s + STALE_SLACK_S)
    for topic, part, high, off in committed_lag(s):
        out["lag"].append({"topic": topic, "partition": part, "end_offset": high, "committed": off,
                           "lag": None if off is None else high - off,
                           "lag_reported_by_job": summary.lag.get(f"{topic}/{part}")})
    for t in summary.tasks:
        lat: dict[str, Any] = t["latency_ms"] if isinstance(t.get("latency_ms"), dict) else {}
        out["tasks"].append({"task_id": str(t.get("task_id")), "window_end": t.get("window_end"),
                             "age_s": summary.age_s(t), "current": summary.is_current(t),
                             "events_per_s": round(_per_s(t, "events_in"), 1), "scored": t.get("scored"),
                             "alerts_per_min": round(60 * _per_s(t, "alerts"), 1), "dlq": t.get("dlq"),
                             "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"), "batches": t.get("batches")})
    last = summary.last_window_end
    out["summary"] = {"events_per_s": round(summary.events_per_s, 1), "p99_ms": summary.p99_ms,
                      "alerts_per_min": round(summary.alerts_per_min, 1), "tasks_reporting": len(summary.current),
                      "tasks_seen": len(summary.tasks), "last_window_end": last,
                      "last_record_age_s": None if last is None else max(0.0, (now_ms - last) / 1000)}
    return out


def render(s: Settings, as_json_object: bool = False) -> int:
    st = collect(s)
    if as_json_object:
        print(dumps(st))
        return 0 if st["healthy"] else 1
    out = console()
    table = Table(title="parts", title_justify="left")
    for col in ("part", "state", "pid", "detail"):
        table.add_column(col, overflow="fold")
    for p in st["parts"]:
        style = "green" if p["healthy"] else ("red" if p["required"] or p["state"] != "not running" else "dim")
        table.add_row(p["name"], Text(p["state"], style=style), str(p["pid"] or "-"), p["detail"])
    out.print(table)
    if st["summary"] is None:
        return 0 if st["healthy"] else 1
    lag_table = Table(title=f"lag per partition (group {s.job.consumer_group})", title_justify="left")
    for col in ("topic", "partition", "end offset", "committed", "lag", "lag reported by the job"):
        lag_table.add_column(col, justify="right" if col != "topic" else "left")
    for r in st["lag"]:
        lag_table.add_row(r["topic"], str(r["partition"]), f"{r['end_offset']:,}", _int(r["committed"]),
                          _int(r["lag"]), _int(r["lag_reported_by_job"]))
    out.print(lag_table)
    jobs = Table(title="scoring tasks (last pipeline-metrics record)", title_justify="left")
    for col in ("task", "window end", "age", "events/s", "scored", "alerts/min", "DLQ", "p50 ms", "p99 ms",
                "batches"):
        jobs.add_column(col, justify="left" if col == "task" else "right")
    for t in st["tasks"]:
        age = "-" if t["age_s"] is None else f"{t['age_s']:,.0f} s"
        jobs.add_row(t["task_id"], _ts(t["window_end"]), Text(age, style="" if t["current"] else "dim"),
                     f"{t['events_per_s']:,.0f}", _int(t["scored"]), f"{t['alerts_per_min']:,.1f}", _int(t["dlq"]),
                     _num(t["p50_ms"]), _num(t["p99_ms"]), str(t["batches"] if t["batches"] is not None else "-"))
    out.print(jobs)
    sm = st["summary"]
    if not sm["tasks_seen"]:
        out.print("no pipeline-metrics records yet (is the scoring job running?)")
    elif not sm["tasks_reporting"]:
        job = next(p for p in st["parts"] if p["name"] == "scoring job")
        why = {"healthy": "the job is running and idle (no input)",
               "not running": "no job answers on its REST port (stopped, or on a cluster: see its UI)",
               "running, unhealthy": "the job is stuck (see the scoring job above)"}[job["state"]]
        out.print(f"no events counted since {_ts(sm['last_window_end'])} ({sm['last_record_age_s']:,.0f} s ago): "
                  f"{why}; throughput 0 events/s")
    else:
        out.print(f"throughput {sm['events_per_s']:,.0f} events/s   p99 {_num(sm['p99_ms'])} ms   "
                  f"alert rate {sm['alerts_per_min']:,.1f}/min   tasks reporting {sm['tasks_reporting']}")
    return 0 if st["healthy"] else 1


def _ts(ms: object) -> str:
    try:
        return time.strftime("%H:%M:%S", time.gmtime(int(ms) / 1000))  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _num(x: object) -> str:
    try:
        return f"{float(x):,.0f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"


def _int(x: object) -> str:
    return f"{x:,}" if isinstance(x, int) else "-"
