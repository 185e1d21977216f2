"""What the alert monitor accepts from `risk-alerts` and `pipeline-metrics`: pure
parsers that turn one record's bytes into a small typed value or raise `Malformed`.

Anyone who can write to those topics can send anything; the monitor must neither
crash on it (one bad record would stop the agent and every count after it) nor
pass it on to its tables, its Prometheus labels or its HTML page. So every field the
monitor uses is checked for type and range here, strings that end up in the tables
and the page have a length limit, and a record that fails says why in a short,
closed `reason` (a Prometheus label value) plus the field it is about.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lepton_stream.pipeline.metrics import MAX_RULE_HITS
from lepton_stream.rules.model import ACTIONS, MAX_VERSION, is_rule_id
from lepton_stream.schemas.transaction import mask_card_numbers

SEVERITIES = ("high", "medium", "low")
# An Alert v1 or a pipeline-metrics record is well under a kilobyte; 64 KiB leaves
# room for any honest record and bounds what one record costs to parse.
MAX_RECORD_BYTES = 64 * 1024
# Ids (task, terminal, merchant) are table keys and page cells: long enough for
# "scoring/<pod name>/<pid>", short enough to keep a page and a table key small.
MAX_ID_CHARS = 128
MAX_LAG_ENTRIES = 1024  # "topic/partition" -> lag: one per partition the task reads
MAX_LAG_KEY_CHARS = 256  # a Kafka topic name (249) and a partition number
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01: a later (or negative) time is not an event time
MAX_COUNT = 2**53  # counts and lags a float (JSON, Prometheus) still holds exactly
MAX_LATENCY_MS = 7 * 24 * 3_600_000.0  # a week: beyond that a p99 is garbage, not a backlog
MAX_REASON_CHARS = 300  # a task's own words on why its feature store is lost
FEATURE_STORE_STATES = ("ok", "lost")
EXCERPT_CHARS = 120  # how much of a bad record a log line shows

# The closed set of `reason` values (lepton_monitor_malformed_records_total{reason=...}).
REASONS = ("too_large", "not_json", "not_object", "missing_field", "bad_type", "out_of_range", "too_long")


class Malformed(ValueError):
    """A record the monitor skips: `reason` is one of REASONS, `field` the field at fault."""

    def __init__(self, reason: str, field_name: str = "", detail: str = "") -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}{f' ({field_name})' if field_name else ''}{f': {detail}' if detail else ''}")
        self.reason = reason
        self.field = field_name


@dataclass(frozen=True)
class MonitorAlert:
    """The part of an Alert v1 the monitor counts."""

    alert_ts: int
    severity: str
    fraud_score: float
    terminal_id: str = "unknown"
    merchant_id: str = "unknown"


@dataclass(frozen=True)
class RuleCount:
    """One live rule's hits in one pipeline-metrics record (its window, one task)."""

    id: str
    version: int
    action: str  # alert | suppress
    severity: str | None  # an alert rule's; None for a suppress rule
    hits: int


@dataclass(frozen=True)
class TaskSummary:
    """One scoring task's last pipeline-metrics record, as the monitor's table keeps it."""

    task_id: str
    window_end: int | None = None
    events_in: int | None = None
    scored: int | None = None
    alerts: int | None = None
    dlq: int | None = None
    p99_ms: float | None = None
    lag_total: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    feature_store: str = "ok"  # "lost": the task is paused (lepton_stream/pipeline/store_guard.py)
    feature_store_reason: str = ""
    rule_hits: tuple[RuleCount, ...] = ()  # counted in the monitor's rules tables, not kept per task

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["rule_hits"]
        return out


def excerpt(value: bytes | str | object) -> str:
    """The start of a bad record for a log line: never the whole record, never a card number."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
    head = text[:EXCERPT_CHARS] + ("..." if len(text) > EXCERPT_CHARS else "")
    return mask_card_numbers(head)


def cap(text: str, limit: int = MAX_ID_CHARS) -> str:
    """A string cut to `limit` characters (an ellipsis says it was cut): for values
    that reach the page from state this version did not validate (older changelogs)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _object(value: bytes | str) -> dict[str, Any]:
    if not isinstance(value, bytes | bytearray | str):
        raise Malformed("bad_type", detail=type(value).__name__)
    if len(value) > MAX_RECORD_BYTES:
        raise Malformed("too_large", detail=f"{len(value)} bytes")
    try:
        obj = json.loads(value)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Malformed("not_json", detail=type(exc).__name__) from None
    if not isinstance(obj, dict):
        raise Malformed("not_object", detail=type(obj).__name__)
    return obj


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _number(obj: dict[str, Any], name: str, lo: float, hi: float, *, required: bool) -> float | None:
    if obj.get(name) is None:
        if required:
            raise Malformed("missing_field" if name not in obj else "bad_type", name)
        return None
    x = obj[name]
    if not _is_number(x):
        raise Malformed("bad_type", name, type(x).__name__)
    if not (math.isfinite(x) and lo <= x <= hi):  # json.loads reads NaN and Infinity
        raise Malformed("out_of_range", name)
    return float(x)


