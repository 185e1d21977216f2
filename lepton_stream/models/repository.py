"""`lepton-stream model publish`: trained ONNX models -> new versions in model_repo/,
loaded by the running Triton (explicit model control) without stopping the stream.

A model whose inputs, outputs or answers are wrong is refused before it is
written; so is one that does worse than the version serving now on a held-out
world we score ourselves (lepton_stream/models/gate.py: the training report's
figures are recorded, never trusted), unless forced. If Triton still fails to
load it, the version is removed again and the previous one keeps serving.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.jsonout import dumps
from lepton_stream.models import compare, gate, triton_key
from lepton_stream.models import roles as roles_

SERVING_MODEL = Path(__file__).resolve().parent.parent / "serving" / "triton_onnx_model.py"
MODELS = {  # name -> (features, output, metrics key in the training report)
    "fraud_scorer": (FRAUD_FEATURES, "fraud_score", "fraud_mlp"),
    "credit_scorer": (CREDIT_FEATURES, "credit_score", "credit_mlp"),
}
ENSEMBLE = "risk_scorer"
FRAUD, CREDIT = "fraud_scorer", "credit_scorer"
ROLES_SETTLE_S = 2.0  # longer than a batch's requests to Triton take


class PublishError(RuntimeError):
    pass


def versions(repo: Path, name: str) -> list[int]:
    return sorted(int(p.name) for p in (repo / name).iterdir() if p.is_dir() and p.name.isdigit())


def validate_onnx(path: Path, n_features: int, output: str) -> None:
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PublishError(f"{path.name}: onnxruntime cannot load it: {str(exc)[:200]}") from None
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or inputs[0].shape[-1] != n_features:
        raise PublishError(f"{path.name}: expected one input [batch, {n_features}], got "
                           f"{[(i.name, i.shape) for i in inputs]}")
    if [o.name for o in outputs] != [output]:
        raise PublishError(f"{path.name}: expected one output {output!r}, got {[o.name for o in outputs]}")
    (scores,) = sess.run(None, {inputs[0].name: np.zeros((3, n_features), np.float32)})
    if scores.shape != (3, 1) or not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise PublishError(f"{path.name}: answers must be [batch, 1] probabilities, got shape {scores.shape}")


def _triton(s: Settings, method: str, path: str) -> tuple[int, str]:
    headers = {}
    if path.startswith("/v2/repository/"):  # load/unload: only with the key (docs/security.md)
        try:
            headers[triton_key.HEADER] = triton_key.read_key(s)
        except ValueError as exc:  # a refusal like Triton's own: the caller rolls back
            return 0, f"no key for Triton's model-repository API: {exc}"
    req = urllib.request.Request(f"{s.triton_http}{path}", method=method, data=b"{}" if method == "POST" else None,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def triton_running(s: Settings) -> bool:
    try:
        return _triton(s, "GET", "/v2/health/live")[0] == 200
    except OSError:
        return False


@dataclass
class Published:
    versions: dict[str, int]  # model -> the version written
    forced_past: list[str]  # the gate's refusals that `force` overrode; empty when it passed
    roles: roles_.Roles | None = None  # the fraud model's roles after it; None: the repository has none


def publish(source: Path, s: Settings, load: bool = True, force: bool = False, challenger: bool = False) -> Published:
    """The next version of each model (only fraud_scorer, as challenger beside the
    champion, with `challenger`)."""
    report_path = source / "report.json"
    if not report_path.exists():
        raise PublishError(f"{report_path} missing: expected a `lepton-stream train --out` folder")
    report = json.loads(report_path.read_text())
    repo = s.endpoints.model_repo
    models = {FRAUD: MODELS[FRAUD]} if challenger else MODELS
    for name, (features, output, _) in models.items():
        validate_onnx(source / f"{name}.onnx", len(features), output)
    with roles_.locked(repo):
        current = roles_.read_roles(repo)
        if challenger and current is None:
            serving = versions(repo, FRAUD)
            if not serving:
                raise PublishError("no fraud_scorer version serving to be the champion: publish one without "
                                   "--challenger first")
            current = roles_.Roles(serving[-1])
        verdict = _gate(source, s, current, challenger)
        if verdict.refusals and not force:
            raise PublishError(verdict.line())
        published = {name: _write_version(source, s, name, report, verdict) for name in models}
        after = None
        if current is not None:
            after = (current.with_challenger(published[FRAUD]) if challenger else
                     roles_.Roles(published[FRAUD], current.challenger))
        if load and triton_running(s):
            _load_or_roll_back(s, published, current, after, ensemble=not challenger)
        elif after is not None:
            roles_.write_policy(repo, after.serving())
            roles_.write_roles(repo, after)
    return Published(published, verdict.refusals, after)


def _write_version(source: Path, s: Settings, name: str, report: dict, verdict: gate.Verdict) -> int:
    features, output, key = MODELS[name]
    version = (versions(s.endpoints.model_repo, name) or [0])[-1] + 1
    staging = s.endpoints.home / "publish" / f"{name}-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copyfile(source / f"{name}.onnx", staging / "model.onnx")
    shutil.copyfile(SERVING_MODEL, staging / "model.py")
    metrics = {k: v for k, v in report.get(key, {}).items() if k not in ("feature_mean", "feature_std")}
    metrics["publish_gate"] = {**verdict.records[name], "forced": bool(verdict.refusals)}
    meta = {
        "model": name, "version": version, "features": list(features), "output": output,
        "alert_threshold": s.models.alert_threshold if name == FRAUD else None,
        "feature_mean": report.get(key, {}).get("feature_mean"),
        "feature_std": report.get(key, {}).get("feature_std"),
        "training": report.get("config"), "metrics": metrics,
    }
    (staging / "metadata.json").write_text(dumps(meta, indent=2) + "\n")
    staging.rename(s.endpoints.model_repo / name / str(version))
    return version


def _gate(source: Path, s: Settings, current: roles_.Roles | None, challenger: bool) -> gate.Verdict:
    """The candidates against the versions serving: the champion where roles are kept.
    A challenger is only a fraud model: the credit model serving stands in as its own
    candidate, so only the fraud model is judged."""
    repo = s.endpoints.model_repo
    serving: dict[str, tuple[int, Path] | None] = {}
    for name in MODELS:
        latest = versions(repo, name)
        number = current.champion if name == FRAUD and current is not None else latest[-1] if latest else None
        serving[name] = (number, repo / name / str(number) / "model.onnx") if number is not None else None
    candidates = {name: source / f"{name}.onnx" for name in MODELS}
    credit = serving[CREDIT]
    if challenger and credit is not None:
        candidates[CREDIT] = credit[1]
    try:
        return gate.evaluate(candidates, serving, s)
    except gate.Unscorable as exc:
        raise PublishError(str(exc)) from None


def _load(s: Settings, name: str) -> tuple[int, str]:
    return _triton(s, "POST", f"/v2/repository/models/{name}/load")


def _load_or_roll_back(s: Settings, published: dict[str, int], current: roles_.Roles | None,
                       after: roles_.Roles | None, ensemble: bool = True) -> None:
    """Load the new versions; where roles are kept, Triton first serves the old and the
    new versions together, then the roles switch (workers follow at their next batch),
    then what no role names any more is unloaded."""
    repo = s.endpoints.model_repo
    before = (roles_.write_policy(repo, sorted({*current.serving(), *after.serving()}))
              if current is not None and after is not None else {})
    for name in [*published, *([ENSEMBLE] if ensemble else [])]:
        status, body = _load(s, name)
        if status != 200:
            roles_.restore_policy(before)
            for n, v in published.items():
                shutil.rmtree(repo / n / str(v), ignore_errors=True)
                _load(s, n)  # back to the previous version
            raise PublishError(f"Triton refused {name}: {body[:300]}; the previous versions keep serving")
    if after is not None:
        roles_.write_roles(repo, after)
        _switch_settled()
        roles_.write_policy(repo, after.serving())
        _load(s, FRAUD)  # unloads the version no role names; a failure leaves it loaded, harmless


def _switch_settled() -> None:
    """Batches scored with the roles before the switch may still be in flight: give them
    time to finish before their versions go (one that does not is retried with the new
    roles: lepton_stream/scoring/triton_client.py)."""
    time.sleep(ROLES_SETTLE_S)


class RolesRefused(PublishError):
    pass


def promote(s: Settings, force: bool = False, comparison: compare.Comparison | None = None
            ) -> tuple[roles_.Roles, compare.Comparison]:
    """The challenger becomes champion (the champion stays beside it as challenger), if
    its average precision on the labelled window is not below the champion's, or forced.
    Both versions are loaded already: only the roles change, atomically."""
    repo = s.endpoints.model_repo
    with roles_.locked(repo):
        current = roles_.read_roles(repo)
        if current is None or current.challenger is None:
            raise RolesRefused("no challenger to promote (`lepton-stream model publish DIR --challenger`)")
        seen = compare.from_kafka(s) if comparison is None else comparison
        why = seen.refusal()
        if why is not None and not force:
            raise RolesRefused(f"{why}; use --force to promote anyway")
        after = current.promoted()
        _check_ready(s, after)
        roles_.write_roles(repo, after)
    return after, seen


def rollback(s: Settings) -> roles_.Roles:
    """The champion before the last promote serves again; the promoted one returns to challenger."""
    repo = s.endpoints.model_repo
    with roles_.locked(repo):
        current = roles_.read_roles(repo)
        if current is None:
            raise RolesRefused("no roles: nothing was promoted")
        try:
            after = current.rolled_back()
        except roles_.RolesError as exc:
            raise RolesRefused(str(exc)) from None
        _check_ready(s, after)
        roles_.write_roles(repo, after)
    return after


def drop_challenger(s: Settings) -> roles_.Roles:
    """The champion serves alone again; Triton unloads the challenger."""
    repo = s.endpoints.model_repo
    with roles_.locked(repo):
        current = roles_.read_roles(repo)
        if current is None or current.challenger is None:
            raise RolesRefused("no challenger to drop")
        after = current.without_challenger()
        roles_.write_roles(repo, after)
        if triton_running(s):
            _switch_settled()
        roles_.write_policy(repo, after.serving())
        if triton_running(s):
            _load(s, FRAUD)
    return after


def _check_ready(s: Settings, roles: roles_.Roles) -> None:
    """A version that Triton does not serve never becomes champion (with no Triton
    running, the roles are only written)."""
    if not triton_running(s):
        return
    status, body = _triton(s, "GET", f"/v2/models/{FRAUD}/versions/{roles.champion}/ready")
    if status != 200:
        raise RolesRefused(f"fraud_scorer version {roles.champion} is not ready on Triton ({status}); roles unchanged")
