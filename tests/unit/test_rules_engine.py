"""The rule set: loading (versions, errors), batch evaluation and the per-row helpers; the
schema rules may read; the cost benchmark runs (it reports cost, nothing here times it)."""

import dataclasses
import re
import warnings

import numpy as np
import pytest

from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.rules.bench import random_columns, rules_cost_us_per_tx, typical_rules
from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.expr import Compiled, compile_condition
from lepton_stream.rules.lexer import RESERVED
from lepton_stream.rules.model import Rule
from lepton_stream.rules.schema import RULE_SCHEMA
from lepton_stream.schemas import Score, Transaction

SCHEMA = {"amount": "number", "channel": "string", "fraud_score": "number"}
COLUMNS = {
    "amount": np.array([10.0, 2500.0, 2500.0, np.nan]),
    "channel": np.array(["pos", "ecom", "atm", "ecom"], dtype=object),
    "fraud_score": np.array([0.1, 0.9, 0.2, 0.95]),
}


def rule(rule_id, condition, action="alert", severity="high", version=1, enabled=True):
    return Rule(rule_id, version, "test rule", "tests", condition, action,
                None if action == "suppress" else severity, enabled)


RULES = [
    rule("big", "amount > 2000", severity="medium"),
    rule("big-ecom", 'amount > 2000 && channel == "ecom"'),
    rule("allow-small-pos", 'amount < 50 && channel == "pos"', action="suppress"),
    rule("ecom-score", 'channel == "ecom" && fraud_score > 0.9', severity="low"),
]


def test_hits_by_hand():
    ruleset = RuleSet(RULES, SCHEMA)
    assert ruleset.errors == () and len(ruleset) == 4
    hits = ruleset.evaluate(COLUMNS)
    assert hits.matched.shape == (4, 4)
    assert hits.matched.tolist() == [[False, False, True, False],
                                     [True, True, False, False],
                                     [True, False, False, False],
                                     [False, False, False, True]]  # NaN amount: no amount rule fires
    assert hits.rule_ids == ("big", "big-ecom", "allow-small-pos", "ecom-score")
    assert hits.versions == (1, 1, 1, 1)
    assert hits.alerts(0) == []
    assert hits.alerts(1) == [("big", 1, "medium"), ("big-ecom", 1, "high")]
    assert hits.alerts(2) == [("big", 1, "medium")]
    assert hits.alerts(3) == [("ecom-score", 1, "low")]
    assert hits.alerts(-1) == hits.alerts(3)
    assert [hits.suppressed(i) for i in range(4)] == [True, False, False, False]
    assert hits.any_alert.tolist() == [False, True, True, True]
    assert hits.suppressed_rows.tolist() == [True, False, False, False]
    with pytest.raises(IndexError):
        hits.alerts(4)


