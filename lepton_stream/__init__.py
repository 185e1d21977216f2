"""Lepton Stream: real-time fraud and credit-risk scoring on Kafka, Flink, Redis and Triton."""

__version__ = "0.1.0"
