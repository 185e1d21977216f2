"""Transaction v1: parsing and validation of the `transactions` topic.

`parse_transaction` never raises: a bad event becomes an `InvalidEvent` whose
`code` is a stable machine-readable reason (DLQ, metrics) and `detail` a
human sentence. Besides the shape, every value that feeds state is checked
for plausibility (`Limits`): one absurd event must not change what other
events of its card or terminal are scored with.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from lepton_stream.schemas.currencies import ISO_4217
from lepton_stream.schemas.pan import has_card_number, has_digit_run, mask_card_numbers

SCHEMA_VERSION = 1
CHANNELS = ("pos", "ecom", "atm")
REQUIRED = ("tx_id", "card_id", "customer_id", "terminal_id", "merchant_id", "mcc",
            "amount", "currency", "ts", "channel", "x", "y", "schema_version")
_KNOWN = frozenset(REQUIRED)
IDS = ("tx_id", "card_id", "customer_id", "terminal_id", "merchant_id", "mcc")
MAX_ID_CHARS = 128
_ID_FORBIDDEN = frozenset("<>\"'`\\{}")
_MIN_TS_MS = 946_684_800_000  # 2000-01-01
_MAX_TS_MS = 4_102_444_800_000  # 2100-01-01


@dataclass(frozen=True)
class Limits:
    """What a plausible transaction looks like (Settings: LEPTON_MAX_AMOUNT, ...)."""

    max_amount: float = 1_000_000.0
    # Locations are on the simulator's 100 x 100 grid, or degrees; beyond this a
    # distance feature would dwarf every other input of the model.
    max_abs_coordinate: float = 1_000.0
    # An event stamped later than the job's clock plus this is from a broken clock:
    # accepted, it would move its card's head into the future and prune the windows.
    max_future_ms: int = 300_000


@dataclass(frozen=True)
class Transaction:
    tx_id: str
    card_id: str
    customer_id: str
    terminal_id: str
    merchant_id: str
    mcc: str
    amount: float
    amount_cents: int
    currency: str
    ts_ms: int
    channel: str
    x: float
    y: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InvalidEvent:
    code: str
    detail: str
    field: str | None = None


def _fail(code: str, detail: str, fld: str | None = None) -> InvalidEvent:
    return InvalidEvent(code, mask_card_numbers(detail), fld)


def _parse_ts(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        ms = int(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            return None
        ms = int(dt.timestamp() * 1000)
    else:
        return None
    return ms if _MIN_TS_MS <= ms <= _MAX_TS_MS else None


def check_id(name: str, value: Any) -> InvalidEvent | str:
    """An identifier that is echoed into output topics and used in Redis keys: a short
    printable string, never a card number (a `card_id` must be a token)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return _fail("wrong_type", f"'{name}' must be a string", name)
    text = str(value)
    if not text or len(text) > MAX_ID_CHARS:
        return _fail("invalid_value", f"'{name}' must have 1 to {MAX_ID_CHARS} characters", name)
    if has_card_number(text) or (name == "card_id" and has_digit_run(text)):
        code = "card_number_not_token" if name == "card_id" else "card_number_in_field"
        return _fail(code, f"'{name}' looks like a card number, expected a token", name)
    # Ids are echoed into every output topic and dashboard: no markup or quoting
    # characters; braces would change the Redis Cluster hash tag of the entity's keys.
    if not text.isprintable() or text != text.strip() or not _ID_FORBIDDEN.isdisjoint(text):
        return _fail("invalid_value", f"'{name}' must be printable, without surrounding blanks or any of "
                     f"{''.join(sorted(_ID_FORBIDDEN))}", name)
    return text


def parse_transaction(raw: bytes | str | None, limits: Limits = Limits(),  # noqa: B008 (frozen)
                      now_ms: int | None = None) -> Transaction | InvalidEvent:
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
    for name in REQUIRED:
        if name not in obj or obj[name] is None:
            return _fail("missing_field", f"required field '{name}' is missing", name)
    if obj["schema_version"] != SCHEMA_VERSION:
        return _fail("unsupported_schema_version",
                     f"schema_version {obj['schema_version']!r} is not {SCHEMA_VERSION}", "schema_version")
    ids = {}
    for name in IDS:
        checked = check_id(name, obj[name])
        if isinstance(checked, InvalidEvent):
            return checked
        ids[name] = checked
    amount = obj["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return _fail("wrong_type", "'amount' must be a number", "amount")
    try:
        dec = Decimal(str(amount))
    except InvalidOperation:
        return _fail("wrong_type", f"'amount' is not a number: {str(amount)[:40]!r}", "amount")
    if not dec.is_finite():
        return _fail("invalid_value", "'amount' must be finite", "amount")
    if dec <= 0:
        return _fail("amount_not_positive", f"amount {dec} must be positive", "amount")
    if dec > Decimal(str(limits.max_amount)):
        return _fail("amount_too_large", f"amount {dec} exceeds the maximum {limits.max_amount}", "amount")
    if dec != dec.quantize(Decimal("0.01")):
        return _fail("amount_precision", f"amount {dec} has more than 2 decimals", "amount")
    currency = obj["currency"]
    if not isinstance(currency, str) or currency not in ISO_4217:
        return _fail("unknown_currency", f"currency {str(currency)[:16]!r} is not an ISO 4217 code", "currency")
    ts_ms = _parse_ts(obj["ts"])
    if ts_ms is None:
        return _fail("invalid_timestamp", f"ts {str(obj['ts'])[:40]!r} is not epoch ms or RFC 3339 in 2000..2100", "ts")
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if ts_ms > now_ms + limits.max_future_ms:
        return _fail("timestamp_in_future", f"ts {ts_ms} is {(ts_ms - now_ms) / 1000:.0f} s ahead of the job's "
                     f"clock (at most {limits.max_future_ms / 1000:.0f} s)", "ts")
    channel = obj["channel"]
    if channel not in CHANNELS:
        return _fail("invalid_channel", f"channel {str(channel)[:16]!r} is not one of {', '.join(CHANNELS)}", "channel")
    coords = []
    for name in ("x", "y"):
        value = obj[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _fail("wrong_type", f"'{name}' must be a number", name)
        # int() of a huge JSON integer is exact, float() of it may be inf.
        if abs(value) > limits.max_abs_coordinate or not math.isfinite(float(value)):
            return _fail("location_out_of_range", f"'{name}' must be within +-{limits.max_abs_coordinate:g}", name)
        coords.append(float(value))
    extra = {k: v for k, v in obj.items() if k not in _KNOWN}
    return Transaction(
        amount=float(dec), amount_cents=int(dec * 100), currency=currency, ts_ms=ts_ms,
        channel=channel, x=coords[0], y=coords[1], extra=extra, **ids,
    )
