"""The publish gate: a candidate model is scored by us, not by its training report.

`lepton-stream model publish` hands each candidate ONNX file and the version
serving now (the latest in the model repository, the one Triton serves) to
`evaluate`. Both are run with onnxruntime on a held-out simulated world: the
project's simulator with a seed training never uses, featurised by the same
offline code as training (lepton_stream/training/dataset.py, credit.py).
A candidate clearly worse than the serving version, or alerting far more or
far less often, is refused; the caller publishes anyway only when forced.

The world is built once per simulator and feature code (~5 s) and cached under
the stack home, keyed by a hash of that code, so a second publish is fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnxruntime as ort

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.features.definitions import CARD_WINDOWS, CREDIT_FEATURES, FRAUD_FEATURES, TERMINAL_WINDOWS
from lepton_stream.training.credit import credit_table
from lepton_stream.training.dataset import feature_table
from lepton_stream.training.metrics import average_precision, roc_auc
from lepton_stream.training.worlds import HELD_OUT_SEED
from producers.simulator import SimulationConfig, simulate

log = logs.get("lepton.publish_gate")
F = TypeVar("F", "FraudFigures", "CreditFigures")
# A figure exactly at its margin passes: 0.71 - 0.69 is 0.020000000000000018 in floats.
_EPS = 1e-9

FRAUD, CREDIT = "fraud_scorer", "credit_scorer"
# The handbook's customers and terminals (so fraud share and feature ranges are those
# training sees); only as many days as needed: events are scored from the day every
# window is full (30-day card windows; 30-day terminal windows ending 7 days back),
# for one week. ~67,000 events, ~570 frauds; ~5,000 customers for the credit model.
SCORED_FROM_DAY = max(max(CARD_WINDOWS.windows_days), max(TERMINAL_WINDOWS.windows_days) + TERMINAL_WINDOWS.delay_days)
WORLD = SimulationConfig(nb_days=SCORED_FROM_DAY + 7, seed=HELD_OUT_SEED)
# What the world is made by: a change to any of these builds it again.
_WORLD_CODE = ("producers.simulator", "lepton_stream.features", "lepton_stream.training.dataset",
               "lepton_stream.training.credit")


class Unscorable(ValueError):
    """The model fails on real features or its answers are not probabilities: never
    publishable, forced or not."""


@dataclass(frozen=True)
class HeldOut:
    key: str
    fraud_x: np.ndarray  # float32 [events, FRAUD_FEATURES]
    fraud_y: np.ndarray  # 1 = fraud
    credit_x: np.ndarray  # float32 [customers, CREDIT_FEATURES]
    credit_y: np.ndarray  # 1 = defaulted

    @property
    def base_rate(self) -> float:
        return float(self.fraud_y.mean())


def world_key() -> str:
    h = hashlib.sha256(json.dumps([asdict(WORLD), SCORED_FROM_DAY]).encode())
    for name in _WORLD_CODE:
        spec = importlib.util.find_spec(name)
        origin = Path(str(spec.origin if spec else name))
        # a package: all its modules
        for path in sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]:
            h.update(f"{name}/{path.name}".encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def build_held_out(key: str) -> HeldOut:
    sim = simulate(WORLD)
    table = feature_table(sim.transactions, seed=WORLD.seed)
    scored = table[table["day"] >= table["day"].min() + SCORED_FROM_DAY]
    credit = credit_table(sim.transactions, sim.customers, int(sim.transactions["ts_ms"].max()) + 1)
    return HeldOut(key, scored[list(FRAUD_FEATURES)].to_numpy(np.float32), scored["is_fraud"].to_numpy(np.int8),
                   credit[list(CREDIT_FEATURES)].to_numpy(np.float32), credit["defaulted"].to_numpy(np.int8))


def held_out(home: Path) -> HeldOut:
    """The world from the cache under `home`, built (and cached) when missing."""
    key = world_key()
    path = home / "publish" / f"held-out-{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return HeldOut(key, z["fraud_x"], z["fraud_y"], z["credit_x"], z["credit_y"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # e.g. a disk that filled up
            log.warning("held-out cache unreadable, building it again", extra={"path": str(path), "error": str(exc)})
    world = build_held_out(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        np.savez(f, fraud_x=world.fraud_x, fraud_y=world.fraud_y, credit_x=world.credit_x, credit_y=world.credit_y)
    tmp.replace(path)  # a publish running alongside never reads half a file
    for stale in path.parent.glob("held-out-*.npz"):  # worlds of code that has changed since
        if stale != path:
            stale.unlink(missing_ok=True)
    log.info("held-out world cached", extra={"path": str(path), "events": len(world.fraud_y)})
    return world


@dataclass(frozen=True)
class FraudFigures:
    average_precision: float
    alert_rate: float  # share of events scored >= alert_threshold
    recall: float  # share of frauds scored >= alert_threshold


@dataclass(frozen=True)
class CreditFigures:
    auc_roc: float  # against the drawn defaults, as training evaluates it


@dataclass(frozen=True)
class Margins:
    max_ap_drop: float
    max_alert_rate_change: float  # relative to the serving alert rate
    max_auc_drop: float

    @classmethod
    def of(cls, s: Settings) -> Margins:
        return cls(s.models.publish_max_ap_drop, s.models.publish_max_alert_rate_change, s.models.publish_max_auc_drop)


def fraud_figures(scores: np.ndarray, y: np.ndarray, threshold: float) -> FraudFigures:
    alerted = scores >= threshold
    return FraudFigures(average_precision(y, scores), float(alerted.mean()), float(alerted[y > 0].mean()))


def judge_fraud(candidate: FraudFigures, serving: FraudFigures | None, base_rate: float, m: Margins) -> str | None:
    """Why the candidate fraud model is refused, or None. Without a serving version it
    must rank frauds above chance (AP beyond the base rate, which a constant score gets)
    and alert on some events but not on all."""
    c = candidate
    if serving is None:
        problems = []
        if not c.average_precision > base_rate + m.max_ap_drop:
            problems.append(f"AP {c.average_precision:.3f} not above the base rate {base_rate:.3f} "
                            f"by more than {m.max_ap_drop:g}")
        if not 0.0 < c.alert_rate < 1.0:
            problems.append(f"alert rate {c.alert_rate:.4f} (alerts on {'nothing' if c.alert_rate == 0 else 'all'})")
        return f"{FRAUD} candidate {'; '.join(problems)} (no serving version)" if problems else None
    drop = serving.average_precision - c.average_precision
    ap_bad = not drop <= m.max_ap_drop + _EPS  # NaN refused
    ap = f"AP {c.average_precision:.3f} vs serving {serving.average_precision:.3f}"
    if ap_bad:
        ap += f" (drop {drop:.3f} > {m.max_ap_drop:g} allowed)"
    rate = f"alert rate {c.alert_rate:.4f} vs {serving.alert_rate:.4f}"
    if serving.alert_rate > 0:
        change = abs(c.alert_rate - serving.alert_rate) / serving.alert_rate
        rate_bad = not change <= m.max_alert_rate_change + _EPS
        if rate_bad:
            rate += f" (change {change:.0%} > {m.max_alert_rate_change:.0%} allowed)"
    else:  # the serving version alerts on nothing: no ratio to keep, only the candidate's own sanity
        rate_bad = not 0.0 < c.alert_rate < 1.0
        if rate_bad:
            rate += " (alerts on nothing)" if c.alert_rate == 0 else " (alerts on every event)"
    return f"{FRAUD} candidate {ap}; {rate}" if ap_bad or rate_bad else None


def judge_credit(candidate: CreditFigures, serving: CreditFigures | None, m: Margins) -> str | None:
    c = candidate.auc_roc
    if serving is None:
        if not c > 0.5 + m.max_auc_drop:
            return f"{CREDIT} candidate AUC {c:.3f} not above chance (0.5) by more than {m.max_auc_drop:g}"
        return None
    drop = serving.auc_roc - c
    if not drop <= m.max_auc_drop + _EPS:
        return (f"{CREDIT} candidate AUC {c:.3f} vs serving {serving.auc_roc:.3f} "
                f"(drop {drop:.3f} > {m.max_auc_drop:g} allowed)")
    return None


def score(path: Path, x: np.ndarray) -> np.ndarray:
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise Unscorable(f"{path.name}: onnxruntime fails on the held-out events: {str(exc)[:200]}") from None
    out = np.asarray(out, np.float64).reshape(-1)
    bad = ~np.isfinite(out) | (out < 0) | (out > 1)
    if out.shape != (len(x),) or bad.any():
        raise Unscorable(f"{path.name}: on the held-out events its answers are not one probability per row "
                         f"(shape {out.shape} for {len(x)} rows, {int(bad.sum())} outside [0, 1])")
    return out


@dataclass
class Verdict:
    records: dict[str, dict]  # model -> what metadata.json keeps under metrics.publish_gate
    refusals: list[str]

    def line(self) -> str:
        return "; ".join(self.refusals) + "; use --force to publish anyway"


def evaluate(candidates: dict[str, Path], serving: dict[str, tuple[int, Path] | None], s: Settings) -> Verdict:
    """Figures of each candidate (FRAUD, CREDIT) and of the serving version (None: none
    yet) on the held-out world; the refusals, empty when the gate passes."""
    world, m = held_out(s.endpoints.home), Margins.of(s)
    common = {"seed": HELD_OUT_SEED, "world": world.key, "margins": asdict(m)}
    records: dict[str, dict] = {}
    refusals: list[str] = []

    cand = fraud_figures(score(candidates[FRAUD], world.fraud_x), world.fraud_y, s.models.alert_threshold)
    serv, serv_rec = _serving(serving.get(FRAUD), lambda p: fraud_figures(
        score(p, world.fraud_x), world.fraud_y, s.models.alert_threshold))
    reason = judge_fraud(cand, serv, world.base_rate, m)
    records[FRAUD] = {**common, "events": len(world.fraud_y), "frauds": int(world.fraud_y.sum()),
                      "alert_threshold": s.models.alert_threshold, "candidate": _rounded(cand), "serving": serv_rec,
                      "refusal": reason}

    cand_c = CreditFigures(roc_auc(world.credit_y, score(candidates[CREDIT], world.credit_x)))
    serv_c, serv_c_rec = _serving(serving.get(CREDIT), lambda p: CreditFigures(
        roc_auc(world.credit_y, score(p, world.credit_x))))
    reason_c = judge_credit(cand_c, serv_c, m)
    records[CREDIT] = {**common, "customers": len(world.credit_y), "defaults": int(world.credit_y.sum()),
                       "candidate": _rounded(cand_c), "serving": serv_c_rec, "refusal": reason_c}
    refusals = [r for r in (reason, reason_c) if r]
    log.info("publish gate", extra={"refusals": refusals, "fraud": records[FRAUD], "credit": records[CREDIT]})
    return Verdict(records, refusals)


def _serving(version: tuple[int, Path] | None, figures: Callable[[Path], F]) -> tuple[F | None, dict | None]:
    """The serving version's figures and record; one that cannot be scored (its file
    gone or broken: Triton could not serve it either) counts as none."""
    if version is None:
        return None, None
    number, path = version
    try:
        f = figures(path)
    except Unscorable as exc:
        log.warning("serving version cannot be scored: the candidate is judged on its own",
                    extra={"path": str(path), "error": str(exc)[:300]})
        return None, {"version": number, "error": str(exc)[:300]}
    return f, {"version": number, **_rounded(f)}


def _rounded(f: FraudFigures | CreditFigures) -> dict[str, float]:
    return {k: round(v, 6) for k, v in asdict(f).items()}
