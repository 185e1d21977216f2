"""Credit profile v1 (`credit-profiles`, compacted, key card_id): a card's reference
data for the credit model. A tombstone (null value) deletes the card's profile."""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from lepton_stream.features.definitions import PROFILE_FIELDS
from lepton_stream.schemas.transaction import InvalidEvent, _fail, check_id

MAX_PROFILE_VALUE = 1e12  # beyond any credit limit or balance in cents-free units


@dataclass(frozen=True)
class CreditProfile:
    card_id: str
    values: tuple[float, ...]  # PROFILE_FIELDS order

    def to_json(self) -> bytes:
        return orjson.dumps({"card_id": self.card_id, **dict(zip(PROFILE_FIELDS, self.values, strict=True)),
                             "schema_version": 1})


@dataclass(frozen=True)
class ProfileDeleted:
    card_id: str


def parse_profile(key: bytes | None, raw: bytes | None) -> CreditProfile | ProfileDeleted | InvalidEvent:
    if raw is None:
        if not key:
            return _fail("null_key", "a tombstone without a key deletes nothing")
        card = check_id("card_id", key.decode("utf-8", "replace"))
        return card if isinstance(card, InvalidEvent) else ProfileDeleted(card)
    if not raw:
        return _fail("empty_value", "the record's value is empty")
    try:
        obj = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _fail("invalid_json", f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return _fail("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    for name in ("card_id", *PROFILE_FIELDS):
        if obj.get(name) is None:
            return _fail("missing_field", f"required field '{name}' is missing", name)
    card = check_id("card_id", obj["card_id"])
    if isinstance(card, InvalidEvent):
        return card
    if key is not None and key.decode("utf-8", "replace") != card:
        # Compaction keeps the latest record per key: a key that is not the card would
        # leave another card's stale profile behind.
        return _fail("key_mismatch", "the record's key must be its card_id", "card_id")
    values = []
    for name in PROFILE_FIELDS:
        v = obj[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return _fail("wrong_type", f"'{name}' must be a finite number", name)
        if not 0 <= v <= MAX_PROFILE_VALUE:
            return _fail("invalid_value", f"'{name}' must be between 0 and {MAX_PROFILE_VALUE:g}", name)
        values.append(float(v))
    return CreditProfile(card, tuple(values))
