"""Redis memory of the online feature store per card, for sizing (docs/deploy.md).

Simulates the handbook's process for `--days` (default 32: every key of the
30-day card windows and their per-transaction markers is then alive, which is
the steady state: keys expire ~31 days after their last write), applies it
to a private redis-server through the real store (same Lua scripts, same key
layout, credit profiles included), and reports used_memory per card and per
live transaction. Starts and stops its own redis-server by PID.

Run: `.venv/bin/python -m benchmarks.redis_memory [--customers 2000] [--days 32]`
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import redis

from lepton_stream.feature_store.backfill import TX_FACT_COLUMNS, backfill
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.definitions import PROFILE_FIELDS
from producers.simulator.run import SimulationConfig, simulate

OUT = Path(__file__).resolve().parent / "results" / "redis_memory.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--terminals", type=int, default=4000)
    ap.add_argument("--days", type=int, default=32)
    args = ap.parse_args(argv)

    sim = simulate(SimulationConfig(n_customers=args.customers, n_terminals=args.terminals, nb_days=args.days))
    tx = sim.transactions
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL)
        try:
            r = redis.Redis(port=port)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            base = r.info("memory")["used_memory"]
            store = RedisWindowStore(f"redis://127.0.0.1:{port}/0")
            customers = sim.customers
            profiles = customers[list(PROFILE_FIELDS)].to_numpy() if set(PROFILE_FIELDS) <= set(customers) else None
            if profiles is not None:
                store.load_profiles(customers["card_id"].tolist(), profiles)
            t0 = time.monotonic()
            backfill(store, tx[TX_FACT_COLUMNS], pd.DataFrame({"tx_id": [], "terminal_id": [], "labelled_at": []}))
            apply_s = time.monotonic() - t0
            info = r.info("memory")
            used = info["used_memory"] - base
            keys = r.dbsize()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    cards = tx["card_id"].nunique()
    result = {
        "benchmark": "Redis memory of the online feature store (card + terminal windows, tx markers, profiles)",
        "date": date.today().isoformat(),
        "redis": subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2],
        "customers": args.customers, "terminals": args.terminals, "days": args.days,
        "transactions": len(tx), "cards": int(cards), "keys": keys,
        "tx_per_card_per_day": round(len(tx) / cards / args.days, 2),
        "used_memory_bytes": used,
        "bytes_per_card": round(used / cards),
        "bytes_per_live_transaction": round(used / len(tx)),
        "mb_per_million_cards": round(used / cards * 1e6 / 2**20),
        "apply_s": round(apply_s, 1),
        "profiles_loaded": profiles is not None,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
