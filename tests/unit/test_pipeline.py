import json
import time

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.features.definitions import FRAUD_FEATURES
from lepton_stream.pipeline import RawRecord, ScoringPipeline
from lepton_stream.pipeline.batch import Batch, OutRecord
from lepton_stream.pipeline.metrics import MetricsStage
from lepton_stream.pipeline.stages import (
    FeatureStage,
    LabelStage,
    ParseStage,
    PassthroughStage,
    RouteStage,
    ScoreStage,
    severity,
)
from producers.simple import SimpleGenerator, malformed
from tests.fakes import AmountScorer, FirstSightStore


def _pipeline(s: Settings, store: FirstSightStore) -> ScoringPipeline:
    n = len(FRAUD_FEATURES)
    stats = lambda version: (np.zeros(n, np.float32), np.ones(n, np.float32))  # noqa: E731
    return ScoringPipeline([LabelStage(s, store), ParseStage(s), FeatureStage(s, store),
                            ScoreStage(s, AmountScorer()), RouteStage(s, stats)])


def test_routes_scores_alerts_dlq_and_labels_with_origins():
    s = Settings()
    store = FirstSightStore()
    events = [ev.event for ev in SimpleGenerator(cards=5, seed=2).stream(4, 1_700_000_000_000)]
    events[1]["amount"] = 5000.0  # fraud score 0.83 -> medium alert
    label = {"tx_id": "old-1", "card_id": "c", "terminal_id": "t9", "is_fraud": True, "labelled_at": 1}
    values = [json.dumps(events[0]).encode(), json.dumps(events[1]).encode(),
              malformed("unknown_currency", events[2]), json.dumps(events[3]).encode()]
    records = [RawRecord(e["card_id"].encode(), v, s.topics.transactions, 0, 10 + i)
               for i, (e, v) in enumerate(zip(events, values, strict=True))]
    records += [RawRecord(b"c", json.dumps(label).encode(), s.topics.fraud_labels, 1, 5),
                RawRecord(b"c", b'{"tx_id": "x"}', s.topics.fraud_labels, 1, 6)]
    out = _pipeline(s, store).process(records)
    by_topic = {t: [o for o in out if o.topic == t] for t in (s.topics.scores, s.topics.risk_alerts, s.topics.dlq)}
    assert [o.origin for o in by_topic[s.topics.scores]] == [0, 1, 3]
    assert [o.origin for o in by_topic[s.topics.risk_alerts]] == [1]
    assert sorted(o.origin for o in by_topic[s.topics.dlq]) == [2, 5]
    alert = json.loads(by_topic[s.topics.risk_alerts][0].value)
    assert alert["severity"] == "medium" and alert["tx_id"] == events[1]["tx_id"]
    assert alert["merchant_id"] == events[1]["merchant_id"]
    assert alert["reasons"][0]["feature"] in FRAUD_FEATURES
    assert alert["model_version"] == "fraud_scorer:7,credit_scorer:3"
    score = json.loads(by_topic[s.topics.scores][1].value)
    assert (score["fraud_model_version"], score["credit_model_version"]) == ("7", "3")
    assert abs(score["fraud_score"] - 5000 / 6000) < 1e-6
    dlq = {json.loads(o.value)["source_offset"]: json.loads(o.value) for o in by_topic[s.topics.dlq]}
    assert dlq[12]["error_code"] == "unknown_currency" and dlq[6]["error_code"] == "missing_field"
    assert dlq[6]["source_topic"] == s.topics.fraud_labels
    assert [(lab.tx_id, lab.terminal_id) for lab in store.labels] == [("old-1", "t9")]


def test_an_all_bad_batch_still_produces_its_dlq_records():
    s = Settings()
    out = _pipeline(s, FirstSightStore()).process([RawRecord(None, b"{", s.topics.transactions, 0, 1)])
    assert [(o.topic, o.key) for o in out] == [(s.topics.dlq, b"")]


def test_metrics_stage_counts_the_window_and_emits_one_record_per_interval():
    s = Settings()
    store = FirstSightStore()
    metrics = MetricsStage(s, lag=lambda offsets: {f"{t}/{p}": 100 - o for (t, p), o in offsets.items()},
                           interval_s=0.0)
    pipe = ScoringPipeline([*_pipeline(s, store).stages, metrics])
    events = [ev.event for ev in SimpleGenerator(cards=5, seed=2).stream(5, 1_700_000_000_000)]
    records = [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, 0, i) for i, e in enumerate(events)]
    records.append(RawRecord(b"k", b"not json", s.topics.transactions, 1, 40))
    out = pipe.process(records)
    (m,) = [json.loads(o.value) for o in out if o.topic == s.topics.pipeline_metrics]
    assert (m["events_in"], m["scored"], m["dlq"], m["batches"]) == (6, 5, 1, 1)
    assert m["lag"] == {f"{s.topics.transactions}/0": 96, f"{s.topics.transactions}/1": 60}
    assert m["latency_ms"]["p50"] > 0 and m["window_end"] >= m["window_start"]
    assert pipe.process([]) == []  # an empty batch emits nothing


