"""The window store on a real Redis Cluster of three masters (started here, stopped by
PID): the same feature cases as on one Redis, each entity's keys on one master and
the entities over all three, claims, scripts missing on a master, and slots moved
under the store (MOVED, ASK, TRYAGAIN)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.crc import key_slot

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import TxClaim
from lepton_stream.feature_store.redis_windows import RedisWindowStore, TxFacts
from lepton_stream.features.definitions import PROFILE_FIELDS
from lepton_stream.stack import manager, processes, redis_cluster
from tests.integration.conftest import make_settings
from tests.integration.feature_cases import (
    assert_fraud_features_match_offline,
    assert_replays_and_labels_count_once,
    assert_store_matches_the_definition,
)

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
_TAG = re.compile(rb"\{([^}]*)\}")


@dataclass(frozen=True)
class Cluster:
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port)

    def owner(self, slot: int) -> int:
        for lo, hi, primary, *_ in self.node(self.ports[0]).execute_command("CLUSTER", "SLOTS"):
            if lo <= slot <= hi:
                return int(primary[1])
        raise AssertionError(f"slot {slot} not covered")

    def other(self, port: int) -> int:
        return next(p for p in self.ports if p != port)

    def begin_move(self, slot: int, src: int, dst: int) -> None:
        src_id, dst_id = (self.node(p).execute_command("CLUSTER", "MYID").decode() for p in (src, dst))
        self.node(dst).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        self.node(src).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)

    def finish_move(self, slot: int, src: int, dst: int) -> None:
        """The slot's keys migrated, then every master told the new owner (what
        `redis-cli --cluster reshard` does for each slot)."""
        while keys := self.node(src).execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            self.node(src).execute_command("MIGRATE", HOST, dst, "", 0, 5000, "KEYS", *keys)
        dst_id = self.node(dst).execute_command("CLUSTER", "MYID").decode()
        for p in (dst, src, *(q for q in self.ports if q not in (src, dst))):
            self.node(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)

    def keys_in(self, slot: int, port: int) -> int:
        return int(self.node(port).execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))

    def holds(self, port: int, key: str) -> bool:
        """Whether the master on `port` holds `key` (asked by slot: a plain read of a
        migrating slot would be redirected)."""
        slot, n = key_slot(key.encode()), 1_000_000
        return key.encode() in self.node(port).execute_command("CLUSTER", "GETKEYSINSLOT", slot, n)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = processes.free_ports(2 * redis_cluster.MASTERS)
    nodes, buses = ports[:redis_cluster.MASTERS], ports[redis_cluster.MASTERS:]
    procs = []
    try:
        for port, bus in zip(nodes, buses, strict=True):
            cmd = redis_cluster.node_command(HOST, port, bus, home)
            procs.append(processes.start("redis", cmd, home / f"{port}.log"))
        redis_cluster.wait_pong(HOST, nodes)
        redis_cluster.create(HOST, nodes)
        yield Cluster(nodes)
    finally:
        for proc in procs:
            processes.stop(proc.pid)


def _store(c: Cluster) -> RedisWindowStore:
    return RedisWindowStore(c.url, cluster=True)


def test_fraud_features_match_offline_and_each_entity_lives_on_one_master(cluster):
    assert_fraud_features_match_offline(_store(cluster), seed=7)
    where: dict[bytes, set[int]] = {}
    for port in cluster.ports:
        for key in cluster.node(port).scan_iter("lepton:*", count=10_000):
            m = _TAG.search(key)
            assert m, key
            where.setdefault(m.group(1), set()).add(port)
    assert len(where) > 400  # 200 cards and the terminals they used
    assert all(len(ports) == 1 for ports in where.values())  # every key of an entity on one master
    per_master = {p: sum(ports == {p} for ports in where.values()) for p in cluster.ports}
    assert min(per_master.values()) > len(where) / 6, per_master  # ...and the entities over all three


def test_the_definition_replays_and_labels_on_a_cluster(cluster):
    store = _store(cluster)
    assert_store_matches_the_definition(store)
    assert_replays_and_labels_count_once(store)


def test_claims_tell_new_replay_duplicate_and_conflict(cluster):
    store = _store(cluster)
    run = uuid.uuid4().hex[:6]
    firsts = [TxClaim(f"{run}-{i}", f"fp{i}", f"transactions/0/{i}") for i in range(300)]
    assert store.claim(firsts) == ["new"] * 300
    assert {cluster.owner(key_slot(store.claim_key(c.tx_id).encode())) for c in firsts} == set(cluster.ports)
    later = [firsts[5], TxClaim(firsts[6].tx_id, "fp6", "transactions/1/9"), TxClaim(firsts[7].tx_id, "other", "x/0/1"),
             TxClaim(f"{run}-new", "fpn", "transactions/0/999"), TxClaim(f"{run}-new", "fpn", "transactions/1/5")]
    # A later claim of one call sees an earlier one, whichever master holds it.
    assert store.claim(later) == ["replay", "duplicate", "conflict", "new", "duplicate"]


def test_profiles_describe_and_ping_on_a_cluster(cluster):
    store = _store(cluster)
    run = uuid.uuid4().hex[:6]
    cards = [f"{run}-c{i}" for i in range(50)]
    rows = np.arange(50 * len(PROFILE_FIELDS), dtype=float).reshape(50, len(PROFILE_FIELDS))
    assert store.load_profiles(cards, rows) == 50
    got, missing = store.profiles([*cards, f"{run}-none"])
    np.testing.assert_array_equal(got[:50], rows)
    assert missing.tolist() == [False] * 50 + [True]
    _, profile = store.apply_and_profile([TxFacts(f"{run}-t", cards[3], f"{run}-term", 1_767_225_600_000, 100, 0, 0)])
    np.testing.assert_array_equal(profile[0], rows[3])
    seen = store.describe(cards[3], f"{run}-term", at_ms=1_767_225_600_000)
    assert seen["card"]["windows"]["1d"] == {"c": 1, "s": 100} and seen["terminal"]["id"] == f"{run}-term"
    assert seen["card"]["profile"] == dict(zip(PROFILE_FIELDS, rows[3].tolist(), strict=True))
    assert store.ping()


def test_scripts_flushed_on_every_master_are_loaded_again(cluster):
    store = _store(cluster)
    run = uuid.uuid4().hex[:6]
    txs = [TxFacts(f"{run}-{i}", f"{run}-c{i % 40}", f"{run}-t{i % 30}", 1_767_225_600_000 + i * 1000, 100, 0, 0)
           for i in range(120)]
    store.apply_transactions(txs[:60])
    for port in cluster.ports:
        cluster.node(port).script_flush()
    agg = store.apply_transactions(txs[60:])
    assert agg.card_count[:, 0].tolist() == [i // 40 + 1 for i in range(60, 120)]


def test_a_batch_goes_through_while_slots_move(cluster):
    store = _store(cluster)
    run = uuid.uuid4().hex[:6]
    t0 = 1_767_225_600_000

    def tx(i: int, card: str) -> TxFacts:
        return TxFacts(f"{run}-{card}-{i}", f"{run}-{card}", f"{run}-term", t0 + i * 60_000, 100, 0, 0)

    # MOVED: a card's slot moved (keys and all) to another master after the store read the map.
    assert store.apply_transactions([tx(0, "a"), tx(1, "a")]).card_count[:, 0].tolist() == [1, 2]
    slot = key_slot(f"lepton:{{c:{run}-a}}:win".encode())
    src = cluster.owner(slot)
    dst = cluster.other(src)
    cluster.begin_move(slot, src, dst)
    cluster.finish_move(slot, src, dst)
    agg = store.apply_transactions([tx(1, "a"), tx(2, "a")])  # a replay, then a new one
    assert agg.card_count[:, 0].tolist() == [2, 3]
    assert cluster.keys_in(slot, dst) > 0 and cluster.keys_in(slot, src) == 0

    # ASK: a claim's slot half-way through its migration; its hash is new (earlier
    # claims may have made the shard's), so it is asked of the importing master, and
    # found there again.
    claim = next(c for i in range(1000) for c in [TxClaim(f"{run}-claimed-{i}", "fp", "transactions/0/1")]
                 if not any(cluster.holds(p, store.claim_key(c.tx_id)) for p in cluster.ports))
    slot = key_slot(store.claim_key(claim.tx_id).encode())
    src = cluster.owner(slot)
    dst = cluster.other(src)
    cluster.begin_move(slot, src, dst)
    assert store.claim([claim, claim]) == ["new", "replay"]
    # By key, not by count: earlier tests' keys may share the slot, and stay on its source.
    key = store.claim_key(claim.tx_id)
    assert cluster.holds(dst, key) and not cluster.holds(src, key)

    # TRYAGAIN: a new card's script in a slot under migration (its keys on neither side)
    # is refused until the migration ends; the batch waits for it and goes through.
    slot_b = key_slot(f"lepton:{{c:{run}-b}}:win".encode())
    src_b = cluster.owner(slot_b)
    dst_b = cluster.other(src_b)
    cluster.begin_move(slot_b, src_b, dst_b)
    finisher = threading.Timer(0.5, cluster.finish_move, (slot_b, src_b, dst_b))
    finisher.start()
    try:
        agg = store.apply_transactions([tx(0, "b"), tx(3, "a")])
    finally:
        finisher.join()
        cluster.finish_move(slot, src, dst)
    assert agg.card_count[:, 0].tolist() == [1, 4]
    assert cluster.keys_in(slot_b, dst_b) > 0 and cluster.keys_in(slot_b, src_b) == 0
    assert store.claim([claim]) == ["replay"]


def test_the_stack_starts_a_three_master_cluster(tmp_path):
    s: Settings = make_settings(tmp_path, redis_cluster=True)
    try:
        assert manager.up(s, only=["redis"]) == ["redis"]
        status = {p.name: p for p in manager.status(s)}["redis"]
        assert status.healthy and "cluster of 3 masters" in status.detail, status
        store = RedisWindowStore.from_settings(s)
        run = uuid.uuid4().hex[:6]
        txs = [TxFacts(f"{run}-{i}", f"{run}-c{i}", f"{run}-t{i}", 1_767_225_600_000, 100, 0, 0) for i in range(200)]
        assert store.apply_transactions(txs).card_count[:, 0].tolist() == [1] * 200
        used = [p for p in redis_cluster.node_ports(s) if redis.Redis(host=s.endpoints.host, port=p).dbsize() > 0]
        assert used == redis_cluster.node_ports(s)
    finally:
        manager.down_parts(s, ["redis"])
    assert all(processes.port_free(s.endpoints.host, p) for p in redis_cluster.node_ports(s))  # every master stopped
