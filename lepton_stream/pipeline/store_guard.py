"""The first stage: no batch is scored on a store that lost its state.

Every batch reads the store's marker (`WindowStore.mark`) before anything is
written. The store is lost when the marker is gone (flushed, or an empty Redis
took its place), when its write counter went back (restored from an old
snapshot), or when a worker starts, finds no marker, and its consumer group has
consumed before (so a store should be there), or when the marker names another
layout of the stored bytes (an upgrade changed them, and the store was not
emptied). Then the job pauses: the batch
waits here, re-reading the marker, until `lepton-stream features rebuild`
gives the store a new generation, and scoring goes on with exact windows.
While it waits, the gauge `lepton_feature_store_paused_seconds` grows and the task writes
`"feature_store": "lost"` records to `pipeline-metrics` itself (the batch's own
output cannot leave before the batch ends), which the alert monitor pages on.
docs/oncall.md says why it pauses instead of scoring on empty windows.

A Flink job claims a new consumer group's store before it starts
(`claim_store_for_new_group`): with checkpoints a few hundred milliseconds
apart, the first checkpoint can commit the group's start offsets before a
worker's first batch, which would then take an empty new store for a lost one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.feature_store.base import StoreMark, WindowStore, new_generation
from lepton_stream.observability.metrics import FEATURE_STORE_LOSSES, FEATURE_STORE_PAUSED
from lepton_stream.pipeline.batch import Batch
from lepton_stream.pipeline.retry import with_retry

log = logs.get("lepton.store_guard")

Report = Callable[[str], None]  # publishes the task's "store lost" record, with the reason


@dataclass
class StoreGuardStage:
    settings: Settings
    store: WindowStore
    group_is_new: Callable[[], bool]  # True when the consumer group never committed an offset
    report: Report
    poll_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    generation: str | None = field(default=None, init=False)
    writes: int = field(default=0, init=False)

    def __call__(self, batch: Batch) -> Batch:
        n = len(batch.records)
        mark = self._mark(n)
        reason = self._loss(mark, n)
        if reason is not None:
            # A store in another layout keeps its generation until it is emptied and rebuilt.
            mark = self._pause(reason, n, self.generation if mark.layout_ok else mark.generation)
        self.generation, self.writes = mark.generation, mark.writes
        return batch

    def _mark(self, n: int) -> StoreMark:
        s = self.settings.job
        return with_retry(lambda: self.store.mark(n), what="redis", attempts=s.retry_attempts, base_s=s.retry_base_s)

    def _loss(self, mark: StoreMark, n: int) -> str | None:
        if mark.generation is not None and not mark.layout_ok:
            return ("the store was written in another layout than this job's (an upgrade changed it): "
                    "empty it (FLUSHDB) and run `lepton-stream features rebuild`")
        if self.generation is None:  # this worker's first batch
            if mark.generation is not None:
                return None
            if self.group_is_new():
                self.store.set_generation(new_generation())
                return None
            return "the store has no marker although this consumer group has consumed before (a new or emptied store)"
        if mark.generation is None:
            return "the store's marker is gone (flushed, or replaced by an empty store)"
        if mark.generation != self.generation:
            log.info("the feature store was rebuilt", extra={"generation": mark.generation})
            return None
        if mark.writes < self.writes + n:
            return (f"the store's write counter went back from {self.writes} to {mark.writes - n} "
                    "(restored from an older snapshot)")
        return None

    def _pause(self, reason: str, n: int, lost_generation: str | None) -> StoreMark:
        FEATURE_STORE_LOSSES.inc()
        paused_at, last_report = time.monotonic(), -float("inf")
        while True:
            now = time.monotonic()
            FEATURE_STORE_PAUSED.set(now - paused_at)
            if now - last_report >= self.settings.job.metrics_interval_s:
                log.error("feature store lost: scoring paused until `lepton-stream features rebuild`",
                          extra={"reason": reason})
                self.report(reason)
                last_report = now
            self.sleep(self.poll_s)
            mark = self._mark(0)
            if mark.generation is not None and mark.generation != lost_generation and mark.layout_ok:
                break
        FEATURE_STORE_PAUSED.set(0)
        log.info("feature store rebuilt: scoring resumes", extra={"generation": mark.generation})
        return self._mark(n)


def claim_store_for_new_group(store: WindowStore, group_is_new: Callable[[], bool]) -> bool:
    """Before a job's first checkpoint: a store without a marker gets a new generation
    if the consumer group never consumed (a first start), and is left for the workers
    to report as lost otherwise. Answers whether it claimed the store."""
    if store.mark(0).generation is not None or not group_is_new():
        return False
    store.set_generation(new_generation())
    log.info("new consumer group: the feature store gets its first generation")
    return True
