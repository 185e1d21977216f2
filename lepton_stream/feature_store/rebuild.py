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
    from confluent_kafka import TopicPartition

    from lepton_stream.kafka.clients import client_security, consumer

    t0 = time.monotonic()
    topics = s.topics
    pipeline = ScoringPipeline([ProfileStage(s, store), LabelStage(s, store), ParseStage(s),
                                DedupStage(s, store), FeatureStage(s, store)])
    c = consumer(s.kafka_bootstrap, f"lepton-rebuild-{uuid.uuid4().hex[:8]}", security=client_security(s))
    try:
        positions: dict[tuple[str, int], int] = {}  # next offset to read
        ends: dict[tuple[str, int], int] = {}  # the end when the rebuild started
        for topic in (topics.transactions, topics.fraud_labels, topics.credit_profiles):
            partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
            parts = [TopicPartition(topic, p, since_ms) for p in partitions]
            # Profiles are reference data: all of them, whatever the start.
            found = parts if topic == topics.credit_profiles else c.offsets_for_times(parts, timeout=10)
            for tp in found:
                low, high = c.get_watermark_offsets(tp, timeout=10)
                # offsets_for_times answers -1 after the last record: nothing to read there.
                first = low if topic == topics.credit_profiles else (high if tp.offset < 0 else max(tp.offset, low))
                positions[(topic, tp.partition)], ends[(topic, tp.partition)] = first, high
        total = sum(ends[k] - positions[k] for k in ends)
        c.assign([TopicPartition(t, p, positions[(t, p)]) for t, p in ends])
        counts = {"events": 0, "tx": 0, "labels": 0, "profiles": 0, "rejected": 0}
        idle_since = time.monotonic()

        def done() -> bool:
            return all(positions[k] >= ends[k] for k in ends)

        while not done():
            msgs = [m for m in c.consume(batch, timeout=0.5) if m.error() is None]
            if not msgs:
                if time.monotonic() - idle_since > idle_s:
                    break  # an open producer transaction holds the rest back: what is committed is in
                for tp in c.position([TopicPartition(t, p) for t, p in ends]):
                    if tp.offset >= 0:  # past aborted records and transaction markers
                        positions[(tp.topic, tp.partition)] = max(positions[(tp.topic, tp.partition)], tp.offset)
                continue
            idle_since = time.monotonic()
            records = [raw_record(m) for m in msgs]
            for r in records:
                positions[(r.topic, r.partition)] = r.offset + 1
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


def bar(stream=sys.stderr) -> Progress:
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
        line = (f"rebuild [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} events "
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
