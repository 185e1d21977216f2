"""drain (what every reader of a topic "as it stands now" uses: tests, `rules list`,
`model compare`, the views) on an in-process consumer: it ends when every partition
has reached its end, and gives up when nothing at all comes, whatever errors do."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, TopicPartition

from lepton_stream.kafka.clients import drain


class _Event:
    def __init__(self, partition: int, code: int | None = None) -> None:
        self._p, self._code = partition, code

    def error(self):
        return None if self._code is None else KafkaError(self._code)

    def partition(self):
        return self._p


class _Consumer:
    def __init__(self, batches: list[list[_Event]], then_errors: bool = False) -> None:
        self.batches, self.assigned, self.then_errors = batches, [], then_errors

    def assign(self, parts):
        self.assigned = parts

    def consume(self, n, timeout):
        if self.batches:
            return self.batches.pop(0)
        if self.then_errors:  # a broker gone away: an error every few milliseconds, for ever
            self.since = getattr(self, "since", time.monotonic())
            assert time.monotonic() - self.since < 5, "it waits for ever"
            time.sleep(0.01)
            return [_Event(-1, KafkaError._TRANSPORT)]
        time.sleep(timeout)
        return []


EOF = KafkaError._PARTITION_EOF


def test_it_ends_once_every_partition_has_reached_its_end():
    c = _Consumer([[_Event(0), _Event(0), _Event(0, EOF)], [_Event(1), _Event(1, EOF)], [_Event(0)]])
    got = drain(c, [TopicPartition("t", 0, 0), TopicPartition("t", 1, 0)], stall_s=30)
    assert [m.partition() for m in got] == [0, 0, 1]  # partition 0's later record is not waited for
    assert [tp.partition for tp in c.assigned] == [0, 1]


def test_broker_errors_do_not_keep_it_waiting():
    c = _Consumer([[_Event(0)]], then_errors=True)
    t0 = time.monotonic()
    got = drain(c, [TopicPartition("t", 0, 0)], stall_s=0.3)
    assert [m.partition() for m in got] == [0] and time.monotonic() - t0 < 5
