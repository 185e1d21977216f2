"""The PyFlink scoring job end to end on the real stack, on a small bounded stream."""

import json
import time
import uuid
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from lepton_stream.features.credit_vector import credit_feature_matrix
from lepton_stream.features.definitions import DEFAULT_PROFILE, PROFILE_FIELDS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.observability import metrics as m
from lepton_stream.schemas import parse_transaction
from lepton_stream.scoring.onnx_local import OnnxModel
from lepton_stream.stack import flink_cds
from lepton_stream.stack.flink_patch import lib_with_patch
from lepton_stream.stack.health_exporter import probe_job
from lepton_stream.stack.job_process import start_job, stop_job, wait_job
from lepton_stream.stack.processes import last_line
from lepton_stream.views.status import collect
from producers.simple import MALFORMED_KINDS, SimpleGenerator, malformed
from tests.integration.conftest import read_json

pytestmark = pytest.mark.integration


def _own_topics(stack, tag: str, metrics_interval_s: float):
    """Settings with topics and a consumer group of the test's own, and its run id."""
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", pipeline_metrics=f"metrics-{run}")
    s = stack.replace(topics=topics, consumer_group=f"{tag}-{run}", metrics_interval_s=metrics_interval_s)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    return s, run


def test_job_scores_every_valid_event_once_and_rejects_the_bad_ones(stack, tmp_path):
    s, run = _own_topics(stack, "job", metrics_interval_s=0.0)
    topics = s.topics

    events, expected_dlq = [], Counter()
    p = producer(s.kafka_bootstrap)
    kinds = sorted(MALFORMED_KINDS)
    for i, ev in enumerate(SimpleGenerator(cards=50, fraud_share=0.05, seed=4, id_prefix=run)
                           .stream(600, 1_700_000_000_000, 2000.0)):
        key = ev.event["card_id"].encode()
        if i % 25 == 7:
            kind = kinds[i % len(kinds)]
            p.produce(topics.transactions, key=key, value=malformed(kind, ev.event))
            expected_dlq[MALFORMED_KINDS[kind]] += 1
        else:
            p.produce(topics.transactions, key=key, value=ev.to_bytes())
            events.append(ev.event)
    assert p.flush(30) == 0

    log = tmp_path / "job.log"
    job = start_job(s, "earliest", log, bounded=True)
    try:
        rc = wait_job(job, timeout_s=300)
    finally:
        stop_job(job)
    assert rc == 0, f"job exited {rc}: {last_line(log)}"
    # The job's JVM has its class archive once a job ended cleanly (this one, or one before
    # it recorded it), and found nothing in it to complain about.
    assert flink_cds.archive_path(s, lib_with_patch(s, with_flink_python=False)).exists()
    assert "[warning][cds" not in log.read_text()

    scores = read_json(s.kafka_bootstrap, topics.scores)
    alerts = read_json(s.kafka_bootstrap, topics.risk_alerts)
    dlq = read_json(s.kafka_bootstrap, topics.dlq)
    # Exactly one score per valid event, nothing else.
    assert Counter(x["tx_id"] for x in scores) == Counter(e["tx_id"] for e in events)
    assert Counter(x["error_code"] for x in dlq) == expected_dlq
    # Alerts: exactly the scores over the threshold.
    over = {x["tx_id"] for x in scores if x["fraud_score"] >= s.models.alert_threshold}
    assert sorted(a["tx_id"] for a in alerts) == sorted(over)
    assert over, "the stream has frauds: some alerts are expected"

    # The online path (Redis + Triton) gives the offline scores of the same features.
    txs = [parse_transaction(json.dumps(e)) for e in events]
    df = pd.DataFrame([{"tx_id": t.tx_id, "card_id": t.card_id, "terminal_id": t.terminal_id, "ts_ms": t.ts_ms,
                        "amount_cents": t.amount_cents, "x": t.x, "y": t.y} for t in txs])
    agg = offline_aggregates(df)
    fx = fraud_feature_matrix(np.array([t.amount for t in txs]), df["ts_ms"], np.array([t.channel for t in txs]),
                              df["x"], df["y"], agg).astype(np.float32)
    prof = {f: np.full(len(txs), DEFAULT_PROFILE[f]) for f in PROFILE_FIELDS}  # these cards have no profile
    cx = credit_feature_matrix(*(prof[f] for f in PROFILE_FIELDS), agg).astype(np.float32)
    by_tx = {x["tx_id"]: x for x in scores}
    version = by_tx[txs[0].tx_id]["fraud_model_version"]
    offline_f = OnnxModel(s.endpoints.model_repo / "fraud_scorer" / version / "model.onnx").predict(fx)
    offline_c = OnnxModel(s.endpoints.model_repo / "credit_scorer" / by_tx[txs[0].tx_id]["credit_model_version"]
                          / "model.onnx").predict(cx)
    np.testing.assert_allclose([by_tx[t.tx_id]["fraud_score"] for t in txs], offline_f, atol=2e-6)
    np.testing.assert_allclose([by_tx[t.tx_id]["credit_score"] for t in txs], offline_c, atol=2e-6)
    assert all(x["latency_ms"] >= 0 for x in scores)

    # pipeline-metrics account for every record (interval 0: one record per batch).
    metrics = read_json(s.kafka_bootstrap, topics.pipeline_metrics)
    assert sum(m["events_in"] for m in metrics) == 600
    assert sum(m["scored"] for m in metrics) == len(events) and sum(m["dlq"] for m in metrics) == len(dlq)
    assert all(lag >= 0 for m in metrics for lag in m["lag"].values())


