"""Structured (JSON lines) logging for every Lepton process."""

from __future__ import annotations

import logging
import os
import time

from lepton_stream.jsonout import dumps
from lepton_stream.schemas.pan import mask_card_numbers

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        # The last line of defence: whatever a message or an exception carries, no
        # card number leaves the process in a log line.
        return mask_card_numbers(dumps(out, default=str))


def configure(level: str = "INFO", stream=None) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    # Our own stream on file descriptor 2, not `sys.stderr`: a PyFlink Python worker
    # (process mode) patches `sys.stderr.write` to log each line at the root logger,
    # which would hand it back to this handler without end.
    # A process whose stderr goes nowhere (a PyFlink worker started by Flink) writes
    # to the file LEPTON_LOG_FILE names instead: the job's log when the CLI starts it.
    if stream is None and os.environ.get("LEPTON_LOG_FILE"):
        stream = open(os.environ["LEPTON_LOG_FILE"], "a", buffering=1)  # noqa: SIM115 (lives with the process)
    handler = logging.StreamHandler(stream or os.fdopen(os.dup(2), "w", buffering=1))
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)