def test_matches_each_rule_evaluated_alone_on_random_data():
    # Shared sub-expressions are computed once per batch: the result must be as if each rule ran alone.
    rules = typical_rules(40)
    ruleset = RuleSet(rules)
    assert ruleset.errors == ()
    columns = random_columns(500, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hits = ruleset.evaluate(columns)
    for j, r in enumerate(rules):
        alone = compile_condition(r.condition, RULE_SCHEMA)
        assert isinstance(alone, Compiled)
        assert np.array_equal(hits.matched[:, j], alone.evaluate(columns)), r.condition
    for i in range(0, 500, 37):
        expected = [(r.id, r.version, r.severity) for j, r in enumerate(rules)
                    if r.action == "alert" and hits.matched[i, j]]
        assert hits.alerts(i) == expected
        assert hits.suppressed(i) == any(hits.matched[i, j] for j, r in enumerate(rules) if r.action == "suppress")


def test_a_rule_that_does_not_compile_is_reported_and_the_others_load():
    ruleset = RuleSet([rule("typo", "amout > 1"), *RULES, rule("type", 'amount > "x"')], SCHEMA)
    assert [r.id for r in ruleset.rules] == [r.id for r in RULES]
    assert [(e.rule_id, e.code) for e in ruleset.errors] == [("typo", "compile_error"), ("type", "compile_error")]
    assert "did you mean 'amount'" in ruleset.errors[0].message and "(at position 0)" in ruleset.errors[0].message


def test_constant_and_invalid_rules_are_not_loaded():
    ruleset = RuleSet([rule("always", "true", action="suppress"), rule("never", "false && amount > 1"),
                       rule("bad", "amount > 1", version=0), rule("ok", "amount > 1")], SCHEMA)
    assert [r.id for r in ruleset.rules] == ["ok"]
    assert [(e.rule_id, e.code) for e in ruleset.errors] == [
        ("always", "constant_condition"), ("never", "constant_condition"), ("bad", "invalid_rule")]


def test_disabled_rules_are_not_loaded_and_not_errors():
    ruleset = RuleSet([rule("off", "amount > 1", enabled=False), rule("broken-off", "amout >", enabled=False)],
                      SCHEMA)
    assert ruleset.rules == () and ruleset.errors == ()


def test_the_highest_version_is_live_even_when_disabled():
    ruleset = RuleSet([rule("r", "amount > 1", version=2), rule("r", "amount > 2", version=3),
                       rule("r", "amount > 0", version=1)], SCHEMA)
    assert [(r.id, r.version) for r in ruleset.rules] == [("r", 3)]
    assert sorted(p.version for p in ruleset.superseded) == [1, 2]
    off = RuleSet([rule("r", "amount > 1", version=2), rule("r", "amount > 1", version=3, enabled=False)], SCHEMA)
    assert off.rules == ()  # disabling version 3 does not bring version 2 back


def test_a_version_given_twice_is_a_duplicate():
    ruleset = RuleSet([rule("r", "amount > 1"), rule("r", "amount > 5")], SCHEMA)
    assert [r.condition for r in ruleset.rules] == ["amount > 1"]
    assert [e.code for e in ruleset.errors] == ["duplicate"]


def test_empty_rule_set_and_empty_batch():
    hits = RuleSet([], SCHEMA).evaluate(COLUMNS)
    assert hits.matched.shape == (4, 0)
    assert hits.alerts(2) == [] and hits.suppressed(2) is False
    empty = {"amount": np.zeros(0), "channel": np.array([], dtype=object), "fraud_score": np.zeros(0)}
    hits = RuleSet(RULES, SCHEMA).evaluate(empty)
    assert hits.matched.shape == (0, 4) and len(hits) == 0


def test_a_missing_column_is_the_callers_mistake():
    with pytest.raises(ValueError, match="no column 'fraud_score'"):
        RuleSet(RULES, SCHEMA).evaluate({k: v for k, v in COLUMNS.items() if k != "fraud_score"})


# --- the schema ----------------------------------------------------------------------------

def test_schema_has_features_scores_and_safe_transaction_fields():
    for name in (*FRAUD_FEATURES, *CREDIT_FEATURES):
        assert RULE_SCHEMA[name] == "number", name
    score_fields = {f.name for f in dataclasses.fields(Score)}
    for name in ("fraud_score", "credit_score"):
        assert RULE_SCHEMA[name] == "number" and name in score_fields
    for name in ("channel", "currency", "mcc", "terminal_id", "merchant_id"):
        assert RULE_SCHEMA[name] == "string"
    assert RULE_SCHEMA["amount"] == "number"


def test_schema_never_exposes_cardholder_identifiers():
    tx_fields = {f.name for f in dataclasses.fields(Transaction)}
    assert {"card_id", "customer_id"} <= tx_fields  # still what the transaction calls them
    for name in ("card_id", "customer_id", "tx_id", "extra", "pan", "card_number"):
        assert name not in RULE_SCHEMA
    assert set(RULE_SCHEMA.values()) <= {"number", "string", "bool"}


def test_every_schema_name_can_be_written_in_a_condition():
    for name in RULE_SCHEMA:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name not in RESERVED | {"true", "false", "in"}
        assert isinstance(compile_condition(f"{name} == {name}", RULE_SCHEMA), Compiled), name


def test_bench_rules_load_and_cover_the_kinds_of_condition():
    ruleset = RuleSet(typical_rules(20))
    assert ruleset.errors == () and len(ruleset) == 20
    assert {r.action for r in ruleset.rules} == {"alert", "suppress"}
    assert set(random_columns(3)) == set(RULE_SCHEMA)


def test_cost_function_reports_without_asserting_a_time():
    report = rules_cost_us_per_tx(n_rules=3, batch=50, repeats=2)
    assert report["rules"] == 3 and report["batch"] == 50
    assert report["us_per_tx_median"] > 0 and report["us_per_tx_with_row_helpers_median"] > 0
