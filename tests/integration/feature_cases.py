"""Feature cases shared by the store's tests on one Redis and on a Redis Cluster:
each `assert_*` runs a stream through a store and checks it against a definition
(the offline pandas computation, or the windows computed naively)."""

from __future__ import annotations

import uuid

import numpy as np

from lepton_stream.feature_store.backfill import backfill
from lepton_stream.feature_store.redis_windows import LabelFacts, RedisWindowStore, TxFacts
from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, FRAUD_FEATURES, TERMINAL_WINDOWS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates
from producers.simulator import SimulationConfig, simulate
from producers.simulator.labels import fraud_labels

HOUR = 3_600_000


def _stream(run: str, rng: np.random.Generator) -> list[tuple[str, object]]:
    """~600 transactions over 45 days on 3 cards and 2 terminals, times jittered by up
    to ±5 h (so some arrive after later ones), and labels for about 15 % of them:
    some before their transaction, some twice."""
    t0 = 1_767_225_600_000  # 2026-01-01
    n = 600
    ts = t0 + np.sort(rng.integers(0, 45 * 24 * HOUR, n)) + rng.integers(-5 * HOUR, 5 * HOUR, n)
    txs = [TxFacts(f"{run}-{i}", f"{run}-c{rng.integers(3)}", f"{run}-t{rng.integers(2)}", int(ts[i]),
                   int(rng.integers(1, 50_000)), float(rng.uniform(0, 100)), float(rng.uniform(0, 100)))
           for i in range(n)]
    events: list[tuple[str, object]] = [("tx", t) for t in txs]
    for i in rng.choice(n, n * 15 // 100, replace=False):
        label = LabelFacts(txs[i].tx_id, txs[i].terminal_id)
        at = int(np.clip(i + rng.integers(-20, 200), 0, len(events)))
        events.insert(at, ("label", label))
        if rng.random() < 0.2:
            events.insert(min(at + int(rng.integers(1, 30)), len(events)), ("label", label))
    return events


def _naive(events: list[tuple[str, object]]) -> dict[str, tuple]:
    """Each transaction's aggregates by the definitions in features/definitions.py."""
    seen: list[TxFacts] = []
    labelled: set[str] = set()
    arrived: set[str] = set()
    out = {}
    for kind, e in events:
        if kind == "label":
            labelled.add(e.tx_id)
            continue
        seen.append(e)
        arrived.add(e.tx_id)
        cb, tb = CARD_WINDOWS.bucket_of(e.ts_ms), TERMINAL_WINDOWS.bucket_of(e.ts_ms)
        card = [t for t in seen if t.card_id == e.card_id]
        counts, sums = [], []
        for d in CARD_WINDOWS.windows_days:
            lo, hi = CARD_WINDOWS.bounds(cb, d)
            inside = [t for t in card if lo <= CARD_WINDOWS.bucket_of(t.ts_ms) <= hi]
            counts.append(len(inside))
            sums.append(sum(t.amount_cents for t in inside))
        earlier = card[:-1]
        last = None
        for t in earlier:  # the latest by time; among equal times the later arrival
            if last is None or t.ts_ms >= last.ts_ms:
                last = t
        prev = (last.ts_ms, last.x, last.y) if last else (np.nan, np.nan, np.nan)
        term = [t for t in seen[:-1] if t.terminal_id == e.terminal_id]
        tcounts, tfrauds = [], []
        for d in TERMINAL_WINDOWS.windows_days:
            lo, hi = TERMINAL_WINDOWS.bounds(tb, d)
            inside = [t for t in term if lo <= TERMINAL_WINDOWS.bucket_of(t.ts_ms) <= hi]
            tcounts.append(len(inside))
            tfrauds.append(sum(t.tx_id in labelled for t in inside))
        out[e.tx_id] = (counts, sums, prev, tcounts, tfrauds)
    return out


def _apply(store: RedisWindowStore, events: list[tuple[str, object]]) -> dict[str, tuple]:
    got = {}
    i = 0
    while i < len(events):
        kind = events[i][0]
        j = i
        while j < len(events) and events[j][0] == kind:
            j += 1
        chunk = [e for _, e in events[i:j]]
        if kind == "label":
            store.apply_labels(chunk)
        else:
            agg = store.apply_transactions(chunk)
            for k, t in enumerate(chunk):
                got[t.tx_id] = (agg.card_count[k].tolist(), agg.card_sum_cents[k].tolist(),
                                (agg.prev_ts_ms[k], agg.prev_x[k], agg.prev_y[k]),
                                agg.terminal_count[k].tolist(), agg.terminal_frauds[k].tolist())
        i = j
    return got


def _frame(seed: int, days: int = 50):
    tx = simulate(SimulationConfig(n_customers=200, n_terminals=400, nb_days=days, seed=seed)).transactions
    run = uuid.uuid4().hex[:6]  # fresh ids: the session's Redis is shared between tests
    tx["tx_id"] = run + tx["tx_id"]
    tx["card_id"] = run + tx["card_id"]
    tx["terminal_id"] = run + tx["terminal_id"]
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    return tx


def assert_store_matches_the_definition(store: RedisWindowStore) -> None:
    """Late events, labels before and after their transaction, duplicate labels, then a replay."""
    run = uuid.uuid4().hex[:8]
    events = _stream(run, np.random.default_rng(11))
    late = sum(1 for a, b in zip(events, events[1:], strict=False)
               if a[0] == b[0] == "tx" and b[1].ts_ms < a[1].ts_ms)
    assert late > 20  # the stream really has out-of-order events
    got, want = _apply(store, events), _naive(events)
    assert got.keys() == want.keys()
    for tx_id, w in want.items():
        g = got[tx_id]
        assert g[0] == w[0] and g[1] == w[1], (tx_id, "card windows", g, w)
        np.testing.assert_allclose(g[2], w[2], rtol=0, atol=1e-9, err_msg=f"{tx_id} previous transaction")
        assert g[3] == w[3] and g[4] == w[4], (tx_id, "terminal windows", g, w)
    assert sum(sum(w[4]) for w in want.values()) > 0  # labels did reach the terminal windows
    # A replay of everything (labels included) changes nothing and gets the same answers.
    assert repr(_apply(store, events)) == repr(got)


def assert_fraud_features_match_offline(store: RedisWindowStore, seed: int = 5) -> None:
    """Every fraud feature of every event of a 50-day simulated stream, online and offline."""
    tx = _frame(seed)
    labels = fraud_labels(tx, delay_days=7)
    assert len(tx) > 15_000 and len(labels) > 50
    online = backfill(store, tx, labels, batch=400)
    offline = offline_aggregates(tx, set(labels["tx_id"]))
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(online, field), getattr(offline, field), err_msg=field)
    args = (tx["amount"], tx["ts_ms"], tx["channel"], tx["x"], tx["y"])
    on, off = fraud_feature_matrix(*args, online), fraud_feature_matrix(*args, offline)
    assert on.shape == (len(tx), len(FRAUD_FEATURES))
    np.testing.assert_allclose(on, off, rtol=0, atol=1e-6)
    # The windows really see something: terminal risk is informative on this stream.
    risk_30 = on[:, FRAUD_FEATURES.index("terminal_risk_30d")]
    assert risk_30[tx["fraud_scenario"].to_numpy() == 2].mean() > 5 * max(risk_30[tx["is_fraud"] == 0].mean(), 1e-3)


