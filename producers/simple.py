"""A simple, seeded transaction generator with known frauds and malformed events.

Enough for the walking skeleton (demo, tests, the first model); the realistic
simulator is its own module. Frauds come in bursts on a compromised card:
larger amounts, mostly ecom/atm, several within minutes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from producers.malformed import MALFORMED_KINDS, malformed

__all__ = ["MALFORMED_KINDS", "LabelledEvent", "SimpleGenerator", "malformed"]


@dataclass(frozen=True)
class LabelledEvent:
    event: dict
    is_fraud: bool
    defaults: bool  # credit ground truth of the card's holder

    def to_bytes(self) -> bytes:
        return json.dumps(self.event, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Card:
    card_id: str
    customer_id: str
    home: tuple[float, float]
    mean_amount: float
    defaults: bool


class SimpleGenerator:
    def __init__(self, cards: int = 1000, fraud_share: float = 0.02, seed: int = 0, id_prefix: str = "tx") -> None:
        self._rng = random.Random(seed)
        self._fraud_share = fraud_share
        self._prefix = id_prefix
        self._cards = [self._new_card(i) for i in range(cards)]
        self._compromised: dict[int, int] = {}

    def _new_card(self, i: int) -> _Card:
        rng = self._rng
        mean = rng.lognormvariate(3.3, 0.7)
        # Heavier spenders default more often: the credit model's signal.
        p_default = min(0.6, 0.03 + mean / 400)
        return _Card(
            card_id=f"card_{rng.getrandbits(48):012x}",
            customer_id=f"cust_{i:06d}",
            home=(rng.uniform(0, 100), rng.uniform(0, 100)),
            mean_amount=mean,
            defaults=rng.random() < p_default,
        )

    def _pick(self) -> tuple[int, bool]:
        rng = self._rng
        if self._compromised and rng.random() < 0.3:
            idx = rng.choice(list(self._compromised))
            self._compromised[idx] -= 1
            if self._compromised[idx] == 0:
                del self._compromised[idx]
            return idx, True
        idx = rng.randrange(len(self._cards))
        if rng.random() < self._fraud_share / 4:
            self._compromised[idx] = 3
            return idx, True
        return idx, False

    def stream(self, n: int, start_ms: int, mean_gap_ms: float = 50.0) -> Iterator[LabelledEvent]:
        rng = self._rng
        ts = float(start_ms)
        for i in range(n):
            ts += rng.expovariate(1.0 / mean_gap_ms) if mean_gap_ms > 0 else 0.0
            idx, fraud = self._pick()
            card = self._cards[idx]
            if fraud:
                amount = card.mean_amount * rng.uniform(3.0, 8.0)
                channel = rng.choices(("ecom", "atm", "pos"), (0.6, 0.3, 0.1))[0]
                x, y = rng.uniform(0, 100), rng.uniform(0, 100)
            else:
                amount = max(0.5, rng.gauss(card.mean_amount, card.mean_amount / 3))
                channel = rng.choices(("pos", "ecom", "atm"), (0.75, 0.2, 0.05))[0]
                x, y = card.home[0] + rng.gauss(0, 3), card.home[1] + rng.gauss(0, 3)
            event = {
                "tx_id": f"{self._prefix}-{i:09d}",
                "card_id": card.card_id,
                "customer_id": card.customer_id,
                "terminal_id": f"term_{rng.randrange(5000):05d}",
                "merchant_id": f"merch_{rng.randrange(2000):05d}",
                "mcc": rng.choice(("5411", "5812", "5999", "6011", "4111", "5732")),
                "amount": round(min(amount, 50_000.0), 2),
                "currency": "EUR",
                "ts": int(ts),
                "channel": channel,
                "x": round(x, 3),
                "y": round(y, 3),
                "schema_version": 1,
            }
            yield LabelledEvent(event, fraud, card.defaults)
