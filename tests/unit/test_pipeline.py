import json

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.features import MODEL_FEATURES
from lepton_stream.pipeline import RawRecord, ScoringPipeline
from lepton_stream.pipeline.stages import FeatureStage, ParseStage, RouteStage, ScoreStage, severity
from producers.simple import SimpleGenerator, malformed
from tests.fakes import AmountScorer, MemoryFeatureStore


def _pipeline(s: Settings) -> ScoringPipeline:
    n = len(MODEL_FEATURES)
    return ScoringPipeline([ParseStage(s), FeatureStage(s, MemoryFeatureStore()), ScoreStage(s, AmountScorer()),
                            RouteStage(s, np.zeros(n, np.float32), np.ones(n, np.float32))])


def test_routes_scores_alerts_and_dlq_with_origins():
    s = Settings()
    events = [ev.event for ev in SimpleGenerator(cards=5, seed=2).stream(4, 1_700_000_000_000)]
    events[1]["amount"] = 5000.0  # fraud score 0.83 -> medium alert
    values = [json.dumps(events[0]).encode(), json.dumps(events[1]).encode(),
              malformed("unknown_currency", events[2]), json.dumps(events[3]).encode()]
    records = [RawRecord(e["card_id"].encode(), v, "transactions", 0, 10 + i)
               for i, (e, v) in enumerate(zip(events, values, strict=True))]
    out = _pipeline(s).process(records)
    by_topic = {t: [o for o in out if o.topic == t] for t in (s.topics.scores, s.topics.risk_alerts, s.topics.dlq)}
    assert [o.origin for o in by_topic[s.topics.scores]] == [0, 1, 3]
    assert [o.origin for o in by_topic[s.topics.risk_alerts]] == [1]
    assert [o.origin for o in by_topic[s.topics.dlq]] == [2]
    alert = json.loads(by_topic[s.topics.risk_alerts][0].value)
    assert alert["severity"] == "medium" and alert["tx_id"] == events[1]["tx_id"]
    assert alert["reasons"][0]["feature"] in MODEL_FEATURES
    score = json.loads(by_topic[s.topics.scores][1].value)
    assert score["model_version"] == "7" and abs(score["fraud_score"] - 5000 / 6000) < 1e-6
    dlq = json.loads(by_topic[s.topics.dlq][0].value)
    assert (dlq["error_code"], dlq["source_offset"]) == ("unknown_currency", 12)
    assert by_topic[s.topics.dlq][0].key == events[2]["card_id"].encode()


def test_an_all_bad_batch_still_produces_its_dlq_records():
    s = Settings()
    out = _pipeline(s).process([RawRecord(None, b"{", "transactions", 0, 1)])
    assert [(o.topic, o.key) for o in out] == [(s.topics.dlq, b"")]


def test_severity_levels():
    assert [severity(x, 0.5) for x in (0.2, 0.5, 0.75, 0.95)] == [None, "low", "medium", "high"]
