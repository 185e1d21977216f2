"""What the stack manager needs to know about each local server."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lepton_stream.config import Settings


class Service(Protocol):
    name: str
    ready_timeout_s: float

    def ports(self, s: Settings) -> list[int]: ...

    def prepare(self, s: Settings) -> None:
        """Checks and one-time set-up; raises StackError with the cause."""
        ...

    def command(self, s: Settings) -> list[str]: ...

    def env(self, s: Settings) -> dict[str, str] | None: ...

    def ready(self, s: Settings) -> bool: ...

    def health(self, s: Settings) -> str:
        """A short human description of the running server's health."""
        ...


def log_path(s: Settings, name: str) -> Path:
    return s.run_dir / f"{name}.log"
