"""Redis CPU per transaction of the window scripts, apart from everything else.

Applies a simulated backlog (1,000 cards, 2,000 terminals) to a fresh
redis-server (started and stopped by PID) in batches of 2,000, as the job
does, and reads Redis's own CPU counters and command statistics: CPU time
is what the scripts cost the server whatever else the machine is doing.
Also checks the answers against the offline definition.
"""

from __future__ import annotations

import time

import numpy as np

from lepton_stream.bench.harness import private_redis
from lepton_stream.feature_store.backfill import tx_facts
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.aggregates import Aggregates


def store_cpu(n: int = 60_000, batch: int = 2_000) -> dict:
    import pandas as pd

    from lepton_stream.features.offline import offline_aggregates
    from producers.simulator import SimulationConfig, simulate

    tx = simulate(SimulationConfig(n_customers=1000, n_terminals=2000, nb_days=n // 1900 + 1)).transactions.head(n)
    facts = tx_facts(tx)
    with private_redis() as (url, r):
        store = RedisWindowStore(url)

        def cpu() -> float:
            info = r.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        c0, t0 = cpu(), time.perf_counter()
        parts = [store.apply_transactions(facts[i:i + batch]) for i in range(0, len(facts), batch)]
        wall, server = time.perf_counter() - t0, cpu() - c0
        calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in r.info("commandstats").items()}
        online = Aggregates.concat(parts)
        offline = offline_aggregates(pd.DataFrame([f.__dict__ for f in facts]))
        equal = all(np.allclose(np.nan_to_num(getattr(online, f), nan=-1.0),
                                np.nan_to_num(getattr(offline, f), nan=-1.0))
                    for f in Aggregates.__dataclass_fields__)
    return {"transactions": len(facts), "batch": batch, "wall_s": round(wall, 2),
            "transactions_per_s": round(len(facts) / wall),
            "redis_cpu_us_per_transaction": round(server / len(facts) * 1e6, 1),
            "redis_commands_per_transaction": {k: round(v / len(facts), 2) for k, v in sorted(calls.items())
                                               if k not in ("info", "ping", "script|load")},
            "equal_to_offline_definition": equal}
