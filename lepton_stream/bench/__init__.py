"""`lepton-stream bench`: the scoring path measured end to end on real parts.

`saturation` (Flink job vs plain consumer loop), `latency` (fixed rates),
`store_memory` (Redis bytes per active card), `run` (all of them, JSON + summary).
"""