def test_pipeline_metrics_count_the_last_burst_without_waiting_for_the_next_event(stack, tmp_path):
    # A metrics window closes when a batch comes after its interval, or on the tick source's
    # rows when none comes: the last burst before a quiet spell is counted all the same.
    s, run = _own_topics(stack, "tick", metrics_interval_s=2.0)
    topics = s.topics
    now = int(time.time() * 1000)
    events = [ev.event for ev in SimpleGenerator(cards=10, seed=7, id_prefix=run).stream(40, now - 60_000, 10.0)]
    p = producer(s.kafka_bootstrap)

    def burst(part: list[dict]) -> None:
        for ev in part:
            p.produce(topics.transactions, key=ev["card_id"].encode(), value=json.dumps(ev).encode())
        assert p.flush(30) == 0

    def wait_for(what: str, done, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert job.poll() is None, f"the job exited: {last_line(log)}"
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
            time.sleep(0.5)

    log = tmp_path / "job.log"
    job = start_job(s, "earliest", log)
    try:
        burst(events[:20])
        wait_for("the first burst scored", lambda: len(read_json(s.kafka_bootstrap, topics.scores)) >= 20, 180)
        burst(events[20:])  # within the window the first burst's batch left open, then nothing more
        wait_for("the second burst scored", lambda: len(read_json(s.kafka_bootstrap, topics.scores)) >= 40, 60)

        def counted() -> int:
            return sum(m["events_in"] for m in read_json(s.kafka_bootstrap, topics.pipeline_metrics)
                       if "events_in" in m)

        wait_for("every event counted in pipeline-metrics", lambda: counted() >= 40, 20)
        assert counted() == 40
        # `status` finds the running job through its REST API, checkpoints completing.
        st = collect(s)
        part = next(x for x in st["parts"] if x["name"] == "scoring job")
        assert part["state"] == "healthy", part
        assert st["job"]["state"] == "RUNNING" and st["job"]["checkpoints"]["completed"] > 0
        assert st["job"]["checkpoints"]["last_completed_age_s"] < 10 and st["job"]["restarts"] == 0
        assert sum(t["scored"] for t in st["tasks"]) > 0
        # So does the stack exporter, for the rules that page on a stall.
        assert probe_job(s) is not None
        assert m.JOB_UP._value.get() == 1 and m.JOB_RESTARTS._value.get() == 0
        assert m.JOB_CHECKPOINT_AGE._value.get() < 10
        assert m.JOB_CHECKPOINT_INTERVAL._value.get() == s.job.checkpoint_interval_ms / 1000
    finally:
        stop_job(job)
    part = next(x for x in collect(s)["parts"] if x["name"] == "scoring job")
    assert part["state"] == "not running", part
    assert probe_job(s) is None and m.JOB_UP._value.get() == 0
