import json

import pytest

from lepton_stream.schemas import DlqRecord, InvalidEvent, Transaction, parse_transaction
from producers.simple import MALFORMED_KINDS, SimpleGenerator, malformed

GOOD = next(SimpleGenerator(cards=3, seed=5).stream(1, 1_700_000_000_000)).event


def test_valid_event_parses_with_exact_cents():
    tx = parse_transaction(json.dumps({**GOOD, "amount": 19.99}))
    assert isinstance(tx, Transaction)
    assert tx.amount_cents == 1999
    assert tx.card_id == GOOD["card_id"]


def test_unknown_fields_are_kept_not_fatal():
    tx = parse_transaction(json.dumps({**GOOD, "loyalty_tier": "gold"}))
    assert isinstance(tx, Transaction)
    assert tx.extra == {"loyalty_tier": "gold"}


def test_rfc3339_timestamp_equals_epoch_ms():
    tx = parse_transaction(json.dumps({**GOOD, "ts": "2023-11-14T22:13:20.5Z"}))
    assert isinstance(tx, Transaction)
    assert tx.ts_ms == 1_700_000_000_500


@pytest.mark.parametrize("kind", sorted(MALFORMED_KINDS))
def test_each_malformed_kind_is_rejected_for_its_reason(kind):
    result = parse_transaction(malformed(kind, GOOD))
    assert isinstance(result, InvalidEvent)
    assert result.code == MALFORMED_KINDS[kind]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 10.001}, "amount_precision"),
        ({"amount": "NaN"}, "invalid_value"),
        ({"amount": True}, "wrong_type"),
        ({"schema_version": 2}, "unsupported_schema_version"),
        ({"ts": "2023-11-14T22:13:20"}, "invalid_timestamp"),  # no zone: ambiguous
        ({"x": "north"}, "wrong_type"),
    ],
)
def test_field_rules(change, code):
    result = parse_transaction(json.dumps({**GOOD, **change}))
    assert isinstance(result, InvalidEvent)
    assert result.code == code


def test_non_utf8_bytes_are_rejected_not_raised():
    result = parse_transaction(b"\xff\xfe{")
    assert isinstance(result, InvalidEvent) and result.code == "invalid_json"


def test_dlq_record_keeps_original_but_masks_card_numbers():
    raw = malformed("card_number", GOOD)
    bad = parse_transaction(raw)
    assert isinstance(bad, InvalidEvent)
    body = json.loads(DlqRecord(bad.code, bad.detail, bad.field, "transactions", 1, 42, raw, 0).to_json())
    assert "4111111111111111" not in json.dumps(body)
    assert "************1111" in body["original"]
    assert body["error_code"] == "card_number_not_token"
    assert (body["source_partition"], body["source_offset"]) == (1, 42)
