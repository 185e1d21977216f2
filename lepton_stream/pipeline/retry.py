"""Retry with exponential backoff for calls to Redis and Triton.

Failing the batch after the last attempt makes Flink restart from the last
checkpoint: nothing is dropped, and Redis updates are idempotent by tx_id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lepton_stream import logs
from lepton_stream.observability.metrics import CALL_FAILURES, CALL_SECONDS, RETRIES

T = TypeVar("T")
log = logs.get("lepton.retry")


def with_retry(fn: Callable[[], T], *, what: str, attempts: int, base_s: float, max_s: float = 10.0) -> T:
    t0 = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            result = fn()
        except Exception as exc:
            if attempt == attempts:
                CALL_FAILURES.labels(what).inc()
                raise
            RETRIES.labels(what).inc()
            delay = min(max_s, base_s * 2 ** (attempt - 1))
            log.warning("call failed, retrying", extra={"call": what, "attempt": attempt, "delay_s": delay,
                                                        "error": f"{type(exc).__name__}: {exc}"[:300]})
            time.sleep(delay)
            continue
        # Retries and backoff included: it is the time the batch waited for this dependency.
        CALL_SECONDS.labels(what).observe(time.perf_counter() - t0)
        return result
    raise AssertionError("unreachable")
