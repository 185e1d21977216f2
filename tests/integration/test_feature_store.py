"""The Redis window store against the feature definition itself, computed naively,
on a stream with late (out-of-order) events, labels before and after their
transaction, and duplicate labels: the cases the running totals must get right."""

from __future__ import annotations

import uuid

import numpy as np

from lepton_stream.feature_store.redis_windows import LabelFacts, RedisWindowStore, TxFacts
from lepton_stream.features.definitions import CARD_WINDOWS, TERMINAL_WINDOWS

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


def test_store_matches_the_definition_with_late_events_and_labels(stack):
    run = uuid.uuid4().hex[:8]
    events = _stream(run, np.random.default_rng(11))
    late = sum(1 for a, b in zip(events, events[1:], strict=False)
               if a[0] == b[0] == "tx" and b[1].ts_ms < a[1].ts_ms)
    assert late > 20  # the stream really has out-of-order events
    store = RedisWindowStore(stack.redis_url)
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


def test_store_waits_for_a_restarted_redis_and_reloads_its_scripts(tmp_path):
    """Redis down: the call retries with backoff; Redis back (empty: its script cache
    too): the scripts are loaded again and the batch goes through."""
    import subprocess
    import threading
    import time

    from lepton_stream.pipeline.retry import with_retry
    from lepton_stream.stack.processes import free_ports, stop

    (port,) = free_ports(1)
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)
        return proc

    proc = start()
    restarted: list[subprocess.Popen] = []
    try:
        store = RedisWindowStore(f"redis://127.0.0.1:{port}/0", socket_timeout=1.0)
        run = uuid.uuid4().hex[:6]
        txs = [TxFacts(f"{run}-{i}", f"{run}-c", f"{run}-t", 1_767_225_600_000 + i * 60_000, 100, 0.0, 0.0)
               for i in range(3)]
        assert store.apply_transactions(txs[:1]).card_count[0, 0] == 1
        stop(proc.pid)
        threading.Timer(1.5, lambda: restarted.append(start())).start()
        t0 = time.monotonic()
        agg = with_retry(lambda: store.apply_transactions(txs[1:]), what="redis", attempts=8, base_s=0.2)
        assert time.monotonic() - t0 >= 1.0  # it did wait for Redis
        # The restarted Redis is empty: the card starts again from these two transactions.
        assert agg.card_count[:, 0].tolist() == [1, 2]
    finally:
        for p in [proc, *restarted]:
            stop(p.pid)
