"""read_ranges (shared by `features rebuild` and `rules backtest`) on an in-process
consumer: where each topic starts, where it stops, and past transaction markers."""

from __future__ import annotations

from types import SimpleNamespace

from confluent_kafka import TopicPartition

from lepton_stream.kafka.clients import read_ranges


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def error(self):
        return None

    def topic(self):
        return self._t

    def partition(self):
        return self._p

    def offset(self):
        return self._o


class _Consumer:
    """Two topics of one partition: offsets 0..9 with timestamps 100 * offset; the last
    record of `b` is a transaction marker (never delivered, as `scores` ends); `a` keeps
    growing while it reads (`transactions` while the job runs)."""

    def __init__(self) -> None:
        self.high = {"a": 10, "b": 10}
        self.calls = 0
        self.next: dict[tuple[str, int], int] = {}

    def list_topics(self, topic, timeout):
        return SimpleNamespace(topics={topic: SimpleNamespace(partitions={0: None})})

    def offsets_for_times(self, parts, timeout):
        return [TopicPartition(tp.topic, tp.partition, -1 if tp.offset > 900 else (tp.offset + 99) // 100)
                for tp in parts]

    def get_watermark_offsets(self, tp, timeout):
        return 0, self.high[tp.topic]

    def assign(self, parts):
        self.next = {(tp.topic, tp.partition): tp.offset for tp in parts}
        self.paused: set[tuple[str, int]] = set()

    def pause(self, parts):
        self.paused |= {(tp.topic, tp.partition) for tp in parts}

    def consume(self, n, timeout):
        self.calls += 1
        assert self.calls < 100, "it reads for ever"
        out = []
        for (t, p), o in self.next.items():
            if (t, p) in self.paused:
                continue
            last = self.high[t] - (1 if t == "b" else 0)  # b's last offset is a marker
            while o < last and len(out) < n:
                out.append(_Msg(t, p, o))
                o += 1
            self.next[(t, p)] = o if o < last else self.high[t]
        self.high["a"] += 1  # the stream goes on meanwhile
        return out

    def position(self, parts):
        return [TopicPartition(tp.topic, tp.partition, self.next[(tp.topic, tp.partition)]) for tp in parts]


def test_each_topic_from_its_time_to_its_end_at_the_start():
    c = _Consumer()
    total, batches = read_ranges(c, {"a": 450, "b": None}, batch=3, idle_s=5)  # type: ignore[arg-type]
    got = [(m.topic(), m.offset()) for msgs in batches for m in msgs]
    assert total == (10 - 5) + 10
    assert sorted(o for t, o in got if t == "a") == [5, 6, 7, 8, 9]  # not what was appended later
    assert sorted(o for t, o in got if t == "b") == list(range(9))  # the marker is passed, not waited for


def test_a_time_after_the_last_record_reads_nothing():
    total, batches = read_ranges(_Consumer(), {"a": 5000}, idle_s=5)  # type: ignore[arg-type]
    assert total == 0 and list(batches) == []
