"""What `lepton-stream rules` does: read the live rules from the `rules` topic, and
publish a rule, a new disabled version of one, or a tombstone. A rule is checked
(syntax, names, types) before anything is published or read (`rules backtest`);
a refusal is one line."""

from __future__ import annotations

import dataclasses
import os

from lepton_stream.config import Settings
from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.model import Rule, load_rule_file, rule_from_json, rule_to_json


class RuleRefused(Exception):
    """A rule the CLI will not publish; the message is the one line the user sees."""


def read_rules(s: Settings) -> dict[str, Rule]:
    """The latest valid record of each rule id, as the topic holds it now."""
    from lepton_stream.kafka.clients import read_to_end

    rules: dict[str, Rule] = {}
    for m in read_to_end(s.kafka_bootstrap, s.topics.rules):
        key, value = (m.key() or b"").decode(errors="replace"), m.value()
        if value is None:
            rules.pop(key, None)
        elif isinstance(rule := rule_from_json(value), Rule) and rule.id == key:
            rules[key] = rule
    return rules


def check(rule: Rule) -> None:
    problems = RuleSet([dataclasses.replace(rule, enabled=True)]).errors
    if problems:
        raise RuleRefused(f"rule {rule.id} v{rule.version}: {problems[0].message}")


def _publish(s: Settings, key: str, value: bytes | None) -> None:
    from lepton_stream.kafka.clients import producer

    p = producer(s.kafka_bootstrap)
    failed: list[str] = []
    p.produce(s.topics.rules, value, key.encode(),
              on_delivery=lambda err, _msg: failed.append(str(err)) if err is not None else None)
    if p.flush(30) or failed:
        raise RuntimeError(f"rule {key} not acknowledged by the broker: {failed or 'timed out'}")


def load_checked(path: str | os.PathLike[str]) -> Rule:
    """The rule of a file, checked as `rules add` and `rules backtest` both check it."""
    rule = load_rule_file(path)
    if not isinstance(rule, Rule):
        raise RuleRefused(f"{path}: {rule.message}")
    check(rule)
    return rule


def add(s: Settings, path: str | os.PathLike[str]) -> Rule:
    rule = load_checked(path)
    current = read_rules(s).get(rule.id)
    if current is not None and rule.version <= current.version:
        raise RuleRefused(f"rule {rule.id}: version {rule.version} is not above the live version {current.version}")
    _publish(s, rule.id, rule_to_json(rule))
    return rule


def disable(s: Settings, rule_id: str) -> Rule:
    current = read_rules(s).get(rule_id)
    if current is None:
        raise RuleRefused(f"no rule {rule_id!r} on {s.topics.rules}")
    rule = dataclasses.replace(current, version=current.version + 1, enabled=False)
    _publish(s, rule.id, rule_to_json(rule))
    return rule


def delete(s: Settings, rule_id: str) -> None:
    if rule_id not in read_rules(s):
        raise RuleRefused(f"no rule {rule_id!r} on {s.topics.rules}")
    _publish(s, rule_id, None)
