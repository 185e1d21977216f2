"""Live fraud rules beside the model: the rule model, a safe condition language (a
subset of CEL) and a vectorised evaluator. Wired into the job by `lepton_stream/pipeline/rules_stage.py`."""

from lepton_stream.rules.engine import RuleHits, RuleProblem, RuleSet
from lepton_stream.rules.expr import Compiled, ExprError, compile_condition
from lepton_stream.rules.model import Rule, RuleError, load_rule_file, rule_from_json, rule_to_json
from lepton_stream.rules.schema import RULE_SCHEMA

__all__ = ["RULE_SCHEMA", "Compiled", "ExprError", "Rule", "RuleError", "RuleHits", "RuleProblem", "RuleSet",
           "compile_condition", "load_rule_file", "rule_from_json", "rule_to_json"]
