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


def test_claims_tell_a_replay_from_a_duplicate_and_a_conflict_for_one_to_two_horizons(stack):
    """Claims are fields of a hash per shard and epoch (`RedisWindowStore.claim`): found
    within a call and in the next epoch, forgotten after that, and found across an epoch
    boundary by a writer whose clock is behind."""
    import redis

    from lepton_stream.feature_store.base import TxClaim

    horizon = 3600
    now = [(10**6 + 0.5) * horizon]  # half-way through an epoch
    store = RedisWindowStore(stack.redis_url, replay_horizon_s=horizon, hash_shards=8, clock=lambda: now[0])
    run = uuid.uuid4().hex[:6]
    first = [TxClaim(f"{run}-{i}", f"fp{i}", f"transactions/0/{i}") for i in range(50)]
    assert store.claim(first + [first[0]]) == ["new"] * 50 + ["replay"]
    again = [first[1], TxClaim(first[2].tx_id, "fp2", "transactions/1/7"), TxClaim(first[3].tx_id, "other", "t/0/3")]
    assert store.claim(again) == ["replay", "duplicate", "conflict"]

    r = redis.Redis.from_url(stack.redis_url)
    key = store.claim_key(first[0].tx_id)
    assert r.object("encoding", key) == b"listpack"  # packed: tens of bytes a claim
    assert horizon < r.ttl(key) <= 2 * horizon + 300

    now[0] += horizon  # the next epoch: found in the previous one's hash
    assert store.claim(again) == ["replay", "duplicate", "conflict"]
    now[0] += horizon  # two epochs on: forgotten
    assert store.claim([first[4]]) == ["new"]

    # Near a boundary: a writer whose clock has passed it stores in the new epoch's hash;
    # one whose clock is still behind it looks that hash up too.
    boundary = (int(now[0] // horizon) + 1) * horizon
    ahead = RedisWindowStore(stack.redis_url, replay_horizon_s=horizon, hash_shards=8, clock=lambda: boundary + 1)
    behind = RedisWindowStore(stack.redis_url, replay_horizon_s=horizon, hash_shards=8, clock=lambda: boundary - 60)
    late = TxClaim(f"{run}-late", "fp", "transactions/0/99")
    assert ahead.claim([late]) == ["new"]
    assert behind.claim([late]) == ["replay"]
    # The current epoch's sighting comes before the next one's: a conflict stored there
    # by a writer ahead does not hide the first sighting from a writer behind.
    early = TxClaim(f"{run}-early", "fp", "transactions/0/98")
    assert behind.claim([early]) == ["new"]
    assert ahead.claim([TxClaim(early.tx_id, "other", "transactions/1/3")]) == ["conflict"]
    assert behind.claim([early]) == ["replay"]


def test_shared_seen_hashes_keep_answers_exact_and_labels_to_their_terminal(stack):
    """`seen` hashes are shared by many cards and terminals (one shard here: all of them):
    an answer kept short, or whole when it does not fit, comes back exact on a replay, and
    a label naming another terminal finds nothing there."""
    import numpy as np

    from lepton_stream.feature_store.base import LabelFacts
    from lepton_stream.features.aggregates import Aggregates

    store = RedisWindowStore(stack.redis_url, hash_shards=1)
    run = uuid.uuid4().hex[:6]
    t0 = 1_767_225_600_000
    # 30 transactions of $900,000: a day's cents pass 2^31 (the whole answer is kept).
    big = [TxFacts(f"{run}-b{i}", f"{run}-card", f"{run}-term", t0 + i * 60_000, 90_000_000, 1.5 + i, 2.5)
           for i in range(30)]
    first, again = store.apply_transactions(big), store.apply_transactions(big)
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field), err_msg=field)
    assert first.card_sum_cents[-1, 0] == 30 * 90_000_000 > 2**31
    assert first.prev_x[-1] == 1.5 + 28 and first.prev_ts_ms[-1] == big[-2].ts_ms

    other = TxFacts(f"{run}-o", f"{run}-card2", f"{run}-term2", t0, 100, 0.0, 0.0)
    store.apply_transactions([other])
    assert store.apply_labels([LabelFacts(other.tx_id, f"{run}-term")]) == [2]  # kept pending there
    assert store.apply_labels([LabelFacts(other.tx_id, f"{run}-term2")]) == [1]


def test_two_writers_on_one_store_apply_each_transaction_once(stack):
    """Two processes that score the same transactions on one store (the job and the loop,
    or the job and a rebuild): the first to claim a tx_id skips the `seen` lookup, the
    other applies it first. The first's apply then finds it there and counts nothing twice,
    a pending label on the terminal included."""
    import numpy as np
    import redis

    from lepton_stream.feature_store.base import LabelFacts, TxClaim
    from lepton_stream.feature_store.redis_windows import state_of
    from lepton_stream.features.aggregates import Aggregates

    run = uuid.uuid4().hex[:6]
    t0 = 1_767_225_600_000
    # The last on a terminal with no label pending: the other way its apply finds the first.
    txs = [TxFacts(f"{run}-{i}", f"{run}-card", f"{run}-term{i // 2}", t0 + i * 60_000, 1_000 + i, 1.0, 2.0)
           for i in range(3)]
    claims = [TxClaim(t.tx_id, f"fp{i}", f"transactions/0/{i}") for i, t in enumerate(txs)]
    first, second = RedisWindowStore(stack.redis_url), RedisWindowStore(stack.redis_url)
    # Labels before their transactions: one of these three, one of a transaction still to come.
    assert first.apply_labels([LabelFacts(txs[0].tx_id, f"{run}-term0"), LabelFacts(f"{run}-later", f"{run}-term0")]) \
        == [2, 2]
    assert first.claim(claims) == ["new"] * 3
    assert second.claim(claims) == ["replay"] * 3
    by_second = second.apply_transactions(txs)
    by_first = first.apply_transactions(txs)
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(by_first, field), getattr(by_second, field), err_msg=field)
    assert by_first.card_count[:, 0].tolist() == [1, 2, 3]
    got = first.describe(f"{run}-card", None, t0 + 3 * 60_000)
    assert got["card"]["windows"]["1d"] == {"c": 3, "s": 3_003}
    # Each terminal's hour buckets (count, labelled frauds).
    r = redis.Redis.from_url(stack.redis_url)
    for terminal, want in ((f"{run}-term0", (2, 1)), (f"{run}-term1", (1, 0))):
        _, buckets = state_of("terminal", r.get(first.terminal_key(terminal, "s")))
        assert (sum(x for _, x, _ in buckets), sum(y for _, _, y in buckets)) == want, terminal
    # The label of the transaction still to come stays pending; a later label of txs[0] is a duplicate.
    assert first.apply_labels([LabelFacts(txs[0].tx_id, f"{run}-term0")]) == [0]
