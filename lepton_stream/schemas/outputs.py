"""What the scoring job writes: `scores`, `risk-alerts` and `transactions-dlq` values."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass

import orjson

from lepton_stream.schemas.transaction import mask_card_numbers


def _dumps(obj: object) -> bytes:
    return orjson.dumps(obj)  # dataclasses (nested too) natively, and fast


@dataclass(frozen=True)
class Score:
    tx_id: str
    card_id: str
    fraud_score: float
    credit_score: float
    fraud_model_version: str
    credit_model_version: str
    event_ts: int
    scored_ts: int
    latency_ms: int
    schema_version: int = 1

    def to_json(self) -> bytes:
        return _dumps(self)


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float
    z: float


@dataclass(frozen=True)
class Alert:
    tx_id: str
    card_id: str
    terminal_id: str
    amount: float
    fraud_score: float
    credit_score: float
    severity: str
    reasons: list[Reason]
    model_version: str
    event_ts: int
    alert_ts: int
    schema_version: int = 1
    # Added for on call (issue 6): the alert monitor counts alerts per merchant.
    # Last and defaulted, so positional construction and v1 readers are unaffected.
    merchant_id: str = ""

    def to_json(self) -> bytes:
        return _dumps(self)


@dataclass(frozen=True)
class DlqRecord:
    error_code: str
    error: str
    error_field: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    original: bytes
    dlq_ts: int
    schema_version: int = 1

    def to_json(self) -> bytes:
        body = asdict(self)
        # Keep the exact bytes (base64) and, when they are text, a readable
        # copy; a card number sent by mistake is masked in both.
        try:
            text: str | None = mask_card_numbers(self.original.decode())
            original = text.encode()
        except UnicodeDecodeError:
            text, original = None, self.original
        body["original_b64"] = base64.b64encode(original).decode()
        body["original"] = text
        return _dumps(body)
