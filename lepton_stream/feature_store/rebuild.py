"""`lepton-stream features rebuild`: refill the store from Kafka after a loss.

Re-reads `transactions` and `fraud-labels` from a point in time, and all of the
compacted `credit-profiles`, up to their ends as they stood when it started, and
applies them through the job's own stages (parse, dedup, features), so a record
the job already applied is a replay and changes nothing: the rebuild is
idempotent and safe while the job runs. At the end it gives the store a new
generation, which is what a job paused on a lost store waits for.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import WindowStore, new_generation
from lepton_stream.pipeline.batch import raw_record
from lepton_stream.pipeline.scoring_pipeline import ScoringPipeline
from lepton_stream.pipeline.stages import DedupStage, FeatureStage, LabelStage, ParseStage, ProfileStage

Progress = Callable[[int, int, float], None]  # done, total, seconds so far


class StoreLayoutError(RuntimeError):
    """The store holds bytes of another layout: a rebuild over it would change nothing."""


@dataclass(frozen=True)
class RebuildReport:
    since_ms: int
    events: int
    transactions: int
    labels: int
    profiles: int
    rejected: int  # what the job would have sent to the DLQ
    duration_s: float
    events_per_s: float
    generation: str

    def to_dict(self) -> dict:
        return asdict(self)


def rebuild(s: Settings, store: WindowStore, since_ms: int, *, batch: int = 2000,
            progress: Progress | None = None, idle_s: float = 10.0) -> RebuildReport:
    from lepton_stream.kafka.clients import client_security, consumer, read_ranges

    mark = store.mark(0)
    if mark.generation is not None and not mark.layout_ok:
        # Its transactions would be taken for replays and its bytes read as this layout's.
        raise StoreLayoutError("the store was written in another layout than this version's: empty it first "
                               "(FLUSHDB on its Redis, on every master of a cluster), then rebuild")
    t0 = time.monotonic()
    topics = s.topics
    pipeline = ScoringPipeline([ProfileStage(s, store), LabelStage(s, store), ParseStage(s),
                                DedupStage(s, store), FeatureStage(s, store)])
    c = consumer(s.kafka_bootstrap, f"lepton-rebuild-{uuid.uuid4().hex[:8]}", security=client_security(s))
    try:
        # Profiles are reference data: all of them, whatever the start.
        total, batches = read_ranges(c, {topics.transactions: since_ms, topics.fraud_labels: since_ms,
                                         topics.credit_profiles: None}, batch=batch, idle_s=idle_s)
        counts = {"events": 0, "tx": 0, "labels": 0, "profiles": 0, "rejected": 0}
        for msgs in batches:
            records = [raw_record(m) for m in msgs]
            out = pipeline.run(records)
            counts["events"] += len(records)
            counts["tx"] += len(out.valid)
            counts["labels"] += out.labels_applied + out.labels_pending
            counts["profiles"] += out.profiles_applied
            counts["rejected"] += sum(1 for o in out.out if o.topic == topics.dlq)
            if progress is not None:
                progress(counts["events"], total, time.monotonic() - t0)
    finally:
        c.close()
    generation = new_generation()
    store.set_generation(generation)
    duration = time.monotonic() - t0
    return RebuildReport(since_ms, counts["events"], counts["tx"], counts["labels"], counts["profiles"],
                         counts["rejected"], round(duration, 2), round(counts["events"] / max(duration, 1e-9), 1),
                         generation)


def bar(stream=sys.stderr, what: str = "rebuild") -> Progress:
    """A progress bar on a terminal, a line every 5 s elsewhere (logs, CI)."""
    last = [0.0]
    tty = stream.isatty()

    def show(done: int, total: int, elapsed: float) -> None:
        if not tty and elapsed - last[0] < 5:
            return
        last[0] = elapsed
        share = min(1.0, done / total) if total else 1.0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and total > done else 0.0
        filled = int(share * 30)
        line = (f"{what} [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} events "
                f"({share:.0%}), {rate:,.0f}/s, eta {eta:.0f} s")
        stream.write(f"\r{line}" if tty else f"{line}\n")
        stream.flush()

    return show


def parse_since(since: str | None, start: str | None, now_ms: int) -> int:
    """`--since 40d` (d, h, m, s) or `--from` epoch ms / RFC 3339 time, as epoch ms."""
    from datetime import datetime

    if start is not None:
        if start.isdigit():
            return int(start)
        try:
            return int(datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise ValueError(f"--from {start!r}: expected epoch milliseconds or an RFC 3339 time") from None
    units = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
    text = since or ""
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"--since {since!r}: expected a duration such as 40d, 12h or 90m")
    return now_ms - int(text[:-1]) * units[text[-1]]