def test_the_last_window_of_a_burst_is_written_on_a_tick_without_waiting_for_the_next_event():
    s = Settings()
    metrics = MetricsStage(s, interval_s=0.2)
    pipe = ScoringPipeline([ParseStage(s), PassthroughStage(s), metrics])
    events = [ev.event for ev in SimpleGenerator(cards=3, seed=5).stream(4, 1_700_000_000_000)]
    records = [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, 0, i) for i, e in enumerate(events)]
    assert pipe.tick() == []  # nothing counted: nothing to write
    out = pipe.process(records)
    assert not [o for o in out if o.topic == s.topics.pipeline_metrics]  # the window is not over yet
    assert pipe.tick() == []  # nor on a tick before its end
    time.sleep(0.25)
    (due,) = pipe.tick()
    m = json.loads(due.value)
    assert (due.topic, due.origin, m["events_in"], m["scored"]) == (s.topics.pipeline_metrics, 0, 4, 4)
    assert pipe.tick() == []  # written once; the next window has counted nothing


def test_the_jobs_batch_step_puts_each_output_on_its_records_row_and_tick_outputs_on_a_tick_row():
    import pandas as pd

    from stream_jobs.scoring_job import ProcessBatch

    class Echo:  # one output per record, and two due on each tick
        def process(self, records):
            return [OutRecord("scores", r.key or b"", r.value or b"", i) for i, r in enumerate(records)]

        def tick(self):
            return [OutRecord("pipeline-metrics", name, b"{}", 0) for name in (b"tx", b"labels")]

    step = ProcessBatch()
    step.pipeline = Echo()

    def run(rows):
        return step.eval(*(pd.Series(list(c)) for c in zip(*rows, strict=True)))

    only_records = run([("tx", b"a", b"1", 0, 7), ("tx", b"b", b"2", 1, 3)])
    assert only_records["v"].tolist() == [[b"1"], [b"2"]]
    only_ticks = run([("x", b"x", b"x", -1, 0), ("x", b"x", b"x", -2, 1)])  # a tick: a negative partition
    assert only_ticks["k"].tolist() == [[b"tx", b"labels"], []]
    mixed = run([("tx", b"a", b"1", 0, 7), ("x", b"x", b"x", -1, 0), ("tx", b"b", b"2", 1, 3)])
    assert mixed["t"].tolist() == [["scores"], ["pipeline-metrics", "pipeline-metrics"], ["scores"]]
    assert mixed["v"].tolist() == [[b"1"], [b"{}", b"{}"], [b"2"]]


def test_the_jobs_copies_of_the_batch_step_share_one_metrics_window(monkeypatch):
    # One copy per source in one Python process: one task_id, so one record per window,
    # not one per copy that the views (last record per task) would flip between.
    from lepton_stream.pipeline import scoring_pipeline

    monkeypatch.setattr(scoring_pipeline, "_shared_metrics", {})
    monkeypatch.setattr(scoring_pipeline, "kafka_lag", lambda bootstrap: None)
    s = Settings()
    first = scoring_pipeline._metrics_stage(s, shared=True)
    assert scoring_pipeline._metrics_stage(s, shared=True) is first
    assert scoring_pipeline._metrics_stage(s, shared=False) is not first


def test_passthrough_floor_scores_each_valid_event_zero_and_still_rejects_bad_ones():
    s = Settings().replace(pipeline="passthrough")
    events = [ev.event for ev in SimpleGenerator(cards=3, seed=4).stream(3, 1_700_000_000_000)]
    records = [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, 0, i) for i, e in enumerate(events)]
    records.insert(1, RawRecord(b"k", b"{", s.topics.transactions, 0, 9))
    out = ScoringPipeline([ParseStage(s), PassthroughStage(s)]).process(records)
    assert [(o.topic, o.origin) for o in out] == [(s.topics.dlq, 1), (s.topics.scores, 0), (s.topics.scores, 2),
                                                  (s.topics.scores, 3)]
    scores = [json.loads(o.value) for o in out[1:]]
    assert [x["tx_id"] for x in scores] == [e["tx_id"] for e in events]
    assert {(x["fraud_score"], x["fraud_model_version"]) for x in scores} == {(0.0, "passthrough")}
    assert all(x["scored_ts"] >= x["event_ts"] for x in scores)


def test_severity_levels():
    assert [severity(x, 0.5) for x in (0.2, 0.5, 0.75, 0.95)] == [None, "low", "medium", "high"]


def test_partitions_read_days_apart_are_each_checked_against_their_own_clock():
    # A consumer catching up on a backlog reads one partition days ahead of another:
    # neither is "ahead of the stream", while a liar within a partition still is.
    s = Settings()
    day = 86_400_000
    early = [ev.event for ev in SimpleGenerator(cards=5, seed=3).stream(30, 1_700_000_000_000)]
    late = [ev.event for ev in SimpleGenerator(cards=5, seed=4).stream(30, 1_700_000_000_000 + 8 * day)]
    liar = {**late[-1], "tx_id": "liar", "ts": late[-1]["ts"] + 30 * day}
    stage = ParseStage(s)
    for part, events in ((0, early), (1, late)):
        # Each batch holds mostly one partition and a few of the other, as a fetch does.
        records = [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, part, i)
                   for i, e in enumerate(events)]
        other = early if part else late
        records += [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, 1 - part, 100 + i)
                    for i, e in enumerate(other[:3])]
        batch = stage(Batch(records))
        assert [json.loads(o.value)["error_code"] for o in batch.out] == []
        assert len(batch.valid) == len(records)
    batch = stage(Batch([RawRecord(b"k", json.dumps(liar).encode(), s.topics.transactions, 1, 500)]))
    assert [json.loads(o.value)["error_code"] for o in batch.out] == ["timestamp_ahead_of_stream"]