def assert_replays_and_labels_count_once(store: RedisWindowStore) -> None:
    """A replay gets the same answer and counts nothing twice; a label before or after its
    transaction counts once."""
    run = uuid.uuid4().hex[:6]
    t = [TxFacts(f"{run}-{i}", f"{run}-card", f"{run}-term", 1_700_000_000_000 + i * 60_000, 1000 * (i + 1), 1.0, 2.0)
         for i in range(3)]
    # A label before its transaction is kept and applied when the transaction arrives.
    assert store.apply_labels([LabelFacts(t[2].tx_id, t[2].terminal_id)]) == [2]
    first = store.apply_transactions(t)
    again = store.apply_transactions(t)  # a replay after a failure
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field), err_msg=field)
    assert first.card_count[:, 0].tolist() == [1, 2, 3]
    assert first.card_sum_cents[:, 0].tolist() == [1000, 3000, 6000]
    assert np.isnan(first.prev_ts_ms[0]) and first.prev_ts_ms[2] == t[1].ts_ms
    assert store.apply_labels([LabelFacts(t[2].tx_id, t[2].terminal_id), LabelFacts(t[0].tx_id, t[0].terminal_id)]) \
        == [0, 1]
    # Eight days later the terminal's delayed windows see those 3 transactions and 2 frauds.
    later = TxFacts(f"{run}-late", f"{run}-card2", f"{run}-term", t[0].ts_ms + 8 * 86_400_000, 500, 0.0, 0.0)
    agg = store.apply_transactions([later])
    assert agg.terminal_count[0].tolist() == [3, 3, 3] and agg.terminal_frauds[0].tolist() == [2, 2, 2]
    # Readable by other services (`lepton-stream features get`).
    seen = store.describe(f"{run}-card", f"{run}-term", at_ms=t[2].ts_ms)
    assert seen["card"]["windows"]["1d"] == {"c": 3, "s": 6000} and seen["card"]["last"]["last_ts"] == str(t[2].ts_ms)
    assert seen["card"]["profile"] is None
    assert store.describe(terminal_id=f"{run}-term", at_ms=later.ts_ms)["terminal"]["windows"]["1d"] == {"c": 3, "f": 2}
