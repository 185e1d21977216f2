"""`lepton-stream publish`: your own transactions (or fraud labels) onto Kafka, JSON
lines from files or stdin, each checked by the job's own parser before it is sent.

A line the job would reject is reported with its line number and the reason the
DLQ would give (card numbers masked) and is not sent, unless `send_invalid` (to
watch the DLQ at work). Every line sent is acknowledged by the broker (acks=all,
idempotent) or counted as a delivery error. Sending a file again is safe: the job
keeps the first score of a tx_id and drops the same content sent again
(docs/design.md, "Each `tx_id` is scored once").
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lepton_stream.jsonout import dumps
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.schemas.label import Label, parse_label
from lepton_stream.schemas.pan import mask_card_numbers
from lepton_stream.schemas.transaction import InvalidEvent, Limits, Transaction, parse_transaction

SAMPLES = 20  # invalid lines and delivery errors shown in full; the rest are counted


@dataclass
class PublishReport:
    kind: str  # "transactions" or "labels"
    topic: str
    checked_only: bool = False  # `--check`: nothing sent
    invalid_sent: bool = False  # `--send-invalid`: the invalid lines were sent too, as asked
    lines: int = 0  # non-blank lines read
    sent: int = 0
    delivered: int = 0
    invalid: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    invalid_samples: list[str] = field(default_factory=list)
    delivery_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.invalid == 0 or self.invalid_sent) and self.delivery_errors == 0 and self.delivered == self.sent

    def to_json(self) -> str:
        return dumps({**asdict(self), "ok": self.ok}, indent=2)

    def human(self) -> str:
        rate = self.delivered / self.duration_s if self.duration_s else 0.0
        out = [f"read         {self.lines:,} lines of {self.kind}"]
        if self.checked_only:
            out.append(f"checked      {self.lines - self.invalid:,} valid; nothing sent (--check)")
        else:
            out.append(f"published    {self.delivered:,} of {self.sent:,} sent to {self.topic} acknowledged "
                       f"in {self.duration_s:.2f} s ({rate:,.0f}/s)")
        if self.invalid:
            reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(self.invalid_by_reason.items()))
            sent = ", sent as asked (--send-invalid): the job writes them to the DLQ" if self.invalid_sent else ""
            out.append(f"invalid      {self.invalid:,} lines the job would reject ({reasons}){sent}")
            out += [f"  {line}" for line in self.invalid_samples]
            if self.invalid > len(self.invalid_samples):
                out.append(f"  ... and {self.invalid - len(self.invalid_samples):,} more (`--check` lists every one)")
        if self.delivery_errors:
            out.append(f"errors       {self.delivery_errors:,} not acknowledged by the broker")
            out += [f"  {e}" for e in self.error_samples]
        fix = "fix the lines above" if self.checked_only else "see above; sending the file again is safe"
        out.append("result       OK" if self.ok else f"result       NOT OK: {fix}")
        return "\n".join(out)


Line = tuple[str, int, bytes]  # source name, line number, the line without its end


UTF8_BOM = b"\xef\xbb\xbf"


def read_lines(paths: Iterable[str]) -> Iterator[Line]:
    """Each non-blank line of each file ("-": stdin), as bytes. A byte order mark that
    starts a file (editors on Windows write one) marks the file's encoding, not its
    first record's: it is left out, as are line ends (LF or CRLF)."""
    for path in paths:
        stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115 (closed below)
        try:
            for n, raw in enumerate(stream, 1):
                line = raw.rstrip(b"\r\n")
                if n == 1 and line.startswith(UTF8_BOM):
                    line = line[len(UTF8_BOM):]
                if line.strip():
                    yield ("stdin" if path == "-" else path), n, line
        finally:
            if path != "-":
                stream.close()


def check(line: bytes, labels: bool, limits: Limits) -> Transaction | Label | InvalidEvent:
    if len(line) > MAX_RECORD_BYTES:
        return InvalidEvent("too_large", f"{len(line):,} bytes, over the {MAX_RECORD_BYTES:,} a record may have")
    return parse_label(line) if labels else parse_transaction(line, limits)


Send = Callable[[bytes, bytes, Callable[[str | None], None]], None]
FLUSH_S = 60.0


def publish(lines: Iterable[Line], send: Send, flush: Callable[[float], int], report: PublishReport, *,
            labels: bool = False, limits: Limits = Limits(),  # noqa: B008 (frozen)
            send_invalid: bool = False, check_only: bool = False, rate: float = 0.0,
            progress: Callable[[PublishReport], None] | None = None) -> PublishReport:
    """Check each line; send the valid ones (and with `send_invalid` the others),
    keyed by card_id, `rate` a second (0: as fast as the broker takes them).
    `send(key, value, done)` calls `done(error or None)` once the broker answers;
    `flush(timeout_s)` waits for the answers and returns how many never came."""
    reasons: Counter[str] = Counter()
    t0 = time.monotonic()
    report.invalid_sent = send_invalid and not check_only

    def done(err: str | None) -> None:
        if err is None:
            report.delivered += 1
        else:
            report.delivery_errors += 1
            if len(report.error_samples) < SAMPLES:
                report.error_samples.append(mask_card_numbers(err))

    for source, n, line in lines:
        report.lines += 1
        parsed = check(line, labels, limits)
        if isinstance(parsed, InvalidEvent):
            reasons[parsed.code] += 1
            report.invalid += 1
            if check_only or len(report.invalid_samples) < SAMPLES:
                where = f"{parsed.field}: " if parsed.field else ""
                report.invalid_samples.append(f"{source}:{n}: {parsed.code}: {where}{parsed.detail}")
            if not send_invalid or check_only:
                continue
            key = b""
        else:
            key = parsed.card_id.encode()
        if check_only:
            continue
        if rate > 0:
            ahead = t0 + report.sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        send(key, line, done)
        report.sent += 1
        if progress is not None and report.sent % 1000 == 0:
            progress(report)
    left = flush(FLUSH_S)
    if left:
        report.delivery_errors += left
        report.error_samples.append(f"{left:,} records not acknowledged within {FLUSH_S:.0f} s of the last send")
    report.invalid_by_reason = dict(reasons)
    report.duration_s = time.monotonic() - t0
    return report


def kafka_sender(p: Any, topic: str) -> tuple[Send, Callable[[float], int]]:
    """`send` for `publish` on a confluent_kafka Producer, and its `flush`."""
    from confluent_kafka import KafkaException

    def send(key: bytes, value: bytes, done: Callable[[str | None], None]) -> None:
        def on_delivery(err: Any, _msg: Any) -> None:
            done(None if err is None else str(err))

        while True:
            try:
                p.produce(topic, value=value, key=key or None, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)  # the local queue is full: wait for acknowledgements, drop nothing
            except KafkaException as exc:  # refused before sending (e.g. too large for the broker)
                done(str(exc))
                break
        p.poll(0)

    return send, p.flush
