"""Rule documents: parsing, round trips, and errors as values for any hostile input."""

import json
import os

import orjson
import pytest

from lepton_stream.rules.model import (
    FIELDS,
    MAX_DOCUMENT_BYTES,
    Rule,
    RuleError,
    load_rule_file,
    rule_from_json,
    rule_to_json,
    validate_rule,
)

ALERT = {"id": "high-ecom.v2_test", "version": 3, "description": "Large e-commerce amounts\nat night.",
         "owner": "fraud-analytics@example.com", "condition": 'amount > 2000 && channel == "ecom"',
         "action": "alert", "severity": "high", "enabled": True}
SUPPRESS = {"id": "allow.payroll", "version": 1, "description": "Payroll merchant", "owner": "ops",
            "condition": 'merchant_id in ["M0001"]', "action": "suppress"}


def parsed(data):
    rule = rule_from_json(data)
    assert isinstance(rule, Rule), rule
    return rule


def refused(data):
    err = rule_from_json(data)
    assert isinstance(err, RuleError), err
    assert err.message and "\n" not in err.message and len(err.message) <= 300
    return err


@pytest.mark.parametrize("form", [lambda d: d, json.dumps, lambda d: json.dumps(d).encode()])
def test_valid_alert_rule_in_each_form(form):
    rule = parsed(form(ALERT))
    assert rule == Rule("high-ecom.v2_test", 3, "Large e-commerce amounts\nat night.", "fraud-analytics@example.com",
                        'amount > 2000 && channel == "ecom"', "alert", "high", True)


def test_suppress_rule_has_no_severity_and_enabled_defaults_to_true():
    rule = parsed(SUPPRESS)
    assert rule.severity is None and rule.enabled is True
    assert parsed({**SUPPRESS, "severity": None}) == rule


@pytest.mark.parametrize("doc", [ALERT, SUPPRESS, {**ALERT, "enabled": False}])
def test_round_trip_is_compact_and_in_field_order(doc):
    rule = parsed(doc)
    raw = rule_to_json(rule)
    assert parsed(raw) == rule
    assert list(orjson.loads(raw)) == list(FIELDS)
    assert b": " not in raw and b", " not in raw  # compact
    assert rule_to_json(parsed(raw)) == raw  # stable


@pytest.mark.parametrize("name", ["id", "version", "description", "owner", "condition", "action"])
def test_each_required_field(name):
    doc = {k: v for k, v in ALERT.items() if k != name}
    err = refused(doc)
    assert (err.code, err.field) == ("missing_field", name)
    assert f"'{name}'" in err.message


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"id": 12}, "wrong_type", "id"),
    ({"id": ""}, "invalid_value", "id"),
    ({"id": "a" * 65}, "invalid_value", "id"),
    ({"id": "a b"}, "invalid_value", "id"),
    ({"id": "a/b"}, "invalid_value", "id"),
    ({"id": "r\u00e9gle"}, "invalid_value", "id"),
    ({"id": "rule\n"}, "invalid_value", "id"),
    ({"id": "4111111111111111"}, "card_number", "id"),
    ({"version": "1"}, "wrong_type", "version"),
    ({"version": 1.0}, "wrong_type", "version"),
    ({"version": True}, "wrong_type", "version"),
    ({"version": float("nan")}, "wrong_type", "version"),
    ({"version": 0}, "invalid_value", "version"),
    ({"version": -3}, "invalid_value", "version"),
    ({"version": 2**31}, "invalid_value", "version"),
    ({"version": 10**400}, "invalid_value", "version"),
    ({"description": ["a"]}, "wrong_type", "description"),
    ({"description": "x" * 501}, "too_long", "description"),
    ({"description": "card 4111 1111 1111 1111 seen"}, "card_number", "description"),
    ({"description": "bell \x07"}, "invalid_value", "description"),
    ({"description": "hidden \u202e text"}, "invalid_value", "description"),
    ({"owner": None}, "wrong_type", "owner"),
    ({"owner": "   "}, "invalid_value", "owner"),
    ({"owner": "a\nb"}, "invalid_value", "owner"),
    ({"owner": "o" * 129}, "too_long", "owner"),
    ({"condition": 5}, "wrong_type", "condition"),
    ({"condition": ""}, "invalid_value", "condition"),
    ({"condition": "a" * 2001}, "too_long", "condition"),
    ({"condition": 'merchant_id == "4111111111111111"'}, "card_number", "condition"),
    ({"action": "block"}, "invalid_value", "action"),
    ({"action": ["alert"]}, "invalid_value", "action"),
    ({"action": None}, "invalid_value", "action"),
    ({"severity": "critical"}, "invalid_value", "severity"),
    ({"severity": None}, "invalid_value", "severity"),
    ({"severity": 3}, "invalid_value", "severity"),
    ({"enabled": "yes"}, "wrong_type", "enabled"),
    ({"enabled": 1}, "wrong_type", "enabled"),
    ({"enabled": None}, "wrong_type", "enabled"),
])
def test_field_errors_name_the_field(change, code, field):
    err = refused({**ALERT, **change})
    assert (err.code, err.field) == (code, field), err
    assert f"'{field}'" in err.message


