"""Redis CPU per transaction of the feature store, apart from everything else.

Applies a simulated stream (1,000 cards, 2,000 terminals, its fraud labels a
week late, merged by time) to a fresh redis-server (started and stopped by
PID) in batches of 2,000, as the job does: each transaction's claim
(`RedisWindowStore.claim`), its card and terminal scripts, and the labels. Reads
Redis's own CPU counters and command statistics: CPU time is what the store
costs the server whatever else the machine is doing. Runs alternately with
the stack's durability (`appendfsync always`) and with no persistence, and
checks the answers against the offline definition.

Alternated with those runs, the same stream through `_FloorStore`: scripts
that only make the calls a per-event store of this shape cannot do without
(per entity, read its header, write it back and one bucket, remember the
answer for replays; the claim as it is) and compute nothing. Their cost is
the least any such store costs, however good its Lua: what the store's
target must be read against.
"""

from __future__ import annotations

import hashlib
import statistics
import struct
import time
from typing import Any

import numpy as np

from lepton_stream.bench.harness import private_redis
from lepton_stream.feature_store.backfill import tx_facts
from lepton_stream.feature_store.base import LabelFacts, TxClaim
from lepton_stream.feature_store.redis_lua import STATE_FORMATS, card_answer, card_reply_dtype
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, PROFILE_FIELDS, TERMINAL_WINDOWS

# Per event as the real scripts get it (KEYS: state, seen, then others; ARGV: the tx digest
# first), one header read, two writes, the answer remembered; the reply as long as a real one.
_FLOOR = """
local HS, RS, WIDTH, NK, out = {hs}, {rs}, {width}, {nkeys}, {{}}
local answer, reply = string.rep('\\0', {answer_bytes}), {reply}
for i = 0, #KEYS / NK - 1 do
  local kstate, kseen, a = KEYS[NK * i + 1], KEYS[NK * i + 2], 2 + WIDTH * i
  local head = redis.call('GETRANGE', kstate, 0, HS - 1)
  redis.call('SETRANGE', kstate, 0, string.rep('\\0', HS))
  redis.call('SETRANGE', kstate, HS, string.rep('\\0', RS))
  redis.call('HSET', kseen, ARGV[a], answer)
  out[i + 1] = reply
end
return out
"""


def _floor_script(kind: str) -> str:
    head, bucket = (struct.calcsize(f.replace("i4", "i")) for f in STATE_FORMATS[kind])
    if kind == "card":
        return _FLOOR.format(hs=head, rs=bucket, width=7, nkeys=3,
                             answer_bytes=struct.calcsize(card_answer(CARD_WINDOWS).replace("i4", "i")),
                             reply=f"string.rep('\\0', {card_reply_dtype(CARD_WINDOWS, len(PROFILE_FIELDS)).itemsize})")
    nw = len(TERMINAL_WINDOWS.windows_days)
    return _FLOOR.format(hs=head, rs=bucket, width=3, nkeys=3, answer_bytes=2 * nw,
                         reply="'" + ",".join(["0"] * 2 * nw) + "'")


class _FloorStore(RedisWindowStore):
    """The store with `_FLOOR` as its card and terminal scripts (labels are left out:
    its states are not real ones)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        for kind in ("card", "terminal"):
            self._scripts[kind] = _floor_script(kind)
            self._sha[kind] = hashlib.sha1(self._scripts[kind].encode()).hexdigest()


def _one_run(facts: list, labels: Any, batch: int, durable: bool, floor: bool = False) -> tuple[dict, Aggregates]:
    label_at = labels["labelled_at"].to_numpy()
    label_facts = [LabelFacts(t, term) for t, term in zip(labels["tx_id"], labels["terminal_id"], strict=True)]
    with private_redis(durable=durable) as (url, r):
        store = _FloorStore(url) if floor else RedisWindowStore(url)

        def cpu() -> float:
            info = r.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        r.config_resetstat()
        c0, t0, done_labels, parts = cpu(), time.perf_counter(), 0, []
        for i in range(0, len(facts), batch):
            chunk = facts[i:i + batch]
            # The labels that have arrived by the batch's last event, as a stream delivers them.
            due = int(np.searchsorted(label_at, chunk[-1].ts_ms, side="right"))
            if due > done_labels and not floor:
                store.apply_labels(label_facts[done_labels:due])
                done_labels = due
            store.claim([TxClaim(f.tx_id, "0" * 16, f"transactions/0/{i + k}") for k, f in enumerate(chunk)])
            parts.append(store.apply_transactions(chunk))
        wall, server = time.perf_counter() - t0, cpu() - c0
        calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in r.info("commandstats").items()}
    n = len(facts)
    return ({"redis_cpu_us_per_transaction": server / n * 1e6, "transactions_per_s": n / wall,
             "labels": done_labels,
             "redis_commands_per_transaction": {k: round(v / n, 2) for k, v in sorted(calls.items())
                                                if k not in ("info", "ping", "script|load", "config|resetstat")}},
            Aggregates.concat(parts))


def store_cpu(n: int = 60_000, batch: int = 2_000, repeats: int = 3) -> dict:
    import pandas as pd

    from lepton_stream.features.offline import offline_aggregates
    from producers.simulator import SimulationConfig, simulate
    from producers.simulator.labels import fraud_labels

    tx = simulate(SimulationConfig(n_customers=1000, n_terminals=2000, nb_days=n // 1900 + 1)).transactions.head(n)
    facts = tx_facts(tx)
    labels = fraud_labels(tx)
    runs: dict[bool, list[dict]] = {True: [], False: []}
    floors: dict[bool, list[float]] = {True: [], False: []}
    online = None
    for _ in range(repeats):
        for durable in (True, False):
            run, online = _one_run(facts, labels, batch, durable)
            runs[durable].append(run)
            floor, _ = _one_run(facts, labels, batch, durable, floor=True)
            floors[durable].append(floor["redis_cpu_us_per_transaction"])
    assert online is not None
    # The offline definition of the card windows (terminal windows depend on when labels arrive).
    offline = offline_aggregates(pd.DataFrame([f.__dict__ for f in facts]))
    equal = all(np.allclose(np.nan_to_num(getattr(online, f), nan=-1.0), np.nan_to_num(getattr(offline, f), nan=-1.0))
                for f in ("card_count", "card_sum_cents", "prev_ts_ms", "prev_x", "prev_y", "terminal_count"))

    def median(durable: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[durable])

    durable_us, plain_us = median(True, "redis_cpu_us_per_transaction"), median(False, "redis_cpu_us_per_transaction")
    return {"transactions": len(facts), "labels": runs[True][-1]["labels"], "batch": batch, "repeats": repeats,
            "redis_cpu_us_per_transaction": round(durable_us, 1),
            "redis_cpu_us_per_transaction_no_persistence": round(plain_us, 1),
            "durability_cost_us_per_transaction": round(durable_us - plain_us, 1),
            "runs_us_per_transaction": {"durable": [round(r["redis_cpu_us_per_transaction"], 1) for r in runs[True]],
                                        "no_persistence": [round(r["redis_cpu_us_per_transaction"], 1)
                                                           for r in runs[False]]},
            "transactions_per_s": round(median(True, "transactions_per_s")),
            # The least a per-event store of this shape costs (`_FLOOR`), labels left out.
            "floor_us_per_transaction": round(statistics.median(floors[True]), 1),
            "floor_us_per_transaction_no_persistence": round(statistics.median(floors[False]), 1),
            "redis_commands_per_transaction": runs[True][-1]["redis_commands_per_transaction"],
            "equal_to_offline_definition": equal}
