"""Fraud rules as analysts write them: one JSON (or YAML) document per rule version.

Parsing never raises: any input, however hostile, gives a `Rule` or a `RuleError`
whose `code` is stable (for tooling) and `message` one line naming the field and
the problem. Texts are bounded, unknown keys refused (a misspelt `enabeld` must not
silently leave a rule on), and no text may carry a card number: rules are copied to
reviews, repositories and dashboards, and card numbers never leave the job.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lepton_stream.rules.lexer import MAX_CHARS
from lepton_stream.schemas.pan import has_card_number, mask_card_numbers

try:
    _yaml: Any = importlib.import_module("yaml")
except ImportError:  # JSON only then
    _yaml = None

ACTIONS = ("alert", "suppress")
SEVERITIES = ("low", "medium", "high")
FIELDS = ("id", "version", "description", "owner", "condition", "action", "severity", "enabled")
MAX_ID_CHARS = 64
MAX_DESCRIPTION_CHARS = 500
MAX_OWNER_CHARS = 128
MAX_CONDITION_CHARS = MAX_CHARS
MAX_VERSION = 2**31 - 1
# A condition of MAX_CONDITION_CHARS written with \uXXXX escapes is six times longer.
MAX_DOCUMENT_BYTES = 64 * 1024
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    description: str
    owner: str
    condition: str  # an expression of lepton_stream.rules.expr
    action: str  # "alert", or "suppress": the model's alert is not raised for matching transactions
    severity: str | None  # of the alert; None for a suppress rule
    enabled: bool = True


@dataclass(frozen=True)
class RuleError:
    code: str
    message: str
    field: str | None = None


def _fail(code: str, message: str, fld: str | None = None) -> RuleError:
    return RuleError(code, mask_card_numbers(" ".join(message.split()))[:300], fld)


def _kind(value: Any) -> str:
    return {bool: "a bool", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _text(obj: dict[str, Any], name: str, limit: int, multiline: bool = False) -> str | RuleError:
    value = obj[name]
    if not isinstance(value, str):
        return _fail("wrong_type", f"'{name}' must be a string, got {_kind(value)}", name)
    if len(value) > limit:
        return _fail("too_long", f"'{name}' has {len(value)} characters, at most {limit}", name)
    allowed = "\n\t" if multiline else ""
    bad = next((ch for ch in value if not ch.isprintable() and ch not in allowed), None)
    if bad is not None:
        return _fail("invalid_value", f"'{name}' holds the unprintable character U+{ord(bad):04X}", name)
    if has_card_number(value):
        return _fail("card_number", f"'{name}' holds what looks like a card number; rules must not carry one", name)
    return str(value)


def _check(obj: dict[Any, Any]) -> Rule | RuleError:
    unknown = [k for k in obj if k not in FIELDS]
    if unknown:
        shown = repr(unknown[0])[:40] if isinstance(unknown[0], str) else f"a key of type {type(unknown[0]).__name__}"
        return _fail("unknown_field", f"unknown field {shown}; the fields are {', '.join(FIELDS)}")
    for name in ("id", "version", "description", "owner", "condition", "action"):
        if name not in obj:
            return _fail("missing_field", f"required field '{name}' is missing", name)

    rule_id = obj["id"]
    if not isinstance(rule_id, str):
        return _fail("wrong_type", f"'id' must be a string, got {_kind(rule_id)}", "id")
    if not _ID.fullmatch(rule_id):
        return _fail("invalid_value", f"'id' must be 1 to {MAX_ID_CHARS} characters of A-Z a-z 0-9 _ . -", "id")
    if has_card_number(rule_id):
        return _fail("card_number", "'id' looks like a card number; rules must not carry one", "id")

    version = obj["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        return _fail("wrong_type", f"'version' must be an integer, got {_kind(version)}", "version")
    if not 1 <= version <= MAX_VERSION:
        return _fail("invalid_value", f"'version' must be from 1 to {MAX_VERSION}", "version")

    texts: dict[str, str] = {}
    for name, limit, multiline in (("description", MAX_DESCRIPTION_CHARS, True), ("owner", MAX_OWNER_CHARS, False),
                                   ("condition", MAX_CONDITION_CHARS, True)):
        text = _text(obj, name, limit, multiline)
        if isinstance(text, RuleError):
            return text
        texts[name] = text
    if not texts["owner"].strip():
        return _fail("invalid_value", "'owner' must not be blank: who answers for the rule?", "owner")
    if not texts["condition"].strip():
        return _fail("invalid_value", "'condition' must not be blank", "condition")

    action = obj["action"]
    if action not in ACTIONS or not isinstance(action, str):
        shown = repr(action)[:30] if isinstance(action, str) else _kind(action)
        return _fail("invalid_value", f"'action' must be one of {', '.join(ACTIONS)}, got {shown}", "action")
    severity = obj.get("severity")
    if action == "suppress" and severity is not None:
        return _fail("invalid_value", "'severity' must be absent for a suppress rule (it raises no alert)", "severity")
    if action == "alert" and (not isinstance(severity, str) or severity not in SEVERITIES):
        shown = repr(severity)[:30] if isinstance(severity, str) else _kind(severity)
        got = "it is missing" if severity is None else f"got {shown}"
        return _fail("invalid_value", f"'severity' of an alert rule must be one of {', '.join(SEVERITIES)}; {got}",
                     "severity")

    enabled = obj.get("enabled", True)
    if not isinstance(enabled, bool):
        return _fail("wrong_type", f"'enabled' must be true or false, got {_kind(enabled)}", "enabled")
    return Rule(str(rule_id), int(version), texts["description"], texts["owner"], texts["condition"], str(action),
                None if severity is None else str(severity), enabled)


def rule_from_json(data: bytes | str | dict[Any, Any]) -> Rule | RuleError:
    """A rule from a JSON document (bytes or text) or an already decoded object."""
    try:
        if isinstance(data, dict):
            return _check(data)
        if not isinstance(data, bytes | bytearray | str):
            return _fail("wrong_type", f"expected JSON bytes, text or a dict, got {type(data).__name__}")
        if len(data) > MAX_DOCUMENT_BYTES:
            return _fail("too_large", f"the document has {len(data)} bytes, at most {MAX_DOCUMENT_BYTES}")
        try:
            obj = orjson.loads(data)
        except (ValueError, TypeError) as exc:
            return _fail("invalid_json", f"not valid JSON: {str(exc)[:200]}")
        if not isinstance(obj, dict):
            return _fail("not_an_object", f"expected a JSON object, got {_kind(obj)}")
        return _check(obj)
    except Exception as exc:  # noqa: BLE001 (errors are values: never fail the caller)
        return _fail("unparseable", f"the rule could not be parsed ({type(exc).__name__})")


def is_rule_id(text: str) -> bool:
    """Whether a text could be a rule's id (what readers of rule ids from elsewhere check)."""
    return bool(_ID.fullmatch(text)) and not has_card_number(text)


