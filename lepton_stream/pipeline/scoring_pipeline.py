"""The scoring pipeline as a list of stages, and its construction from Settings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.pipeline.batch import Batch, OutRecord, RawRecord
from lepton_stream.pipeline.metrics import MetricsStage, kafka_lag, store_lost_reporter
from lepton_stream.pipeline.stages import (
    DedupStage,
    FeatureStage,
    LabelStage,
    ParseStage,
    PassthroughStage,
    ProfileStage,
    RouteStage,
    ScoreStage,
)
from lepton_stream.pipeline.store_guard import StoreGuardStage

Stage = Callable[[Batch], Batch]


@dataclass
class ScoringPipeline:
    stages: Sequence[Stage]

    def run(self, records: list[RawRecord]) -> Batch:
        batch = Batch(records)
        for stage in self.stages:
            t0 = time.perf_counter()
            batch = stage(batch)
            name = type(stage).__name__
            batch.stage_s[name] = batch.stage_s.get(name, 0.0) + time.perf_counter() - t0
        return batch

    def process(self, records: list[RawRecord]) -> list[OutRecord]:
        return self.run(records).out

    def tick(self) -> list[OutRecord]:
        """What the stages that keep time-based windows (MetricsStage) have due while no
        records arrive; each OutRecord's origin is 0. The runner calls it when idle."""
        return [out for stage in self.stages if isinstance(stage, MetricsStage) for out in stage.tick()]


# The Flink job gives each source its own copy of the batch step, the copies of one slot
# sharing a Python process; they share this process's metrics stage, so that a task's
# record counts all it did (one task_id, one record per window), and a tick that reaches
# the tick source's copy closes the window the others counted.
_shared_metrics: dict[str, MetricsStage] = {}
_shared_lock = threading.Lock()  # the copies open on threads of their own, at once


def _metrics_stage(settings: Settings, shared: bool) -> MetricsStage:
    if not shared:
        return MetricsStage(settings, kafka_lag(settings.kafka_bootstrap), settings.job.metrics_interval_s)
    with _shared_lock:
        if "job" not in _shared_metrics:
            _shared_metrics["job"] = _metrics_stage(settings, shared=False)
        return _shared_metrics["job"]


def feature_stats_from_repo(settings: Settings) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    @lru_cache(maxsize=8)
    def stats(version: str) -> tuple[np.ndarray, np.ndarray]:
        meta = json.loads((settings.endpoints.model_repo / "fraud_scorer" / version / "metadata.json").read_text())
        std = np.asarray(meta["feature_std"], np.float32)
        return np.asarray(meta["feature_mean"], np.float32), np.where(std > 0, std, 1.0)

    return stats


def build_pipeline(settings: Settings, share_metrics: bool = False) -> ScoringPipeline:
    """The pipeline `settings` ask for; `share_metrics`: with the process's other pipelines
    built so (the Flink job's)."""
    from lepton_stream.feature_store.redis_windows import RedisWindowStore
    from lepton_stream.models.roles import RolesFile
    from lepton_stream.observability.metrics_http import start_exporter
    from lepton_stream.pipeline.rules_stage import RuleStage
    from lepton_stream.rules.live import LiveRules
    from lepton_stream.scoring.triton_client import TritonScorer

    # Each process running a pipeline (a Flink Python worker, the consumer loop) serves /metrics.
    start_exporter(settings, "job", settings.oncall.job_metrics_port)
    metrics = _metrics_stage(settings, share_metrics)
    if settings.job.pipeline == "passthrough":
        return ScoringPipeline([ParseStage(settings), PassthroughStage(settings), metrics])
    if settings.job.pipeline != "scoring":
        raise ValueError(f"LEPTON_PIPELINE must be scoring or passthrough, not {settings.job.pipeline!r}")
    from lepton_stream.kafka.clients import group_has_consumed

    store = RedisWindowStore.from_settings(settings)
    return ScoringPipeline([
        StoreGuardStage(settings, store, lambda: not group_has_consumed(settings, settings.topics.transactions),
                        store_lost_reporter(settings, metrics.task_id)),
        ProfileStage(settings, store),
        LabelStage(settings, store),
        ParseStage(settings),
        DedupStage(settings, store),
        FeatureStage(settings, store),
        ScoreStage(settings, TritonScorer(settings.triton_grpc, settings.job.triton_batch,
                                          roles=RolesFile(settings.endpoints.model_repo).current)),
        RuleStage(settings, LiveRules(settings)),
        RouteStage(settings, feature_stats_from_repo(settings)),
        metrics,
    ])
