"""The scoring pipeline: a list of small stages over one batch of Kafka records.

parse -> features (Redis) -> score (Triton) -> route (scores, alerts, DLQ).
The PyFlink job hands it batches; tests can drive it directly.
"""

from lepton_stream.pipeline.batch import Batch, OutRecord, RawRecord
from lepton_stream.pipeline.scoring_pipeline import ScoringPipeline, build_pipeline

__all__ = ["Batch", "OutRecord", "RawRecord", "ScoringPipeline", "build_pipeline"]
