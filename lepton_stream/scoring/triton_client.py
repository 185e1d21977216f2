"""Batched scoring on a Triton Inference Server over gRPC.

Each batch is one request per model (fraud and credit, and the challenger fraud
model when there is one, in flight together), split at `max_batch` rows, so the
~1.5 ms round trip is paid per batch. Not one ensemble request: an ensemble's
steps name their versions in its config, so it cannot follow roles that change
per batch. Each request names the model version it wants, so a score always
says exactly which versions produced it: the fraud champion and challenger from
the roles (lepton_stream/models/roles.py), read once per batch; without roles
the newest ready versions, looked up again every `refresh_s` and whenever a
named version has gone (a new one was published and the old one unloaded).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from lepton_stream import logs
from lepton_stream.models.roles import Roles
from lepton_stream.observability.metrics import CHALLENGER_FAILURES
from lepton_stream.scoring.base import CREDIT_MODEL, CREDIT_OUTPUT, FEATURES_INPUT, FRAUD_MODEL, FRAUD_OUTPUT, Scores

CHALLENGER = "challenger"
log = logs.get("lepton.scoring")


class TritonScorer:
    def __init__(self, url: str, max_batch: int = 4096, timeout_s: float = 10.0, refresh_s: float = 1.0,
                 roles: Callable[[], Roles | None] = lambda: None) -> None:
        self._client = grpcclient.InferenceServerClient(url=url)
        self._max_batch = max_batch
        self._timeout_s = timeout_s
        self._refresh_s = refresh_s
        self._versions: dict[str, str] = {}
        self._resolved_at = 0.0
        self._roles = roles

    def versions(self, refresh: bool = False) -> dict[str, str]:
        if refresh or not self._versions or time.monotonic() - self._resolved_at > self._refresh_s:
            found = {}
            for model in (FRAUD_MODEL, CREDIT_MODEL):
                # A model's metadata lists the versions it serves. Not the repository
                # index: that API needs the key only `model publish` holds (docs/security.md).
                served = self._client.get_model_metadata(model, as_json=True).get("versions", [])
                ready = [int(v) for v in served if v.isdigit()]
                if not ready:
                    raise RuntimeError(f"no READY version of {model} on Triton")
                found[model] = str(max(ready))
            self._versions, self._resolved_at = found, time.monotonic()
        return self._versions

    def ready(self) -> bool:
        return bool(self._client.is_server_ready() and all(
            self._client.is_model_ready(m) for m in (FRAUD_MODEL, CREDIT_MODEL)))

    def plan(self, refresh: bool = False) -> tuple[dict[str, str], str]:
        """The versions one batch is scored with, from one snapshot of the roles: each
        model's (the fraud model's the champion) and the challenger's ("" if none)."""
        roles = self._roles()
        found = dict(self.versions(refresh))
        if roles is None:
            return found, ""
        found[FRAUD_MODEL] = str(roles.champion)
        return found, "" if roles.challenger is None else str(roles.challenger)

    def _infer(self, key: str, model: str, output: str, x: np.ndarray, version: str, done: queue.Queue) -> None:
        inp = grpcclient.InferInput(FEATURES_INPUT, list(x.shape), "FP32")
        inp.set_data_from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self._client.async_infer(model, [inp], lambda result, error: done.put((key, output, result, error)),
                                 model_version=version, outputs=[grpcclient.InferRequestedOutput(output)],
                                 client_timeout=self._timeout_s)

    def _score_chunk(self, fx: np.ndarray, cx: np.ndarray, versions: dict[str, str],
                     challenger: str) -> dict[str, np.ndarray]:
        done: queue.Queue = queue.Queue()
        self._infer(FRAUD_MODEL, FRAUD_MODEL, FRAUD_OUTPUT, fx, versions[FRAUD_MODEL], done)
        self._infer(CREDIT_MODEL, CREDIT_MODEL, CREDIT_OUTPUT, cx, versions[CREDIT_MODEL], done)
        if challenger:  # the same features, in flight with the other two
            self._infer(CHALLENGER, FRAUD_MODEL, FRAUD_OUTPUT, fx, challenger, done)
        out = {}
        for _ in range(3 if challenger else 2):
            key, output, result, error = done.get(timeout=self._timeout_s + 5)
            if error is not None and key == CHALLENGER:
                # A failing challenger never holds the champion's scores back: its
                # answers are null for this chunk (RouteStage), and it is counted.
                CHALLENGER_FAILURES.inc()
                log.warning("challenger request failed; its scores are null for this batch",
                            extra={"version": challenger, "error": str(error)[:300]})
                out[key] = np.full(len(fx), np.nan, np.float32)
                continue
            if error is not None:
                raise error
            out[key] = result.as_numpy(output).reshape(-1)
        return out

    def score(self, fraud_features: np.ndarray, credit_features: np.ndarray) -> Scores:
        try:
            return self._score_all(fraud_features, credit_features, *self.plan())
        except InferenceServerException:
            # A version we named may just have been replaced: look again, once.
            return self._score_all(fraud_features, credit_features, *self.plan(refresh=True))

    def _score_all(self, fx: np.ndarray, cx: np.ndarray, versions: dict[str, str], challenger: str) -> Scores:
        parts: dict[str, list[np.ndarray]] = {k: [np.zeros(0, np.float32)] for k in (FRAUD_MODEL, CREDIT_MODEL,
                                                                                      CHALLENGER)}
        for start in range(0, len(fx), self._max_batch):
            chunk = self._score_chunk(fx[start : start + self._max_batch], cx[start : start + self._max_batch],
                                      versions, challenger)
            for key, values in chunk.items():
                parts[key].append(values)
        return Scores(np.concatenate(parts[FRAUD_MODEL]), np.concatenate(parts[CREDIT_MODEL]), versions[FRAUD_MODEL],
                      versions[CREDIT_MODEL], np.concatenate(parts[CHALLENGER]) if challenger else None, challenger)

    def close(self) -> None:
        self._client.close()
