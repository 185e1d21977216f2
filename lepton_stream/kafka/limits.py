"""Record size limits, set deliberately rather than left to each client's default.

Every topic accepts records up to `MAX_RECORD_BYTES` (the broker's
`message.max.bytes`, each topic's `max.message.bytes`) and every producer of
ours sends up to that (`max.request.size` / `message.max.bytes`), so a record
the broker took on `transactions` can always be read, and what the job writes
about it always fits: a DLQ record keeps at most DLQ_ORIGINAL_MAX_BYTES of the
original (lepton_stream/schemas/outputs.py), far below this.
"""

MAX_RECORD_BYTES = 1_048_576
