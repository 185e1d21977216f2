"""Hostile and absurd input, record by record: every bad record becomes a DLQ record
that fits the topic, no card number survives into any output, and no event changes
how others are scored beyond what the feature definitions say."""

import base64
import io
import json
import logging

import numpy as np
import pytest

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.features.definitions import FRAUD_FEATURES
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.pipeline import RawRecord, ScoringPipeline
from lepton_stream.pipeline.clock import StreamClock
from lepton_stream.pipeline.stages import (
    DedupStage,
    FeatureStage,
    LabelStage,
    ParseStage,
    RouteStage,
    ScoreStage,
    fingerprint,
)
from lepton_stream.schemas import DlqRecord, InvalidEvent, Transaction, parse_transaction
from lepton_stream.schemas.label import parse_label
from lepton_stream.schemas.outputs import DLQ_ORIGINAL_MAX_BYTES, dlq_key
from lepton_stream.schemas.pan import has_card_number, luhn_valid, mask_card_numbers, mask_card_numbers_bytes
from lepton_stream.scoring.base import Scores
from producers.simple import SimpleGenerator
from tests.fakes import AmountScorer, FirstSightStore

NOW = 1_700_000_000_000
GOOD = next(SimpleGenerator(cards=3, seed=5).stream(1, NOW)).event
PAN = "4020088328208957"  # Luhn-valid


def _parse(**change) -> Transaction | InvalidEvent:
    return parse_transaction(json.dumps({**GOOD, **change}), now_ms=NOW)


# --- card numbers -------------------------------------------------------------


def test_luhn_by_hand():
    assert luhn_valid("4111111111111111") and luhn_valid(PAN)
    assert not luhn_valid("4111111111111112")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")  # the textbook case


@pytest.mark.parametrize("written", [PAN, "4020 0883 2820 8957", "4020-0883-2820-8957", "4020  0883 2820-8957",
                                     f"card={PAN};", "4111111111111111-12", "\x00".join(PAN)])
def test_card_numbers_are_masked_however_written(written):
    masked = mask_card_numbers(f"x {written} y").replace("\x00", "")
    assert "8957" in masked or "1-12" in masked
    assert PAN not in masked.replace(" ", "").replace("-", "").replace("\x00", "")
    assert "4111111111111111" not in masked.replace("-", "")


def test_timestamps_and_amounts_are_not_masked():
    text = "ts 1700000000000 at 1764650000123 amount 123456.78 id 12345678"
    assert mask_card_numbers(text) == text
    assert not has_card_number("1700000000000")


def test_bytes_are_masked_too():
    assert PAN.encode() not in mask_card_numbers_bytes(b"\xff\xfe" + PAN.encode() + b"\x80")


@pytest.mark.parametrize("field", ["tx_id", "customer_id", "terminal_id", "merchant_id", "mcc"])
def test_a_card_number_in_any_id_field_is_rejected(field):
    bad = _parse(**{field: f"id-{PAN}"})
    assert isinstance(bad, InvalidEvent) and bad.code == "card_number_in_field" and bad.field == field
    assert PAN not in bad.detail


@pytest.mark.parametrize("card", ["4020 0883 2820 8957", "4020-0883-2820-8957", "4111111111111112"])
def test_card_id_written_with_separators_or_failing_luhn_is_not_a_token(card):
    bad = _parse(card_id=card)
    assert isinstance(bad, InvalidEvent) and bad.code == "card_number_not_token"


@pytest.mark.parametrize("tx_id", [f"tx-{NOW}-1", f"ld{NOW // 1000}-{4_000_000 + 17}", "1764650000123456789"])
def test_ids_with_timestamps_in_them_are_fine(tx_id):
    assert isinstance(_parse(tx_id=tx_id), Transaction)


@pytest.mark.parametrize("value", ["<script>", "a{b}", " padded", "tab\there", "x" * 129, ""])
def test_ids_must_be_short_printable_and_brace_free(value):
    bad = _parse(terminal_id=value)
    assert isinstance(bad, InvalidEvent) and bad.field == "terminal_id"


# --- plausibility --------------------------------------------------------------


