"""A set of live rules, compiled once, evaluated per batch.

One rule id is one rule: given several versions, the highest is the live one,
even when it is disabled (disabling version 3 must not bring version 2 back).
A rule that is invalid, does not compile, or reads no field at all (a constant
condition that would alert on, or suppress, every transaction) is reported in
`errors` and not loaded; the others still are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lepton_stream.rules.columns import Frame, batch_length
from lepton_stream.rules.expr import Compiled, compile_condition
from lepton_stream.rules.model import Rule, validate_rule
from lepton_stream.rules.schema import RULE_SCHEMA


@dataclass(frozen=True)
class RuleProblem:
    rule_id: str
    version: int
    code: str  # "invalid_rule", "compile_error", "constant_condition", "duplicate", "superseded"
    message: str


@dataclass(eq=False)
class RuleHits:
    """Which rules matched which transactions of one batch."""

    matched: np.ndarray  # bool [N, n_rules]: matched[i, j] is rule j on transaction i
    rule_ids: tuple[str, ...]
    versions: tuple[int, ...]
    severities: tuple[str | None, ...]
    alert_columns: np.ndarray  # the indices j of the alert rules
    suppress_columns: np.ndarray  # and of the suppress rules
    any_alert: np.ndarray = field(init=False)  # bool [N]: some alert rule matched
    suppressed_rows: np.ndarray = field(init=False)  # bool [N]: some suppress rule matched
    _alerts: list[tuple[str, int, str]] | None = field(init=False, default=None, repr=False)
    _starts: list[int] = field(init=False, default_factory=list, repr=False)
    _totals: list[tuple[str, int, str, str | None, int]] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.any_alert = self.matched[:, self.alert_columns].any(axis=1)
        self.suppressed_rows = self.matched[:, self.suppress_columns].any(axis=1)

    def __len__(self) -> int:
        return len(self.matched)

    def alerts(self, i: int) -> list[tuple[str, int, str]]:
        """(rule id, version, severity) of each alert rule that matched transaction i, in rule order."""
        if self._alerts is None:
            # Every row's hits at once: numpy per row would cost more than the rules themselves.
            rows, cols = np.nonzero(self.matched[:, self.alert_columns])
            self._starts = np.searchsorted(rows, np.arange(len(self.matched) + 1)).tolist()
            self._alerts = [(self.rule_ids[j], self.versions[j], str(self.severities[j]))
                            for j in self.alert_columns[cols].tolist()]
        if i < 0:  # as a sequence would, and as suppressed(i) does
            i += len(self.matched)
        if not 0 <= i < len(self.matched):
            raise IndexError(f"row {i} of a batch of {len(self.matched)}")
        return self._alerts[self._starts[i]:self._starts[i + 1]]

    def totals(self) -> list[tuple[str, int, str, str | None, int]]:
        """(rule id, version, action, severity, transactions matched) of every rule, in rule order:
        a rule that matched nothing is there too, with 0. Counted once per batch (Prometheus and
        pipeline-metrics both read them)."""
        if self._totals is None:
            suppress = set(self.suppress_columns.tolist())
            counts = np.count_nonzero(self.matched, axis=0).tolist()  # faster than a sum over bools
            self._totals = [(rule_id, version, "suppress" if j in suppress else "alert", severity, int(n))
                            for j, (rule_id, version, severity, n) in enumerate(zip(
                                self.rule_ids, self.versions, self.severities, counts, strict=True))]
        return self._totals

    def suppressed(self, i: int) -> bool:
        """Whether a suppress rule matched transaction i: the model's alert is not raised."""
        return bool(self.suppressed_rows[i])


def _live_versions(rules: Iterable[Rule], problems: list[RuleProblem]) -> list[Rule]:
    latest: dict[str, Rule] = {}
    seen: list[Rule] = []
    for rule in rules:
        current = latest.get(rule.id)
        if current is not None and current.version == rule.version:
            problems.append(RuleProblem(rule.id, rule.version, "duplicate",
                                        f"rule {rule.id} version {rule.version} is given twice: the first is kept"))
            continue
        if current is None or rule.version > current.version:
            latest[rule.id] = rule
        seen.append(rule)
    live = []
    for rule in seen:
        newest = latest[rule.id]
        if rule is newest:
            live.append(rule)
        else:
            problems.append(RuleProblem(rule.id, rule.version, "superseded",
                                        f"rule {rule.id} version {rule.version} is superseded by {newest.version}"))
    return live


class RuleSet:
    """The enabled rules, compiled against `schema`; `errors` says which were not loaded and why."""

    def __init__(self, rules: Iterable[Rule], schema: Mapping[str, str] = RULE_SCHEMA) -> None:
        problems: list[RuleProblem] = []
        loaded: list[tuple[Rule, Compiled]] = []
        for rule in _live_versions(rules, problems):
            invalid = validate_rule(rule)
            if invalid is not None:
                problems.append(RuleProblem(rule.id, rule.version, "invalid_rule", invalid.message))
                continue
            if not rule.enabled:
                continue
            compiled = compile_condition(rule.condition, schema)
            if not isinstance(compiled, Compiled):
                problems.append(RuleProblem(rule.id, rule.version, "compile_error", str(compiled)))
            elif not compiled.names:
                problems.append(RuleProblem(rule.id, rule.version, "constant_condition",
                                            "the condition reads no field: it would match every transaction or none"))
            else:
                loaded.append((rule, compiled))
        self.errors: tuple[RuleProblem, ...] = tuple(p for p in problems if p.code != "superseded")
        self.superseded: tuple[RuleProblem, ...] = tuple(p for p in problems if p.code == "superseded")
        self.rules: tuple[Rule, ...] = tuple(r for r, _ in loaded)
        self._compiled = tuple(c for _, c in loaded)
        self.names: frozenset[str] = frozenset[str]().union(*(c.names for c in self._compiled))
        self._alert_columns = np.array([j for j, r in enumerate(self.rules) if r.action == "alert"], dtype=np.intp)
        self._suppress_columns = np.array([j for j, r in enumerate(self.rules) if r.action == "suppress"],
                                          dtype=np.intp)

    def __len__(self) -> int:
        return len(self.rules)

    def evaluate(self, columns: Mapping[str, Any], n: int | None = None) -> RuleHits:
        """Every loaded rule on the batch. Columns: see `Compiled.evaluate`. A sub-expression
        that several rules share (`channel == "ecom"`, `amount > 500`) is computed once."""
        if n is None:
            n = batch_length(columns, self.names) if columns or self._compiled else 0
        frame = Frame(columns, n)
        by_rule = np.empty((len(self._compiled), n), dtype=bool)  # one contiguous row per rule
        with np.errstate(all="ignore"):
            for j, compiled in enumerate(self._compiled):
                by_rule[j] = compiled.evaluate_unguarded(frame)
        return RuleHits(by_rule.T, tuple(r.id for r in self.rules), tuple(r.version for r in self.rules),
                        tuple(r.severity for r in self.rules), self._alert_columns, self._suppress_columns)
