"""The rules stage and routing: what the score and alert records say about rules."""

import json
from types import SimpleNamespace

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.pipeline.batch import Batch, RawRecord
from lepton_stream.pipeline.rules_stage import RuleStage
from lepton_stream.pipeline.stages import RouteStage
from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.model import Rule, rule_to_json
from lepton_stream.schemas import parse_transaction
from lepton_stream.scoring.base import Scores
from producers.simple import SimpleGenerator

S = Settings.from_env()


def _rule(id_: str, condition: str, action: str = "alert", severity: str | None = "high") -> Rule:
    return Rule(id_, 1, "test", "tests", condition, action, severity if action == "alert" else None)


def _batch(fraud: list[float], merchants: list[str]) -> Batch:
    events = [ev.event for ev in SimpleGenerator(cards=5, seed=1, id_prefix="rs").stream(len(fraud), 1_700_000_000_000)]
    for e, m in zip(events, merchants, strict=True):
        e["merchant_id"] = m
    recs = [RawRecord(e["card_id"].encode(), json.dumps(e).encode(), S.topics.transactions, 0, i)
            for i, e in enumerate(events)]
    b = Batch(recs)
    b.valid = [parse_transaction(r.value or b"") for r in recs]  # type: ignore[misc]
    b.valid_origin = list(range(len(recs)))
    n = len(recs)
    b.fraud_features = np.ones((n, len(FRAUD_FEATURES)), np.float32)
    b.credit_features = np.ones((n, len(CREDIT_FEATURES)), np.float32)
    b.scores = Scores(np.array(fraud, np.float32), np.full(n, 0.1, np.float32), "2", "2")
    return b


def _run(rules: list[Rule], batch: Batch) -> tuple[dict, dict]:
    live = SimpleNamespace(ruleset=RuleSet(rules))
    stats = (np.zeros(len(FRAUD_FEATURES), np.float32), np.ones(len(FRAUD_FEATURES), np.float32))
    out = RouteStage(S, lambda _v: stats)(RuleStage(S, live)(batch)).out  # type: ignore[arg-type]
    scores = {json.loads(o.value)["tx_id"]: json.loads(o.value) for o in out if o.topic == S.topics.scores}
    alerts = {json.loads(o.value)["tx_id"]: json.loads(o.value) for o in out if o.topic == S.topics.risk_alerts}
    return scores, alerts


def test_an_alert_rule_raises_an_alert_the_model_would_not_and_names_itself():
    b = _batch([0.1, 0.1, 0.95], ["m-a", "m-b", "m-a"])
    scores, alerts = _run([_rule("shop-a", 'merchant_id == "m-a"', severity="medium")], b)
    ids = [t.tx_id for t in b.valid]
    assert [scores[t]["rules"] for t in ids] == [["shop-a:1"], [], ["shop-a:1"]]
    assert set(alerts) == {ids[0], ids[2]}
    assert alerts[ids[0]]["rules"] == [{"id": "shop-a", "version": 1, "severity": "medium"}]
    assert alerts[ids[0]]["model_alert"] is False and alerts[ids[0]]["severity"] == "medium"
    assert alerts[ids[2]]["model_alert"] is True and alerts[ids[2]]["severity"] == "high"  # the higher of the two


def test_a_suppress_rule_silences_the_model_but_not_an_alert_rule():
    b = _batch([0.95, 0.95, 0.95], ["trusted", "other", "trusted"])
    rules = [_rule("allow", 'merchant_id == "trusted"', action="suppress"),
             _rule("big", "fraud_score > 0.9 && merchant_id != \"trusted\"", severity="low")]
    scores, alerts = _run(rules, b)
    ids = [t.tx_id for t in b.valid]
    assert set(alerts) == {ids[1]}
    assert scores[ids[0]]["rules"] == ["allow:1"]
    assert alerts[ids[1]]["severity"] == "high" and alerts[ids[1]]["rules"][0]["id"] == "big"


def test_no_rules_leaves_records_as_before():
    b = _batch([0.1, 0.95], ["a", "b"])
    scores, alerts = _run([], b)
    assert all(s["rules"] == [] for s in scores.values())
    assert len(alerts) == 1 and next(iter(alerts.values()))["rules"] == []


def test_a_bad_rule_record_goes_to_the_dlq_and_a_good_one_does_not():
    good = _rule("ok", "amount > 1")
    recs = [RawRecord(b"ok", rule_to_json(good), S.topics.rules, 0, 0),
            RawRecord(b"x", b"{nope", S.topics.rules, 0, 1),
            RawRecord(b"wrong-key", rule_to_json(good), S.topics.rules, 0, 2),
            RawRecord(b"ok", None, S.topics.rules, 0, 3)]  # a tombstone is fine
    out = RuleStage(S, SimpleNamespace(ruleset=RuleSet([])))(Batch(recs)).out  # type: ignore[arg-type]
    dlq = [json.loads(o.value) for o in out]
    assert [(d["error_code"], d["source_offset"]) for d in dlq] == [("invalid_rule", 1), ("invalid_rule", 2)]
    assert "key" in dlq[1]["error"]


def test_each_rules_hits_reach_prometheus_and_the_pipeline_metrics_record():
    from prometheus_client import REGISTRY

    from lepton_stream.pipeline.metrics import MetricsStage

    rules = [_rule("hits-shop", 'merchant_id == "m-a"', severity="medium"),
             _rule("hits-allow", 'merchant_id == "m-b"', action="suppress"),
             _rule("hits-never", 'merchant_id == "nobody"', severity="low")]

    def prometheus() -> dict[str, float | None]:
        return {r.id: REGISTRY.get_sample_value("lepton_rule_hits_total", {"rule": r.id}) for r in rules}

    before = prometheus()
    assert before["hits-never"] is None
    stage = RuleStage(S, SimpleNamespace(ruleset=RuleSet(rules)))  # type: ignore[arg-type]
    metrics = MetricsStage(S, interval_s=3600)
    metrics(stage(_batch([0.1, 0.1, 0.95], ["m-a", "m-b", "m-a"])))
    metrics.interval_s = 0.0  # the window's second batch closes it
    out = metrics(stage(_batch([0.2], ["m-a"]))).out
    (record,) = [json.loads(o.value) for o in out if o.topic == S.topics.pipeline_metrics]
    assert record["rule_hits"] == [
        {"id": "hits-shop", "version": 1, "action": "alert", "severity": "medium", "hits": 3},
        {"id": "hits-allow", "version": 1, "action": "suppress", "severity": None, "hits": 1},
        {"id": "hits-never", "version": 1, "action": "alert", "severity": "low", "hits": 0},  # live, quiet
    ]
    after = prometheus()
    # A rule that matched nothing has its series all the same, at 0: a quiet baseline for LeptonRuleHitsSpike.
    assert {k: (after[k] or 0) - (before[k] or 0) for k in after} == {"hits-shop": 3, "hits-allow": 1, "hits-never": 0}
    assert after["hits-never"] == 0.0
    (empty,) = [json.loads(o.value) for o in metrics(_batch([0.3], ["m-c"])).out
                if o.topic == S.topics.pipeline_metrics]
    assert empty["rule_hits"] == []  # no rule evaluated in this window
