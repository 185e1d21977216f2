"""The job submitted with `flink run -py` to a standalone Flink cluster (JobManager +
TaskManager from the PyFlink distribution), as on any Flink cluster: it scores
every event once, and the cluster reports the job finished."""

import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.stack.flink_cluster import start_cluster, submit
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import listening_sockets, read_json

pytestmark = pytest.mark.integration


def test_flink_run_on_a_standalone_cluster(stack, tmp_path):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", pipeline_metrics=f"metrics-{run}")
    s = stack.replace(topics=topics, consumer_group=f"cluster-{run}", home=tmp_path, parallelism=2)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    p = producer(s.kafka_bootstrap)
    stream = list(SimpleGenerator(cards=40, seed=9, id_prefix=run).stream(300, 1_700_000_000_000, 500.0))
    for ev in stream:
        p.produce(topics.transactions, key=ev.event["card_id"].encode(), value=ev.to_bytes())
    events = [ev.event for ev in stream]
    assert p.flush(30) == 0

    cluster = start_cluster(s, slots=2)
    try:
        log = tmp_path / "flink-run.log"
        client = submit(s, cluster, log, startup="earliest", bounded=True)
        deadline, listening = time.monotonic() + 300, {}
        while client.poll() is None and time.monotonic() < deadline:
            for part in (cluster.jobmanager, cluster.taskmanager):  # and their Python workers
                for pid, addrs in listening_sockets(part.pid).items():
                    listening.setdefault(pid, set()).update(addrs)
            time.sleep(1)
        assert client.returncode == 0, f"flink run exited {client.returncode}: {last_line(log)}"
        # Every server of the cluster on `host` (docs/security.md), the TaskManager's Beam
        # servers for its Python workers among them; no jar upload.
        tm = listening[cluster.taskmanager.pid]
        assert len(listening[cluster.jobmanager.pid]) >= 3 and len(tm) >= 8, listening
        assert {a for addrs in listening.values() for a in addrs if a[0] != s.endpoints.host} == set()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://{cluster.rest}/jars", timeout=5)
        jobs = cluster.jobs()
        assert [j["state"] for j in jobs] == ["FINISHED"], jobs
        assert jobs[0]["name"] == "lepton-scoring"
        # Its Python workers ran in the TaskManager's process tree, not in the client.
        assert cluster.overview()["taskmanagers"] == 1
    finally:
        cluster.stop()
    scores = read_json(s.kafka_bootstrap, topics.scores)
    assert Counter(x["tx_id"] for x in scores) == Counter(e["tx_id"] for e in events)
