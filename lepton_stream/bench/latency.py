"""Event -> score and event -> alert latency at fixed rates, the Flink job (or the
plain consumer loop, on the same knobs) running.

The load generator stamps each event with its send time; the job's scores and
alerts carry scored/alert time, and a read_committed reader notes when each
became visible downstream (after the checkpoint that commits it). The first
`warmup_s` of each rate are left out. The loop gets the job's knobs: a batch
waits at most the bundle time, outputs commit every checkpoint interval.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

from confluent_kafka import OFFSET_END, TopicPartition

from lepton_stream.bench.harness import percentiles, rss_by_role, server_rss_mb, with_topics
from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.kafka.clients import consumer
from lepton_stream.stack.job_process import start_job, start_loop, stop_job


class _Reader:
    """Reads scores and alerts from their end offsets, noting when each arrived."""

    def __init__(self, s: Settings) -> None:
        self.rows: list[tuple[str, dict, int]] = []
        self._stop = threading.Event()
        self._c = consumer(s.kafka_bootstrap, f"bench-lat-{uuid.uuid4().hex[:6]}")
        assign = []
        for topic in (s.topics.scores, s.topics.risk_alerts):
            for p in self._c.list_topics(topic, timeout=10).topics[topic].partitions:
                assign.append(TopicPartition(topic, p, OFFSET_END))
        self._c.assign(assign)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import orjson

        while not self._stop.is_set():
            for m in self._c.consume(5000, timeout=0.02):  # a batch read waits its whole timeout
                if m.error() is None:
                    self.rows.append((str(m.topic()), orjson.loads(m.value() or b"null"), time.time_ns() // 1_000_000))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._c.close()


class _Tail:
    """`lepton-stream alerts tail --json` as a person runs it, each line noted when it arrives:
    how soon an alert is on an on-call screen, the consumer's fetch settings included."""

    def __init__(self, s: Settings) -> None:
        self.rows: list[tuple[dict, int]] = []
        env = {**os.environ, **s.to_env()}
        self._p = subprocess.Popen([sys.executable, "-m", "lepton_stream.cli", "alerts", "tail", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import orjson

        assert self._p.stdout is not None
        for line in self._p.stdout:
            self.rows.append((orjson.loads(line), time.time_ns() // 1_000_000))

    def close(self) -> None:
        self._p.terminate()
        try:
            self._p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._p.kill()
            self._p.wait()
        self._thread.join(timeout=5)


def _wait_ready(s: Settings, reader: _Reader, timeout_s: float = 180.0) -> None:
    """Sends a few probe events until the job answers (start-up, first checkpoint)."""
    from producers.load import LoadOptions, run_load

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # Probe ids of their own: an id an earlier run on the same store claimed is a
        # conflicting duplicate (the DLQ), never a score.
        probe = LoadOptions(rate=50, duration_s=1.0, run_id=f"warm-{uuid.uuid4().hex[:6]}")
        run_load(s.kafka_bootstrap, s.topics.transactions, probe)
        time.sleep(2.0)
        if any(t == s.topics.scores for t, _, _ in reader.rows):
            return
    raise TimeoutError("the job scored nothing within the start-up timeout")


def at_rates(base: Settings, rates: list[float], duration_s: float = 20.0, warmup_s: float = 3.0,
             tag: str = "latency", runner: str = "flink", tail: bool = False, **changes) -> dict:
    from producers.load import LoadOptions, run_load, tx_id_prefix

    s = with_topics(base, tag, **changes)
    if runner == "loop":
        job = start_loop(s, s.endpoints.home / f"{tag}.log", batch_size=s.job.arrow_batch_size,
                         max_wait_ms=s.job.bundle_time_ms, commit_interval_s=s.job.checkpoint_interval_ms / 1000)
    else:
        job = start_job(s, "latest", s.endpoints.home / f"{tag}.log")
    reader = _Reader(s)
    tailer = _Tail(s) if tail else None
    out: dict = {"runner": runner, "pipeline": s.job.pipeline,
                 "checkpoint_interval_ms": s.job.checkpoint_interval_ms, "bundle_time_ms": s.job.bundle_time_ms,
                 "buffer_timeout_ms": s.job.buffer_timeout_ms,
                 "arrow_batch_size": s.job.arrow_batch_size, "parallelism": s.job.parallelism, "rates": []}
    try:
        _wait_ready(s, reader)
        for rate in rates:
            run = f"r{int(rate)}-{uuid.uuid4().hex[:4]}"
            ids = tx_id_prefix(run)
            reader.rows.clear()
            if tailer is not None:
                tailer.rows.clear()
            report = run_load(s.kafka_bootstrap, s.topics.transactions,
                              LoadOptions(rate=rate, duration_s=duration_s, run_id=run, cards=20_000,
                                          id_prefix=f"{run}_"))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                n = sum(1 for t, r, _ in reader.rows if t == s.topics.scores and r["tx_id"].startswith(ids))
                if n >= report.delivered:
                    break
                time.sleep(0.5)
            time.sleep(1.0)
            rss = {"job": rss_by_role(job.pid), "servers": server_rss_mb(s)}
            rows = [(t, r, at) for t, r, at in reader.rows if r["tx_id"].startswith(ids)]
            t_first = min((r["event_ts"] for t, r, _ in rows), default=0)
            steady = [(t, r, at) for t, r, at in rows if r["event_ts"] >= t_first + warmup_s * 1000]
            scores = [(r, at) for t, r, at in steady if t == s.topics.scores]
            alerts = [(r, at) for t, r, at in steady if t == s.topics.risk_alerts]
            out["rates"].append({
                "target_per_s": rate, "sent_per_s": round(report.achieved_rate),
                "fell_behind": report.fell_behind, "sent": report.delivered,
                "scored": sum(1 for t, r, _ in rows if t == s.topics.scores),
                "event_to_score_ms": percentiles([r["scored_ts"] - r["event_ts"] for r, _ in scores]),
                "event_to_alert_ms": percentiles([r["alert_ts"] - r["event_ts"] for r, _ in alerts]),
                "event_to_visible_score_ms": percentiles([at - r["event_ts"] for r, at in scores]),
                "event_to_visible_alert_ms": percentiles([at - r["event_ts"] for r, at in alerts]),
                "alerts": len(alerts), "rss_mb_at_end": rss})
            if tailer is not None:
                tailed = [(r, at) for r, at in tailer.rows
                          if str(r.get("tx_id", "")).startswith(ids) and r["event_ts"] >= t_first + warmup_s * 1000]
                out["rates"][-1] |= {"event_to_tail_alert_ms": percentiles([at - r["event_ts"] for r, at in tailed]),
                                     "tail_alerts": len(tailed)}
    finally:
        if tailer is not None:
            tailer.close()
        reader.close()
        stop_job(job)
    return out