def validate_rule(rule: Rule) -> RuleError | None:
    """What is wrong with a rule built in code rather than parsed, if anything."""
    checked = _check({name: getattr(rule, name) for name in FIELDS})
    return checked if isinstance(checked, RuleError) else None


def rule_to_json(rule: Rule) -> bytes:
    """Compact JSON, keys always present and in FIELDS order (severity null for suppress)."""
    return orjson.dumps({name: getattr(rule, name) for name in FIELDS})


def load_rule_file(path: str | os.PathLike[str]) -> Rule | RuleError:
    """A rule from a .json file, or a .yaml / .yml file (PyYAML's safe loader)."""
    p = Path(path)
    try:
        # Only a regular file: a FIFO or a device (/dev/zero) would block or never end.
        if not stat.S_ISREG(os.stat(p).st_mode):
            return _fail("file_error", f"{p.name[:80]} is not a regular file")
        with p.open("rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, ValueError) as exc:
        return _fail("file_error", f"cannot read {p.name[:80]}: {getattr(exc, 'strerror', None) or type(exc).__name__}")
    if len(raw) > MAX_DOCUMENT_BYTES:
        return _fail("too_large", f"{p.name[:80]} is larger than {MAX_DOCUMENT_BYTES} bytes")
    if p.suffix.lower() not in _YAML_SUFFIXES:
        return rule_from_json(raw)
    if _yaml is None:
        return _fail("unsupported_format", "YAML rules need PyYAML, which is not installed: write the rule as JSON")
    try:
        obj = _yaml.safe_load(raw.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 (YAMLError, UnicodeDecodeError, RecursionError on deep nesting)
        return _fail("invalid_yaml", f"not valid YAML: {str(exc)[:200]}")
    if not isinstance(obj, dict):
        return _fail("not_an_object", f"expected a YAML mapping, got {_kind(obj)}")
    return rule_from_json(obj)