@pytest.mark.parametrize(("change", "code"), [
    ({"x": 1e308}, "location_out_of_range"),
    ({"y": -1e39}, "location_out_of_range"),
    ({"x": 10 ** 400}, "invalid_json"),  # not representable: the parser refuses it
    ({"ts": 4_000_000_000_000}, "timestamp_in_future"),  # 2096
    ({"ts": NOW + 3_600_000}, "timestamp_in_future"),
    ({"amount": "1e999999"}, "amount_too_large"),
])
def test_implausible_values_are_rejected(change, code):
    bad = _parse(**change)
    assert isinstance(bad, InvalidEvent) and bad.code == code, bad


def test_null_and_empty_values():
    for raw, code in ((None, "null_value"), (b"", "empty_value")):
        bad = parse_transaction(raw)
        assert isinstance(bad, InvalidEvent) and bad.code == code
        lab = parse_label(raw)
        assert isinstance(lab, InvalidEvent) and lab.code == code


def test_stream_clock_follows_the_majority_not_a_liar():
    clock = StreamClock(window=11, min_events=3)
    assert clock.observe([10]) is None
    assert clock.observe([11, 12, 10_000]) == 11
    assert clock.observe([13]) == 12
    # A real jump (most new events far ahead) moves the reference.
    assert clock.observe([500] * 8) == 500


# --- DLQ records ---------------------------------------------------------------


def _dlq(original: bytes | None) -> dict:
    return json.loads(DlqRecord("invalid_json", "e", None, "transactions", 0, 1, original, 0).to_json())


@pytest.mark.parametrize("original", [
    b"\x01" * 1_000_000,  # worst case for JSON escaping
    b'{"card_id": "' + PAN.encode() + b'", "pad": "' + b"\xe2\x82\xac" * 330_000 + b'"}',
    bytes(range(256)) * 4000,  # binary
])
def test_a_dlq_record_always_fits_the_topic(original):
    raw = DlqRecord("invalid_json", "e", None, "transactions", 0, 1, original, 0).to_json()
    assert len(raw) < MAX_RECORD_BYTES / 2
    body = json.loads(raw)
    assert body["original_size"] == len(original) and body["original_truncated"]
    assert PAN not in raw.decode()
    if body["original"] is not None:
        assert len(body["original"].encode()) <= DLQ_ORIGINAL_MAX_BYTES


def test_binary_payloads_are_not_echoed():
    original = b"\xff\xfe" + "\x00".join(PAN).encode() + b"\x80\x81"
    body = _dlq(original)
    assert body["original"] is None and body["original_b64"] is None
    assert not any(ch.isdigit() for ch in body["original_preview"])
    assert len(body["original_sha256"]) == 64


def test_text_payloads_keep_a_masked_copy():
    body = _dlq(json.dumps({"card_id": "4020 0883 2820 8957", "ts": NOW}).encode())
    assert "**** **** **** 8957" in body["original"] and str(NOW) in body["original"]
    assert PAN not in base64.b64decode(body["original_b64"]).decode().replace(" ", "")


def test_a_null_value_makes_a_dlq_record():
    body = _dlq(None)
    assert body["original"] is None and body["original_size"] is None


def test_dlq_keys_are_masked_or_digested():
    assert dlq_key(PAN.encode()) == b"************8957"
    assert dlq_key(b"card-1") == b"card-1"
    assert dlq_key(None) == b""
    assert dlq_key(b"\xff" * 10).startswith(b"sha256:")
    assert dlq_key(b"k" * 5000).startswith(b"sha256:")


def test_log_lines_never_carry_a_card_number():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("test.pan")
    log.addHandler(handler)
    try:
        log.warning("bad record %s", "4020-0883-2820-8957", extra={"key": PAN})
    finally:
        log.removeHandler(handler)
    assert "8957" in stream.getvalue() and PAN not in stream.getvalue().replace("-", "")


# --- the pipeline ----------------------------------------------------------------


def _pipeline(s: Settings, store: FirstSightStore, scorer=None) -> ScoringPipeline:
    n = len(FRAUD_FEATURES)
    stats = lambda version: (np.zeros(n, np.float32), np.ones(n, np.float32))  # noqa: E731
    return ScoringPipeline([LabelStage(s, store), ParseStage(s), DedupStage(s, store), FeatureStage(s, store),
                            ScoreStage(s, scorer or AmountScorer()), RouteStage(s, stats)])


def _records(s: Settings, values: list[bytes | None], first_offset: int = 0) -> list[RawRecord]:
    return [RawRecord(b"k", v, s.topics.transactions, 0, first_offset + i) for i, v in enumerate(values)]


