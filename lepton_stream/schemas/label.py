"""Label v1 (`fraud-labels`): a confirmed fraud, arriving days after its transaction."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from lepton_stream.schemas.transaction import InvalidEvent, _fail, check_id


@dataclass(frozen=True)
class Label:
    tx_id: str
    card_id: str
    terminal_id: str
    is_fraud: bool
    labelled_at: int


def parse_label(raw: bytes | str | None) -> Label | InvalidEvent:
    if raw is None:
        return _fail("null_value", "the record has no value (a tombstone)")
    if not raw:
        return _fail("empty_value", "the record's value is empty")
    try:
        obj = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _fail("invalid_json", f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return _fail("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    for name in ("tx_id", "card_id", "terminal_id", "is_fraud", "labelled_at"):
        if obj.get(name) is None:
            return _fail("missing_field", f"required field '{name}' is missing", name)
    for name in ("tx_id", "card_id", "terminal_id"):
        if not isinstance(obj[name], str) or not obj[name]:
            return _fail("wrong_type", f"'{name}' must be a non-empty string", name)
        checked = check_id(name, obj[name])
        if isinstance(checked, InvalidEvent):
            return checked
    if not isinstance(obj["is_fraud"], bool):
        return InvalidEvent("wrong_type", "'is_fraud' must be true or false", "is_fraud")
    if isinstance(obj["labelled_at"], bool) or not isinstance(obj["labelled_at"], int):
        return InvalidEvent("wrong_type", "'labelled_at' must be epoch milliseconds", "labelled_at")
    return Label(obj["tx_id"], obj["card_id"], obj["terminal_id"], obj["is_fraud"], obj["labelled_at"])