def _integer(obj: dict[str, Any], name: str, hi: int, *, required: bool = False) -> int | None:
    x = _number(obj, name, 0, hi, required=required)
    if x is None:
        return None
    if x != int(x):
        raise Malformed("bad_type", name, "not a whole number")
    return int(x)


def _id(obj: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    x = obj.get(name)
    if x is None or x == "":
        if required:
            raise Malformed("missing_field", name)
        return None
    if isinstance(x, int) and not isinstance(x, bool):
        x = str(x)
    if not isinstance(x, str):
        raise Malformed("bad_type", name, type(x).__name__)
    if len(x) > MAX_ID_CHARS:
        raise Malformed("too_long", name, f"{len(x)} characters")
    return x


def parse_alert(value: bytes | str) -> MonitorAlert:
    """One `risk-alerts` value as the monitor counts it, or Malformed."""
    obj = _object(value)
    severity = obj.get("severity")
    if severity is None:
        raise Malformed("missing_field", "severity")
    if not isinstance(severity, str):
        raise Malformed("bad_type", "severity", type(severity).__name__)
    if severity not in SEVERITIES:  # a label value and a table key: only the three the job writes
        raise Malformed("out_of_range", "severity")
    ts = _integer(obj, "alert_ts", MAX_TS_MS, required=True)
    score = _number(obj, "fraud_score", 0.0, 1.0, required=True)
    assert ts is not None and score is not None
    return MonitorAlert(ts, severity, score, _id(obj, "terminal_id") or "unknown",
                        _id(obj, "merchant_id") or "unknown")


def _mapping(obj: dict[str, Any], name: str) -> dict[str, Any]:
    x = obj.get(name)
    if x is None:
        return {}
    if not isinstance(x, dict):
        raise Malformed("bad_type", name, type(x).__name__)
    return x


def _lag(obj: dict[str, Any]) -> dict[str, int]:
    lag = _mapping(obj, "lag")
    if len(lag) > MAX_LAG_ENTRIES:
        raise Malformed("too_long", "lag", f"{len(lag)} entries")
    out: dict[str, int] = {}
    for key in lag:
        if len(key) > MAX_LAG_KEY_CHARS:
            raise Malformed("too_long", "lag", f"a key of {len(key)} characters")
        try:
            n = _integer(lag, key, MAX_COUNT)
        except Malformed as exc:  # the field is "lag", not the (sender's) key
            raise Malformed(exc.reason, "lag") from None
        out[key] = 0 if n is None else n
    return out


def _rule_hits(obj: dict[str, Any]) -> tuple[RuleCount, ...]:
    """`rule_hits`: absent (an older job, a feature-store report) is no rules, not zero hits."""
    entries = obj.get("rule_hits")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise Malformed("bad_type", "rule_hits", type(entries).__name__)
    if len(entries) > MAX_RULE_HITS:
        raise Malformed("too_long", "rule_hits", f"{len(entries)} entries")
    out: dict[str, RuleCount] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise Malformed("bad_type", "rule_hits", type(entry).__name__)
        try:  # the field is "rule_hits", whatever the entry's own field
            rule_id = _id(entry, "id", required=True)
            version = _integer(entry, "version", MAX_VERSION, required=True)
            hits = _integer(entry, "hits", MAX_COUNT, required=True)
        except Malformed as exc:
            raise Malformed(exc.reason, "rule_hits") from None
        assert rule_id is not None and version is not None and hits is not None
        action, severity = entry.get("action"), entry.get("severity")
        # Ids are table keys and page text: only what a rule id can be (lepton_stream/rules/model.py).
        if not is_rule_id(rule_id) or rule_id in out or action not in ACTIONS or \
                (severity is not None and severity not in SEVERITIES):
            raise Malformed("out_of_range", "rule_hits")
        out[rule_id] = RuleCount(rule_id, version, action, severity, hits)
    return tuple(out.values())


def parse_metrics(value: bytes | str) -> TaskSummary:
    """One `pipeline-metrics` value, summarised for the monitor's tasks table, or Malformed."""
    obj = _object(value)
    task_id = _id(obj, "task_id", required=True)
    assert task_id is not None
    counts = {name: _integer(obj, name, MAX_COUNT) for name in ("events_in", "scored", "alerts", "dlq")}
    p99 = _number(_mapping(obj, "latency_ms"), "p99", 0.0, MAX_LATENCY_MS, required=False)
    lag = _lag(obj)
    store = obj.get("feature_store", "ok")
    if store not in FEATURE_STORE_STATES:
        raise Malformed("out_of_range", "feature_store", f"one of {', '.join(FEATURE_STORE_STATES)}")
    reason = obj.get("feature_store_reason", "")
    if not isinstance(reason, str):
        raise Malformed("bad_type", "feature_store_reason")
    return TaskSummary(task_id, _integer(obj, "window_end", MAX_TS_MS), **counts, p99_ms=p99,
                       lag_total=min(sum(lag.values()), MAX_COUNT), lag=lag, feature_store=store,
                       feature_store_reason=cap(reason, MAX_REASON_CHARS), rule_hits=_rule_hits(obj))
