"""`lepton-stream publish`'s logic: what is checked, sent, reported (the broker: tests/integration)."""

import json
from pathlib import Path

from producers.file import PublishReport, publish, read_lines
from producers.malformed import MALFORMED_KINDS, malformed
from producers.simple import SimpleGenerator


def events(n: int) -> list[dict]:
    return [ev.event for ev in SimpleGenerator(cards=5, seed=3, id_prefix="pub").stream(n, 1_700_000_000_000)]


class Broker:
    """Acknowledges what it is sent, or fails the records named in `fail`."""

    def __init__(self, fail: frozenset[int] = frozenset()) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.fail = fail

    def send(self, key: bytes, value: bytes, done) -> None:
        self.sent.append((key, value))
        done("KafkaError{code=MSG_TIMED_OUT}" if len(self.sent) - 1 in self.fail else None)

    @staticmethod
    def flush(_timeout_s: float) -> int:
        return 0


def lines(*bodies: bytes) -> list[tuple[str, int, bytes]]:
    return [("f.jsonl", i + 1, b) for i, b in enumerate(bodies)]


def test_valid_lines_are_sent_as_written_keyed_by_card_and_invalid_ones_reported_not_sent() -> None:
    good = events(3)
    card_number = malformed("card_number", good[0] | {"tx_id": "x-1"})
    body = lines(
        json.dumps(good[0]).encode(),
        malformed("negative_amount", good[1]),
        json.dumps(good[1]).encode(),
        card_number,
        json.dumps(good[2]).encode(),
    )
    b = Broker()
    r = publish(body, b.send, b.flush, PublishReport("transactions", "tx"))
    assert b.sent == [(e["card_id"].encode(), json.dumps(e).encode()) for e in good]
    assert (r.lines, r.sent, r.delivered, r.invalid, r.ok) == (5, 3, 3, 2, False)
    assert r.invalid_by_reason == {"amount_not_positive": 1, MALFORMED_KINDS["card_number"]: 1}
    assert r.invalid_samples[0].startswith("f.jsonl:2: amount_not_positive: ")
    assert r.invalid_samples[1].startswith("f.jsonl:4: card_number_not_token: card_id: ")
    assert "4111111111111111" not in r.human() + r.to_json()  # masked wherever it is shown


def test_every_line_valid_and_acknowledged_is_ok() -> None:
    b = Broker()
    r = publish(
        lines(*(json.dumps(e).encode() for e in events(4))), b.send, b.flush, PublishReport("transactions", "t")
    )
    assert r.ok and r.delivered == 4 and "result       OK" in r.human()
    assert json.loads(r.to_json())["ok"] is True


def test_a_delivery_error_is_counted_and_not_ok() -> None:
    b = Broker(fail=frozenset({1}))
    r = publish(
        lines(*(json.dumps(e).encode() for e in events(3))), b.send, b.flush, PublishReport("transactions", "t")
    )
    assert (r.sent, r.delivered, r.delivery_errors, r.ok) == (3, 2, 1, False)
    assert r.error_samples == ["KafkaError{code=MSG_TIMED_OUT}"]


def test_records_never_acknowledged_are_errors() -> None:
    b = Broker()
    r = publish(lines(json.dumps(events(1)[0]).encode()), b.send, lambda _t: 1, PublishReport("transactions", "t"))
    assert r.delivery_errors == 1 and not r.ok


def test_send_invalid_sends_them_too_and_check_sends_nothing() -> None:
    good = events(1)[0]
    body = lines(json.dumps(good).encode(), b"{not json")
    b = Broker()
    r = publish(body, b.send, b.flush, PublishReport("transactions", "t"), send_invalid=True)
    assert [v for _, v in b.sent] == [json.dumps(good).encode(), b"{not json"] and r.invalid == 1
    # Sent as asked: the command did what it was told (exit 0), and says where they go.
    assert r.ok and "sent as asked (--send-invalid)" in r.human() and "result       OK" in r.human()
    r = publish(body, Broker().send, Broker().flush, PublishReport("transactions", "t"))
    assert not r.ok and "sent as asked" not in r.human()  # without the flag an invalid line is an error
    b = Broker()
    r = publish(
        body, b.send, b.flush, PublishReport("transactions", "t", checked_only=True), check_only=True, send_invalid=True
    )
    assert b.sent == [] and (r.lines, r.invalid, r.sent) == (2, 1, 0)
    assert "nothing sent (--check)" in r.human()


def test_labels_are_checked_as_labels() -> None:
    label = {"tx_id": "t1", "card_id": "c1", "terminal_id": "m1", "is_fraud": True, "labelled_at": 1_700_000_000_000}
    b = Broker()
    r = publish(
        lines(json.dumps(label).encode(), json.dumps(events(1)[0]).encode()),
        b.send,
        b.flush,
        PublishReport("labels", "fraud-labels"),
        labels=True,
    )
    assert b.sent == [(b"c1", json.dumps(label).encode())] and r.invalid == 1


def test_a_line_over_the_record_limit_is_refused_before_parsing() -> None:
    b = Broker()
    r = publish(lines(b"{" + b" " * 1_100_000 + b"}"), b.send, b.flush, PublishReport("transactions", "t"))
    assert r.invalid_by_reason == {"too_large": 1} and b.sent == []


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    f = tmp_path / "tx.jsonl"
    f.write_bytes(b'{"a": 1}\r\n\n   \n{"b": 2}\n')
    assert list(read_lines([str(f)])) == [(str(f), 1, b'{"a": 1}'), (str(f), 4, b'{"b": 2}')]


def test_a_byte_order_mark_starting_a_file_is_not_part_of_its_first_record(tmp_path: Path) -> None:
    # Editors on Windows start a UTF-8 file with one; inside a line it stays, and the
    # parser refuses that line as the job would.
    f = tmp_path / "tx.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\xef\xbb\xbf{"b": 2}\r\n')
    assert list(read_lines([str(f)])) == [(str(f), 1, b'{"a": 1}'), (str(f), 2, b'\xef\xbb\xbf{"b": 2}')]
    ev = events(1)[0]
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(ev).encode() + b"\r\n")
    sent: list[bytes] = []
    report = publish(read_lines([str(f)]), lambda k, v, done: (sent.append(v), done(None)), lambda t: 0,
                     PublishReport("transactions", "transactions"))
    assert report.ok and report.delivered == 1 and json.loads(sent[0]) == ev
