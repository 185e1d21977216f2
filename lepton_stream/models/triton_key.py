"""The key of Triton's model-repository API (docs/security.md).

Loading a model into Triton runs its code (python backend), so the
model-repository API (index, load, unload; HTTP and gRPC) answers only requests
with header `HEADER` set to the key; inference, health and metadata stay open.
Locally `lepton-stream up` generates the key into `Settings.triton_api_key_path`
(mode 0600) and `lepton-stream model publish` reads it from there; compose and
Kubernetes mount it from a Secret at LEPTON_TRITON_API_KEY_FILE.
"""

from __future__ import annotations

import os
import re
import secrets
import stat

from lepton_stream.config import Settings, secret_value

HEADER = "lepton-repository-key"  # lower case: gRPC metadata keys are
RESTRICTED = "model-repository"
# Triton parses `<apis>:<header>=<key>`: no separators in the key, and long enough.
_KEY = re.compile(r"[A-Za-z0-9_~+/.-]{32,}")


def read_key(s: Settings) -> str:
    path = s.triton_api_key_path
    key = secret_value("", str(path), "LEPTON_TRITON_API_KEY_FILE")
    if not _KEY.fullmatch(key):
        raise ValueError(f"{path}: a Triton key is 32 or more of A-Z a-z 0-9 _ ~ + / . - "
                         "(e.g. `openssl rand -hex 32`)")
    return key


def ensure_key(s: Settings) -> str:
    """The key, generated first if its file does not exist. An existing file must be
    readable by its owner only: anyone who reads it can load code into Triton."""
    path = s.triton_api_key_path
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another `up`: use that one
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    return read_key(s)


def server_flags(key: str) -> list[str]:
    """tritonserver options that restrict the model-repository API to the key (2.51 names)."""
    rule = f"{RESTRICTED}:{HEADER}={key}"
    return [f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]
