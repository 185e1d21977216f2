"""What the scoring job writes: `scores`, `risk-alerts` and `transactions-dlq` values."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field

import orjson

from lepton_stream.schemas.pan import mask_card_numbers


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
    # Live rules: "<id>:<version>" of every rule that matched (alert or suppress).
    # Last and defaulted, so positional construction and v1 readers are unaffected.
    rules: list[str] = field(default_factory=list)
    # The challenger fraud model scored beside the champion (docs/models.md, "Model
    # lifecycle"): its score and version, null and "" when there is none. It never alerts.
    challenger_fraud_score: float | None = None
    challenger_model_version: str = ""

    def to_json(self) -> bytes:
        return _dumps(self)


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float
    z: float


@dataclass(frozen=True)
class RuleFired:
    id: str
    version: int
    severity: str


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
    # Added for on call: the alert monitor counts alerts per merchant.
    # Last and defaulted, so positional construction and v1 readers are unaffected.
    merchant_id: str = ""
    # The live rules that raised this alert, with their versions; `model_alert` says
    # whether the model's score raised it too (false: the rules alone, or the model's
    # alert was suppressed by an allowlist rule and a rule alerted anyway).
    rules: list[RuleFired] = field(default_factory=list)
    model_alert: bool = True

    def to_json(self) -> bytes:
        return _dumps(self)


# How much of a rejected record the DLQ keeps. Its worst case (every byte a
# control character, escaped as six in JSON, plus the base64 copy) stays far
# below the topics' 1 MiB record limit (docs/design.md, "Record sizes").
DLQ_ORIGINAL_MAX_BYTES = 16 * 1024
_PREVIEW_BYTES = 64


def dlq_key(key: bytes | None) -> bytes:
    """The DLQ record's key: the input key with card numbers masked when it is short
    text, else a digest (a binary or huge key is not echoed)."""
    if not key:
        return b""
    try:
        text = key.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and len(key) <= 128 and text.isprintable():
        return mask_card_numbers(text).encode()
    return b"sha256:" + hashlib.sha256(key).hexdigest()[:32].encode()


@dataclass(frozen=True)
class DlqRecord:
    error_code: str
    error: str
    error_field: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    original: bytes | None
    dlq_ts: int
    schema_version: int = 1

    def to_json(self) -> bytes:
        body: dict = asdict(self)
        raw = self.original or b""
        body["error"] = mask_card_numbers(self.error)[:1000]
        body["original_size"] = None if self.original is None else len(raw)
        body["original_sha256"] = None if self.original is None else hashlib.sha256(raw).hexdigest()
        body["original_truncated"] = len(raw) > DLQ_ORIGINAL_MAX_BYTES
        kept = raw[:DLQ_ORIGINAL_MAX_BYTES]
        try:
            # A cut through a multi-byte character is not binary: drop the partial one.
            decoded = kept.decode("utf-8", errors="strict" if len(kept) == len(raw) else "ignore")
            if len(kept) < len(raw) and len(decoded.encode()) < len(kept) - 3:
                raise UnicodeDecodeError("utf-8", kept, 0, 1, "not text")
            text: str | None = decoded
        except UnicodeDecodeError:
            text = None
        if self.original is None:
            body["original"] = body["original_b64"] = body["original_preview"] = None
        elif text is not None:
            # The readable copy and the bytes, card numbers masked in both.
            masked = mask_card_numbers(text)
            body["original"] = masked
            body["original_b64"] = base64.b64encode(masked.encode()).decode()
            body["original_preview"] = None
        else:
            # Not text: its bytes are not echoed (they could hold anything, a card
            # number in another encoding included); a printable preview without
            # digits, the size and the digest identify it.
            body["original"] = None
            body["original_b64"] = None
            body["original_preview"] = "".join(
                "#" if 48 <= b <= 57 else chr(b) if 32 <= b < 127 else "." for b in raw[:_PREVIEW_BYTES])
        return _dumps(body)
