"""Which fraud_scorer versions serve: the champion (scores alert) and the challenger
(scored beside it, never alerts), in `roles.json` in `model_repo/fraud_scorer`.

The file lives in the model repository because everything that must agree on it
already reads that repository: Triton (the version policy written beside it keeps
both versions loaded) and every worker of the job (feature statistics of the
version that scored). It is replaced whole by a rename, so a reader sees the old
roles or the new, never a mix; each scoring batch takes one snapshot
(`RolesFile.current`, a `stat` per batch, a read only when the file changed), so
every score names exactly the versions that produced it. Without the file the
newest ready version is the champion and there is no challenger (the repository
as committed, and before the first `model publish --challenger`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from lepton_stream.scoring.base import FRAUD_MODEL

ROLES_FILE = "roles.json"
_POLICY = re.compile(r"^version_policy:.*$", re.MULTILINE)


class RolesError(ValueError):
    pass


@dataclass(frozen=True)
class Roles:
    champion: int
    challenger: int | None = None
    # The champion before the last promote: what `model rollback` brings back.
    promoted_from: int | None = None

    def serving(self) -> list[int]:
        """The versions Triton must keep loaded."""
        return sorted({self.champion, *([self.challenger] if self.challenger is not None else [])})

    def with_challenger(self, version: int) -> Roles:
        if version == self.champion:
            raise RolesError(f"version {version} is the champion already")
        return Roles(self.champion, version)  # the one promoted before is no longer loaded: no rollback

    def promoted(self) -> Roles:
        """The challenger becomes champion; the champion stays beside it as challenger."""
        if self.challenger is None:
            raise RolesError("no challenger to promote (`lepton-stream model publish DIR --challenger`)")
        return Roles(self.challenger, self.champion, promoted_from=self.champion)

    def rolled_back(self) -> Roles:
        """The champion before the last promote serves again; the promoted one goes back to challenger."""
        if self.promoted_from is None:
            raise RolesError("nothing to roll back: no promote since the challenger was published")
        return Roles(self.promoted_from, self.champion)

    def without_challenger(self) -> Roles:
        return Roles(self.champion)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"


def parse_roles(text: str) -> Roles:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise RolesError(f"{ROLES_FILE} is not JSON: {exc}") from None

    def version(name: str, required: bool) -> int | None:
        v = obj.get(name) if isinstance(obj, dict) else None
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise RolesError(f"{ROLES_FILE}: {name!r} must be a version number, not {v!r}")
        return v

    champion = version("champion", True)
    assert champion is not None
    return Roles(champion, version("challenger", False), version("promoted_from", False))


def path_of(repo: Path) -> Path:
    return repo / FRAUD_MODEL / ROLES_FILE


def read_roles(repo: Path) -> Roles | None:
    try:
        return parse_roles(path_of(repo).read_text())
    except FileNotFoundError:
        return None


def write_roles(repo: Path, roles: Roles) -> None:
    path = path_of(repo)
    tmp = path.with_name(f".{ROLES_FILE}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        f.write(roles.to_json())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)  # atomic: a worker reads the old roles or the new


@contextlib.contextmanager
def locked(repo: Path) -> Iterator[None]:
    """One roles change at a time (two `promote`s at once must not both read the same
    roles): a lock on the model's folder itself, which leaves no file behind."""
    fd = os.open(repo / FRAUD_MODEL, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def policy_files(repo: Path) -> list[Path]:
    """Every config of fraud_scorer: config.pbtxt (GPU) and the variants in configs/."""
    model = repo / FRAUD_MODEL
    return [p for p in [model / "config.pbtxt", *sorted((model / "configs").glob("*.pbtxt"))] if p.exists()]


def policy_line(serving: list[int] | None) -> str:
    """Triton's version policy: exactly the versions named, or (None) the newest one."""
    if serving is None:
        return "version_policy: { latest: { num_versions: 1 } }"
    return f"version_policy: {{ specific: {{ versions: [ {', '.join(map(str, serving))} ] }} }}"


def write_policy(repo: Path, serving: list[int] | None) -> dict[Path, str]:
    """Set the version policy in every config of fraud_scorer; answers the previous
    texts, for `restore_policy` should Triton refuse the load."""
    before = {}
    for path in policy_files(repo):
        text = before[path] = path.read_text()
        if not _POLICY.search(text):
            raise RolesError(f"{path}: no version_policy line to set")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(_POLICY.sub(policy_line(serving), text, count=1))
        tmp.replace(path)
    return before


def restore_policy(before: dict[Path, str]) -> None:
    for path, text in before.items():
        path.write_text(text)


class RolesFile:
    """The roles as a worker follows them: `current()` once per batch."""

    def __init__(self, repo: Path) -> None:
        self._path = path_of(repo)
        self._seen: tuple[int, int, int] | None = None
        self._roles: Roles | None = None

    def current(self) -> Roles | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            self._seen = self._roles = None
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen:
            try:
                self._roles = parse_roles(self._path.read_text())
            except (FileNotFoundError, RolesError):
                # Replaced again meanwhile, or not ours to trust: keep the roles we had
                # (scoring goes on); `model` commands only ever write valid files.
                return self._roles
            self._seen = key
        return self._roles
