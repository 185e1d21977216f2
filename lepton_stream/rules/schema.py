"""The names a rule condition may read, derived from the code that produces them.

Transaction fields come from the `Transaction` dataclass, features from the feature
definitions, scores from the scorer's output names: a field or feature added there
is available to rules, one renamed makes the rules that read it fail to load
(reported, not silently false). Identifiers of the cardholder are never exposed:
conditions are written and read by people, and a card number or customer id in a
rule would be copied to every place rules are kept.
"""

from __future__ import annotations

import dataclasses
import typing

from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.schemas.transaction import Transaction
from lepton_stream.scoring.base import CREDIT_OUTPUT, FRAUD_OUTPUT

# card_id and customer_id identify the cardholder; tx_id is unique per event, so a
# rule on it could only ever match one transaction; `extra` is free-form.
PRIVATE_FIELDS = frozenset({"card_id", "customer_id", "tx_id", "extra"})
MODEL_OUTPUTS = (FRAUD_OUTPUT, CREDIT_OUTPUT)
_TYPES: dict[object, str] = {str: "string", float: "number", int: "number", bool: "bool"}


def transaction_fields() -> dict[str, str]:
    hints = typing.get_type_hints(Transaction)
    out: dict[str, str] = {}
    for f in dataclasses.fields(Transaction):
        type_ = _TYPES.get(hints[f.name])
        if f.name not in PRIVATE_FIELDS and type_ is not None:
            out[f.name] = type_
    return out


def build_schema() -> dict[str, str]:
    schema = transaction_fields()
    for name in (*FRAUD_FEATURES, *CREDIT_FEATURES, *MODEL_OUTPUTS):
        if name in PRIVATE_FIELDS:
            continue
        if schema.setdefault(name, "number") != "number":
            raise TypeError(f"'{name}' is a {schema[name]} transaction field and a numeric feature")
    return schema


RULE_SCHEMA: dict[str, str] = build_schema()