def _by_topic(s: Settings, out) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {s.topics.scores: [], s.topics.dlq: [], s.topics.risk_alerts: []}
    for o in out:
        got.setdefault(o.topic, []).append(json.loads(o.value))
    return got


def test_duplicates_exact_conflicting_and_replayed():
    s = Settings()
    store = FirstSightStore()
    pipe = _pipeline(s, store)
    first = {**GOOD, "ts": NOW}
    same = json.dumps(first, indent=2).encode()  # same content, other spelling
    other = json.dumps({**first, "amount": 9000.0, "terminal_id": "T-other"}).encode()
    out = _by_topic(s, pipe.process(_records(s, [json.dumps(first).encode(), same, other])))
    assert [x["tx_id"] for x in out[s.topics.scores]] == [GOOD["tx_id"]]
    assert [x["error_code"] for x in out[s.topics.dlq]] == ["conflicting_duplicate"]
    # The first record again (a restart from a checkpoint): scored again, same answer.
    again = _by_topic(s, pipe.process(_records(s, [json.dumps(first).encode()])))
    assert again[s.topics.scores][0]["fraud_score"] == out[s.topics.scores][0]["fraud_score"]
    # ...but from another offset it is a duplicate: no second score.
    later = pipe.run(_records(s, [json.dumps(first).encode()], first_offset=99))
    assert not later.out and later.duplicates == 1


def test_fingerprint_ignores_spelling_but_not_content():
    a = _parse()
    b = parse_transaction(json.dumps({**GOOD, "extra_field": 1}, indent=1), now_ms=NOW)
    c = _parse(amount=GOOD["amount"] + 1)
    assert isinstance(a, Transaction) and isinstance(b, Transaction) and isinstance(c, Transaction)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


class NanScorer:
    def score(self, fraud_features, credit_features) -> Scores:
        fraud = np.full(len(fraud_features), np.nan, np.float32)
        fraud[0] = 0.25
        return Scores(fraud, np.full(len(fraud), 0.1, np.float32), "1", "1")


def test_a_non_finite_score_goes_to_the_dlq_never_to_scores():
    s = Settings()
    events = [{**ev.event, "ts": NOW} for ev in SimpleGenerator(cards=3, seed=1).stream(3, NOW)]
    out = _by_topic(s, _pipeline(s, FirstSightStore(), NanScorer()).process(
        _records(s, [json.dumps(e).encode() for e in events])))
    assert [x["fraud_score"] for x in out[s.topics.scores]] == [0.25]
    assert [x["error_code"] for x in out[s.topics.dlq]] == ["score_not_finite"] * 2


def test_poison_records_never_stop_the_batch():
    s = Settings()
    good = [json.dumps({**ev.event, "ts": NOW}).encode() for ev in SimpleGenerator(cards=3, seed=3).stream(2, NOW)]
    poison = [None, b"", b"\xff\xfe\x00", b"[" * 100_000, b"{" + b" " * 900_000, b"null", b'"x"',
              json.dumps({**GOOD, "x": 1e308}).encode(), json.dumps({**GOOD, "schema_version": None}).encode()]
    out = _by_topic(s, _pipeline(s, FirstSightStore()).process(_records(s, [good[0], *poison, good[1]])))
    assert len(out[s.topics.scores]) == 2
    assert len(out[s.topics.dlq]) == len(poison)
    assert all(x["error_code"] for x in out[s.topics.dlq])


def test_an_event_far_ahead_of_the_stream_is_rejected():
    s = Settings()
    gen = SimpleGenerator(cards=3, seed=6)
    past = NOW - 400 * 86_400_000  # a replayed world: ts far behind the wall clock
    events = [{**ev.event, "ts": past + i} for i, ev in enumerate(gen.stream(10, past))]
    events[5] = {**events[5], "ts": past + 30 * 86_400_000}
    out = _by_topic(s, _pipeline(s, FirstSightStore()).process(_records(s, [json.dumps(e).encode()
                                                                             for e in events])))
    assert [x["error_code"] for x in out[s.topics.dlq]] == ["timestamp_ahead_of_stream"]
    assert len(out[s.topics.scores]) == 9


def test_settings_refuse_a_stream_slack_beyond_the_store_slack():
    with pytest.raises(ValueError, match="LEPTON_MAX_AHEAD_OF_STREAM_MS"):
        Settings.from_env({"LEPTON_MAX_AHEAD_OF_STREAM_MS": str(2 * 86_400_000)})
