"""What every benchmark shares: its own stack on free ports, topics per run, a
Kafka topic reader, and process memory sampling."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from lepton_stream.config import Settings, Topics
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import read_until_idle
from lepton_stream.stack import manager
from lepton_stream.stack.processes import free_ports, group_pids, rss_mb


@contextlib.contextmanager
def bench_stack(**overrides) -> Iterator[Settings]:
    """Kafka, Redis and Triton on free ports under a temporary home; stopped by PID after."""
    with manager.private_stack(None, None, **overrides) as s:
        yield s


def with_topics(s: Settings, prefix: str, **changes) -> Settings:
    """Settings whose topics and consumer group belong to one run only."""
    topics = Topics(transactions=f"{prefix}-tx", fraud_labels=f"{prefix}-labels", scores=f"{prefix}-scores",
                    risk_alerts=f"{prefix}-alerts", pipeline_metrics=f"{prefix}-metrics", dlq=f"{prefix}-dlq")
    out = s.replace(topics=topics, consumer_group=f"bench-{prefix}", **changes)
    create_topics(out.kafka_bootstrap, out.topics, out.endpoints.partitions)
    wait_topics_ready(out.kafka_bootstrap, out.topics.all())
    return out


def read_all(s: Settings, topic: str, idle_s: float = 2.0) -> list[dict]:
    """Every committed record of `topic` as JSON, until `idle_s` without one."""
    return [json.loads(m.value() or b"null") for m in read_until_idle(s.kafka_bootstrap, topic, idle_s)]


class PeakRss:
    """Resident memory (MB) of a process, or of its whole process group, sampled
    twice a second: `stop()` answers the median (steady state) and keeps the peak."""

    def __init__(self, pid: int, group: bool) -> None:
        self.peak, self.last, self._stop = 0.0, 0.0, threading.Event()
        self.samples: list[float] = []
        self._thread = threading.Thread(target=self._run, args=(pid, group), daemon=True)
        self._thread.start()

    def _run(self, pid: int, group: bool) -> None:
        while not self._stop.is_set():
            self.last = rss_mb(group_pids(pid) if group else [pid])
            self.peak = max(self.peak, self.last)
            self.samples.append(self.last)
            time.sleep(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(sorted(self.samples)[len(self.samples) // 2]) if self.samples else 0


_TICK_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK_S


class CpuSampler:
    """CPU seconds of each role's processes (the broker, Redis, Triton, the job's JVM
    and Python workers, or this process for the loop), sampled four times a second
    with the wall time, so a run's CPU can be read over its scoring span alone,
    leaving out start-up and shutdown. A process keeps the last CPU seen of it
    after it exits, so totals never go back."""

    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self._roles, self._stop = roles, threading.Event()
        self._seen: dict[str, dict[int, float]] = {r: {} for r in roles}
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            now = time.time()
            for role, pids in self._roles.items():
                for pid in pids():
                    if (cpu := _cpu_s(pid)) is not None:
                        self._seen[role][pid] = cpu
            self.samples.append((now, {r: sum(seen.values()) for r, seen in self._seen.items()}))
            if self._stop.wait(0.25):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds per role from wall time t0 to t1 (interpolated between samples)."""
        import numpy as np

        times = np.array([t for t, _ in self.samples])
        return {role: float(np.interp(t1, times, [v[role] for _, v in self.samples])
                            - np.interp(t0, times, [v[role] for _, v in self.samples]))
                for role in self._roles} if len(times) > 1 else {}


def stack_roles(s: Settings) -> dict[str, Callable[[], list[int]]]:
    """Each part `lepton-stream up` started (its process group), as CpuSampler roles."""
    state = json.loads((s.run_dir / "stack.json").read_text())

    def of(pgid: int) -> Callable[[], list[int]]:
        return lambda: group_pids(pgid)

    return {part: of(v["pid"]) for part, v in state.items()}


def cpu_per_tx(sampler: CpuSampler, scores: list[dict]) -> dict:
    """CPU µs per scored transaction over the scoring span, summed over every process
    and per role: the events scored after the first score, over the CPU from then on."""
    times = sorted(r["scored_ts"] / 1000 for r in scores)
    after = sum(1 for t in times if t > times[0]) if times else 0
    if not after:
        return {"cpu_us_per_tx": None, "cpu_us_per_tx_by_process": {}}
    by_role = sampler.between(times[0], times[-1])
    return {"cpu_us_per_tx": round(sum(by_role.values()) / after * 1e6, 1),
            "cpu_us_per_tx_by_process": {r: round(v / after * 1e6, 1) for r, v in
                                         sorted(by_role.items(), key=lambda kv: -kv[1])}}


def server_rss_mb(s: Settings) -> dict[str, int]:
    """Resident memory of each part `lepton-stream up` started (its process group)."""
    state = json.loads((s.run_dir / "stack.json").read_text())
    return {part: round(rss_mb(group_pids(v["pid"]))) for part, v in state.items()}


def percentiles(values: list[float], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float | None]:
    """None for each when there is nothing to rank (a run without alerts)."""
    import numpy as np

    if not values:
        return {f"p{q}": None for q in qs}
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in qs}


def rss_by_role(pgid: int) -> dict[str, int]:
    """The job's process group split into its roles: driver, JVM, Python workers (MB each role)."""
    roles: dict[str, float] = {}
    for pid in group_pids(pgid):
        try:
            cmd = open(f"/proc/{pid}/cmdline").read()
        except OSError:
            continue
        role = ("python workers" if "beam_boot" in cmd or "pyflink.fn_execution" in cmd
                else "flink jvm" if "java" in cmd.split("\0")[0] else "driver")
        roles[role] = roles.get(role, 0.0) + rss_mb([pid])
    return {k: round(v) for k, v in sorted(roles.items())}


@contextlib.contextmanager
def private_redis(durable: bool = True) -> Iterator[tuple[str, Any]]:  # Any: see RedisWindowStore._redis
    """A fresh redis-server of our own on a free port, stopped by PID: (its URL, a client).
    Durable as the stack's Redis is (`DURABILITY`), or with no persistence at all."""
    import subprocess

    from lepton_stream.stack.redis_server import DURABILITY

    (port,) = free_ports(1)
    with tempfile.TemporaryDirectory(prefix="lepton-redis-") as d:
        persistence = DURABILITY if durable else ("--appendonly", "no")
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 *persistence, "--dir", d], stdout=subprocess.DEVNULL)
        try:
            r = redis.Redis(port=port)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", r
        finally:
            proc.terminate()
            proc.wait(10)
