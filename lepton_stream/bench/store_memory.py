"""Redis memory per active card at steady state.

Replays `days` of simulated history for `cards` cards through the store (a
fresh redis-server started and stopped by PID), each transaction claimed
first as the job's dedup stage does, dropping what expiry would have dropped
by then (claims and cards' `seen` days older than the replay horizon: keys
expire on wall time, and a replay compresses weeks into seconds), and divides
Redis's used memory, less an empty server's, by the active cards. Terminal
state is shared by many cards and counted per card too.
"""

from __future__ import annotations

from lepton_stream.bench.harness import private_redis
from lepton_stream.feature_store.backfill import tx_facts
from lepton_stream.feature_store.base import TxClaim
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.definitions import DAY_MS, PROFILE_FIELDS


def memory_per_card(cards: int = 2000, terminals: int = 4000, days: int = 40,
                    replay_horizon_s: int = 7 * 86_400) -> dict:
    from producers.simulator import SimulationConfig, simulate

    sim = simulate(SimulationConfig(n_customers=cards, n_terminals=terminals, nb_days=days))
    tx = sim.transactions
    with private_redis() as (url, r):
        empty = r.info("memory")["used_memory"]
        store = RedisWindowStore(url, replay_horizon_s=replay_horizon_s)
        store.load_profiles(sim.customers["card_id"].tolist(), sim.customers[list(PROFILE_FIELDS)].to_numpy())
        facts = tx_facts(tx)
        horizon_days = replay_horizon_s // 86_400
        expired = 0
        answers: dict[bytes, int] = {}  # cards' `seen` hashes and their days

        def expire_answers(before_day: int) -> int:
            """What expiry would have dropped by then: cards' `seen` days older than the horizon,
            dropped as the days go by, as expiry would (not all at the end, which would
            leave Redis's key table sized for keys that never lived at the same time)."""
            for key in r.scan_iter("lepton:{s*", count=10_000):
                if _seen_of(key) == "card":
                    answers.setdefault(key, int(key.rsplit(b":", 1)[1]))
            old = [k for k, day in answers.items() if day < before_day]
            for k in old:
                del answers[k]
            return r.delete(*old) if old else 0

        for i in range(0, len(facts), 5000):
            # A claim as the job's dedup stage makes it: a 16-digit fingerprint, the record's place.
            store.claim([TxClaim(f.tx_id, f"{i + k:016x}", f"transactions/{(i + k) % 2}/{(i + k) // 2}")
                         for k, f in enumerate(facts[i:i + 5000])])
            store.apply_transactions(facts[i:i + 5000])
            expired += expire_answers(max(f.ts_ms for f in facts[i:i + 5000]) // DAY_MS - horizon_days)
        last_day = int(tx["ts_ms"].max()) // DAY_MS
        expired += expire_answers(last_day - horizon_days)
        # A claim stays from one to two horizons (`RedisWindowStore.claim`): one and a half on average.
        claims_start = last_day * DAY_MS - int(1.5 * horizon_days * DAY_MS)
        old = tx.loc[tx["ts_ms"] < claims_start, "tx_id"].tolist()
        for i in range(0, len(old), 10_000):
            pipe = r.pipeline(transaction=False)
            for t in old[i:i + 10_000]:
                pipe.hdel(store.claim_key(t), store.claim_slot(t)[1])
            pipe.execute()
        by_kind: dict[str, int] = {}
        entries = {"card": 0, "terminal": 0, "claim": 0}  # transactions remembered for replays
        for key in r.scan_iter("lepton:*", count=10_000):
            if key.startswith(b"lepton:{x:"):
                entity, kind = "claim", "seen"
                entries["claim"] += r.hlen(key)
            elif seen := _seen_of(key):
                entity, kind = seen, "seen"
            else:
                kind = {"s": "state"}.get(k := key.split(b"}:", 1)[1].split(b":")[0].decode(), k)
                entity = "card" if key[8:9] == b"c" else "terminal"
            name = "claims" if entity == "claim" else f"{entity} {kind}"
            by_kind[name] = by_kind.get(name, 0) + (r.memory_usage(key, samples=0) or 0)
            if kind == "seen" and entity != "claim":
                entries[entity] += r.hlen(key)
        used = r.info("memory")["used_memory"] - empty
        active = int(tx["card_id"].nunique())
        return {"cards": active, "terminals": int(tx["terminal_id"].nunique()), "days": days,
                "transactions": len(tx), "replay_horizon_days": horizon_days,
                "seen_days_expired": expired,
                "used_memory_mb": round(used / 2**20, 1),
                "bytes_per_active_card": round(used / active),
                "bytes_per_card_by_key": {k: round(v / active) for k, v in sorted(by_kind.items())},
                # What a transaction costs while the store remembers it for replays: its
                # claim, and its card's and its terminal's `seen` entry, each with its share of the keys.
                "replay_bytes_per_transaction": round(sum(by_kind.get("claims" if e == "claim" else f"{e} seen", 0)
                                                          / max(n, 1) for e, n in entries.items())),
                "replay_bytes_per_transaction_by_kind": {
                    e: round(by_kind.get("claims" if e == "claim" else f"{e} seen", 0) / max(n, 1))
                    for e, n in entries.items()},
                "gb_per_million_cards": round(used / active * 1e6 / 2**30, 2)}


def _seen_of(key: bytes) -> str | None:
    """"card" or "terminal" for a `seen` hash (`RedisWindowStore.seen_prefix`), else None."""
    kind = key.split(b"}:", 1)[1][:1] if b"}:" in key else b""
    return {b"c": "card", b"t": "terminal"}.get(kind) if key.startswith(b"lepton:{s") else None
