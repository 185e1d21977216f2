"""At-least-once outputs (LEPTON_DELIVERY_GUARANTEE=at-least-once) through a crash: a
replay may write a score or an alert again, never a different one, so a consumer that
keeps the first record per tx_id gets exactly the answers of a clean run."""

import uuid
from collections import defaultdict

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from producers.simple import SimpleGenerator
from tests.integration.conftest import read_json, run_killed_mid_stream_then_restarted

pytestmark = pytest.mark.integration

# What a replay writes again unchanged: everything but when it was written.
_WHEN = {"scored_ts", "latency_ms", "alert_ts"}


def _answers(records: list[dict]) -> dict[str, list[dict]]:
    by_tx: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_tx[r["tx_id"]].append({k: v for k, v in r.items() if k not in _WHEN})
    return by_tx


def test_a_replay_after_sigkill_repeats_outputs_but_never_changes_them(stack, tmp_path):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}")
    s = stack.replace(topics=topics, consumer_group=f"alo-{run}", checkpoint_interval_ms=1000,
                      delivery_guarantee="at-least-once")
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=40, seed=11, id_prefix=run).stream(4000, 1_700_000_000_000,
                                                                                          500.0)]
    run_killed_mid_stream_then_restarted(s, events, tmp_path)

    scores = _answers(read_json(s.kafka_bootstrap, topics.scores))
    assert set(scores) == {e["tx_id"] for e in events}
    changed = [tx for tx, copies in scores.items() if any(c != copies[0] for c in copies)]
    assert not changed, f"a replay changed the score of {changed[:5]}"
    alerts = _answers(read_json(s.kafka_bootstrap, topics.risk_alerts))
    changed = [tx for tx, copies in alerts.items() if any(c != copies[0] for c in copies)]
    assert not changed, f"a replay changed the alert of {changed[:5]}"
    # Deduplicated on tx_id, alerts are the scores over the threshold (a live rule of the
    # shared stack's `rules` topic may add or take away one on the scores it matched).
    over = {tx for tx, (first, *_) in scores.items() if first["fraud_score"] >= s.models.alert_threshold}
    ruled = {tx for tx, (first, *_) in scores.items() if first.get("rules")}
    assert over - ruled <= set(alerts) and set(alerts) - over <= ruled, (over ^ set(alerts)) - ruled
