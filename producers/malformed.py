"""Deliberately broken events, so the DLQ path is exercised (demo, load tests, tests)."""

from __future__ import annotations

import json

# kind -> the validator's error code it must produce
MALFORMED_KINDS: dict[str, str] = {
    "bad_json": "invalid_json",
    "not_an_object": "not_an_object",
    "missing_field": "missing_field",
    "negative_amount": "amount_not_positive",
    "huge_amount": "amount_too_large",
    "unknown_currency": "unknown_currency",
    "card_number": "card_number_not_token",
    "bad_timestamp": "invalid_timestamp",
    "bad_channel": "invalid_channel",
}


def malformed(kind: str, good: dict) -> bytes:
    """A deliberately broken variant of `good` (its tx_id kept, for tracing)."""
    ev = dict(good)
    if kind == "bad_json":
        return json.dumps(ev).encode()[:-7] + b"{,,"
    if kind == "not_an_object":
        return json.dumps([ev["tx_id"], ev["amount"]]).encode()
    if kind == "missing_field":
        ev.pop("amount")
    elif kind == "negative_amount":
        ev["amount"] = -abs(ev["amount"])
    elif kind == "huge_amount":
        ev["amount"] = 1e12
    elif kind == "unknown_currency":
        ev["currency"] = "XYZ"
    elif kind == "card_number":
        ev["card_id"] = "4111111111111111"
    elif kind == "bad_timestamp":
        ev["ts"] = "yesterday"
    elif kind == "bad_channel":
        ev["channel"] = "telepathy"
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(ev).encode()
