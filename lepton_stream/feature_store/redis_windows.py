"""Redis online store for the multi-window views (card, terminal) and fraud labels.

Key layout (`{...}` are Redis Cluster hash tags: each script touches one slot;
the scripts and the meaning of each field are in `redis_lua.py`):
- `lepton:{c:<card_id>}:s`  the card's state in one packed string (hour buckets
  of count and cents, latest transaction, a copy of the credit profile);
- `lepton:{<slot tag>}:c<n>:<day>`  `seen`: the answer each card transaction got
  (replays get it again and change nothing), a field per transaction in a hash
  that the cards of a shard share (`seen_prefix`: its tag is in their slot), for
  the replay horizon;
- `lepton:{c:<card_id>}:profile`  the credit profile (reference data, no expiry),
  changed only through `load_profiles`/`delete_profiles`, which clear the state's copy;
- `lepton:{t:<terminal_id>}:s`, `lepton:{<slot tag>}:t<n>:<week>`  the same for
  terminals (count, labelled frauds), `seen` kept for as long as labels may come
  (the view's TTL): it also tells a label its transaction's bucket;
- `lepton:{t:<terminal_id>}:pending`  labels whose transaction is not seen yet,
  applied when it arrives (a label is never lost);
- `lepton:{meta}`  the store's marker: `generation` (who created or last rebuilt
  it), `layout` (of the bytes stored, `redis_lua.LAYOUT`) and `writes` (events
  written so far); a job checks it with every batch;
- `lepton:{x:<shard>}:<epoch>`  transactions' first sightings, a hash per shard of
  the tx_ids (`Settings.job.hash_shards`) and replay horizon long epoch: the
  tx_id's digest -> digests of its content and of its record; tells a replay from
  a duplicate or a conflict for at least the replay horizon (`claim`).
State keys expire `view.ttl_s` after their expiry was last renewed (once a week
of the entity's events) and old buckets are pruned as the head moves; a `seen`
answer is kept for at least the replay horizon (`Settings.job.replay_horizon_s`)
for cards, its view's TTL for terminals (labels need them): each period's hash
is given that expiry again by each writer every `_TTL_RESEND_S`.
Every batch is one pipelined round trip of script calls, each for a chunk of
the batch's events; the scripts are idempotent by tx_id, so a batch is simply
sent again after a failure or a Redis restart. On a Redis Cluster
(`cluster=True`) each event is its own call and the batch is split by master
instead (`redis_cluster.py`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import time
import zlib
from binascii import crc_hqx
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import redis
from hiredis import pack_command
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import LabelFacts, StoreMark, TxClaim, TxFacts, Verdict, verdict
from lepton_stream.feature_store.redis_cluster import ClusterTransport, cluster_client
from lepton_stream.feature_store.redis_lua import (
    CARD_SEEN_PERIOD_MS,
    LAYOUT,
    STATE_FORMATS,
    TERMINAL_SEEN_PERIOD_MS,
    card_reply_dtype,
    card_script,
    label_script,
    profile_script,
    terminal_script,
)
from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import (
    CARD_WINDOWS,
    DEFAULT_PROFILE,
    PROFILE_FIELDS,
    TERMINAL_WINDOWS,
)

META_KEY = "lepton:{meta}"
_CHUNK = 8  # script calls per write: see `_run`
# Events per script call on a single Redis: the call's own cost (dispatch, KEYS and
# ARGV tables) is paid once per chunk, and a call stays short enough (well under a
# millisecond) that other clients are not kept waiting.
EVENTS_PER_CALL = 32
# Writers' clocks may disagree by this much about when the next claims epoch begins.
_EPOCH_SKEW_S = 300
_TTL_RESEND_S = 600


class RedisWindowStore:
    def __init__(self, url: str, *, socket_timeout: float = 5.0, replay_horizon_s: int = 7 * 86_400,
                 hash_shards: int = 1024, cluster: bool = False, clock: Callable[[], float] = time.time) -> None:
        self._replay_horizon_s = replay_horizon_s
        self._shards = hash_shards
        # `seen` hashes: per shard of the cluster slots (a cluster: every slot) and sub-shard.
        self._groups = REDIS_CLUSTER_HASH_SLOTS if cluster else min(hash_shards, REDIS_CLUSTER_HASH_SLOTS)
        self._subs = max(1, hash_shards // REDIS_CLUSTER_HASH_SLOTS)
        self._clock = clock  # the claims' epochs are on it
        # Claim hashes given their expiry by this process (see `claim`).
        self._ttl_epoch, self._ttl_since, self._ttl_sent = -1, 0.0, set[str]()
        # `seen` hashes given their expiry by this process since (see `_expire_seen`).
        self._seen_since, self._seen_sent = 0.0, dict[str, None]()
        # tx_ids whose claim was a first sighting, for the next apply only: the scripts
        # skip looking them up in `seen` (see `_first_flags`).
        self._fresh: set[str] = set()
        self._scripts = {
            "card": card_script(CARD_WINDOWS),
            "terminal": terminal_script(TERMINAL_WINDOWS),
            "label": label_script(TERMINAL_WINDOWS),
            "profile": profile_script(CARD_WINDOWS),
        }
        self._sha = {name: hashlib.sha1(body.encode()).hexdigest() for name, body in self._scripts.items()}
        # Any: redis-py types its sync and asyncio clients with one signature (`Awaitable[T] | T`).
        # RedisCluster routes the by-key commands (profiles, describe) itself.
        self._redis: Any
        self._cluster: ClusterTransport | None = None
        if cluster:
            self._redis = cluster_client(url, socket_timeout)
            self._cluster = ClusterTransport(self._redis, list(self._scripts.values()))
        else:
            self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                               socket_connect_timeout=socket_timeout)

    @classmethod
    def from_settings(cls, s: Settings, **kwargs: Any) -> RedisWindowStore:
        return cls(s.redis_url, replay_horizon_s=s.job.replay_horizon_s, hash_shards=s.job.hash_shards,
                   cluster=s.endpoints.redis_cluster, **kwargs)

    @staticmethod
    def card_key(card_id: str, suffix: str) -> str:
        return f"lepton:{{c:{card_id}}}:{suffix}"

    @staticmethod
    def terminal_key(terminal_id: str, suffix: str) -> str:
        return f"lepton:{{t:{terminal_id}}}:{suffix}"

    def claim_slot(self, tx_id: str) -> tuple[str, bytes]:
        """Where a tx_id's claim lives: its shard's key (the epoch's hash is `<key>:<epoch>`)
        and its field, 64 more bits of the digest (a false match is as likely as a
        collision of random 64-bit ids within one shard's epoch: with 128 of them, one
        in 10^17 for each new transaction)."""
        d = hashlib.blake2b(tx_id.encode(), digest_size=12).digest()
        return f"lepton:{{x:{int.from_bytes(d[:4], 'little') % self._shards}}}", d[4:]

    def seen_prefix(self, kind: str, entity: str) -> str:
        """The `seen` hashes of a card ("c") or of a terminal ("t"), less their period:
        shared by the entities of one shard, each
        transaction a field (`seen_field`), since a key of its own per entity and period
        cost more than its few answers. The tag is in the entity's slot, so that its
        scripts keep to one slot on a cluster."""
        return _seen_prefix(kind, entity, self._groups, self._subs)

    @staticmethod
    def seen_field(tx_id: str, entity: str) -> bytes:
        """A transaction's field in its card's or terminal's `seen` (and `pending`) hash: a
        64-bit digest of the tx_id and the entity, so that a label naming another terminal
        finds nothing in a hash the two share."""
        return hashlib.blake2b(f"{entity}\0{tx_id}".encode(), digest_size=8).digest()

    def _expire_seen(self, keys: Sequence[str], ttl_s: int) -> list[tuple[str, tuple]]:
        """EXPIRE for each `seen` hash this process has not given its expiry in the last
        `_TTL_RESEND_S`: an entry written since lives at least `ttl_s - _TTL_RESEND_S`."""
        now = self._clock()
        if now - self._seen_since > _TTL_RESEND_S:
            self._seen_since, self._seen_sent = now, {}
        new = [k for k in dict.fromkeys(keys) if k not in self._seen_sent]
        self._seen_sent.update(dict.fromkeys(new))
        return [(k, ("EXPIRE", k, ttl_s)) for k in new]

    def claim_key(self, tx_id: str, at: float | None = None) -> str:
        """The hash a claim of tx_id made at `at` (now) is stored in."""
        return f"{self.claim_slot(tx_id)[0]}:{int((self._clock() if at is None else at) // self._replay_horizon_s)}"

    def _run(self, name: str, events: Sequence[tuple[list[str], list[Any]]], common: list[Any],
             flagged: bool = False) -> list:
        """Script `name` over each event's (keys, args), `common` args first, in one
        pipelined round trip; one answer per event. Scripts missing (a restarted
        Redis) are loaded and the batch sent again, which idempotence makes safe
        (`flagged`: each event's last arg is its first-sighting flag, cleared then).

        Packs and reads the commands directly (hiredis) rather than through
        redis-py's pipeline object, whose per-command bookkeeping cost more than
        the scripts themselves at batch sizes in the thousands."""
        sha = self._sha[name]
        if self._cluster is not None:
            return [r[0] for r in self._cluster.execute([(keys[0], ("EVALSHA", sha, len(keys), *keys, *common, *args))
                                                         for keys, args in events])]
        for attempt in (0, 1):
            commands = []
            for start in range(0, len(events), EVENTS_PER_CALL):
                chunk = events[start:start + EVENTS_PER_CALL]
                keys = [k for ks, _ in chunk for k in ks]
                commands.append(pack_command(("EVALSHA", sha, len(keys), *keys, *common,
                                              *(a for _, args in chunk for a in args))))
            conn = self._redis.connection_pool.get_connection()
            replies: list = []
            error: Exception | None = None
            try:
                # In chunks, each sent before the previous one's replies are read: the
                # scripts of one chunk run while this process packs the next.
                pending = 0
                for start in range(0, len(commands), _CHUNK):
                    chunk = commands[start:start + _CHUNK]
                    conn.send_packed_command([b"".join(chunk)], check_health=False)
                    error = self._read(conn, pending, replies) or error
                    pending = len(chunk)
                error = self._read(conn, pending, replies) or error
            except BaseException:
                conn.disconnect()  # unread replies would be mistaken for the next batch's
                raise
            finally:
                self._redis.connection_pool.release(conn)
            if error is None:
                return [answer for reply in replies for answer in reply]
            if attempt or not isinstance(error, redis.exceptions.NoScriptError):
                raise error
            for body in self._scripts.values():
                self._redis.script_load(body)
            if flagged:  # calls before the failing one may have run: look every event up
                events = [(keys, [*args[:-1], "0"]) for keys, args in events]
        raise AssertionError("unreachable")

    @staticmethod
    def _read(conn, n: int, replies: list) -> Exception | None:
        error = None
        for _ in range(n):
            try:
                replies.append(conn.read_response())
            except redis.exceptions.ResponseError as exc:
                error = error or exc
                replies.append(None)
        return error

    def mark(self, events: int) -> StoreMark:
        """One round trip: HINCRBY recreates a lost marker without its generation,
        so a store emptied under a running job stays marked lost."""
        pipe = self._redis.pipeline(transaction=False)  # one key: Redis runs them in order
        pipe.hincrby(META_KEY, "writes", events)
        pipe.hmget(META_KEY, ["generation", "layout"])
        writes, (generation, layout) = pipe.execute()
        return StoreMark(None if generation is None else generation.decode(), int(writes),
                         layout_ok=layout == LAYOUT.encode())

    def set_generation(self, generation: str) -> None:
        self._redis.hset(META_KEY, mapping={"generation": generation, "layout": LAYOUT})

    def claim(self, claims: Sequence[TxClaim]) -> list[Verdict]:
        """The first claim of a tx_id stores its sighting, every later one reads it
        back: one pipelined round trip, a second for the claims found taken. The
        next apply takes a first sighting as never applied, so a transaction applied
        at all is claimed before (the pipeline's dedup stage, a rebuild) or never (a
        backfill).

        Claims are fields of a hash per shard and epoch (a replay horizon long, on
        this process's clock): stored in the current epoch's and looked up in the
        previous one's too, so each is remembered for one to two horizons; within
        `_EPOCH_SKEW_S` of the next epoch, looked up in its hash as well, which a
        writer whose clock is ahead may have started."""
        if not claims:
            return []
        now = self._clock()
        horizon = self._replay_horizon_s
        epoch = int(now // horizon)
        others = (epoch - 1, epoch + 1) if now >= (epoch + 1) * horizon - _EPOCH_SKEW_S else (epoch - 1,)
        if epoch != self._ttl_epoch or now - self._ttl_since > _TTL_RESEND_S:
            # Expiry is given once per hash and process, and again now and then (NX: a hash
            # keeps its first writer's) in case the store was emptied and filled again.
            self._ttl_epoch, self._ttl_since, self._ttl_sent = epoch, now, set()
        slots = [self.claim_slot(c.tx_id) for c in claims]
        sightings = [_sighting(c) for c in claims]
        calls: list[tuple[str, tuple]] = []
        at = []  # where each claim's calls start
        for (key, field), (content, source) in zip(slots, sightings, strict=True):
            at.append(len(calls))
            calls.extend((key, ("HGET", f"{key}:{e}", field)) for e in others)
            calls.append((key, ("HSETNX", f"{key}:{epoch}", field, content + source)))
            if key not in self._ttl_sent:
                # The current epoch's hash is looked up through the next epoch as well.
                calls.append((key, ("EXPIRE", f"{key}:{epoch}", 2 * horizon + _EPOCH_SKEW_S, "NX")))
                self._ttl_sent.add(key)
        replies = self._commands(calls)
        firsts: list[bytes | None] = []
        taken = []
        for i, start in enumerate(at):
            # In the order the epochs began: the previous one's, the current one's, the next one's.
            before, *after = replies[start:start + len(others)]
            if before is None and replies[start + len(others)] == 0:
                taken.append(i)
            firsts.append(before if before is not None else next((r for r in after if r is not None), None))
        if taken:  # by this batch's own earlier claims, or by another writer's
            for i, r in zip(taken, self._commands([(slots[i][0], ("HGET", f"{slots[i][0]}:{epoch}", slots[i][1]))
                                                   for i in taken]), strict=True):
                firsts[i] = r
        verdicts = [verdict(TxClaim(c.tx_id, content.hex(), source.hex()),
                            None if first is None else f"{first[:8].hex()}|{first[8:].hex()}")
                    for c, (content, source), first in zip(claims, sightings, firsts, strict=True)]
        self._fresh = {c.tx_id for c, v in zip(claims, verdicts, strict=True) if v == "new"}
        return verdicts

    def _commands(self, calls: Sequence[tuple[str, tuple]]) -> list:
        """Each (routing key, command)'s reply, in one pipelined round trip."""
        if self._cluster is not None:
            return self._cluster.execute(calls)
        conn = self._redis.connection_pool.get_connection()
        try:
            for start in range(0, len(calls), _CHUNK * 64):
                conn.send_packed_command([b"".join(pack_command(c) for _, c in calls[start:start + _CHUNK * 64])],
                                         check_health=False)
            return [conn.read_response() for _ in calls]
        except BaseException:
            conn.disconnect()  # unread replies would be mistaken for the next batch's
            raise
        finally:
            self._redis.connection_pool.release(conn)

    def _first_flags(self, txs: Sequence[TxFacts]) -> list[str]:
        """"1" for each transaction that cannot have been applied: its claim, just
        made by this store, was the tx_id's first sighting. Taken once: should the
        apply fail part-way and be tried again, that try looks every transaction up."""
        fresh, self._fresh = self._fresh, set()
        return ["1" if t.tx_id in fresh else "0" for t in txs]

    def apply_transactions(self, txs: Sequence[TxFacts]) -> Aggregates:
        """Apply each transaction once (by tx_id) to its card and terminal, and
        return the aggregates each one saw: one pipeline round trip."""
        return self.apply_and_profile(txs)[0]

    def apply_and_profile(self, txs: Sequence[TxFacts]) -> tuple[Aggregates, np.ndarray]:
        """`apply_transactions`, plus each card's credit profile ([N, len(PROFILE_FIELDS)],
        DEFAULT_PROFILE where unknown) read in the same scripts."""
        cw, tw = CARD_WINDOWS, TERMINAL_WINDOWS
        card_calls, term_calls = [], []
        for t, first in zip(txs, self._first_flags(txs), strict=True):
            c = f"lepton:{{c:{t.card_id}}}:"
            term = f"lepton:{{t:{t.terminal_id}}}:"
            card_calls.append(([c + "s", f"{self.seen_prefix('c', t.card_id)}{t.ts_ms // CARD_SEEN_PERIOD_MS}",
                                c + "profile"],
                               [self.seen_field(t.tx_id, t.card_id), t.ts_ms // cw.bucket_ms, t.amount_cents,
                                t.ts_ms, repr(float(t.x)), repr(float(t.y)), first]))
            term_calls.append(([term + "s",
                                f"{self.seen_prefix('t', t.terminal_id)}{t.ts_ms // TERMINAL_SEEN_PERIOD_MS}",
                                term + "pending"],
                               [self.seen_field(t.tx_id, t.terminal_id), t.ts_ms // tw.bucket_ms, first]))
        card_replies = self._run("card", card_calls, [cw.ttl_s], flagged=True)
        term_replies = self._run("terminal", term_calls, [tw.ttl_s], flagged=True)
        expire = (self._expire_seen([keys[1] for keys, _ in card_calls], self._replay_horizon_s + _TTL_RESEND_S)
                  + self._expire_seen([keys[1] for keys, _ in term_calls], tw.ttl_s + _TTL_RESEND_S))
        if expire:
            self._commands(expire)
        n, nt, npf = len(txs), len(tw.windows_days), len(PROFILE_FIELDS)
        cards = np.frombuffer(b"".join(card_replies), card_reply_dtype(cw, npf), count=n).copy()
        terms = np.fromstring(b",".join(term_replies), sep=",").reshape(n, 2 * nt) if n else np.zeros((0, 2 * nt))
        card_count, card_sum = cards["count"].astype(np.int64), cards["cents"].astype(np.int64)
        prev = cards["prev"]
        defaults = np.array([DEFAULT_PROFILE[f] for f in PROFILE_FIELDS])
        profiles = np.where(np.isnan(cards["profile"]), defaults, cards["profile"])
        t_count, t_frauds = terms[:, :nt].astype(np.int64), terms[:, nt:].astype(np.int64)
        agg = Aggregates(card_count, card_sum, prev[:, 0], prev[:, 1], prev[:, 2], t_count, t_frauds)
        return agg, profiles

    def apply_labels(self, labels: Sequence[LabelFacts]) -> list[int]:
        """1 applied, 0 duplicate, 2 transaction not seen yet (kept, applied when it arrives)."""
        events = [([f"lepton:{{t:{lab.terminal_id}}}:s", f"lepton:{{t:{lab.terminal_id}}}:pending"],
                   [self.seen_field(lab.tx_id, lab.terminal_id), self.seen_prefix("t", lab.terminal_id)])
                  for lab in labels]
        return [int(r) for r in self._run("label", events, [TERMINAL_WINDOWS.ttl_s])]

    def profiles(self, card_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """[N, len(PROFILE_FIELDS)] credit profiles, and which cards had none (defaults used)."""
        pipe = self._redis.pipeline(transaction=False)
        for card in card_ids:
            pipe.hmget(self.card_key(card, "profile"), PROFILE_FIELDS)
        out = np.empty((len(card_ids), len(PROFILE_FIELDS)))
        missing = np.zeros(len(card_ids), bool)
        defaults = [DEFAULT_PROFILE[f] for f in PROFILE_FIELDS]
        for i, values in enumerate(pipe.execute()):
            if values[0] is None:
                out[i], missing[i] = defaults, True
            else:
                out[i] = [float(v) if v is not None else d for v, d in zip(values, defaults, strict=True)]
        return out, missing

    def load_profiles(self, card_ids: Sequence[str], rows: np.ndarray) -> int:
        """Reference data: each card's credit profile (PROFILE_FIELDS order); no expiry."""
        events = [([self.card_key(card, "profile"), self.card_key(card, "s")], ["1", *map(repr, map(float, row))])
                  for card, row in zip(card_ids, rows, strict=True)]
        self._run("profile", events, [])
        return len(card_ids)

    def delete_profiles(self, card_ids: Sequence[str]) -> int:
        if not card_ids:
            return 0
        events = [([self.card_key(card, "profile"), self.card_key(card, "s")], ["0", *[""] * len(PROFILE_FIELDS)])
                  for card in card_ids]
        return sum(int(r) for r in self._run("profile", events, []))

    def describe(self, card_id: str | None = None, terminal_id: str | None = None, at_ms: int | None = None) -> dict:
        """Current window values of a card and/or terminal (read-only), for other services."""
        import time as _time

        at_ms = at_ms if at_ms is not None else _time.time_ns() // 1_000_000
        out: dict = {"at_ms": at_ms}
        for kind, entity, view, key in (("card", card_id, CARD_WINDOWS, self.card_key),
                                        ("terminal", terminal_id, TERMINAL_WINDOWS, self.terminal_key)):
            if entity is None:
                continue
            head, buckets = state_of(kind, self._redis.get(key(entity, "s")))
            bucket = view.bucket_of(at_ms)
            names = ("c", "s") if kind == "card" else ("c", "f")
            windows = {}
            for days in view.windows_days:
                lo, hi = view.bounds(bucket, days)
                inside = [(x, y) for b, x, y in buckets if lo <= b <= hi]
                windows[f"{days}d"] = {n: int(sum(v[i] for v in inside)) for i, n in enumerate(names)} if inside else {}
            last = ({"last_ts": str(int(head[4])), "last_x": repr(head[5]), "last_y": repr(head[6])}
                    if kind == "card" and head else {})
            out[kind] = {"id": entity, "windows": windows, "last": last}
            if kind == "card":
                profile = self._redis.hgetall(key(entity, "profile"))
                out[kind]["profile"] = {k.decode(): float(v) for k, v in profile.items()} or None
        return out

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()


def state_of(kind: str, blob: bytes | None) -> tuple[tuple, list[tuple[int, float, float]]]:
    """An entity's packed state (`redis_lua.STATE_FORMATS`): its header values and
    its (bucket, x, y) hour buckets, each bucket's own values; ((), []) when it has none."""
    if blob is None:
        return (), []
    head_format, bucket_format = STATE_FORMATS[kind]
    values: list = []
    pos = 0
    for code in re.findall(r"d|i4|s", head_format):
        if code == "s":
            end = blob.index(b"\0", pos)
            values.append(blob[pos:end].decode())
            pos = end + 1
        else:
            fmt = "<d" if code == "d" else "<i"
            values.append(struct.unpack_from(fmt, blob, pos)[0])
            pos += struct.calcsize(fmt)
    buckets = []
    x0, y0 = values[0], values[1]
    used = blob[pos:pos + values[3] * struct.calcsize(bucket_format.replace("i4", "i"))]  # then room to grow
    for b, x, y in struct.iter_unpack(bucket_format.replace("i4", "i"), used):
        buckets.append((b, x - x0, y - y0))
        x0, y0 = x, y
    return tuple(values), buckets


def _sighting(claim: TxClaim) -> tuple[bytes, bytes]:
    """What a claim stores: 64-bit digests of the content's fingerprint and of the record
    it came from (only their equality is ever asked)."""
    return (hashlib.blake2b(claim.fingerprint.encode(), digest_size=8).digest(),
            hashlib.blake2b(claim.source.encode(), digest_size=8).digest())


@functools.cache
def slot_tags() -> tuple[str, ...]:
    """For each Redis Cluster slot, the first of "s0", "s1", .. (hex) that hashes to it."""
    tags: list[str] = [""] * REDIS_CLUSTER_HASH_SLOTS
    left, j = REDIS_CLUSTER_HASH_SLOTS, 0
    while left:
        tag = f"s{j:x}"
        slot = crc_hqx(tag.encode(), 0) % REDIS_CLUSTER_HASH_SLOTS
        if not tags[slot]:
            tags[slot], left = tag, left - 1
        j += 1
    return tuple(tags)


@functools.lru_cache(maxsize=1 << 16)  # an entity's events come in runs: its slot is found once a run
def _seen_prefix(kind: str, entity: str, groups: int, subs: int) -> str:
    state = RedisWindowStore.card_key(entity, "s") if kind == "c" else RedisWindowStore.terminal_key(entity, "s")
    slot = key_slot(state.encode())
    return f"lepton:{{{slot_tags()[slot % groups]}}}:{kind}{zlib.crc32(entity.encode()) % subs}:"
