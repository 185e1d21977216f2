"""The Redis window store against the feature definition itself, computed naively,
on a stream with late (out-of-order) events, labels before and after their
transaction, and duplicate labels: the cases the running totals must get right."""

from __future__ import annotations

import uuid

from lepton_stream.feature_store.redis_windows import RedisWindowStore, TxFacts
from tests.integration.feature_cases import assert_store_matches_the_definition


def test_store_matches_the_definition_with_late_events_and_labels(stack):
    assert_store_matches_the_definition(RedisWindowStore(stack.redis_url))


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


def test_the_marker_names_the_layout_its_bytes_were_written_in(tmp_path):
    """A marker of this version says its layout is this code's; one an earlier version
    wrote (no layout) or another layout is not, until the store gets a new generation."""
    from lepton_stream.bench.harness import private_redis
    from lepton_stream.feature_store.redis_windows import META_KEY

    with private_redis(durable=False) as (url, r):
        store = RedisWindowStore(url)
        assert store.mark(0).generation is None
        store.set_generation("g1")
        assert store.mark(3).layout_ok and store.mark(0).writes == 3
        r.hdel(META_KEY, "layout")  # as an earlier version left it
        assert not store.mark(0).layout_ok
        r.hset(META_KEY, "layout", "0123456789ab")
        assert not store.mark(0).layout_ok and store.mark(0).generation == "g1"
        store.set_generation("g2")
        assert store.mark(0).layout_ok and store.mark(0).generation == "g2"
