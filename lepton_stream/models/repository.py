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
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.models import gate, triton_key

SERVING_MODEL = Path(__file__).resolve().parent.parent / "serving" / "triton_onnx_model.py"
MODELS = {  # name -> (features, output, metrics key in the training report)
    "fraud_scorer": (FRAUD_FEATURES, "fraud_score", "fraud_mlp"),
    "credit_scorer": (CREDIT_FEATURES, "credit_score", "credit_mlp"),
}
ENSEMBLE = "risk_scorer"


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


def publish(source: Path, s: Settings, load: bool = True, force: bool = False) -> Published:
    report_path = source / "report.json"
    if not report_path.exists():
        raise PublishError(f"{report_path} missing: expected a `lepton-stream train --out` folder")
    report = json.loads(report_path.read_text())
    for name, (features, output, _) in MODELS.items():
        validate_onnx(source / f"{name}.onnx", len(features), output)
    verdict = _gate(source, s)
    if verdict.refusals and not force:
        raise PublishError(verdict.line())
    published: dict[str, int] = {}
    for name, (features, output, key) in MODELS.items():
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
            "alert_threshold": s.models.alert_threshold if name == "fraud_scorer" else None,
            "feature_mean": report.get(key, {}).get("feature_mean"),
            "feature_std": report.get(key, {}).get("feature_std"),
            "training": report.get("config"), "metrics": metrics,
        }
        (staging / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        staging.rename(s.endpoints.model_repo / name / str(version))
        published[name] = version
    if load and triton_running(s):
        _load_or_roll_back(s, published)
    return Published(published, verdict.refusals)


def _gate(source: Path, s: Settings) -> gate.Verdict:
    serving: dict[str, tuple[int, Path] | None] = {}
    for name in MODELS:
        latest = versions(s.endpoints.model_repo, name)
        serving[name] = (latest[-1], s.endpoints.model_repo / name / str(latest[-1]) / "model.onnx") if latest else None
    try:
        return gate.evaluate({name: source / f"{name}.onnx" for name in MODELS}, serving, s)
    except gate.Unscorable as exc:
        raise PublishError(str(exc)) from None


def _load_or_roll_back(s: Settings, published: dict[str, int]) -> None:
    for name in [*published, ENSEMBLE]:
        status, body = _triton(s, "POST", f"/v2/repository/models/{name}/load")
        if status != 200:
            for n, v in published.items():
                shutil.rmtree(s.endpoints.model_repo / n / str(v), ignore_errors=True)
                _triton(s, "POST", f"/v2/repository/models/{n}/load")  # back to the previous version
            raise PublishError(f"Triton refused {name}: {body[:300]}; the previous versions keep serving")
