"""The live rules of a worker: the compacted `rules` topic (key = rule id, a tombstone
deletes), kept current by a thread of its own in every process that scores.

Each worker (a Flink Python worker, the consumer loop) reads the whole topic
itself rather than through the job's sources, which give each record to one
subtask: every worker needs every rule. It reads the topic to its end before the
first batch is scored, then polls it; a change is applied within `poll_s` plus a
fetch, well inside the 5 s the contract promises, without a restart. A record
that is not a valid rule is ignored here; the job's own source of the topic
sends it to the DLQ with its reason (`RuleStage`), exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.model import Rule, rule_from_json

log = logs.get("lepton.rules")


def rule_of_record(key: bytes | None, value: bytes) -> Rule | str:
    """The rule a record of `rules` carries, or why it carries none (one line)."""
    rule = rule_from_json(value)
    if not isinstance(rule, Rule):
        return rule.message
    if key is None or key.decode(errors="replace") != rule.id:
        return f"the record's key must be the rule id {rule.id!r}"
    problems = RuleSet([rule]).errors
    return f"{problems[0].code}: {problems[0].message}" if problems else rule


class LiveRules:
    def __init__(self, s: Settings, poll_s: float = 0.5, catch_up_s: float = 10.0) -> None:
        self._s, self._poll_s = s, poll_s
        self._rules: dict[str, Rule] = {}
        self.ruleset = RuleSet([])  # replaced whole, never changed in place: readers need no lock
        self.changes = 0
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lepton-live-rules", daemon=True)
        self._thread.start()
        if not self._caught_up.wait(catch_up_s):
            log.warning("rules not read to the end before scoring starts", extra={"topic": s.topics.rules})

    def _run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        from lepton_stream.kafka.clients import consumer

        while not self._stop.is_set():
            try:
                extra: dict[str, Any] = {"fetch.wait.max.ms": 100, "log_level": 0}
                c = consumer(self._s.kafka_bootstrap, f"lepton-rules-{uuid.uuid4().hex[:8]}", **extra)
                try:
                    self._follow(c, TopicPartition, OFFSET_BEGINNING)
                finally:
                    c.close()
            except Exception as exc:  # the broker away: scoring goes on with the rules it has
                log.warning("rules topic unreadable, retrying", extra={"error": str(exc)})
                self._stop.wait(2.0)

    def _follow(self, c, TopicPartition, OFFSET_BEGINNING) -> None:  # noqa: N803 (imported late)
        topic = self._s.topics.rules
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            raise RuntimeError(f"topic {topic} not found")
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions]
        c.assign(parts)
        ends = {p.partition: c.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        while not self._stop.is_set():
            changed = False
            for m in c.consume(500, timeout=self._poll_s):
                if m.error() is not None:
                    continue
                key = (m.key() or b"").decode(errors="replace")
                if m.value() is None:
                    changed |= self._rules.pop(key, None) is not None
                else:
                    rule = rule_of_record(m.key(), m.value())
                    if isinstance(rule, Rule):
                        self._rules[key] = rule
                        changed = True
            if changed:
                self.ruleset = RuleSet(self._rules.values())
                self.changes += 1
                log.info("rules applied", extra={"rules": len(self.ruleset),
                                                 "ids": sorted(f"{r.id}:{r.version}" for r in self.ruleset.rules)})
            if not self._caught_up.is_set():
                positions = {tp.partition: tp.offset for tp in c.position(parts)}
                if all(end <= 0 or positions.get(p, -1) >= end for p, end in ends.items()):
                    self._caught_up.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_applied(live: LiveRules, changes: int, timeout_s: float) -> bool:
    """For tests and the CLI: until `live` has applied more than `changes` changes."""
    deadline = time.monotonic() + timeout_s
    while live.changes <= changes and time.monotonic() < deadline:
        time.sleep(0.05)
    return live.changes > changes
