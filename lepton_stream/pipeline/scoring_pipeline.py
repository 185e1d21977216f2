"""The scoring pipeline as a list of stages, and its construction from Settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.pipeline.batch import Batch, OutRecord, RawRecord
from lepton_stream.pipeline.stages import FeatureStage, ParseStage, RouteStage, ScoreStage

Stage = Callable[[Batch], Batch]


@dataclass
class ScoringPipeline:
    stages: Sequence[Stage]

    def process(self, records: list[RawRecord]) -> list[OutRecord]:
        batch = Batch(records)
        for stage in self.stages:
            batch = stage(batch)
        return batch.out


def model_metadata(settings: Settings) -> dict:
    versions = sorted((p for p in (settings.model_repo / settings.model_name).iterdir() if p.name.isdigit()),
                      key=lambda p: int(p.name))
    return json.loads((versions[-1] / "metadata.json").read_text())


def build_pipeline(settings: Settings) -> ScoringPipeline:
    from lepton_stream.feature_store.redis_store import RedisFeatureStore
    from lepton_stream.scoring.triton_client import TritonScorer

    meta = model_metadata(settings)
    return ScoringPipeline([
        ParseStage(settings),
        FeatureStage(settings, RedisFeatureStore(settings.redis_url)),
        ScoreStage(settings, TritonScorer(settings.triton_grpc, settings.model_name, settings.triton_batch)),
        RouteStage(settings, np.asarray(meta["feature_mean"], np.float32), np.asarray(meta["feature_std"], np.float32),
                   settings.model_name),
    ])
