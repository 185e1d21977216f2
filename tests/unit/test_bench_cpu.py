"""The bench's CPU per transaction: read over the scoring span, summed over processes."""

import os
import time

from lepton_stream.bench.harness import CpuSampler, cpu_per_tx


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_over_a_span_is_what_the_process_spent_in_it():
    sampler = CpuSampler({"me": lambda: [os.getpid()]})
    time.sleep(0.6)  # idle before the span
    t0 = time.time()
    _burn(0.6)
    t1 = time.time()
    time.sleep(0.6)  # idle after it
    sampler.stop()
    inside = sampler.between(t0, t1)["me"]
    assert 0.3 < inside < 1.0, inside
    assert sampler.between(t1 + 0.3, t1 + 0.55)["me"] < 0.1


def test_cpu_per_tx_counts_the_events_after_the_first_score():
    sampler = CpuSampler({"me": lambda: [os.getpid()]})
    t0 = time.time()
    _burn(0.5)
    t1 = time.time()
    sampler.stop()
    scores = [{"scored_ts": t0 * 1000}] + [{"scored_ts": t1 * 1000}] * 1000
    out = cpu_per_tx(sampler, scores)
    assert 200 < out["cpu_us_per_tx"] < 1000, out  # about 0.5 s over 1,000 events
    assert set(out["cpu_us_per_tx_by_process"]) == {"me"}
    assert cpu_per_tx(sampler, [])["cpu_us_per_tx"] is None