def test_alert_without_severity_and_suppress_with_one():
    doc = {k: v for k, v in ALERT.items() if k != "severity"}
    assert "it is missing" in refused(doc).message
    err = refused({**SUPPRESS, "severity": "low"})
    assert (err.field, err.code) == ("severity", "invalid_value") and "absent for a suppress rule" in err.message


def test_unknown_keys_are_refused():
    err = refused({**ALERT, "enabeld": False})
    assert err.code == "unknown_field" and "'enabeld'" in err.message
    assert refused({**ALERT, 1: "x"}).code == "unknown_field"
    assert refused({**ALERT, ("a",): "x"}).code == "unknown_field"
    assert len(refused({**ALERT, "k" * 10_000: 1}).message) < 300


def test_no_card_number_in_any_message():
    err = refused({**ALERT, "4111111111111111": 1})
    assert "4111111111111111" not in err.message and "1111" in err.message


@pytest.mark.parametrize(("data", "code"), [
    (b"", "invalid_json"),
    (b"not json", "invalid_json"),
    (b"\xff\xfe{", "invalid_json"),
    ("{\"id\": NaN}", "invalid_json"),
    ('{"version": Infinity}', "invalid_json"),
    (b"[" * 10_000 + b"]" * 10_000, "invalid_json"),  # nesting beyond orjson's limit
    ('{"id": "\ud800"}', "invalid_json"),  # a lone surrogate is not UTF-8
    (b"[]", "not_an_object"),
    (b"null", "not_an_object"),
    (b"1", "not_an_object"),
    (b'"rule"', "not_an_object"),
    (b"{}", "missing_field"),
    (b" " * (MAX_DOCUMENT_BYTES + 1), "too_large"),
    (json.dumps({**ALERT, "id": {"nested": [[[{"junk": None}]]]}}), "wrong_type"),
    (json.dumps({**ALERT, "condition": {"op": "&&"}}), "wrong_type"),
    (None, "wrong_type"),
    (12, "wrong_type"),
    ([ALERT], "wrong_type"),
])
def test_hostile_documents_give_errors_not_exceptions(data, code):
    assert refused(data).code == code


def test_validate_rule_built_in_code():
    good = parsed(ALERT)
    assert validate_rule(good) is None
    bad = Rule("x", 0, "", "o", "amount > 1", "alert", "low")
    assert validate_rule(bad).field == "version"


# --- files --------------------------------------------------------------------------------

YAML_RULE = """\
id: night-atm
version: 2
description: |
  ATM withdrawals at night
owner: analyst
condition: 'channel == "atm" && tx_during_night == 1 && amount > 300'
action: alert
severity: medium
"""


def test_json_file(tmp_path):
    path = tmp_path / "rule.json"
    path.write_bytes(rule_to_json(parsed(ALERT)))
    assert load_rule_file(path) == parsed(ALERT)
    assert load_rule_file(str(path)) == parsed(ALERT)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_yaml_file(tmp_path, suffix):
    path = tmp_path / f"rule{suffix}"
    path.write_text(YAML_RULE)
    rule = load_rule_file(path)
    assert isinstance(rule, Rule), rule
    assert (rule.id, rule.version, rule.severity, rule.description) == (
        "night-atm", 2, "medium", "ATM withdrawals at night\n")


@pytest.mark.parametrize(("text", "code"), [
    ("id: [unclosed", "invalid_yaml"),
    ("!!python/object/apply:os.system ['echo hacked']", "invalid_yaml"),  # safe_load constructs no objects
    ("- a\n- b\n", "not_an_object"),
    ("just text", "not_an_object"),
    ("", "not_an_object"),
    ("a: &x [1]\nb: *x\n", "unknown_field"),
    ("[" * 20_000 + "]" * 20_000, "invalid_yaml"),
    (YAML_RULE.replace("version: 2", "version: 2.0"), "wrong_type"),
    (YAML_RULE + "extra: 1\n", "unknown_field"),
    (YAML_RULE + "---\nid: second\n", "invalid_yaml"),
])
def test_bad_yaml_files(tmp_path, text, code):
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    err = load_rule_file(path)
    assert isinstance(err, RuleError) and err.code == code, err


def test_file_errors(tmp_path):
    assert load_rule_file(tmp_path / "absent.json").code == "file_error"
    assert load_rule_file(tmp_path).code == "file_error"  # a directory
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_DOCUMENT_BYTES + 1))
    assert load_rule_file(big).code == "too_large"
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"id: \xff\xfe")
    assert load_rule_file(bad).code == "invalid_yaml"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "rule.json"
    os.mkfifo(fifo)
    err = load_rule_file(fifo)
    assert err.code == "file_error" and "not a regular file" in err.message
