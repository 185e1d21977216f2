"""Fixtures that start the real services (Kafka broker, Redis, Triton) on free
ports under a temporary home, and stop them by PID afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from lepton_stream.config import Settings
from lepton_stream.kafka.clients import read_to_end
from lepton_stream.stack import manager, processes


def make_settings(home: Path, **overrides) -> Settings:
    # The environment is ignored ({}): a developer's LEPTON_* must not leak into tests.
    return manager.free_port_settings(home, {}, **{"partitions": 2, "checkpoint_interval_ms": 1000, **overrides})


def read_topic(bootstrap: str, topic: str) -> list:
    """Every committed message of `topic` from the start (read_committed), up to its
    end as it stands now: a test that waits for an output polls for it."""
    return read_to_end(bootstrap, topic)


def read_json(bootstrap: str, topic: str) -> list[dict]:
    return [json.loads(m.value()) for m in read_topic(bootstrap, topic)]


def publish(p: Producer, topic: str, events: list[dict], rate: float | None = None) -> None:
    """Transactions as JSON keyed by card, `rate` per second (None: at once), all acknowledged."""
    t0 = time.monotonic()
    for i, e in enumerate(events):
        ahead = t0 + i / rate - time.monotonic() if rate else 0.0
        if ahead > 0:  # computed once: the clock moves between a check and a sleep
            time.sleep(ahead)
        p.produce(topic, key=e["card_id"].encode(), value=json.dumps(e).encode())
        p.poll(0)
    assert p.flush(30) == 0


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


# What listens: the socket inodes of /proc/<pid>/fd joined with the LISTEN rows of
# /proc/net/tcp and tcp6 (docs/security.md: every server on Settings.endpoints.host).
Address = tuple[str, int]


def _descendants(root: int) -> set[int]:
    # By parent links, not processes.group_pids: a child that left the part's process
    # group (setsid) still counts.
    parent = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def listening_sockets(root: int) -> dict[int, set[Address]]:
    """Every listening TCP socket of `root` and its descendants, by PID."""
    table, out = processes.listening_sockets(), {}
    for pid in _descendants(root):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # the process is gone meanwhile
            continue
        links = []
        for fd in fds:
            try:
                links.append(str(fd.readlink()))
            except OSError:  # that descriptor closed meanwhile (a busy broker opens and closes many)
                continue
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in table:
                out.setdefault(pid, set()).add(table[link[8:-1]])
    return out


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("lepton-home")
    # A copy of the model repository: tests publish new versions into it.
    repo = shutil.copytree(Settings().endpoints.model_repo, home / "model_repo")
    # The job's own checkpoint interval (200 ms): tests run what ships, and see outputs sooner.
    with manager.private_stack(home, {}, partitions=2, model_repo=repo) as s:
        yield s


@pytest.fixture(scope="session")
def cluster_stack(tmp_path_factory) -> Iterator[Settings]:
    """The stack with its feature store on a local Redis Cluster of three masters."""
    home = tmp_path_factory.mktemp("lepton-home-cluster")
    with manager.private_stack(home, {}, partitions=2, redis_cluster=True) as s:
        yield s


def assert_exactly_once(s: Settings, events: list[dict]) -> list[dict]:
    """Exactly one score per event (read_committed), and one alert per alerting score;
    returns the scores."""
    scores = read_json(s.kafka_bootstrap, s.topics.scores)
    counts = Counter(x["tx_id"] for x in scores)
    assert set(counts) == {e["tx_id"] for e in events}
    assert max(counts.values()) == 1, f"duplicates: {[t for t, n in counts.items() if n > 1][:5]}"
    alerts = Counter(a["tx_id"] for a in read_json(s.kafka_bootstrap, s.topics.risk_alerts))
    over = {x["tx_id"] for x in scores if x["fraud_score"] >= s.models.alert_threshold}
    ruled = {x["tx_id"] for x in scores if x.get("rules")}
    # Without live rules alerts are exactly the scores over the threshold; a rule can
    # add one (an alert rule) or take one away (an allowlist), never on other scores.
    assert over - ruled <= set(alerts) and set(alerts) - over <= ruled, (over ^ set(alerts)) - ruled
    assert not alerts or max(alerts.values()) == 1
    return scores


def run_killed_mid_stream_then_restarted(s: Settings, events: list[dict], tmp_path: Path) -> None:
    """Scores `events` (4,000 or so) with the job SIGKILLed mid-stream, while the stream
    still arrives, then restarted from its last checkpoint, until every tx_id has a score."""
    from lepton_stream.kafka.clients import producer
    from lepton_stream.stack.job_process import start_job, stop_job
    from lepton_stream.stack.processes import last_line

    topics = s.topics
    p = producer(s.kafka_bootstrap)
    publish(p, topics.transactions, events[:2000])
    job = start_job(s, "group", tmp_path / "job1.log")
    try:
        deadline = time.monotonic() + 180
        while len(read_json(s.kafka_bootstrap, topics.scores)) < 500:  # committed output exists: mid-stream
            assert job.poll() is None, last_line(tmp_path / "job1.log")
            assert time.monotonic() < deadline, "no scores from the first run"
            time.sleep(0.5)
        # Kill while it works through a stream still arriving (checkpoints every second).
        killer = threading.Timer(1.2, os.killpg, (job.pid, signal.SIGKILL))  # JVM and Python workers, no goodbye
        killer.start()
        publish(p, topics.transactions, events[2000:3000], rate=500)
        killer.join()
        job.wait(timeout=30)
    finally:
        stop_job(job)
    first_run = len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)})
    assert first_run < 3000, "the first run should not have finished everything before the kill"

    publish(p, topics.transactions, events[3000:])
    job = start_job(s, "group", tmp_path / "job2.log")
    try:
        deadline = time.monotonic() + 240
        while len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)}) < len(events):
            assert job.poll() is None, last_line(tmp_path / "job2.log")
            assert time.monotonic() < deadline, "not every event scored after the restart"
            time.sleep(0.5)
    finally:
        stop_job(job)
