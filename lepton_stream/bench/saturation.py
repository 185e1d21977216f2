"""Throughput at saturation: the Flink job and the plain consumer loop doing the same
work (same Redis store, same Triton models, exactly-once both) on the same backlog.

Each reads its own copy of the simulated transactions (its own ids, so neither
finds the other's Redis state), published before it starts; throughput =
the events scored after the first scoring batch ended, over the time from
then to the last score (counting the first batch's events over a span that
leaves out its work would flatter runners with big batches).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lepton_stream.bench.harness import CpuSampler, PeakRss, cpu_per_tx, read_all, stack_roles, with_topics
from lepton_stream.config import Settings
from lepton_stream.jsonout import dumps
from lepton_stream.kafka.clients import producer
from lepton_stream.stack.job_process import start_job, stop_job, wait_job
from lepton_stream.stack.processes import group_pids

# How the pipeline's stages map onto the parts the time goes to.
STAGE_PART = {"ParseStage": "parse", "LabelStage": "redis", "FeatureStage": "redis + features",
              "ScoreStage": "triton", "RouteStage": "outputs (json)", "MetricsStage": "metrics",
              "kafka consume": "kafka in", "kafka produce + commit": "kafka out (sink)"}


def backlog(n: int) -> list[dict]:
    from producers.simulator import SimulationConfig, simulate
    from producers.simulator.events import transaction_events

    sim = simulate(SimulationConfig(n_customers=1000, n_terminals=2000, nb_days=max(2, n // 1900 + 1)))
    return transaction_events(sim.transactions.head(n))


def publish(s: Settings, events: list[dict], prefix: str) -> None:
    extra: dict[str, Any] = {"linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 2_000_000}
    p = producer(s.kafka_bootstrap, **extra)
    for e in events:
        ev = {**e, "tx_id": f"{prefix}-{e['tx_id']}", "card_id": f"{prefix}-{e['card_id']}",
              "terminal_id": f"{prefix}-{e['terminal_id']}"}
        p.produce(s.topics.transactions, key=ev["card_id"].encode(), value=json.dumps(ev).encode())
        p.poll(0)
    if p.flush(300):
        raise RuntimeError("backlog not acknowledged by the broker within 300 s")


def _span(scores: list[dict]) -> float:
    times = [r["scored_ts"] for r in scores]
    return (max(times) - min(times)) / 1000 if len(times) > 1 else float("nan")


def _rate(scores: list[dict]) -> int:
    times = [r["scored_ts"] for r in scores]
    first, last = min(times), max(times)
    after = sum(1 for t in times if t > first)
    return round(after / ((last - first) / 1000)) if last > first else 0


def _stage_split(stage_s: dict[str, float], wall_s: float) -> dict[str, float]:
    """Share of the wall time per part; what no stage accounts for is 'outside the pipeline'."""
    parts: dict[str, float] = {}
    for stage, seconds in stage_s.items():
        part = STAGE_PART.get(stage, stage)
        parts[part] = parts.get(part, 0.0) + seconds
    busy = sum(parts.values())
    out = {k: round(v / wall_s, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
    out["outside the pipeline"] = round(max(0.0, 1 - busy / wall_s), 3)
    return out


def run_flink(base: Settings, events: list[dict], tag: str = "flink", **changes) -> dict:
    s = with_topics(base, tag, metrics_interval_s=1.0, **changes)
    publish(s, events, tag)
    job = start_job(s, "earliest", s.endpoints.home / f"{tag}.log", bounded=True)
    rss = PeakRss(job.pid, group=True)
    cpu = CpuSampler({**stack_roles(s), "flink job (JVM + Python workers)": lambda: group_pids(job.pid)})
    t0 = time.monotonic()
    rc = wait_job(job, 1800)
    wall = time.monotonic() - t0
    cpu.stop()
    stop_job(job)
    scores = read_all(s, s.topics.scores)
    span = _span(scores)
    metrics = read_all(s, s.topics.pipeline_metrics, idle_s=1.0)
    stage_s: dict[str, float] = {}
    for m in metrics:
        for stage, sec in (m.get("stage_s") or {}).items():
            stage_s[stage] = stage_s.get(stage, 0.0) + sec
    tasks = max(1, len({m["task_id"] for m in metrics}))
    return {"scored": len(scores), "events_per_s": _rate(scores), "scoring_span_s": round(span, 2),
            "wall_s_incl_start": round(wall, 1), "exit_code": rc, "median_rss_mb": rss.stop(),
            **cpu_per_tx(cpu, scores),
            "parallelism": s.job.parallelism, "arrow_batch_size": s.job.arrow_batch_size,
            "bundle_time_ms": s.job.bundle_time_ms, "bundle_size": s.job.bundle_size,
            "checkpoint_interval_ms": s.job.checkpoint_interval_ms,
            # Per task: each Python worker's time split over the scoring span.
            "time_share_per_task": _stage_split({k: v / tasks for k, v in stage_s.items()}, span)}


def run_loop(base: Settings, events: list[dict], tag: str = "loop", batch_size: int = 2000,
             commit_interval_s: float = 0.0, **changes) -> dict:
    from stream_jobs.consumer_loop import run_loop as loop

    s = with_topics(base, tag, **changes)
    publish(s, events, tag)
    rss = PeakRss(os.getpid(), group=False)
    cpu = CpuSampler({**stack_roles(s), "consumer loop": lambda: [os.getpid()]})
    t0 = time.monotonic()
    detail = loop(s, batch_size=batch_size, commit_interval_s=commit_interval_s)
    wall = time.monotonic() - t0
    cpu.stop()
    scores = read_all(s, s.topics.scores)
    span = _span(scores)
    return {"scored": len(scores), "events_per_s": _rate(scores), "scoring_span_s": round(span, 2),
            "wall_s_incl_start": round(wall, 1), "median_rss_mb": rss.stop(), **cpu_per_tx(cpu, scores),
            "batch_size": batch_size,
            "commit_interval_s": commit_interval_s, "time_share": _stage_split(detail["stage_seconds"], span)}


# Both runners set for throughput, with the same commit interval (outputs become
# visible to read_committed readers once per interval in both): Flink bundles that
# a checkpoint, not a timer, ends, and a loop that consumes more per batch.
COMMIT_INTERVAL_S = 10
FLINK_THROUGHPUT = {"parallelism": 2, "arrow_batch_size": 2000, "bundle_size": 100_000, "bundle_time_ms": 1000,
                    "buffer_timeout_ms": 100, "checkpoint_interval_ms": COMMIT_INTERVAL_S * 1000}
LOOP_THROUGHPUT = {"batch_size": 10_000, "commit_interval_s": COMMIT_INTERVAL_S}


def _median_of(runs: list[dict], key: str) -> float | None:
    import statistics

    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def head_to_head(base: Settings, events: list[dict], repeats: int, say=print, pipeline: str = "scoring") -> dict:
    """Flink and the loop, both set for throughput, run alternately `repeats` times:
    the medians and their ratio (alternating shares the machine's drift between them).
    `pipeline="passthrough"` (parse and a zero score: no Redis, no Triton) measures the
    floor, what the data plane alone costs each runner on this machine."""
    import statistics

    runs: dict[str, list[dict]] = {"flink": [], "loop": []}
    for i in range(repeats):
        runs["flink"].append(run_flink(base, events, tag=f"h2h-{pipeline}-flink-{i}", pipeline=pipeline,
                                       **FLINK_THROUGHPUT))
        runs["loop"].append(run_loop(base, events, tag=f"h2h-{pipeline}-loop-{i}", pipeline=pipeline,
                                     **LOOP_THROUGHPUT))
        f, lp = runs["flink"][-1]["events_per_s"], runs["loop"][-1]["events_per_s"]
        say(f"  run {i + 1}: Flink {f:,}/s, loop {lp:,}/s")
    med = {k: statistics.median(r["events_per_s"] for r in v) for k, v in runs.items()}
    return {"pipeline": pipeline, "commit_interval_s": COMMIT_INTERVAL_S, "flink_settings": FLINK_THROUGHPUT,
            "loop_settings": LOOP_THROUGHPUT,
            "flink_events_per_s": [r["events_per_s"] for r in runs["flink"]],
            "loop_events_per_s": [r["events_per_s"] for r in runs["loop"]],
            "flink_median": round(med["flink"]), "loop_median": round(med["loop"]),
            "flink_vs_loop": round(med["flink"] / med["loop"], 2),
            "flink_cpu_us_per_tx": _median_of(runs["flink"], "cpu_us_per_tx"),
            "loop_cpu_us_per_tx": _median_of(runs["loop"], "cpu_us_per_tx"),
            "flink_cpu_us_per_tx_by_process": runs["flink"][-1]["cpu_us_per_tx_by_process"],
            "loop_cpu_us_per_tx_by_process": runs["loop"][-1]["cpu_us_per_tx_by_process"],
            "flink_time_share_per_task": runs["flink"][-1]["time_share_per_task"],
            "loop_time_share": runs["loop"][-1]["time_share"],
            "flink_median_rss_mb": statistics.median(r["median_rss_mb"] for r in runs["flink"]),
            "loop_median_rss_mb": statistics.median(r["median_rss_mb"] for r in runs["loop"])}


def write(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(result, indent=2) + "\n")
