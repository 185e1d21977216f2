"""Rescaling through a savepoint: the running job goes from parallelism 1 to 2
(`rescale_job`) and back (`lepton-stream run --rescale 1`) while transactions keep
arriving, and every valid transaction still has exactly one score (read_committed);
at 2 both subtasks ran, each on its own `transactions` partition."""

import os
import sys
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from lepton_stream.config import REPO_ROOT
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.stack import flink_rest, processes
from lepton_stream.stack.job_process import job_rest, rescale_job, running_with, start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, publish, read_json

pytestmark = pytest.mark.integration


def test_rescale_1_to_2_and_back_scores_each_event_exactly_once(stack, tmp_path):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}", pipeline_metrics=f"metrics-{run}")
    # home: the savepoints go to this test's folder; metrics every second: each subtask reports.
    s = stack.replace(topics=topics, consumer_group=f"rescale-{run}", home=tmp_path, parallelism=1,
                      checkpoint_interval_ms=1000, transaction_timeout_ms=30_000, metrics_interval_s=1.0)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=60, seed=21, id_prefix=run).stream(3000, 1_700_000_000_000,
                                                                                          500.0)]
    p = producer(s.kafka_bootstrap)
    feed = ThreadPoolExecutor(1)
    steps: list[str] = []
    rest = job_rest(s)

    def partitions_per_task(since_ms: float, until_ms: float) -> dict[str, set[int]]:
        """The `transactions` partitions each Python worker (task_id) read, from its
        pipeline-metrics records (lag per partition it saw) that ended in that span."""
        tasks: dict[str, set[int]] = defaultdict(set)
        for m in read_json(s.kafka_bootstrap, topics.pipeline_metrics):
            if since_ms <= m["window_end"] <= until_ms:
                tasks[m["task_id"]] |= {int(k.rsplit("/", 1)[1]) for k in m["lag"] or {}
                                        if k.startswith(f"{topics.transactions}/")}
        return tasks

    def scored() -> int:
        return len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)})

    def wait_for(what: str, done, proc, log, timeout_s: float = 180.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while not done():
            assert proc.poll() is None, f"job exited {proc.returncode}: {last_line(log)}"
            assert time.monotonic() < deadline, f"{what}: not after {timeout_s:.0f} s"
            time.sleep(0.5)

    def paced(part: list[dict]) -> Future:  # 100/s in the background: the stream goes on while we rescale
        return feed.submit(publish, p, topics.transactions, part, 100.0)

    publish(p, topics.transactions, events[:300])
    job = start_job(s, "group", tmp_path / "job1.log")
    try:
        wait_for("scores from parallelism 1", lambda: scored() >= 200, job, tmp_path / "job1.log")
        first_id = flink_rest.running_job(rest)
        first = flink_rest.vertices(rest, first_id)
        assert {v.parallelism for v in first} == {1}
        sending = paced(events[300:1500])

        old = job
        job = rescale_job(s, job, 2, tmp_path / "job2.log", say=steps.append)
        assert old.returncode == 0, "the stopped job should end cleanly"
        second_id = flink_rest.running_job(rest)
        second = flink_rest.vertices(rest, second_id)
        # Same operator ids at the new parallelism: all state restored, none dropped
        # (the start would have failed otherwise: no ignore-unclaimed-state).
        assert [v.id for v in second] == [v.id for v in first]
        assert {v.parallelism for v in second} == {2}
        savepoint = flink_rest.restored_from(rest, second_id)
        assert savepoint and savepoint.startswith(f"file:{tmp_path}/savepoints/"), savepoint
        at_two = time.time() * 1000
        sending.result(timeout=60)
        sending = paced(events[1500:2500])

        wait_for("both subtasks at parallelism 2 reading",
                 lambda: len(partitions_per_task(at_two, float("inf"))) >= 2 and scored() >= 1800,
                 job, tmp_path / "job2.log")
        back_to_one = time.time() * 1000
        # Back to 1 through the command line, whose process then runs the job; its
        # environment still says parallelism 2, --rescale wins.
        old, cli_log = job, tmp_path / "job3.log"
        job = processes.start("job", [sys.executable, "-m", "lepton_stream.cli", "run", "--rescale", "1"], cli_log,
                              env={**os.environ, **s.replace(parallelism=2).to_env(), "LEPTON_LOG_FILE": str(cli_log)},
                              cwd=REPO_ROOT)
        wait_for("the command line's job at parallelism 1", lambda: old.poll() is not None and running_with(s, 1),
                 job, cli_log)
        assert old.returncode == 0
        third_id = flink_rest.running_job(rest)
        assert [v.id for v in flink_rest.vertices(rest, third_id)] == [v.id for v in first]
        assert flink_rest.restored_from(rest, third_id) not in (None, savepoint)
        sending.result(timeout=60)
        publish(p, topics.transactions, events[2500:], rate=100.0)
        wait_for("every event scored", lambda: scored() >= len(events), job, cli_log)
    finally:
        stop_job(job)
        feed.shutdown(cancel_futures=True)

    # Parallelism 2 ran as two subtasks, the two partitions of `transactions` split
    # between them (only that job ran from `at_two` to `back_to_one`).
    at_two_tasks = partitions_per_task(at_two, back_to_one)
    assert len(at_two_tasks) == 2, at_two_tasks
    a, b = at_two_tasks.values()
    assert a and b and not a & b and a | b == {0, 1}, at_two_tasks
    assert [line.split()[0] for line in steps] == ["savepoint", "old", "new"], steps
    assert steps[2].startswith(f"new job {second_id} started with parallelism 2 from {savepoint}")
    printed = [ln for ln in cli_log.read_text().splitlines() if ln.startswith(("savepoint ", "old job ", "new job "))]
    assert [ln.split()[0] for ln in printed] == ["savepoint", "old", "new"], printed
    assert printed[1] == f"old job {second_id} stopped"
    assert printed[2].startswith(f"new job {third_id} started with parallelism 1 from ")

    # Exactly one score per transaction, and one alert per alerting score.
    assert_exactly_once(s, events)
